package diameter

import (
	"context"
	"fmt"
	"strings"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// Doer sends a request and returns its answer: *Peer, *Pool and *Conn are
// Doers.
type Doer interface {
	Do(ctx context.Context, req *Message) (*Message, error)
}

// Relay is a Handler that forwards requests to an upstream, as a Diameter
// relay agent does (RFC 6733 §6.1.8): it refuses a request whose
// Route-Record list already holds this node's identity with 3005
// (LOOP_DETECTED), appends a Route-Record with the identity of the peer the
// request came from, keeps the End-to-End Identifier, and returns the
// upstream's answer unchanged. An upstream that cannot be reached yields
// 3002 (UNABLE_TO_DELIVER).
type Relay struct {
	// Upstream receives the forwarded requests. Required.
	Upstream Doer
	// Identity is this node's Origin-Host, looked for in Route-Record to
	// detect loops. Default: the Origin-Host of the receiving connection.
	Identity string
}

// ServeDiameter forwards r.
func (rl *Relay) ServeDiameter(ctx context.Context, r *Request) (*Message, error) {
	self := rl.Identity
	if self == "" {
		self = r.Conn.cfg.OriginHost
	}
	body := r.Body()
	// RFC 6733 §6.1.3: a request that lists us in Route-Record looped.
	for _, rr := range body.All(codeRouteRecord, 0) {
		if strings.EqualFold(AsString(rr), self) {
			return r.Answer(LoopDetected), nil
		}
	}
	h := r.Msg.Header
	fwd := diam.NewMessage(h.CommandCode, h.CommandFlags, h.ApplicationID, 0, h.EndToEndID, r.Msg.Dictionary())
	for _, a := range body {
		fwd.AddAVP(a)
	}
	fwd.AddAVP(NewAVP(codeRouteRecord, 0, datatype.DiameterIdentity(r.Conn.Peer().Host)))
	ans, err := rl.Upstream.Do(ctx, fwd)
	if err != nil {
		return nil, &ResultError{Code: UnableToDeliver, Message: fmt.Sprintf("relay: %v", err)}
	}
	return ans, nil
}
