package nat_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// dropper is a transport.Rewriter that drops every inbound message while
// silent is set: a UA that has gone away without a word.
type dropper struct {
	silent  atomic.Bool
	arrived *atomic.Int64 // requests that reached the UA, dropped or not

	mu   sync.Mutex
	seen map[string]bool // Call-ID and CSeq of the requests counted
}

func (d *dropper) Inbound(m sip.Message, _ transport.Flow) bool {
	// The mood is read before the arrival is counted: a test that sees the
	// arrival and then wakes or silences the UA must not change what this
	// message meets.
	pass := !d.silent.Load()
	// A retransmission of an earlier ping (its transaction still runs
	// while the clock jumps) is not a new arrival: counted as one, it let
	// round() go on before the new ping had met the UA's mood.
	key := ""
	if id, cs := m.CallID(), m.CSeq(); id != nil && cs != nil {
		key = id.Value() + " " + cs.Value()
	}
	d.mu.Lock()
	isNew := key == "" || !d.seen[key]
	if key != "" {
		d.seen[key] = true
	}
	d.mu.Unlock()
	if isNew {
		d.arrived.Add(1)
	}
	return pass
}
func (d *dropper) Outbound(m sip.Message, _ transport.Target) (sip.Message, bool) {
	return m, true
}

// pingLab is a registrar-side stack that pings, UAs on the memory network,
// a fake clock and a Source the test edits.
type pingLab struct {
	t     *testing.T
	clock *siptest.Clock
	net   *siptest.Network
	srv   *siptest.Stack

	mu      sync.Mutex
	targets []nat.Target
	srcErr  error
	dead    []nat.Target
	options atomic.Int64 // OPTIONS the UAs received
	arrived atomic.Int64 // messages that reached a UA's transport
}

func newPingLab(t *testing.T) *pingLab {
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	lab := &pingLab{t: t, clock: clock, net: n}
	lab.srv = siptest.NewStack(t, n, "192.0.2.1:5060", siptest.StackConfig{})
	return lab
}

// ua starts a UA at addr answering OPTIONS with code; its dropper makes it
// silent.
func (lab *pingLab) ua(addr string, code int) (*siptest.Stack, *dropper) {
	d := &dropper{arrived: &lab.arrived, seen: map[string]bool{}}
	h := sip.HandlerFunc(func(_ context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method == sip.OPTIONS {
			lab.options.Add(1)
		}
		_ = sip.Respond(w, req, code, "")
	})
	s := siptest.NewStack(lab.t, lab.net, addr, siptest.StackConfig{Handler: h, Transport: transport.Config{Rewriter: d}})
	return s, d
}

func target(aor, addr string) nat.Target {
	u, _ := sip.ParseURI("sip:" + aor + "@192.168.1.10:5060")
	return nat.Target{AoR: "sip:" + aor + "@example.com", Key: "k", URI: u,
		Next: transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort(addr)}}
}

func (lab *pingLab) set(ts ...nat.Target) {
	lab.mu.Lock()
	lab.targets = ts
	lab.mu.Unlock()
}

func (lab *pingLab) source(_ context.Context, yield func(nat.Target) bool) error {
	lab.mu.Lock()
	ts, err := append([]nat.Target(nil), lab.targets...), lab.srcErr
	lab.mu.Unlock()
	if err != nil {
		return err
	}
	for _, t := range ts {
		if !yield(t) {
			break
		}
	}
	return nil
}

func (lab *pingLab) deadOnes() []nat.Target {
	lab.mu.Lock()
	defer lab.mu.Unlock()
	return append([]nat.Target(nil), lab.dead...)
}

// start runs a Pinger until the test ends.
func (lab *pingLab) start(cfg nat.PingerConfig) *nat.Pinger {
	cfg.Clock = lab.clock
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.OnDead = func(t nat.Target) {
		lab.mu.Lock()
		lab.dead = append(lab.dead, t)
		lab.mu.Unlock()
	}
	p, err := nat.NewPinger(lab.srv.Transactions, lab.source, cfg)
	require.NoError(lab.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	lab.t.Cleanup(func() {
		cancel()
		require.NoError(lab.t, <-done)
	})
	waitRunning(lab.t, lab.clock, p)
	return p
}

// waitRunning waits for Run to have started: its first tick is due at
// once, so moving the clock by nothing runs it, and the first round counts.
func waitRunning(t *testing.T, clock *siptest.Clock, p *nat.Pinger) {
	t.Helper()
	require.Eventually(t, func() bool {
		clock.Advance(0)
		return p.Stats().Rounds > 0
	}, 5*time.Second, time.Millisecond)
}

// settle waits until no ping is waiting for a UA that answers: the memory
// network delivers on its own goroutines, in real time.
func settle(t *testing.T, p *nat.Pinger, inflight int) {
	t.Helper()
	require.Eventually(t, func() bool { return p.Stats().Inflight == inflight }, 5*time.Second, time.Millisecond)
}

// step moves time on by d in ticks of tick, letting answers arrive between.
func step(t *testing.T, lab *pingLab, p *nat.Pinger, d, tick time.Duration, inflight func() int) {
	t.Helper()
	for elapsed := time.Duration(0); elapsed < d; elapsed += tick {
		lab.clock.Advance(tick)
		settle(t, p, inflight())
	}
}

// TestPingerAnyResponseIsAlive: a UA that answers OPTIONS with 404, 405,
// 503 or 603 is as alive as one answering 200: the path works.
func TestPingerAnyResponseIsAlive(t *testing.T) {
	lab := newPingLab(t)
	var ts []nat.Target
	for i, code := range []int{200, 404, 405, 503, 603} {
		addr := fmt.Sprintf("192.0.2.%d:5060", 10+i)
		lab.ua(addr, code)
		ts = append(ts, target(fmt.Sprint("u", code), addr))
	}
	lab.set(ts...)
	p := lab.start(nat.PingerConfig{Interval: 10 * time.Second, Tick: time.Second, Timeout: 2 * time.Second})
	step(t, lab, p, 40*time.Second, time.Second, func() int { return 0 })
	st := p.Stats()
	require.Equal(t, 5, st.Targets)
	require.GreaterOrEqual(t, st.Sent, uint64(15), "each target about once per interval")
	require.LessOrEqual(t, st.Sent, uint64(25))
	require.Equal(t, st.Sent, st.Answered)
	require.Zero(t, st.Failed)
	require.Zero(t, st.Dead)
	require.Empty(t, lab.deadOnes())
	require.EqualValues(t, st.Sent, lab.options.Load())
}

// rounds drives a Pinger whose Tick equals its Interval: each tick sends one
// ping to every target listed at the previous tick, so a test can count
// rounds. first runs the first round; next lets its silent pings time out
// and runs the next one.
type rounds struct {
	t                 *testing.T
	lab               *pingLab
	p                 *nat.Pinger
	interval, timeout time.Duration
	silent            func() int // targets that will not answer
}

func (r *rounds) first() {
	r.round(r.interval)
}

func (r *rounds) next(n int) {
	for range n {
		r.lab.clock.Advance(r.timeout)
		settle(r.t, r.p, 0)
		r.round(r.interval - r.timeout)
	}
}

// round advances the clock by d to the next round and waits for its pings
// to be sent (or skipped) and to reach their UAs before settling: an
// Inflight of 0 seen before the round's goroutine ran would let an answer
// arrive after the next timeout, and a ping still on its way when the test
// then silences or wakes a UA would meet the UA's new mood (a ping to an
// address without a UA is waited for a second at most).
func (r *rounds) round(d time.Duration) {
	r.t.Helper()
	st := r.p.Stats()
	before, sent, arrived := st.Sent+st.Skipped, st.Sent, r.lab.arrived.Load()
	r.lab.clock.Advance(d)
	require.Eventually(r.t, func() bool { st := r.p.Stats(); return st.Sent+st.Skipped > before }, 5*time.Second, time.Millisecond)
	// Pings to an address with no UA never arrive: wait a while, not forever.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if uint64(r.lab.arrived.Load()-arrived) >= r.p.Stats().Sent-sent {
			break
		}
	}
	settle(r.t, r.p, r.silent())
}

func newRounds(t *testing.T, lab *pingLab, silent func() int) *rounds {
	const interval, timeout = 10 * time.Second, 2 * time.Second
	p := lab.start(nat.PingerConfig{Interval: interval, Tick: interval, Timeout: timeout, Failures: 3})
	return &rounds{t: t, lab: lab, p: p, interval: interval, timeout: timeout, silent: silent}
}

// TestPingerDeadAfterThreshold: a silent UA is declared dead once, when
// its third ping in a row times out; a success before that resets the
// count.
func TestPingerDeadAfterThreshold(t *testing.T) {
	lab := newPingLab(t)
	_, mute := lab.ua("192.0.2.10:5060", 200)
	tgt := target("alice", "192.0.2.10:5060")
	lab.set(tgt)
	r := newRounds(t, lab, func() int {
		if mute.silent.Load() {
			return 1
		}
		return 0
	})
	r.first()
	r.next(0)
	require.Equal(t, uint64(1), r.p.Stats().Answered)

	// Two failures, then an answer: the count starts again.
	mute.silent.Store(true)
	r.next(1)
	r.next(1)
	mute.silent.Store(false)
	r.next(1) // the second failure is counted here, then a ping that is answered
	r.next(1)
	st := r.p.Stats()
	require.Equal(t, uint64(2), st.Failed)
	require.Equal(t, uint64(3), st.Answered)
	require.Empty(t, lab.deadOnes())

	// Three in a row: dead, once, however long it stays silent.
	mute.silent.Store(true)
	r.next(3)
	require.Empty(t, lab.deadOnes(), "two failures so far, the third ping is in flight")
	r.next(1)
	require.Equal(t, []nat.Target{tgt}, lab.deadOnes())
	r.next(5)
	require.Len(t, lab.deadOnes(), 1)
	st = r.p.Stats()
	require.Equal(t, uint64(1), st.Dead)
	require.Equal(t, uint64(2+3+5), st.Failed)

	// It answers again, then dies again: a second call.
	mute.silent.Store(false)
	r.next(2)
	mute.silent.Store(true)
	r.next(4)
	require.Len(t, lab.deadOnes(), 2)
}

// TestPingerPrunesAndFollowsTheFlow: a target the Source stops listing is
// forgotten (its failures with it, even those of a ping still in flight);
// one whose flow changes starts afresh.
func TestPingerPrunesAndFollowsTheFlow(t *testing.T) {
	lab := newPingLab(t)
	gone := target("alice", "192.0.2.99:5060") // nothing there
	lab.ua("192.0.2.11:5060", 200)
	bob := target("bob", "192.0.2.11:5060")
	lab.set(gone, bob)
	silent := atomic.Int64{}
	silent.Store(1)
	r := newRounds(t, lab, func() int { return int(silent.Load()) })
	r.first()
	r.next(1)
	require.Equal(t, uint64(1), r.p.Stats().Failed)
	require.Equal(t, 2, r.p.Stats().Targets)

	// The binding goes: the round that starts next leaves it out. The
	// round that was running still pings it (its third), but that
	// failure no longer counts toward OnDead.
	lab.set(bob)
	r.next(1)
	silent.Store(0)
	r.next(1)
	require.Equal(t, uint64(3), r.p.Stats().Failed)
	require.Equal(t, 1, r.p.Stats().Targets)
	require.Empty(t, lab.deadOnes(), "the third failure came after the target went")

	// Back again (registered anew): it starts from zero, so its next two
	// failures (the second counted below) are not the fourth and fifth.
	lab.set(gone, bob)
	r.next(1)
	silent.Store(1)
	r.next(2)
	require.Empty(t, lab.deadOnes())

	// The UA registers from another address: failures start again there,
	// and the old flow's ping in flight does not count.
	moved := gone
	moved.Next.Addr = netip.MustParseAddrPort("192.0.2.98:5060")
	lab.set(moved, bob)
	r.next(4)
	require.Empty(t, lab.deadOnes(), "two failures of the new flow")
	r.next(1)
	require.Equal(t, []nat.Target{moved}, lab.deadOnes())
	require.Equal(t, 2, r.p.Stats().Targets)
}

// TestPingerBounds: pings in flight never exceed MaxInflight, at most
// MaxPerTick go out per tick, and targets past MaxTargets are left out.
func TestPingerBounds(t *testing.T) {
	lab := newPingLab(t)
	var ts []nat.Target
	for i := range 20 {
		ts = append(ts, target(fmt.Sprint("silent", i), fmt.Sprintf("192.0.2.%d:5060", 100+i)))
	}
	lab.set(ts...)
	const interval = 10 * time.Second
	p := lab.start(nat.PingerConfig{Interval: interval, Tick: time.Second, Timeout: interval,
		MaxInflight: 3, MaxPerTick: 2, MaxTargets: 15})
	prev := uint64(0)
	for range 9 { // ticks at 0 s to 9 s: the first round
		lab.clock.Advance(time.Second)
		st := p.Stats()
		require.LessOrEqual(t, st.Inflight, 3)
		require.LessOrEqual(t, st.Sent-prev, uint64(2))
		prev = st.Sent
	}
	st := p.Stats()
	require.Equal(t, 15, st.Targets)
	require.Equal(t, uint64(5), st.Overflow)
	require.Equal(t, uint64(3), st.Sent, "three in flight for the whole round")
	lab.clock.Advance(time.Second) // the next round: the rest of the first was skipped
	st = p.Stats()
	require.Equal(t, uint64(12), st.Skipped)
	require.Equal(t, uint64(10), st.Overflow)
	require.LessOrEqual(t, st.Inflight, 3)
}

// TestPingerSourceErrorKeepsTargets: a failing Source (a backend down)
// keeps the last round's targets; nothing is declared dead for it.
func TestPingerSourceErrorKeepsTargets(t *testing.T) {
	lab := newPingLab(t)
	lab.ua("192.0.2.10:5060", 200)
	lab.set(target("alice", "192.0.2.10:5060"))
	p := lab.start(nat.PingerConfig{Interval: 10 * time.Second, Tick: time.Second, Timeout: 2 * time.Second})
	step(t, lab, p, 10*time.Second, time.Second, func() int { return 0 })
	lab.mu.Lock()
	lab.srcErr = errors.New("backend down")
	lab.mu.Unlock()
	step(t, lab, p, 20*time.Second, time.Second, func() int { return 0 })
	st := p.Stats()
	require.Equal(t, 1, st.Targets)
	require.Equal(t, uint64(2), st.SourceErrors)
	require.Equal(t, uint64(3), st.Answered)
}

// TestPingerStops: after Run returns, time passing sends nothing.
func TestPingerStops(t *testing.T) {
	lab := newPingLab(t)
	lab.ua("192.0.2.10:5060", 200)
	lab.set(target("alice", "192.0.2.10:5060"))
	p, err := nat.NewPinger(lab.srv.Transactions, lab.source, nat.PingerConfig{Interval: time.Second, Clock: lab.clock})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitRunning(t, lab.clock, p)
	for range 3 {
		lab.clock.Advance(time.Second)
		settle(t, p, 0)
	}
	sent := p.Stats().Sent
	require.NotZero(t, sent)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	for range 5 {
		lab.clock.Advance(time.Second)
	}
	require.Equal(t, sent, p.Stats().Sent)
	require.Error(t, p.Run(context.Background()), "a Pinger runs once")
}

func TestNewPingerValidates(t *testing.T) {
	lab := newPingLab(t)
	_, err := nat.NewPinger(lab.srv.Transactions, lab.source, nat.PingerConfig{})
	require.Error(t, err, "no interval")
	_, err = nat.NewPinger(nil, lab.source, nat.PingerConfig{Interval: time.Second})
	require.Error(t, err)
	_, err = nat.NewPinger(lab.srv.Transactions, nil, nat.PingerConfig{Interval: time.Second})
	require.Error(t, err)
	_, err = nat.NewPinger(lab.srv.Transactions, lab.source, nat.PingerConfig{Interval: time.Second, From: "not a uri"})
	require.Error(t, err)
}
