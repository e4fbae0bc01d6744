package proxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// ErrSendMethod: Send does not originate INVITE, ACK or CANCEL; those need
// dialog and transaction state a caller keeps (package b2bua).
var ErrSendMethod = errors.New("proxy: Send takes non-INVITE requests")

// Send originates req from the proxy itself (a keepalive, a reg-event
// SUBSCRIBE, a NOTIFY, a MESSAGE) and returns its final response. The next
// hop follows RFC 3261 §8.1.2 and §16.6 steps 6-7, in this order of
// precedence:
//
//  1. next, when its Transport is set: an explicit address or flow;
//  2. the first Route, when req carries a pre-loaded route set: the
//     request goes to that loose router with its Request-URI unchanged
//     (a strict router gets the Request-URI moved to the end of the Route
//     set, §16.6 step 7);
//  3. the Request-URI.
//
// The hop's targets (RFC 3263, through Config.Resolver) are tried in turn,
// leaving out this proxy's own listeners: a transport error, a timeout or a
// 503 moves on to the next (§4.3), and the last answer or error is
// returned. Send adds Max-Forwards when req has none and owns req from then
// on; each attempt is a fresh copy with its own Via branch.
func (p *Proxy) Send(ctx context.Context, req *sip.Request, next transport.Target) (*sip.Response, error) {
	switch req.Method {
	case sip.INVITE, sip.ACK, sip.CANCEL:
		return nil, fmt.Errorf("%w: %s", ErrSendMethod, req.Method)
	}
	if req.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	var targets []transport.Target
	if next.Transport != "" {
		targets = []transport.Target{next}
	} else {
		hop, err := nextHopURI(req)
		if err != nil {
			return nil, fmt.Errorf("proxy: send %s: %w", req.Method, err)
		}
		if targets, err = p.resolve(ctx, hop); err != nil {
			return nil, fmt.Errorf("proxy: send %s to %s: %w", req.Method, hop.String(), err)
		}
	}
	var (
		res *sip.Response
		err error
	)
	for i, t := range targets {
		attempt := req
		if i < len(targets)-1 {
			attempt = sip.CopyRequest(req) // the transaction owns what it sends
		}
		res, err = p.l.Do(ctx, attempt, t)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil && res.StatusCode != sip.StatusServiceUnavailable {
			return res, nil
		}
		p.log.Debug("proxy: send moves to the next target", "method", req.Method, "target", t.Addr.String(),
			"err", err, "status", statusOf(res))
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: send %s: %w", req.Method, err)
	}
	return res, nil
}

func statusOf(res *sip.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}
