package transaction_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

// A stateless UAS (RFC 3261 §8.2.7) keeps nothing: every retransmission
// reaches the handler and is answered again; INVITE stays stateful; a
// handler that answers nothing still gets a 500 out, and a second final is
// refused.
func TestStatelessRequestsKeepNoTransaction(t *testing.T) {
	var calls atomic.Int32
	secondFinal := make(chan error, 8)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		calls.Add(1)
		switch req.Method {
		case sip.OPTIONS:
			return // no answer
		case sip.INVITE:
			_ = sip.Respond(w, req, 486, "")
			return
		}
		_ = sip.Respond(w, req, 100, "")
		_ = sip.Respond(w, req, 202, "")
		secondFinal <- sip.Respond(w, req, 200, "")
	})
	uas, n, log := statelessUAS(t, h, func(*sip.Request) bool { return true })
	c := rawClient(t, n)
	msg := "MESSAGE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKs1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: s1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
	for i := 1; i <= 3; i++ {
		c.send(t, uas.Addr, msg)
		require.Eventually(t, func() bool { return len(log.times("SIP/2.0 202 Accepted")) == i }, time.Second, time.Millisecond)
		require.ErrorIs(t, <-secondFinal, sip.ErrFinalSent)
	}
	require.EqualValues(t, 3, calls.Load(), "each retransmission reaches the handler")
	require.Len(t, log.times("SIP/2.0 100 Trying"), 3)
	require.Len(t, log.times("SIP/2.0 200 OK"), 0)
	require.Equal(t, 0, uas.Transactions.Len(), "no transaction, no Timer J state")

	options := strings.NewReplacer("MESSAGE", "OPTIONS", "z9hG4bKs1", "z9hG4bKs2").Replace(msg)
	c.send(t, uas.Addr, options)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 500 Server Internal Error")) == 1 }, time.Second, time.Millisecond)

	// INVITE is never stateless: its retransmission is absorbed.
	c.send(t, uas.Addr, inviteText("z9hG4bKs3"))
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 486 Busy Here")) == 1 }, time.Second, time.Millisecond)
	c.send(t, uas.Addr, inviteText("z9hG4bKs3"))
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 486 Busy Here")) == 2 }, time.Second, time.Millisecond)
	require.EqualValues(t, 5, calls.Load(), "the INVITE's retransmission never reaches the handler")
	require.Equal(t, 1, uas.Transactions.Len())
}

// A stateless UAS's writer takes a response its handler encoded (it keeps
// nothing to retransmit); a transaction's writer does not offer to.
func TestStatelessWriterSendsEncodedResponses(t *testing.T) {
	results := make(chan []any, 4)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		ew, ok := w.(sip.EncodedWriter)
		if !ok {
			results <- []any{false}
			_ = sip.Respond(w, req, 200, "")
			return
		}
		b, _ := sip.AppendResponseHead(nil, req, 200, "Encoded")
		b = append(b, "Content-Length: 0\r\n\r\n"...)
		sent, err := ew.WriteEncoded(200, b)
		_, again := ew.WriteEncoded(200, b)
		results <- []any{true, sent, err, again, w.WriteResponse(sip.NewResponse(req, 200, ""))}
	})
	uas, n, log := statelessUAS(t, h, func(r *sip.Request) bool { return r.Method == sip.MESSAGE })
	c := rawClient(t, n)
	msg := "MESSAGE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKe1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: e1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
	c.send(t, uas.Addr, msg)
	require.Equal(t, []any{true, true, nil, sip.ErrFinalSent, sip.ErrFinalSent}, <-results)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 200 Encoded")) == 1 }, time.Second, time.Millisecond)

	c.send(t, uas.Addr, strings.NewReplacer("MESSAGE", "OPTIONS", "z9hG4bKe1", "z9hG4bKe2").Replace(msg))
	require.Equal(t, []any{false}, <-results)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 200 OK")) == 1 }, time.Second, time.Millisecond)
	require.Len(t, log.times("SIP/2.0 500"), 0, "no 500 after an encoded final")
	require.Len(t, log.times("SIP/2.0 200 Encoded"), 1)
}

// statelessUAS starts a UAS at 192.0.2.20:5060 on an in-process network
// answering the requests stateless picks statelessly, with a log of what
// it sends.
func statelessUAS(t *testing.T, h sip.Handler, stateless func(*sip.Request) bool) (*siptest.Stack, *siptest.Network, *sendLog) {
	t.Helper()
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	log := &sendLog{clock: clock, start: clock.Now()}
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{
		Handler:     h,
		Transaction: transaction.Config{TryingDelay: transaction.NoTrying},
		Transport:   transport.Config{Tap: log},
		Server:      transaction.ServerConfig{Stateless: stateless},
	})
	return uas, n, log
}
