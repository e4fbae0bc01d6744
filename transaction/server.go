package transaction

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// ServerConfig configures a Server. The zero value gives the documented
// defaults.
type ServerConfig struct {
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// MaxInflight bounds the handlers running at once; default 50000. A
	// request beyond it, or during Shutdown, is answered 503 with
	// Retry-After without running the handler.
	MaxInflight int
	// RetryAfter is the Retry-After of those 503s, in seconds; default 5.
	RetryAfter int
	// InlineACK runs the handler for an ACK that no transaction absorbed on
	// the goroutine that read it, instead of a goroutine of its own. Set it
	// when the handler's ACK path never blocks, as a proxy's does (it relays
	// the ACK statelessly): it saves a goroutine hand-off per call.
	InlineACK bool
	// Inline, when set and true for a request, runs its handler on the
	// goroutine that read the request instead of a goroutine of its own. It
	// saves a goroutine start, a stack that grows from scratch and a
	// scheduler hand-off per request, but the reading goroutine (for UDP,
	// the listener's only reader) waits for the handler: return true only
	// for requests whose handler never blocks, such as REGISTER on an
	// in-memory registrar or an OPTIONS answered locally. The context of an
	// inline non-INVITE handler ends only at Shutdown.
	Inline func(req *sip.Request) bool
	// Stateless, when set and true for a request other than INVITE, ACK or
	// CANCEL, answers it as a stateless UAS (RFC 3261 §8.2.7): no server
	// transaction, the handler runs inline (as with Inline, so it must not
	// block), each response it writes is sent at once, and nothing is kept
	// once it returns. A retransmission of the request reaches the handler
	// again, which must answer it as it answered the first: the registrar
	// does for REGISTER, answering a repeat of the request that wrote a
	// binding with the bindings unchanged. It saves the transaction and the
	// 32 s of Timer J state per request. Its ResponseWriter does not
	// implement Detacher, and must not be used after the handler returns.
	Stateless func(req *sip.Request) bool
}

// Relayer is implemented by the ResponseWriter a Server passes to handlers.
// RelayResponse sends a response as a proxy forwards one: a 2xx to an
// INVITE is sent once, since the element that generated it retransmits it
// (RFC 3261 §16.7); WriteResponse, for a UAS, retransmits its own 2xx until
// the ACK arrives (§13.3.1.4).
type Relayer interface {
	RelayResponse(res *sip.Response) error
}

// ResponseHandler is implemented by handlers that want the responses no
// client transaction matches (a proxy forwards a late 2xx statelessly).
// ServeResponse is called on the reading goroutine and must not block.
type ResponseHandler interface {
	ServeResponse(res *sip.Response, f transport.Flow)
}

// Server runs a sip.Handler over a transaction Layer: one goroutine per
// server transaction, with a context that ends on CANCEL, on transaction
// end and on shutdown; panics recovered and answered 500; a request left
// without a final response answered 500 (487 when cancelled).
type Server struct {
	l   *Layer
	h   sip.Handler
	cfg ServerConfig
	log *slog.Logger

	base     context.Context
	stop     context.CancelFunc
	inflight atomic.Int64
	wg       sync.WaitGroup
	shutting atomic.Bool
	// admit orders wg.Add in ServeRequest before Shutdown's wg.Wait: a
	// WaitGroup must not be added to from zero while it is waited on.
	admit sync.RWMutex
	done  chan struct{}
	once  sync.Once
}

// NewServer returns a Server running h on l.
func NewServer(l *Layer, h sip.Handler, cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 50000
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5
	}
	base, stop := context.WithCancel(context.Background())
	return &Server{l: l, h: h, cfg: cfg, log: cfg.Logger, base: base, stop: stop, done: make(chan struct{})}
}

// Layer returns the transaction layer, for sending requests.
func (s *Server) Layer() *Layer { return s.l }

// Start starts the layer with the server as its transaction user and
// returns; Serve does the same and waits.
func (s *Server) Start() error { return s.l.Start(s) }

// Serve starts the server and blocks until Shutdown, then returns
// ErrServerClosed.
func (s *Server) Serve() error {
	if err := s.Start(); err != nil {
		return err
	}
	<-s.done
	return ErrServerClosed
}

// Shutdown stops taking new requests (they get 503), waits for running
// handlers until ctx ends, cancels the contexts of those still running,
// and closes the layer and its transports.
func (s *Server) Shutdown(ctx context.Context) error {
	s.admit.Lock()
	s.shutting.Store(true)
	s.admit.Unlock()
	waited := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(waited)
	}()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop()
	s.once.Do(func() {
		_ = s.l.Close()
		close(s.done)
	})
	return err
}

// ServeRequest implements TU.
func (s *Server) ServeRequest(tx *ServerTx) {
	if !s.enter() {
		res := sip.NewResponse(tx.Request(), sip.StatusServiceUnavailable, "")
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(s.cfg.RetryAfter)))
		_ = tx.Respond(res)
		return
	}
	if s.cfg.Inline != nil && s.cfg.Inline(tx.Request()) {
		s.serve(tx, tx.Request().Method != sip.INVITE)
		return
	}
	go s.serve(tx, false)
}

// serve runs the handler for tx. Its context ends when the transaction is
// canceled or terminates, or at Shutdown. With short it ends only at
// Shutdown: an inline non-INVITE handler answers before the transaction can
// end, and CANCEL has no effect on it (RFC 3261 §9.2), so the per-request
// cancel context, and its registration with the base context, are skipped.
func (s *Server) serve(tx *ServerTx, short bool) {
	ctx, cancel := s.base, context.CancelCauseFunc(nil)
	if !short {
		ctx, cancel = context.WithCancelCause(s.base)
		tx.setHook(cancel)
	}
	req := tx.Request()
	w := &responseWriter{tx: tx, s: s, cancel: cancel}
	defer func() {
		r := recover()
		if r != nil {
			s.log.Error("transaction: handler panic", "method", req.Method, "call-id", callID(req),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		if r != nil || !w.detached {
			w.once.Do(w.finish)
		}
	}()
	s.h.ServeSIP(transport.NewContext(ctx, tx.Flow()), w, req)
}

// finish ends a handler's hold on its transaction: a 500 (or, once
// cancelled, a 487) if no final response was sent, then the end of its
// context and of its count in MaxInflight and Shutdown.
func (w *responseWriter) finish() {
	tx, s := w.tx, w.s
	if !tx.FinalSent() {
		code := sip.StatusInternalServerError
		if tx.IsCanceled() {
			code = sip.StatusRequestTerminated
		}
		_ = tx.Respond(sip.NewResponse(tx.Request(), code, ""))
	}
	if w.cancel != nil {
		w.cancel(nil)
		tx.clearHook()
	}
	s.inflight.Add(-1)
	s.wg.Done()
}

// enter admits one more handler unless the server is shutting down or
// full. A WaitGroup must not grow from zero while Wait runs, so admission
// and the start of Shutdown are ordered by a mutex.
func (s *Server) enter() bool {
	// A read lock: handlers are admitted concurrently (MaxInflight may be
	// overshot by the number of racing readers), only Shutdown excludes.
	s.admit.RLock()
	defer s.admit.RUnlock()
	if s.shutting.Load() || s.inflight.Load() >= int64(s.cfg.MaxInflight) {
		return false
	}
	s.inflight.Add(1)
	s.wg.Add(1)
	return true
}

// serveStateless runs the handler for req without a server transaction,
// when Config.Stateless picks it, and reports whether it did.
func (s *Server) serveStateless(req *sip.Request, f transport.Flow) bool {
	if s.cfg.Stateless == nil || !s.cfg.Stateless(req) {
		return false
	}
	if !s.enter() {
		s.l.respondStateless(req, f, sip.StatusServiceUnavailable, sip.NewHeader("Retry-After", strconv.Itoa(s.cfg.RetryAfter)))
		return true
	}
	w := &statelessWriter{l: s.l, req: req, flow: f}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("transaction: handler panic", "method", req.Method, "call-id", callID(req),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		if !w.final {
			_ = w.WriteResponse(sip.NewResponse(req, sip.StatusInternalServerError, ""))
		}
		w.final = true
		s.inflight.Add(-1)
		s.wg.Done()
	}()
	s.h.ServeSIP(transport.NewContext(s.base, f), w, req)
	return true
}

// statelessWriter sends a stateless UAS's responses (RFC 3261 §8.2.7).
type statelessWriter struct {
	l     *Layer
	req   *sip.Request
	flow  transport.Flow
	final bool
}

func (w *statelessWriter) WriteResponse(res *sip.Response) error {
	if w.final {
		return sip.ErrFinalSent
	}
	w.final = res.StatusCode >= 200
	return w.l.tp.SendMessage(res, transport.ResponseTarget(w.req, w.flow), nil)
}

// WriteEncoded implements sip.EncodedWriter: a stateless response keeps
// nothing, so one its handler encoded goes out as it is, unless a
// transport Rewriter must see it.
func (w *statelessWriter) WriteEncoded(code int, data []byte) (bool, error) {
	if w.final {
		return false, sip.ErrFinalSent
	}
	sent, err := w.l.tp.SendEncodedResponse(data, transport.ResponseTarget(w.req, w.flow))
	if sent {
		w.final = code >= 200
	}
	return sent, err
}

// ServeACK implements TU.
func (s *Server) ServeACK(req *sip.Request, f transport.Flow) {
	if s.shutting.Load() {
		return
	}
	if s.cfg.InlineACK {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("transaction: handler panic on ACK", "call-id", callID(req), "panic", fmt.Sprint(r))
			}
		}()
		s.h.ServeSIP(transport.NewContext(s.base, f), ackWriter{}, req)
		return
	}
	if !s.enter() {
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.inflight.Add(-1)
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("transaction: handler panic on ACK", "call-id", callID(req), "panic", fmt.Sprint(r))
			}
		}()
		s.h.ServeSIP(transport.NewContext(s.base, f), ackWriter{}, req)
	}()
}

// ServeResponse implements TU.
func (s *Server) ServeResponse(res *sip.Response, f transport.Flow) {
	if rh, ok := s.h.(ResponseHandler); ok {
		rh.ServeResponse(res, f)
	}
}

func callID(m sip.Message) string {
	if c := m.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

// Detacher is implemented by the ResponseWriter a Server passes to
// handlers. Detach, called by the handler before it returns, lets it return
// while the request is still being answered, as an event-driven proxy does
// when it has forwarded a request and waits for no one: the transaction
// stays the handler's (its context stays live, CANCEL still ends it,
// Shutdown still waits for it) until done is called, after the final
// response; calls after the first do nothing. done then does what the
// return of the handler would have: a 500 if no final response was sent,
// and the end of the context. Detached handlers run inline (ServerConfig.Inline) do not
// hold the reading goroutine while their request is forwarded.
type Detacher interface {
	Detach() (done func())
}

// responseWriter is the ResponseWriter of a server transaction.
type responseWriter struct {
	tx       *ServerTx
	s        *Server
	cancel   context.CancelCauseFunc
	detached bool // set and read on the handler's goroutine only
	once     sync.Once
}

// Detach implements Detacher.
func (w *responseWriter) Detach() func() {
	w.detached = true
	return func() { w.once.Do(w.finish) }
}

func (w *responseWriter) WriteResponse(res *sip.Response) error { return w.tx.RespondUAS(res) }

// RelayResponse implements Relayer.
func (w *responseWriter) RelayResponse(res *sip.Response) error { return w.tx.Respond(res) }

// Flow returns the flow the request arrived on.
func (w *responseWriter) Flow() transport.Flow { return w.tx.Flow() }

// Transaction returns the server transaction.
func (w *responseWriter) Transaction() *ServerTx { return w.tx }

type ackWriter struct{}

func (ackWriter) WriteResponse(*sip.Response) error { return sip.ErrNoResponse }
