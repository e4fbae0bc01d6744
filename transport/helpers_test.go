package transport

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/stretchr/testify/require"
)

type received struct {
	msg  sip.Message
	flow Flow
}

// sink is a Receiver that records messages and may answer them.
type sink struct {
	ch      chan received
	mu      sync.Mutex
	onMsg   func(sip.Message, Flow)
	dropped int
}

func newSink() *sink { return &sink{ch: make(chan received, 10000)} }

func (s *sink) handle(fn func(sip.Message, Flow)) {
	s.mu.Lock()
	s.onMsg = fn
	s.mu.Unlock()
}

func (s *sink) ReceiveMessage(m sip.Message, f Flow) {
	s.mu.Lock()
	fn := s.onMsg
	s.mu.Unlock()
	if fn != nil {
		fn(m, f)
	}
	select {
	case s.ch <- received{m, f}:
	default:
		s.mu.Lock()
		s.dropped++
		s.mu.Unlock()
	}
}

func (s *sink) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-s.ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no message received")
	}
	return received{}
}

func (s *sink) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-s.ch:
		t.Fatalf("unexpected message %s", r.msg.String())
	case <-time.After(d):
	}
}

func newLayer(t *testing.T, cfg Config, transports ...string) (*Layer, *sink) {
	t.Helper()
	l, err := New(cfg)
	require.NoError(t, err)
	for _, tp := range transports {
		_, err := l.Listen(context.Background(), tp, "127.0.0.1:0", ListenOptions{})
		require.NoError(t, err)
	}
	s := newSink()
	require.NoError(t, l.Start(s))
	t.Cleanup(func() { l.Close() })
	return l, s
}

func listenerAddr(t *testing.T, l *Layer, tp string) netip.AddrPort {
	t.Helper()
	for _, ln := range l.Listeners() {
		if ln.Transport() == tp {
			return ln.Addr()
		}
	}
	t.Fatalf("no %s listener", tp)
	return netip.AddrPort{}
}

func request(t testing.TB, method string, cseq int, callID string) *sip.Request {
	t.Helper()
	s := fmt.Sprintf("%s sip:bob@example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK%s%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:alice@example.com>;tag=a1\r\n"+
		"To: <sip:bob@example.com>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d %s\r\n"+
		"Content-Length: 0\r\n\r\n", method, callID, cseq, callID, cseq, method)
	m, err := sip.NewParser(0).Parse([]byte(s))
	require.NoError(t, err)
	req := m.(*sip.Request)
	req.Via().Host = "" // let the layer fill in sent-by
	return req
}
