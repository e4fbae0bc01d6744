package sip

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
)

// A Handler answers SIP requests.
//
// ServeSIP is called once per server transaction, and also for each ACK that
// does not belong to one (the ACK for a 2xx, RFC 3261 §13.2.2.4), which takes
// no response. It should write provisional responses, if any, then exactly one
// final response to w. Returning from ServeSIP means the request is done: if no
// final response was written (and the request is not an ACK), the server
// answers 500, or 487 when the request was cancelled. A handler that waits
// for something else (a forked branch, a B2BUA leg, a database) blocks inside
// ServeSIP.
//
// ctx is cancelled when the transaction ends, when a CANCEL for the request
// arrives (RFC 3261 §9.2) or when the server shuts down.
//
// Handlers for one dialog are started in the order their requests arrived, but
// run concurrently. Handlers must not modify req after returning. A panic in
// ServeSIP is recovered, logged and answered 500.
type Handler interface {
	ServeSIP(ctx context.Context, w ResponseWriter, req *Request)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, w ResponseWriter, req *Request)

// ServeSIP calls f(ctx, w, req).
func (f HandlerFunc) ServeSIP(ctx context.Context, w ResponseWriter, req *Request) {
	f(ctx, w, req)
}

// A ResponseWriter sends the responses of one server transaction.
//
// WriteResponse may be called any number of times with a provisional (1xx)
// response and then once with a final one; after the final response it returns
// ErrFinalSent. For an ACK it returns ErrNoResponse. It is safe to call from
// any goroutine. Responses are built with NewResponse(req, ...) so that they
// carry the request's Via, From, To, Call-ID and CSeq.
//
// Further abilities (the request's transport flow, reliable provisionals) are
// optional interfaces that a ResponseWriter may implement.
type ResponseWriter interface {
	WriteResponse(res *Response) error
}

// Respond builds a response to req with NewResponse and writes it to w; extra
// header fields are appended to it.
func Respond(w ResponseWriter, req *Request, code int, reason string, headers ...Header) error {
	res := NewResponse(req, code, reason)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	return w.WriteResponse(res)
}

// RespondError answers req according to err: with the code, reason and headers
// of a *StatusError found in err's chain by errors.As, otherwise with 500.
func RespondError(w ResponseWriter, req *Request, err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		return Respond(w, req, se.Code, se.Reason, se.Headers...)
	}
	return Respond(w, req, StatusInternalServerError, "")
}

// Middleware wraps a Handler to add behaviour before or after it, or to answer
// without calling it (authentication, rate limits, topology hiding, logging).
type Middleware func(Handler) Handler

// Chain returns h wrapped in the given middleware; the first one is the
// outermost and sees requests first.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Mux routes requests to a Handler per method. A request for a method without
// a handler is answered 405 Method Not Allowed, or 501 Not Implemented for a
// method this package does not know (RFC 3261 §8.2.1), both with an Allow
// header listing the methods it has handlers for. An unmatched ACK is
// dropped, since an ACK has no response.
//
// Handle may be called while the Mux serves requests.
type Mux struct {
	mu       sync.RWMutex
	handlers map[RequestMethod]Handler
	allow    string
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{handlers: make(map[RequestMethod]Handler)}
}

// Handle registers h for method, replacing any previous handler.
func (m *Mux) Handle(method RequestMethod, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers[RequestMethod(strings.ToUpper(string(method)))] = h
	methods := make([]string, 0, len(m.handlers))
	for k := range m.handlers {
		if k != ACK && k != CANCEL {
			methods = append(methods, string(k))
		}
	}
	// CANCEL and ACK are always allowed: the transaction layer handles them.
	methods = append(methods, string(ACK), string(CANCEL))
	slices.Sort(methods)
	m.allow = strings.Join(methods, ", ")
}

// HandleFunc registers f for method.
func (m *Mux) HandleFunc(method RequestMethod, f func(ctx context.Context, w ResponseWriter, req *Request)) {
	m.Handle(method, HandlerFunc(f))
}

// Allow returns the value of the Allow header the Mux sends: the methods with
// a handler, plus ACK and CANCEL.
func (m *Mux) Allow() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.allow == "" {
		return "ACK, CANCEL"
	}
	return m.allow
}

// ServeSIP dispatches req to the handler registered for its method.
func (m *Mux) ServeSIP(ctx context.Context, w ResponseWriter, req *Request) {
	m.mu.RLock()
	h := m.handlers[req.Method]
	m.mu.RUnlock()
	if h != nil {
		h.ServeSIP(ctx, w, req)
		return
	}
	if req.Method == ACK {
		return
	}
	code := StatusMethodNotAllowed
	if !KnownMethod(req.Method) {
		code = StatusNotImplemented
	}
	_ = Respond(w, req, code, "", NewHeader("Allow", m.Allow()))
}

// KnownMethod reports whether m is a method defined by RFC 3261 or one of the
// extensions siphon supports.
func KnownMethod(m RequestMethod) bool {
	switch m {
	case INVITE, ACK, CANCEL, BYE, REGISTER, OPTIONS, SUBSCRIBE, NOTIFY,
		REFER, INFO, MESSAGE, PRACK, UPDATE, PUBLISH:
		return true
	}
	return false
}
