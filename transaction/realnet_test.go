package transaction_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

// realStack starts a stack on loopback sockets (UDP and TCP on one port when
// the system allows it).
func realStack(t testing.TB, h sip.Handler, tcfg transport.Config, xcfg transaction.Config) (*transaction.Layer, transport.Target, transport.Target) {
	t.Helper()
	tp, err := transport.New(tcfg)
	require.NoError(t, err)
	ln, err := tp.Listen(context.Background(), transport.TCP, "127.0.0.1:0", transport.ListenOptions{})
	require.NoError(t, err)
	uln, err := tp.Listen(context.Background(), transport.UDP, "127.0.0.1:0", transport.ListenOptions{})
	require.NoError(t, err)
	l := transaction.New(tp, xcfg)
	if h != nil {
		srv := transaction.NewServer(l, h, transaction.ServerConfig{})
		require.NoError(t, srv.Start())
		t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	} else {
		require.NoError(t, l.Start(nil))
		t.Cleanup(func() { _ = l.Close() })
	}
	return l, transport.Target{Transport: transport.TCP, Addr: ln.Addr()}, transport.Target{Transport: transport.UDP, Addr: uln.Addr()}
}

func TestProvisionalAndFinalArriveInOrderOverTCP(t *testing.T) {
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 180, "")
		_ = w.(transaction.Relayer).RelayResponse(sip.NewResponse(req, 200, ""))
	})
	_, tcp, _ := realStack(t, h, transport.Config{}, transaction.Config{TryingDelay: transaction.NoTrying})
	uac, _, _ := realStack(t, nil, transport.Config{}, transaction.Config{})
	const runs = 1000
	var wg sync.WaitGroup
	var inOrder atomic.Int64
	sem := make(chan struct{}, 50)
	for i := 0; i < runs; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var codes []int
			done := make(chan struct{})
			_, err := uac.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@127.0.0.1"), tcp, transaction.ClientOptions{
				OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
					codes = append(codes, res.StatusCode) // callbacks are serialised
					if res.StatusCode >= 200 {
						close(done)
					}
				},
			})
			if err != nil {
				return
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				return
			}
			if slices.Equal(codes, []int{180, 200}) {
				inOrder.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, runs, inOrder.Load(), "180 then 200 in every run")
}

// orderTU records the order in which in-dialog requests reach the TU.
type orderTU struct {
	mu   sync.Mutex
	seqs []uint32
}

func (o *orderTU) ServeRequest(tx *transaction.ServerTx) {
	o.mu.Lock()
	o.seqs = append(o.seqs, tx.Request().CSeq().SeqNo)
	o.mu.Unlock()
	_ = tx.Respond(sip.NewResponse(tx.Request(), 200, ""))
}
func (o *orderTU) ServeACK(*sip.Request, transport.Flow)       {}
func (o *orderTU) ServeResponse(*sip.Response, transport.Flow) {}

func TestInDialogRequestsReachTUInOrder(t *testing.T) {
	const n = 1000
	// The TU answers on the reading goroutine, faster than the responses
	// drain: the server's queue must hold them all too.
	tp, err := transport.New(transport.Config{WriteQueue: 2 * n})
	require.NoError(t, err)
	ln, err := tp.Listen(context.Background(), transport.TCP, "127.0.0.1:0", transport.ListenOptions{})
	require.NoError(t, err)
	tu := &orderTU{}
	l := transaction.New(tp, transaction.Config{})
	require.NoError(t, l.Start(tu))
	defer l.Close()
	// All n requests are queued before the connection is up; the queue must
	// hold them (the default bound is smaller on purpose).
	uac, _, _ := realStack(t, nil, transport.Config{WriteQueue: 2 * n}, transaction.Config{})

	target := transport.Target{Transport: transport.TCP, Addr: ln.Addr()}
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		req := siptest.NewRequest(sip.INFO, "sip:bob@127.0.0.1", siptest.WithCallID("dialog-1"), siptest.WithCSeq(uint32(i)),
			siptest.WithHeader("Content-Type", "application/dtmf-relay"))
		req.To().Params = sip.HeaderParams{{K: "tag", V: "b"}}
		req.From().Params = sip.HeaderParams{{K: "tag", V: "a"}}
		wg.Add(1)
		_, err := uac.Request(context.Background(), req, target, transaction.ClientOptions{
			OnResponse: func(*transaction.ClientTx, *sip.Response) { wg.Done() },
		})
		require.NoError(t, err)
	}
	answered := make(chan struct{})
	go func() { wg.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("not every request was answered")
	}
	tu.mu.Lock()
	defer tu.mu.Unlock()
	require.Len(t, tu.seqs, n)
	for i, s := range tu.seqs {
		require.EqualValues(t, i+1, s)
	}
}

// TestStalledTCPPeerDoesNotDelayOthers floods the server from a TCP peer
// that never reads its responses while ten other clients run transactions:
// their latency must not grow, and the server's memory must stay bounded.
func TestStalledTCPPeerDoesNotDelayOthers(t *testing.T) {
	body := []byte(strings.Repeat("x", 1400))
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		res := sip.NewResponse(req, 200, "")
		res.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
		res.SetBody(body)
		_ = w.WriteResponse(res)
	})
	srvLayer, tcp, _ := realStack(t, h, transport.Config{WriteTimeout: 20 * time.Second, WriteQueue: 256}, transaction.Config{})

	clients := make([]*transaction.Layer, 10)
	for i := range clients {
		clients[i], _, _ = realStack(t, nil, transport.Config{}, transaction.Config{})
	}
	measure := func(d time.Duration) (p99 time.Duration, failed int) {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					start := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					res, err := c.Do(ctx, siptest.NewRequest(sip.OPTIONS, "sip:bob@127.0.0.1"), tcp)
					cancel()
					mu.Lock()
					if err != nil || res.StatusCode != 200 {
						failed++
					} else {
						lat = append(lat, time.Since(start))
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		if len(lat) == 0 {
			return 0, failed
		}
		return lat[len(lat)*99/100], failed
	}
	base, failed := measure(500 * time.Millisecond)
	require.Zero(t, failed)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	recv0 := srvLayer.Transport().Stats().Received
	stalled, err := net.Dial("tcp", tcp.Addr.String())
	require.NoError(t, err)
	defer stalled.Close()
	// Enough requests that the responses fill both socket buffers and the
	// connection's write queue; the peer never reads.
	sent := 0
	for i := 0; i < 6000; i++ {
		msg := fmt.Sprintf("OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKstall%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:m@example.com>;tag=m\r\nTo: <sip:bob@example.com>\r\nCall-ID: stall%d\r\n"+
			"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i)
		stalled.SetWriteDeadline(time.Now().Add(3 * time.Second))
		if _, err := stalled.Write([]byte(msg)); err != nil {
			break
		}
		sent++
	}
	// Let the server work through them until its writes to the peer stall:
	// what is measured next is the wedge, not the CPU the flood costs.
	require.Eventually(t, func() bool { return srvLayer.Transport().Stats().Received >= recv0+uint64(sent) }, 30*time.Second, 10*time.Millisecond)
	during, failed := measure(1500 * time.Millisecond)
	require.Zero(t, failed)
	require.Equal(t, 11, srvLayer.Transport().Conns(), "ten clients and the stalled peer, still open")
	require.NotZero(t, srvLayer.Transport().Stats().QueueFull, "the stalled peer's queue filled and sends were refused at once")

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("stalled peer sent %d requests; p99 latency: %v before, %v while it is wedged; heap %d -> %d KiB",
		sent, base, during, before.HeapAlloc>>10, after.HeapAlloc>>10)
	require.Less(t, during, base+50*time.Millisecond, "no added latency for other clients")
	require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(64<<20), "memory stays bounded")
}
