package transaction_test

import (
	"context"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

// A detached handler returns at once; the transaction is answered later,
// and a release without a final response still gets the handler's 500.
func TestDetachedHandlerAnswersAfterReturning(t *testing.T) {
	returned := make(chan struct{}, 4)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		done := w.(transaction.Detacher).Detach()
		go func() {
			<-returned // the handler has returned before anything is answered
			if req.Method == sip.OPTIONS {
				_ = sip.Respond(w, req, 200, "")
			}
			done()
			done() // a second call is harmless
		}()
		returned <- struct{}{}
	})
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h, Server: transaction.ServerConfig{
		Inline: func(*sip.Request) bool { return true },
	}})
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	for m, code := range map[sip.RequestMethod]int{sip.OPTIONS: 200, sip.MESSAGE: 500} {
		res, err := uac.Do(context.Background(), siptest.NewRequest(m, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
		require.NoError(t, err)
		require.Equal(t, code, res.StatusCode, m)
	}
}

// A CANCEL ends a detached INVITE handler's context, and releasing it
// answers 487 (RFC 3261 §9.2).
func TestDetachedInviteCanceledGets487(t *testing.T) {
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 180, "")
		done := w.(transaction.Detacher).Detach()
		context.AfterFunc(ctx, done)
	})
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h, Server: transaction.ServerConfig{
		Inline: func(*sip.Request) bool { return true },
	}})
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	ringing, final := make(chan struct{}), make(chan int, 1)
	tx, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.20"), uas.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			switch {
			case res.StatusCode == 180:
				close(ringing)
			case res.StatusCode >= 200:
				final <- res.StatusCode
			}
		},
	})
	require.NoError(t, err)
	<-ringing
	require.NoError(t, tx.Cancel())
	require.Equal(t, 487, <-final)
}

// Shutdown waits for a detached handler until it is released.
func TestShutdownWaitsForDetachedHandlers(t *testing.T) {
	detached := make(chan struct{})
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		done := w.(transaction.Detacher).Detach()
		close(detached)
		time.AfterFunc(100*time.Millisecond, func() {
			_ = sip.Respond(w, req, 200, "")
			done()
		})
	})
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	srv := newServer(t, n, "192.0.2.20:5060", h, transaction.ServerConfig{})
	require.NoError(t, srv.Start())
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	res := make(chan *sip.Response, 1)
	go func() {
		r, _ := uac.Do(context.Background(), siptest.NewRequest(sip.MESSAGE, "sip:bob@192.0.2.20"), transport.Target{Transport: transport.UDP, Addr: netipMust("192.0.2.20:5060")})
		res <- r
	}()
	<-detached
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.Equal(t, 200, (<-res).StatusCode, "the detached handler answered before the transports closed")
}
