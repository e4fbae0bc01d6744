package nat

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Mode says when the Fixer acts.
type Mode int

const (
	// WhenNATed acts when one of Config.Tests fires (the default).
	WhenNATed Mode = iota
	// Always acts on every message it may act on, NAT or not.
	Always
	// Never turns the fix off.
	Never
)

// String names the mode: "nated", "always" or "never".
func (m Mode) String() string {
	switch m {
	case WhenNATed:
		return "nated"
	case Always:
		return "always"
	case Never:
		return "never"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a mode as String writes it.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "nated", "":
		return WhenNATed, nil
	case "always":
		return Always, nil
	case "never":
		return Never, nil
	}
	return 0, fmt.Errorf("nat: mode %q: want nated, always or never", s)
}

// Config configures a Fixer. The zero value fixes Contacts and routes to
// registered UAs' observed sources when the DefaultTests detect a NAT.
type Config struct {
	// Contact decides when the Contact of a dialog-forming or
	// target-refresh request (INVITE, SUBSCRIBE, NOTIFY, REFER, UPDATE) that
	// came straight from its UA, and of a 1xx/2xx response to one, is
	// rewritten to the observed source (Middleware and Inbound). Default
	// WhenNATed. Always rewrites every such request; responses, which may
	// have crossed proxies below this one, are rewritten only when Tests
	// say so, in both modes.
	Contact Mode
	// Register decides, for UseFlow, whether a request for a registered
	// contact goes to the source the REGISTER came from (the flow the
	// registrar stored) instead of the contact URI. Default WhenNATed:
	// when Tests fire on the stored contact and flow (the Contact tests:
	// a private contact, the source host on another port, WebSocket).
	// Always is every binding on its flow; Never is RFC 3261 as written,
	// the contact URI resolved.
	Register Mode
	// Tests are the detections (see Flags) that mean a NAT; zero means
	// DefaultTests.
	Tests Flags
}

// Stats are cumulative counters of a Fixer, for metrics.
type Stats struct {
	// Requests and Responses count the Contacts rewritten.
	Requests, Responses uint64
	// FlowRoutes counts UseFlow answers that chose the observed source,
	// URIRoutes those that chose the contact URI.
	FlowRoutes, URIRoutes uint64
}

// Fixer applies the NAT fixes by policy: as sip.Middleware to requests
// (Middleware), as a transport.Rewriter to responses (Inbound), and to
// lookups of registered contacts (UseFlow). It never rewrites a REGISTER's
// Contact: a UA must find its own binding in the 200 OK (RFC 3261 §10.2.4),
// so the registrar records the observed source instead (registrar.Binding's
// Flow, Kamailio's fix_nated_register and received), and UseFlow routes to
// it. A Fixer is safe for concurrent use.
type Fixer struct {
	cfg   Config
	tests Flags

	requests, responses, flowRoutes, uriRoutes atomic.Uint64
}

// New returns a Fixer, or an error for a mode it does not know.
func New(cfg Config) (*Fixer, error) {
	for _, m := range []Mode{cfg.Contact, cfg.Register} {
		if m < WhenNATed || m > Never {
			return nil, fmt.Errorf("nat: unknown mode %d", int(m))
		}
	}
	x := &Fixer{cfg: cfg, tests: cfg.Tests}
	if x.tests == 0 {
		x.tests = DefaultTests
	}
	return x, nil
}

// Stats returns the Fixer's counters.
func (x *Fixer) Stats() Stats {
	return Stats{Requests: x.requests.Load(), Responses: x.responses.Load(),
		FlowRoutes: x.flowRoutes.Load(), URIRoutes: x.uriRoutes.Load()}
}

// targetRefresh reports whether a request of method m carries a Contact
// that becomes a remote target (RFC 3261 §12.1, §12.2; RFC 6665 §4.1.1,
// §4.1.3; RFC 3515; RFC 3311).
func targetRefresh(m sip.RequestMethod) bool {
	switch m {
	case sip.INVITE, sip.SUBSCRIBE, sip.NOTIFY, sip.REFER, sip.UPDATE:
		return true
	}
	return false
}

// Middleware returns next behind the Contact fix: a dialog-forming or
// target-refresh request that came straight from its UA (one Via: no proxy
// in between, whose Contact is not for this element to change) has its
// Contact rewritten to the flow it arrived on when Config.Contact says so,
// before next sees it, so that whoever the request reaches sends its
// in-dialog requests to an address that gets through the UA's NAT. Only
// the host, port and transport of the first Contact change (see
// FixContact). The request's header list is edited in place; the flow
// comes from transport.FlowFromContext. REGISTER passes untouched.
func (x *Fixer) Middleware(next sip.Handler) sip.Handler {
	if x.cfg.Contact == Never {
		return next
	}
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if targetRefresh(req.Method) {
			if f, ok := transport.FlowFromContext(ctx); ok {
				x.fixRequest(req, f)
			}
		}
		next.ServeSIP(ctx, w, req)
	})
}

// fixRequest applies the policy to one request.
func (x *Fixer) fixRequest(req *sip.Request, f transport.Flow) {
	if !f.Remote.IsValid() {
		return
	}
	hs := req.Headers()
	vias, ci := 0, -1
	for i, h := range hs {
		switch h.(type) {
		case *sip.ViaHeader:
			vias++
			continue
		}
		switch n := h.Name(); {
		case n == "Via" || n == "v":
			vias++ // kept raw: a Via that did not parse
		case ci < 0 && (n == "Contact" || n == "m"):
			ci = i
		}
	}
	if ci < 0 || vias != 1 {
		return
	}
	if x.cfg.Contact != Always {
		fl := sourceFlags(f) | contactHeaderFlags(hs[ci], f.Remote)
		if via := req.Via(); via != nil {
			fl |= viaFlags(via, f.Remote)
		}
		if fl&x.tests == 0 {
			return
		}
	}
	if fixAt(req, hs, ci, f) {
		x.requests.Add(1)
	}
}

// Inbound implements transport.Rewriter: a 1xx (but 100) or 2xx response to
// a dialog-forming or target-refresh request has its Contact rewritten to
// the flow it came on when the Contact tests among Config.Tests fire (by
// default a private Contact, or the source host on another port) and
// Config.Contact is not Never: the callee behind a NAT then gets in-dialog
// requests at an address that reaches it. Requests are left to Middleware.
// It always reports true (nothing is dropped).
func (x *Fixer) Inbound(msg sip.Message, f transport.Flow) bool {
	res, ok := msg.(*sip.Response)
	if !ok || x.cfg.Contact == Never || res.StatusCode <= 100 || res.StatusCode >= 300 || !f.Remote.IsValid() {
		return true
	}
	cseq := res.CSeq()
	if cseq == nil || !targetRefresh(cseq.MethodName) {
		return true
	}
	hs := res.Headers()
	i := firstContact(hs)
	if i < 0 {
		return true
	}
	fl := sourceFlags(f) | contactHeaderFlags(hs[i], f.Remote)
	if fl&x.tests&contactTests == 0 {
		return true
	}
	if fixAt(res, hs, i, f) {
		x.responses.Add(1)
	}
	return true
}

// Outbound implements transport.Rewriter; it changes nothing.
func (x *Fixer) Outbound(msg sip.Message, _ transport.Target) (sip.Message, bool) {
	return msg, true
}

// PassesEncoded implements transport.Passthrough: Outbound changes nothing.
func (x *Fixer) PassesEncoded() bool { return true }

// NATed reports whether Config.Tests detect a NAT between a contact
// registered as contact and the flow f it was registered over (the Contact
// tests of DetectContact: a private contact, the source host on another
// port, WebSocket), whatever the modes say. It counts nothing: it is for
// choosing which bindings to keep alive (Pinger), as Kamailio pings only
// NATed contacts.
func (x *Fixer) NATed(contact sip.Uri, f transport.Flow) bool {
	return DetectContact(contact, f)&x.tests&contactTests != 0
}

// UseFlow reports whether a request for a contact registered as contact
// over flow f should go back to f's source (the address the REGISTER came
// from, which registrar.Contact.Target returns) rather than to the contact
// URI, per Config.Register. An RFC 5626 outbound binding (reg-id) always
// uses its flow whatever this says (RFC 5626 §5.3), and a binding reached
// through Path follows Path; UseFlow is for the others.
func (x *Fixer) UseFlow(contact sip.Uri, f transport.Flow) bool {
	use := false
	switch x.cfg.Register {
	case Always:
		use = f.Remote.IsValid()
	case WhenNATed:
		use = x.NATed(contact, f)
	}
	if use {
		x.flowRoutes.Add(1)
	} else {
		x.uriRoutes.Add(1)
	}
	return use
}

var _ transport.Rewriter = (*Fixer)(nil)
