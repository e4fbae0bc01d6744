package siptest

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// StackConfig configures a Stack.
type StackConfig struct {
	// Handler serves requests; nil makes a client-only stack, which answers
	// requests 405.
	Handler sip.Handler
	// NewHandler, when Handler is nil, builds the handler from the stack's
	// transaction layer (for a proxy, which sends through it).
	NewHandler func(*transaction.Layer) sip.Handler
	// Transport and Transaction configure the layers; the Dialer and, when
	// the Network has one, the Clock are filled in.
	Transport   transport.Config
	Transaction transaction.Config
	// Server configures the Server running Handler.
	Server transaction.ServerConfig
}

// Stack is a complete SIP element on a Network: transport with UDP and TCP
// listeners on one address, transaction layer and, with a handler, a
// Server. Tests use it as a UAC, a UAS or the element under test.
type Stack struct {
	Addr         netip.AddrPort
	Transport    *transport.Layer
	Transactions *transaction.Layer
	Server       *transaction.Server
}

// NewStack starts a stack listening on UDP and TCP at addr (such as
// "192.0.2.10:5060"; port 0 picks one) and stops it when the test ends.
func NewStack(t testing.TB, n *Network, addr string, cfg StackConfig) *Stack {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	pc, err := n.ListenPacket(addr)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	ap = netip.AddrPortFrom(ap.Addr(), pc.addr.Port())
	ln, err := n.Listen(ap.String())
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	tcfg := cfg.Transport
	if tcfg.Dialer == nil {
		tcfg.Dialer = n.Dialer(ap.Addr().String())
	}
	tcfg.DSCP = transport.NoDSCP
	tp, err := transport.New(tcfg)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	if _, err := tp.AddPacketConn(pc, transport.ListenOptions{}); err != nil {
		t.Fatalf("siptest: %v", err)
	}
	if _, err := tp.AddListener(ln, transport.TCP, transport.ListenOptions{}); err != nil {
		t.Fatalf("siptest: %v", err)
	}
	xcfg := cfg.Transaction
	if xcfg.Clock == nil && n.cfg.Clock != nil {
		xcfg.Clock = n.cfg.Clock
	}
	s := &Stack{Addr: ap, Transport: tp, Transactions: transaction.New(tp, xcfg)}
	if cfg.Handler == nil && cfg.NewHandler != nil {
		cfg.Handler = cfg.NewHandler(s.Transactions)
	}
	if cfg.Handler != nil {
		s.Server = transaction.NewServer(s.Transactions, cfg.Handler, cfg.Server)
		err = s.Server.Start()
	} else {
		err = s.Transactions.Start(nil)
	}
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	t.Cleanup(func() {
		if s.Server != nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = s.Server.Shutdown(ctx)
		}
		_ = s.Transactions.Close()
	})
	return s
}

// Target returns the target that reaches this stack over tp (UDP or TCP).
func (s *Stack) Target(tp string) transport.Target {
	return transport.Target{Transport: tp, Addr: s.Addr}
}

// Do sends req to target in a client transaction and returns the final
// response.
func (s *Stack) Do(ctx context.Context, req *sip.Request, target transport.Target) (*sip.Response, error) {
	return s.Transactions.Do(ctx, req, target)
}

var callSeq atomic.Uint64

// RequestOption adjusts a request made by NewRequest.
type RequestOption func(*sip.Request)

// NewRequest builds a valid request for method to ruri ("sip:bob@example.com")
// from sip:alice@example.com, with a fresh Call-ID and From tag, CSeq 1,
// Max-Forwards 70 and no Via (the transaction adds it).
func NewRequest(method sip.RequestMethod, ruri string, opts ...RequestOption) *sip.Request {
	u, err := sip.ParseURI(ruri)
	if err != nil {
		panic(fmt.Sprintf("siptest: %v", err))
	}
	req := sip.NewRequest(method, u)
	from, _ := sip.ParseURI("sip:alice@example.com")
	req.AppendHeader(&sip.FromHeader{Address: from, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTag()}}})
	to := u
	to.UriParams, to.Headers = nil, nil
	req.AppendHeader(&sip.ToHeader{Address: to})
	cid := sip.CallIDHeader(fmt.Sprintf("%d-%s@example.com", callSeq.Add(1), sip.GenerateTag()))
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	for _, o := range opts {
		o(req)
	}
	return req
}

// NewIncomingRequest is NewRequest as a server sees it: with a top Via
// (SIP/2.0/UDP 192.0.2.1:5060, a fresh branch), for tests that call a
// Handler's ServeSIP directly with a Recorder.
func NewIncomingRequest(method sip.RequestMethod, ruri string, opts ...RequestOption) *sip.Request {
	req := NewRequest(method, ruri, opts...)
	req.PrependHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: "192.0.2.1", Port: 5060, Params: sip.HeaderParams{{K: "branch", V: sip.GenerateBranch()}}})
	return req
}

// WithHeader appends a header field.
func WithHeader(name, value string) RequestOption {
	return func(r *sip.Request) { r.AppendHeader(sip.NewHeader(name, value)) }
}

// WithBody sets the body and its Content-Type.
func WithBody(contentType string, body []byte) RequestOption {
	return func(r *sip.Request) {
		ct := sip.ContentTypeHeader(contentType)
		r.AppendHeader(&ct)
		r.SetBody(body)
	}
}

// WithCSeq sets the CSeq number.
func WithCSeq(n uint32) RequestOption {
	return func(r *sip.Request) { r.CSeq().SeqNo = n }
}

// WithCallID sets the Call-ID.
func WithCallID(id string) RequestOption {
	return func(r *sip.Request) { *r.CallID() = sip.CallIDHeader(id) }
}

// Respond returns a handler that answers every request (ACK aside) with the
// given status codes in order, the last of which should be final.
func Respond(codes ...int) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method == sip.ACK {
			return
		}
		for _, c := range codes {
			_ = sip.Respond(w, req, c, "")
		}
	})
}

// Messages records the messages that cross a transport, for assertions
// on what went over the wire. It implements transport.Tap.
type Messages struct {
	ch chan Captured
}

// Captured is one message seen by a Messages tap.
type Captured struct {
	Dir  transport.Direction
	Flow transport.Flow
	Data string
}

// NewMessages returns a tap buffering up to 10000 messages.
func NewMessages() *Messages { return &Messages{ch: make(chan Captured, 10000)} }

// TapMessage implements transport.Tap.
func (m *Messages) TapMessage(dir transport.Direction, f transport.Flow, data []byte) {
	select {
	case m.ch <- Captured{Dir: dir, Flow: f, Data: string(data)}:
	default:
	}
}

// Drain returns the messages captured so far.
func (m *Messages) Drain() []Captured {
	var out []Captured
	for {
		select {
		case c := <-m.ch:
			out = append(out, c)
		default:
			return out
		}
	}
}

// StartLine returns the first line of a captured message.
func (c Captured) StartLine() string {
	line, _, _ := strings.Cut(c.Data, "\r\n")
	return line
}
