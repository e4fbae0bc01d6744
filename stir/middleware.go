package stir

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/siphon-go/siphon/sip"
)

type resultKey struct{}

// ContextWithResult returns a copy of ctx carrying r, as Verifier.Middleware
// passes it to the next handler.
func ContextWithResult(ctx context.Context, r *Result) context.Context {
	return context.WithValue(ctx, resultKey{}, r)
}

// ResultFromContext returns the verification Result that Verifier.Middleware
// stored for the request being served, if any.
func ResultFromContext(ctx context.Context) (*Result, bool) {
	r, ok := ctx.Value(resultKey{}).(*Result)
	return r, ok && r != nil
}

// Middleware returns a sip.Middleware for a terminating element. Each initial
// INVITE (no To tag) is verified with VerifyRequest; then, according to the
// configuration:
//
//   - without an Identity header it is rejected with 428 Use Identity Header
//     when RequireIdentity is set;
//   - when verification failed it is rejected with the RFC 8224 code (403
//     Stale Date, 436, 437 or 438) when RejectFailures is set, except for the
//     infrastructure failures Permissive forgives;
//   - otherwise a copy of the request, with verstat stamped on its
//     P-Asserted-Identity and From (ApplyVerstat), goes to next with the
//     Result in its context (ResultFromContext). When verification failed, the
//     first response after 100 Trying carries
//     Reason: SIP;cause=<code>;text="<reason>" (ATIS-1000074 §5.3.2, RFC 9410)
//     unless OmitReason is set.
//
// Other requests pass unchanged. Outcomes are logged at debug level.
func (v *Verifier) Middleware(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method != sip.INVITE || hasToTag(req) {
			next.ServeSIP(ctx, w, req)
			return
		}
		res, err := v.VerifyRequest(ctx, req)
		var ve *VerifyError
		if err != nil && errors.As(err, &ve) {
			reject := false
			if errors.Is(err, ErrNoIdentity) {
				reject = v.cfg.RequireIdentity
			} else if res.Verstat == VerstatFailed {
				reject = v.cfg.RejectFailures
			}
			v.log.DebugContext(ctx, "stir: INVITE not verified", "call-id", callID(req),
				"verstat", res.Verstat, "code", ve.Code, "rejected", reject, "error", err)
			if reject {
				_ = sip.Respond(w, req, ve.Code, ve.Reason)
				return
			}
			if !v.cfg.OmitReason && !errors.Is(err, ErrNoIdentity) {
				w = &reasonWriter{ResponseWriter: w, reason: reasonValue(ve)}
			}
		} else {
			v.log.DebugContext(ctx, "stir: INVITE verified", "call-id", callID(req),
				"verstat", res.Verstat, "attest", res.Attestation)
		}
		out := sip.CloneRequest(req)
		if aerr := ApplyVerstat(out, res.Verstat); aerr != nil {
			v.log.DebugContext(ctx, "stir: verstat not applied", "call-id", callID(req), "error", aerr)
		}
		next.ServeSIP(ContextWithResult(ctx, res), w, out)
	})
}

// reasonValue formats the Reason header value for ve (RFC 3326 §2).
func reasonValue(ve *VerifyError) string {
	return "SIP;cause=" + strconv.Itoa(ve.Code) + `;text="` + ve.Reason + `"`
}

// reasonWriter adds a Reason header to the first response after 100 Trying.
type reasonWriter struct {
	sip.ResponseWriter
	reason string

	mu   sync.Mutex
	done bool
}

// WriteResponse adds the Reason header to the first response with a code
// above 100 and writes res.
func (w *reasonWriter) WriteResponse(res *sip.Response) error {
	if res.StatusCode > sip.StatusTrying {
		w.mu.Lock()
		first := !w.done
		w.done = true
		w.mu.Unlock()
		if first {
			res.AppendHeader(sip.NewHeader("Reason", w.reason))
		}
	}
	return w.ResponseWriter.WriteResponse(res)
}

// Unwrap returns the wrapped ResponseWriter, so that optional interfaces of
// the server's writer stay reachable.
func (w *reasonWriter) Unwrap() sip.ResponseWriter { return w.ResponseWriter }
