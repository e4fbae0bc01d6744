package stir_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/stir"
)

// terminating records what reaches the handler behind the verification
// middleware and answers 180 then 200.
type terminating struct {
	req    *sip.Request
	result *stir.Result
	calls  int
}

func (h *terminating) ServeSIP(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	h.calls++
	h.req = req
	h.result, _ = stir.ResultFromContext(ctx)
	_ = sip.Respond(w, req, sip.StatusTrying, "")
	_ = sip.Respond(w, req, sip.StatusRinging, "")
	_ = sip.Respond(w, req, sip.StatusOK, "")
}

func headerOf(msg sip.Message, name string) string {
	return strings.Join(sip.HeaderValues(msg, name), ", ")
}

func TestMiddlewareStampsVerstat(t *testing.T) {
	e := newEnv(t)
	req := e.signed(t)
	// A verstat forged upstream must not survive.
	sip.RemoveHeaders(req, "P-Asserted-Identity")
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", `"Alice" <tel:+12155551212;verstat=TN-Validation-Passed;cpc=ordinary>, <sip:alice@example.com>`))
	before := req.String()

	next := &terminating{}
	h := sip.Chain(next, e.verifier(t, nil).Middleware)
	rec := &recorder{}
	h.ServeSIP(t.Context(), rec, req)

	require.Equal(t, 1, next.calls)
	assert.Equal(t, before, req.String(), "the middleware stamps a copy")
	assert.Equal(t, `"Alice" <tel:+12155551212;cpc=ordinary;verstat=TN-Validation-Passed>, <sip:alice@example.com>`,
		headerOf(next.req, "P-Asserted-Identity"))
	assert.Equal(t, "sip:+12155551212;verstat=TN-Validation-Passed@example.com;user=phone", next.req.From().Address.String())
	assert.Contains(t, next.req.String(), "From: <sip:+12155551212;verstat=TN-Validation-Passed@example.com;user=phone>;tag=9fxced76sl\r\n")
	require.NotNil(t, next.result)
	assert.Equal(t, stir.VerstatPassed, next.result.Verstat)
	assert.Equal(t, stir.AttestationFull, next.result.Attestation)
	for _, res := range rec.responses {
		assert.Empty(t, headerOf(res, "Reason"))
	}
}

func TestMiddlewareFailures(t *testing.T) {
	cases := []struct {
		name    string
		cfg     func(*stir.VerifierConfig)
		req     func(t *testing.T, e *env) *sip.Request
		code    int    // rejection code, 0 when the call continues
		verstat string // stamped when the call continues
		reason  string // Reason header on the first response after 100
	}{{
		name:    "no-identity-continues",
		req:     func(t *testing.T, e *env) *sip.Request { return call(t) },
		verstat: "No-TN-Validation",
	}, {
		name: "no-identity-required",
		cfg:  func(c *stir.VerifierConfig) { c.RequireIdentity = true },
		req:  func(t *testing.T, e *env) *sip.Request { return call(t) },
		code: 428,
	}, {
		name:    "stale-continues",
		req:     func(t *testing.T, e *env) *sip.Request { r := e.signed(t); e.now = e.now.Add(time.Hour); return r },
		verstat: "TN-Validation-Failed",
		reason:  `SIP;cause=403;text="Stale Date"`,
	}, {
		name: "stale-rejected",
		cfg:  func(c *stir.VerifierConfig) { c.RejectFailures = true },
		req:  func(t *testing.T, e *env) *sip.Request { r := e.signed(t); e.now = e.now.Add(time.Hour); return r },
		code: 403,
	}, {
		name: "tampered-rejected",
		cfg:  func(c *stir.VerifierConfig) { c.RejectFailures = true },
		req: func(t *testing.T, e *env) *sip.Request {
			id := tamper(t, identityOf(t, e.signed(t)), func(s string) string { return strings.Replace(s, `"attest":"A"`, `"attest":"B"`, 1) })
			return withIdentity(t, "+12155551212", id)
		},
		code: 438,
	}, {
		name: "untrusted-rejected",
		cfg: func(c *stir.VerifierConfig) {
			c.RejectFailures = true
		},
		req: func(t *testing.T, e *env) *sip.Request {
			other := newPKI(t, e.now, pkiOptions{})
			s, err := stir.NewSigner(other.leafKey, e.repo.put("/other.pem", other.chainPEM, ""), stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			r := call(t)
			require.NoError(t, s.SignRequest(t.Context(), r))
			return r
		},
		code: 437,
	}, {
		name: "unreachable-rejected",
		cfg:  func(c *stir.VerifierConfig) { c.RejectFailures = true },
		req: func(t *testing.T, e *env) *sip.Request {
			s, err := stir.NewSigner(e.pki.leafKey, e.repo.fail("/x.pem", http.StatusInternalServerError), stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			r := call(t)
			require.NoError(t, s.SignRequest(t.Context(), r))
			return r
		},
		code: 436,
	}, {
		name: "unreachable-permissive-continues",
		cfg:  func(c *stir.VerifierConfig) { c.RejectFailures = true; c.Permissive = true },
		req: func(t *testing.T, e *env) *sip.Request {
			s, err := stir.NewSigner(e.pki.leafKey, e.repo.fail("/x.pem", http.StatusInternalServerError), stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			r := call(t)
			require.NoError(t, s.SignRequest(t.Context(), r))
			return r
		},
		verstat: "No-TN-Validation",
		reason:  `SIP;cause=436;text="Bad Identity Info"`,
	}, {
		name: "mismatch-continues-without-reason",
		cfg:  func(c *stir.VerifierConfig) { c.OmitReason = true },
		req: func(t *testing.T, e *env) *sip.Request {
			return withIdentity(t, "+12155550000", identityOf(t, e.signed(t)))
		},
		verstat: "TN-Validation-Failed",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			v := e.verifier(t, c.cfg)
			req := c.req(t, e)
			next := &terminating{}
			rec := &recorder{}
			v.Middleware(next).ServeSIP(t.Context(), rec, req)
			if c.code != 0 {
				assert.Zero(t, next.calls, "a rejected request does not reach the next handler")
				res := rec.last()
				require.NotNil(t, res)
				assert.Equal(t, c.code, res.StatusCode)
				require.Len(t, rec.responses, 1)
				return
			}
			require.Equal(t, 1, next.calls)
			assert.Contains(t, next.req.From().Address.User, ";verstat="+c.verstat)
			assert.Contains(t, headerOf(next.req, "P-Asserted-Identity"), ";verstat="+c.verstat)
			require.NotNil(t, next.result)
			assert.Equal(t, stir.Verstat(c.verstat), next.result.Verstat)
			require.Len(t, rec.responses, 3)
			assert.Empty(t, headerOf(rec.responses[0], "Reason"), "not on 100 Trying")
			assert.Equal(t, c.reason, headerOf(rec.responses[1], "Reason"), "on the first response after 100")
			assert.Empty(t, headerOf(rec.responses[2], "Reason"), "only once")
		})
	}
}

func TestMiddlewarePassesOtherRequests(t *testing.T) {
	e := newEnv(t)
	next := &terminating{}
	h := e.verifier(t, func(c *stir.VerifierConfig) { c.RequireIdentity = true }).Middleware(next)
	for _, r := range []*sip.Request{
		parseRequest(t, "OPTIONS sip:bob@192.0.2.20 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK2\n"+
			"From: <sip:+12155551212@example.com>;tag=a\nTo: <sip:bob@example.com>\nCall-ID: c2\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"),
		invite(t, "sip:bob@192.0.2.20", "<sip:+12155551212@example.com>", "<sip:+12155551213@example.com>;tag=b"),
	} {
		next.req = nil
		h.ServeSIP(t.Context(), &recorder{}, r)
		assert.Same(t, r, next.req)
		assert.Nil(t, next.result)
	}
}

func TestApplyVerstat(t *testing.T) {
	cases := []struct {
		from, pai         string
		wantFrom, wantPAI string
	}{
		{"<tel:+12155551212>", "",
			"<tel:+12155551212;verstat=TN-Validation-Failed>", ""},
		{"\"Bob\" <sip:+1-215-555-1212;verstat=No-TN-Validation@example.com;user=phone>", "<sip:bob@example.com>, <tel:+12155551212>",
			"\"Bob\" <sip:+1-215-555-1212;verstat=TN-Validation-Failed@example.com;user=phone>", "<sip:bob@example.com>, <tel:+12155551212;verstat=TN-Validation-Failed>"},
		{"<sip:anonymous@anonymous.invalid>", "<sip:bob@example.com>",
			"<sip:anonymous@anonymous.invalid>", "<sip:bob@example.com>"},
	}
	for _, c := range cases {
		extra := []string{}
		if c.pai != "" {
			extra = append(extra, "P-Asserted-Identity: "+c.pai)
		}
		req := invite(t, "sip:+12155551213@example.com", c.from, "<sip:+12155551213@example.com>", extra...)
		require.NoError(t, stir.ApplyVerstat(req, stir.VerstatFailed))
		assert.Equal(t, c.wantFrom+";tag=9fxced76sl", req.From().Value())
		assert.Equal(t, c.wantPAI, headerOf(req, "P-Asserted-Identity"))
		parsed := parseRequest(t, strings.ReplaceAll(req.String(), "\r\n", "\n"))
		assert.Equal(t, req.From().Value(), parsed.From().Value(), "the stamped request reparses")
	}
	// An empty verstat only removes.
	req := invite(t, "sip:+12155551213@example.com", "<tel:+12155551212;verstat=TN-Validation-Passed>", "<sip:+12155551213@example.com>")
	require.NoError(t, stir.ApplyVerstat(req, ""))
	assert.Equal(t, "<tel:+12155551212>;tag=9fxced76sl", req.From().Value())
}

func TestRespondErrorUsesVerifyError(t *testing.T) {
	e := newEnv(t)
	req := withIdentity(t, "+12155550000", identityOf(t, e.signed(t)))
	_, err := e.verifier(t, nil).VerifyRequest(t.Context(), req)
	require.Error(t, err)
	rec := &recorder{}
	require.NoError(t, sip.RespondError(rec, req, err))
	assert.Equal(t, 438, rec.last().StatusCode)
	assert.Equal(t, "Invalid Identity Header", rec.last().Reason)
}
