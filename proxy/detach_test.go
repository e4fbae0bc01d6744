package proxy_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

// inline runs every handler on the reading goroutine, as an event-driven
// proxy (Config.Detach) does.
var inline = transaction.ServerConfig{Inline: func(*sip.Request) bool { return true }}

// detachedProxy starts, at addr, a proxy with Config.Detach whose handler
// is built by h; returned tells when each handler call has returned.
func detachedProxy(t *testing.T, w *world, addr string, h func(p *proxy.Proxy) sip.Handler) (*siptest.Stack, <-chan struct{}) {
	returned := make(chan struct{}, 16)
	px := siptest.NewStack(t, w.n, addr, siptest.StackConfig{Server: inline, NewHandler: func(l *transaction.Layer) sip.Handler {
		p := proxy.New(l, proxy.Config{Detach: true, RecordRoute: true})
		w.proxy = p
		next := h(p)
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			next.ServeSIP(ctx, rw, req)
			select {
			case returned <- struct{}{}:
			default: // nobody is counting; never hold the reader
			}
		})
	}})
	return px, returned
}

// With Detach, Relay returns once the INVITE is forwarded (the reading
// goroutine is not held while the callee rings); a CANCEL still reaches the
// callee on the INVITE's branch (RFC 3261 §9.1, §16.10), OnCancel fires
// once and the caller gets exactly one final, the 487.
func TestDetachedRelayReturnsAndCancelStillWorks(t *testing.T) {
	started := make(chan struct{}, 1)
	w := newWorld(t, proxy.Config{}, ringing(started))
	var fired atomic.Int64
	px, returned := detachedProxy(t, w, "192.0.2.2:5060", func(p *proxy.Proxy) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			require.NoError(t, p.Relay(ctx, rw, req, &proxy.Options{OnCancel: func(*sip.Request) { fired.Add(1) }}, w.target(0, 1)))
		})
	})
	var finals atomic.Int64
	final := make(chan int, 4)
	tx, err := w.uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			if res.StatusCode >= 200 {
				finals.Add(1)
				final <- res.StatusCode
			}
		},
	})
	require.NoError(t, err)
	<-started
	select {
	case <-returned:
	case <-time.After(time.Second):
		t.Fatal("Relay did not return while the callee rang")
	}
	require.NoError(t, tx.Cancel())
	require.Equal(t, 487, <-final)
	var inv, can string
	for _, m := range w.taps[0].Drain() {
		switch {
		case m.Dir == transport.In && strings.HasPrefix(m.Data, "INVITE "):
			inv = topVia(m.Data)
		case m.Dir == transport.In && strings.HasPrefix(m.Data, "CANCEL "):
			can = topVia(m.Data)
		}
	}
	require.NotEmpty(t, inv)
	require.Equal(t, inv, can)
	time.Sleep(50 * time.Millisecond)
	require.EqualValues(t, 1, fired.Load())
	require.EqualValues(t, 1, finals.Load())
}

// A 2xx that races the CANCEL is relayed by a detached call too.
func TestDetachedTwoHundredRacingCancelIsRelayed(t *testing.T) {
	started := make(chan struct{}, 1)
	uas := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 180, "")
		started <- struct{}{}
		<-ctx.Done()
		_ = w.(transaction.Relayer).RelayResponse(sip.NewResponse(req, 200, ""))
	})
	w := newWorld(t, proxy.Config{}, uas)
	px, _ := detachedProxy(t, w, "192.0.2.2:5060", func(p *proxy.Proxy) sip.Handler { return p })
	c := &call{finals: make(chan *sip.Response, 4)}
	tx, err := w.uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@"+w.uas[0].Addr.String()), px.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			if res.StatusCode >= 200 {
				c.finals <- res
			}
		},
	})
	require.NoError(t, err)
	<-started
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, tx.Cancel())
	require.Equal(t, 200, c.final(t).StatusCode)
}

// Reply-time reject, sequential failover (started off the response path)
// and a target that fails before any branch is sent all end a detached call
// with the right final response.
func TestDetachedCallsEndWithTheRightFinal(t *testing.T) {
	var uasCancelled atomic.Bool
	sessionProgress := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 183, "")
		<-ctx.Done()
		uasCancelled.Store(errors.Is(context.Cause(ctx), transaction.ErrCanceled))
	})
	w := newWorld(t, proxy.Config{}, sessionProgress, answer(503), answer(200))
	dead, _ := sip.ParseURI("sip:bob@192.0.2.77:5060;transport=tcp")
	cases := map[string]struct {
		opts    proxy.Options
		targets []proxy.Target
		want    int
	}{
		"reject at 183": {opts: proxy.Options{OnReply: func(_ *proxy.Branch, res *sip.Response) error {
			if res.StatusCode == 183 {
				return sip.NewStatusError(503, "Media Authorization Failed")
			}
			return nil
		}}, targets: []proxy.Target{w.target(0, 1)}, want: 503},
		"sequential after 503": {opts: proxy.Options{Sequential: true}, targets: []proxy.Target{w.target(1, 1), w.target(2, 0.5)}, want: 200},
		"unreachable":          {targets: []proxy.Target{{URI: dead}}, want: 503},
	}
	i := 0
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			px, _ := detachedProxy(t, w, "192.0.2.3"+string(rune('0'+i))+":5060", func(p *proxy.Proxy) sip.Handler {
				return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
					opts := tc.opts
					_ = p.Relay(ctx, rw, req, &opts, tc.targets...)
				})
			})
			res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
			require.NoError(t, err)
			require.Equal(t, tc.want, res.StatusCode)
			if name == "reject at 183" {
				// Before this subtest's proxy shuts down: the CANCEL
				// leaves after the 503 has gone upstream.
				require.Eventually(t, uasCancelled.Load, 2*time.Second, 5*time.Millisecond, "the rejected branch was cancelled")
			}
		})
	}
}
