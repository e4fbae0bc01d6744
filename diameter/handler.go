package diameter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// Handler serves one inbound Diameter request.
//
// ServeDiameter returns the answer to send. Build it with Request.Answer so
// that it carries the request's identifiers, Session-Id, Origin-Host and
// Origin-Realm. A returned error becomes an answer too: its result code when
// it is (or wraps) a *ResultError, else 5012 (UNABLE_TO_COMPLY). A nil
// answer with a nil error is answered 3002 (UNABLE_TO_DELIVER). ctx is
// canceled when the connection closes or Config.RequestTimeout passes.
// Handlers run concurrently, up to Config.MaxConcurrent per connection; a
// panic is recovered and answered 5012.
type Handler interface {
	ServeDiameter(ctx context.Context, r *Request) (*Message, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) (*Message, error)

// ServeDiameter calls f.
func (f HandlerFunc) ServeDiameter(ctx context.Context, r *Request) (*Message, error) {
	return f(ctx, r)
}

// Request is an inbound request and the connection it arrived on.
type Request struct {
	// Msg is the decoded request. Handlers must not modify it.
	Msg *Message
	// Conn is the connection the request arrived on: Conn.Peer() names the
	// peer that sent it (which for relayed requests is not the origin).
	Conn *Conn
}

// Body returns the request's AVPs.
func (r *Request) Body() AVPs { return Body(r.Msg) }

// Answer returns an answer to r with the given Result-Code (0: none, for
// answers that carry an Experimental-Result instead). It copies the
// identifiers and the P bit, puts Session-Id first (RFC 6733 §8.8), adds
// this node's Origin-Host and Origin-Realm and copies every Proxy-Info
// (RFC 6733 §6.2). 3xxx protocol errors get the E bit (§7.1.3). A Request
// without a Conn (built to encode an answer offline) gets no Origin-Host or
// Origin-Realm.
func (r *Request) Answer(resultCode uint32) *Message {
	var host, realm string
	if r.Conn != nil {
		host, realm = r.Conn.cfg.OriginHost, r.Conn.cfg.OriginRealm
	}
	return answer(r.Msg, resultCode, host, realm)
}

// AnswerResult returns an answer carrying res as Result-Code or
// Experimental-Result; 3xxx results get the E bit.
func (r *Request) AnswerResult(res Result) *Message {
	if res.Vendor == 0 {
		return r.Answer(res.Code)
	}
	return r.AnswerExperimental(res.Vendor, res.Code)
}

// AnswerExperimental returns an answer carrying Experimental-Result with a
// vendor's result code (RFC 6733 §7.6) instead of Result-Code.
func (r *Request) AnswerExperimental(vendor, code uint32) *Message {
	a := r.Answer(0)
	a.AddAVP(ExperimentalResult(vendor, code))
	return a
}

func answer(req *Message, resultCode uint32, host, realm string) *Message {
	h := req.Header
	flags := h.CommandFlags & FlagProxiable
	if resultCode >= 3000 && resultCode < 4000 {
		flags |= FlagError
	}
	a := diam.NewMessage(h.CommandCode, flags, h.ApplicationID, h.HopByHopID, h.EndToEndID, req.Dictionary())
	if sid := Body(req).Find(codeSessionID, 0); sid != nil {
		a.AddAVP(sid)
	}
	if resultCode != 0 {
		a.AddAVP(NewAVP(codeResultCode, 0, datatype.Unsigned32(resultCode)))
	}
	if host != "" {
		a.AddAVP(NewAVP(codeOriginHost, 0, datatype.DiameterIdentity(host)))
		a.AddAVP(NewAVP(codeOriginRealm, 0, datatype.DiameterIdentity(realm)))
	}
	for _, pi := range Body(req).All(codeProxyInfo, 0) {
		a.AddAVP(pi)
	}
	return a
}

// ResultError is an error that a Handler returns to have the request
// answered with a specific result code. Vendor non-zero sends the code as
// an Experimental-Result of that vendor.
type ResultError struct {
	Code    uint32
	Vendor  uint32
	Message string // optional, sent as Error-Message
}

// Error gives the result code and message.
func (e *ResultError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("diameter: result %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("diameter: result %d", e.Code)
}

// errorAnswer builds the answer for a handler error.
func errorAnswer(r *Request, err error) *Message {
	var re *ResultError
	if !errors.As(err, &re) {
		re = &ResultError{Code: UnableToComply}
	}
	var a *Message
	if re.Vendor != 0 {
		a = r.AnswerExperimental(re.Vendor, re.Code)
	} else {
		a = r.Answer(re.Code)
	}
	if re.Message != "" {
		a.AddAVP(NewAVPFlags(codeErrorMessage, 0, 0, datatype.UTF8String(re.Message)))
	}
	return a
}

// Mux dispatches requests to Handlers by application and command code. It
// is itself a Handler: an unknown application is answered 3007
// (APPLICATION_UNSUPPORTED) and an unknown command 3001
// (COMMAND_UNSUPPORTED), both with the E bit (RFC 6733 §7.1.3). A Mux is
// safe for concurrent use; register handlers before serving.
type Mux struct {
	mu   sync.RWMutex
	apps map[uint32]map[uint32]Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{apps: make(map[uint32]map[uint32]Handler)} }

// Handle registers h for requests of application app with command code cmd,
// replacing any earlier registration.
func (m *Mux) Handle(app, cmd uint32, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.apps[app] == nil {
		m.apps[app] = make(map[uint32]Handler)
	}
	m.apps[app][cmd] = h
}

// HandleFunc registers a function as in Handle.
func (m *Mux) HandleFunc(app, cmd uint32, f func(ctx context.Context, r *Request) (*Message, error)) {
	m.Handle(app, cmd, HandlerFunc(f))
}

// ServeDiameter dispatches r.
func (m *Mux) ServeDiameter(ctx context.Context, r *Request) (*Message, error) {
	m.mu.RLock()
	cmds, ok := m.apps[r.Msg.Header.ApplicationID]
	h := cmds[r.Msg.Header.CommandCode]
	m.mu.RUnlock()
	switch {
	case !ok:
		return r.Answer(ApplicationUnsupported), nil
	case h == nil:
		return r.Answer(CommandUnsupported), nil
	}
	return h.ServeDiameter(ctx, r)
}
