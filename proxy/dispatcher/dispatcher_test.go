package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/proxy/dispatcher"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

func dst(t testing.TB, s string, weight, prio int) dispatcher.Destination {
	t.Helper()
	d, err := dispatcher.ParseDestination(s)
	require.NoError(t, err)
	d.Weight, d.Priority = weight, prio
	return d
}

func firstAddr(ts []proxy.Target) string {
	if len(ts) == 0 {
		return ""
	}
	return ts[0].Next.Addr.String()
}

func addrs(ts []proxy.Target) []string {
	out := make([]string, len(ts))
	for i, x := range ts {
		out[i] = x.Next.Addr.String()
	}
	return out
}

func invite(callID string) *sip.Request {
	return siptest.NewRequest(sip.INVITE, "sip:bob@example.com", siptest.WithCallID(callID))
}

func TestRoundRobinRotatesAndListsFallbacks(t *testing.T) {
	d := dispatcher.New(dispatcher.Config{})
	require.NoError(t, d.SetGroup("g", dispatcher.RoundRobin,
		dst(t, "10.0.0.1:5060", 0, 0), dst(t, "10.0.0.2:5060", 0, 0), dst(t, "10.0.0.3:5060;transport=tcp", 0, 0)))
	var firsts []string
	for i := range 6 {
		ts := d.Select("g", invite(fmt.Sprint(i)))
		require.Len(t, ts, 3, "every destination, the first one chosen, the rest as fallbacks")
		require.Greater(t, ts[0].Q, ts[1].Q, "falling q-values make sequential forking try them in order")
		require.Greater(t, ts[1].Q, ts[2].Q)
		firsts = append(firsts, firstAddr(ts))
	}
	require.Equal(t, []string{"10.0.0.1:5060", "10.0.0.2:5060", "10.0.0.3:5060", "10.0.0.1:5060", "10.0.0.2:5060", "10.0.0.3:5060"}, firsts)
	ts := d.Select("g", invite("x"))
	for _, x := range ts {
		if x.Next.Addr.String() == "10.0.0.3:5060" {
			require.Equal(t, transport.TCP, x.Next.Transport)
		}
	}
	require.Nil(t, d.Select("nope", invite("x")))
}

func TestWeightedSpreadsByWeight(t *testing.T) {
	d := dispatcher.New(dispatcher.Config{})
	require.NoError(t, d.SetGroup("g", dispatcher.Weighted,
		dst(t, "10.0.0.1:5060", 5, 0), dst(t, "10.0.0.2:5060", 1, 0), dst(t, "10.0.0.3:5060", 1, 0)))
	count := map[string]int{}
	var window []string
	for i := range 700 {
		f := firstAddr(d.Select("g", invite(fmt.Sprint(i))))
		count[f]++
		if i < 7 {
			window = append(window, f)
		}
	}
	require.Equal(t, map[string]int{"10.0.0.1:5060": 500, "10.0.0.2:5060": 100, "10.0.0.3:5060": 100}, count)
	// Smooth: the heavy destination never takes all of a window of seven.
	require.Contains(t, window, "10.0.0.2:5060")
	require.Contains(t, window, "10.0.0.3:5060")
}

func TestHashKeepsCallsTogetherAndMovesOnlyTheDownDestinationsCalls(t *testing.T) {
	d := dispatcher.New(dispatcher.Config{})
	require.NoError(t, d.SetGroup("g", dispatcher.Hash,
		dst(t, "10.0.0.1:5060", 0, 0), dst(t, "10.0.0.2:5060", 0, 0), dst(t, "10.0.0.3:5060", 0, 0)))
	before := map[string]string{}
	per := map[string]int{}
	for i := range 3000 {
		id := fmt.Sprintf("call-%d", i)
		f := firstAddr(d.Select("g", invite(id)))
		require.Equal(t, f, firstAddr(d.Select("g", invite(id))), "the same call, the same destination")
		before[id] = f
		per[f]++
	}
	for a, n := range per {
		require.InDelta(t, 1000, n, 150, "spread over %s", a)
	}
	require.NoError(t, d.MarkDown("g", "10.0.0.2:5060"))
	for id, was := range before {
		now := firstAddr(d.Select("g", invite(id)))
		if was == "10.0.0.2:5060" {
			require.NotEqual(t, was, now)
		} else {
			require.Equal(t, was, now, "calls of the other destinations stay put")
		}
	}
}

func TestPriorityTiersFailOver(t *testing.T) {
	d := dispatcher.New(dispatcher.Config{})
	require.NoError(t, d.SetGroup("g", dispatcher.RoundRobin,
		dst(t, "10.0.0.9:5060", 0, 1), dst(t, "10.0.0.1:5060", 0, 0), dst(t, "10.0.0.2:5060", 0, 0)))
	for i := range 4 {
		ts := addrs(d.Select("g", invite(fmt.Sprint(i))))
		require.Len(t, ts, 3)
		require.Equal(t, "10.0.0.9:5060", ts[2], "the backup tier comes last")
		require.NotEqual(t, "10.0.0.9:5060", ts[0])
	}
	require.NoError(t, d.MarkDown("g", "10.0.0.1:5060"))
	require.NoError(t, d.MarkDown("g", "10.0.0.2:5060"))
	require.Equal(t, []string{"10.0.0.9:5060"}, addrs(d.Select("g", invite("x"))))
	require.NoError(t, d.MarkDown("g", "10.0.0.9:5060"))
	require.Nil(t, d.Select("g", invite("x")), "nothing up: the caller answers 503")
}

// fakeProber answers per destination as told.
type fakeProber struct {
	mu   sync.Mutex
	down map[string]bool
}

func (f *fakeProber) set(addr string, down bool) {
	f.mu.Lock()
	f.down[addr] = down
	f.mu.Unlock()
}

func (f *fakeProber) Probe(ctx context.Context, d dispatcher.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[d.URI.String()] {
		return errors.New("no answer")
	}
	return nil
}

func TestProbingThresholdsAndManualMarking(t *testing.T) {
	p := &fakeProber{down: map[string]bool{}}
	var changes []string
	var mu sync.Mutex
	d := dispatcher.New(dispatcher.Config{
		Interval: time.Hour, FailAfter: 2, RecoverAfter: 3, Prober: p,
		OnChange: func(g string, st dispatcher.State) {
			mu.Lock()
			changes = append(changes, fmt.Sprintf("%s %s %v", g, st.URI.String(), st.Up))
			mu.Unlock()
		},
	})
	require.NoError(t, d.SetGroup("g", dispatcher.RoundRobin, dst(t, "10.0.0.1:5060", 0, 0), dst(t, "10.0.0.2:5060", 0, 0)))
	ctx := context.Background()
	p.set("sip:10.0.0.2:5060", true)
	d.ProbeAll(ctx)
	require.Len(t, d.Select("g", nil), 2, "one failure is not enough")
	d.ProbeAll(ctx)
	require.Equal(t, []string{"10.0.0.1:5060"}, addrs(d.Select("g", nil)), "two failures in a row: down")
	p.set("sip:10.0.0.2:5060", false)
	d.ProbeAll(ctx)
	d.ProbeAll(ctx)
	require.Len(t, d.Select("g", nil), 1, "two successes are not enough to recover")
	d.ProbeAll(ctx)
	require.Len(t, d.Select("g", nil), 2, "three are")
	require.Equal(t, []string{"g sip:10.0.0.2:5060 false", "g sip:10.0.0.2:5060 true"}, changes)

	// A destination taken down by hand stays down whatever probing says.
	require.NoError(t, d.MarkDown("g", "sip:10.0.0.1:5060"))
	for range 5 {
		d.ProbeAll(ctx)
	}
	st, err := d.Destinations("g")
	require.NoError(t, err)
	require.False(t, st[0].Up)
	require.True(t, st[0].Manual)
	require.NoError(t, d.MarkUp("g", "10.0.0.1:5060"))
	require.Len(t, d.Select("g", nil), 2)
	require.ErrorIs(t, d.MarkUp("g", "10.9.9.9:5060"), dispatcher.ErrNoDestination)
	require.ErrorIs(t, d.MarkUp("x", "10.9.9.9:5060"), dispatcher.ErrNoGroup)
}

func TestRunStopsWithContextAndNeedsAProber(t *testing.T) {
	require.ErrorIs(t, dispatcher.New(dispatcher.Config{Interval: time.Second}).Run(context.Background()), dispatcher.ErrNoProber)
	require.NoError(t, dispatcher.New(dispatcher.Config{}).Run(context.Background()), "probing off")
	p := &fakeProber{down: map[string]bool{"sip:10.0.0.1:5060": true}}
	d := dispatcher.New(dispatcher.Config{Interval: 5 * time.Millisecond, FailAfter: 1, Prober: p})
	require.NoError(t, d.SetGroup("g", dispatcher.RoundRobin, dst(t, "10.0.0.1:5060", 0, 0)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	require.Eventually(t, func() bool { return d.Select("g", nil) == nil }, 2*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func TestDynamicGroupsAndLimits(t *testing.T) {
	d := dispatcher.New(dispatcher.Config{MaxGroups: 2, MaxDestinations: 2})
	require.NoError(t, d.AddDestination("a", dst(t, "10.0.0.1:5060", 0, 0)))
	require.NoError(t, d.AddDestination("a", dst(t, "10.0.0.2:5060", 0, 0)))
	require.NoError(t, d.AddDestination("a", dst(t, "10.0.0.2:5060", 0, 0)), "adding twice is a no-op")
	require.ErrorIs(t, d.AddDestination("a", dst(t, "10.0.0.3:5060", 0, 0)), dispatcher.ErrLimit)
	require.NoError(t, d.MarkDown("a", "10.0.0.2:5060"))
	// Replacing the group keeps the state of destinations it still has.
	require.NoError(t, d.SetGroup("a", dispatcher.Hash, dst(t, "10.0.0.2:5060", 0, 0), dst(t, "10.0.0.4:5060", 0, 0)))
	require.Equal(t, []string{"10.0.0.4:5060"}, addrs(d.Select("a", invite("x"))))
	require.NoError(t, d.RemoveDestination("a", "10.0.0.4:5060"))
	require.Nil(t, d.Select("a", invite("x")))
	require.ErrorIs(t, d.RemoveDestination("a", "10.0.0.4:5060"), dispatcher.ErrNoDestination)
	require.NoError(t, d.SetGroup("b", dispatcher.RoundRobin))
	require.ErrorIs(t, d.SetGroup("c", dispatcher.RoundRobin), dispatcher.ErrLimit)
	require.Equal(t, []string{"a", "b"}, d.Groups())
	d.RemoveGroup("a")
	require.Equal(t, []string{"b"}, d.Groups())
}

func TestHostNameDestinationIsALooseRoute(t *testing.T) {
	d := dispatcher.New(dispatcher.Config{})
	require.NoError(t, d.SetGroup("g", dispatcher.RoundRobin, dst(t, "pbx.example.com;transport=tcp", 0, 0)))
	ts := d.Select("g", invite("x"))
	require.Len(t, ts, 1)
	require.Empty(t, ts[0].Next.Transport)
	require.Len(t, ts[0].Route, 1)
	require.Equal(t, "sip:pbx.example.com;transport=tcp;lr", ts[0].Route[0].URI.String())
}

func TestParseAlgorithm(t *testing.T) {
	for s, want := range map[string]dispatcher.Algorithm{"round-robin": dispatcher.RoundRobin, "weighted": dispatcher.Weighted, "HASH": dispatcher.Hash} {
		got, err := dispatcher.ParseAlgorithm(s)
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.Equal(t, want, must(dispatcher.ParseAlgorithm(got.String())))
	}
	_, err := dispatcher.ParseAlgorithm("random")
	require.Error(t, err)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestOptionsProberOnTheStack probes real SIP stacks on the in-memory
// network: one answers 200, one 503, and nobody is at the third.
func TestOptionsProberOnTheStack(t *testing.T) {
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	answer := func(code int) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
			_ = sip.Respond(w, req, code, "")
		})
	}
	siptest.NewStack(t, n, "192.0.2.21:5060", siptest.StackConfig{Handler: answer(200)})
	siptest.NewStack(t, n, "192.0.2.22:5060", siptest.StackConfig{Handler: answer(503)})
	lb := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	p := &dispatcher.OptionsProber{Layer: lb.Transactions}
	ctx := context.Background()
	require.NoError(t, p.Probe(ctx, dst(t, "192.0.2.21:5060", 0, 0)))
	require.ErrorIs(t, p.Probe(ctx, dst(t, "192.0.2.22:5060", 0, 0)), dispatcher.ErrProbe)
	errc := make(chan error, 1)
	go func() { errc <- p.Probe(ctx, dst(t, "192.0.2.23:5060", 0, 0)) }()
	for {
		select {
		case err := <-errc:
			require.ErrorIs(t, err, dispatcher.ErrProbe, "Timer F")
			return
		default:
			clock.Advance(time.Second)
			time.Sleep(time.Millisecond)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	for _, algo := range []dispatcher.Algorithm{dispatcher.RoundRobin, dispatcher.Weighted, dispatcher.Hash} {
		b.Run(algo.String(), func(b *testing.B) {
			d := dispatcher.New(dispatcher.Config{})
			_ = d.SetGroup("g", algo, dst(b, "10.0.0.1:5060", 3, 0), dst(b, "10.0.0.2:5060", 1, 0), dst(b, "10.0.0.3:5060", 1, 0))
			req := invite("bench-call")
			b.ReportAllocs()
			for b.Loop() {
				if len(d.Select("g", req)) != 3 {
					b.Fatal("short")
				}
			}
		})
	}
}
