package nat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// Defaults for PingerConfig fields left zero.
const (
	DefaultPingFailures = 3
	DefaultPingTimeout  = 5 * time.Second
	DefaultMaxTargets   = 100000
	DefaultMaxInflight  = 1000
	DefaultPingFrom     = "sip:keepalive@invalid"
)

// Target is one user agent the Pinger keeps reachable through its NAT.
type Target struct {
	// AoR and Key identify the target: for a registrar binding its
	// Binding.AoR and Binding.Key. The pair is unique among the targets
	// of one round; its state (failures so far) follows it from round to
	// round.
	AoR, Key string
	// URI is the Request-URI and To of the OPTIONS: the registered
	// contact.
	URI sip.Uri
	// Next is where the OPTIONS goes: the flow the UA registered from
	// (registrar.Contact.Target), so that it takes the path requests for
	// the UA take and refreshes that NAT binding. A target whose Next
	// changes (the UA registered again from another address) starts
	// counting failures afresh.
	Next transport.Target
}

// Source lists the targets of one round, calling yield for each until
// yield returns false. The Pinger calls it once per Interval; a target it
// no longer yields is forgotten (the binding went away). An error keeps the
// previous round's targets.
type Source func(ctx context.Context, yield func(Target) bool) error

// PingerConfig configures a Pinger.
type PingerConfig struct {
	// Interval is how often each target is pinged; required. 15 to 30 s
	// keeps the UDP bindings of common NATs open (RFC 4787 REQ-5 asks for at
	// least 2 min, many keep 30 s).
	Interval time.Duration
	// Timeout bounds one ping (the OPTIONS transaction's Timer F); default
	// 5 s, at most Interval. Over UDP the OPTIONS is retransmitted within it
	// as RFC 3261 §17.1.2.2 says.
	Timeout time.Duration
	// Failures is the number of pings in a row that must fail (time out, or
	// not be deliverable) before OnDead is called for a target; default 3.
	// Any response, 2xx to 6xx, proves the path and resets the count: a UA
	// that answers 404 or 405 to OPTIONS is still there.
	Failures int
	// OnDead is called once for a target when it reaches Failures (again
	// only after a success or a new Next), typically to remove the binding.
	// It runs on the Pinger's timer goroutine, at most Tick after the last
	// failure, one call at a time; it should not block for long.
	OnDead func(Target)
	// MaxTargets bounds the targets of one round; default 100000. Beyond
	// it, targets are left out (Stats.Overflow) and logged once a round.
	MaxTargets int
	// MaxInflight bounds the pings waiting for an answer; default 1000.
	// When it is reached, due pings wait for the next Tick.
	MaxInflight int
	// Tick is how often due pings are sent; default Interval/32, between
	// 10 ms and 1 s. Each target has a fixed place in the interval (a hash
	// of AoR and Key), so pings are spread evenly and one target is pinged
	// every Interval, not in bursts.
	Tick time.Duration
	// MaxPerTick bounds the pings sent in one Tick; default twice the even
	// share (targets × Tick / Interval), at least 16.
	MaxPerTick int
	// From is the From URI of the pings; default "sip:keepalive@invalid".
	From string
	// Clock drives the ticks; nil means the real clock. siptest.Clock fits.
	Clock transaction.Clock
	// Logger receives source failures and overflows; nil means
	// slog.Default().
	Logger *slog.Logger
}

// PingerStats are cumulative counters of a Pinger, for metrics.
type PingerStats struct {
	// Targets is the number of targets in the current round, Inflight the
	// pings waiting for an answer.
	Targets, Inflight int
	// Sent, Answered and Failed count pings: sent, answered with any final
	// response, and timed out or undeliverable.
	Sent, Answered, Failed uint64
	// Dead counts OnDead calls.
	Dead uint64
	// Skipped counts pings not sent in their round (the previous one was
	// still in flight, or the bounds held them back until the round ended).
	Skipped uint64
	// Overflow counts targets left out of rounds past MaxTargets.
	Overflow uint64
	// Rounds counts target lists taken from the Source, SourceErrors the
	// times it failed.
	Rounds, SourceErrors uint64
}

// Pinger sends OPTIONS keepalives to user agents behind NATs (Kamailio's
// nathelper SIP pings): each target once per Interval, over the exact flow
// it registered from, so that the NAT binding stays open and a UA that has
// gone (no answer Failures times in a row) is noticed and OnDead called. For
// stream flows the transport's CRLF keepalive (RFC 5626 §4.4.1,
// transport.Config.KeepAliveInterval) is the lighter tool when UAs answer
// it; an OPTIONS ping also works for UAs that do not.
//
// Everything it keeps is bounded: targets (MaxTargets), pings in flight
// (MaxInflight), pings per tick (MaxPerTick); the state of a target goes
// when the Source stops listing it. It is safe for concurrent use.
type Pinger struct {
	l     *transaction.Layer
	src   Source
	cfg   PingerConfig
	clock transaction.Clock
	log   *slog.Logger
	from  sip.Uri
	seq   atomic.Uint32

	mu         sync.Mutex
	running    bool
	stopped    bool
	timer      transaction.Timer
	tickWG     sync.WaitGroup
	targets    map[string]*pingState
	order      []*pingState // this round's targets by place in the interval
	cursor     int
	roundStart time.Time
	perTick    int
	inflight   int
	dead       []Target
	stats      PingerStats
}

// pingState is one target's state.
type pingState struct {
	t        Target
	id       string
	offset   time.Duration // place in the interval
	epoch    uint32        // bumped when Next changes or the target goes
	failures int
	dead     bool // OnDead called since the last success
	inflight bool
}

// NewPinger returns a Pinger sending through l to the targets src lists.
// Call Run to start it.
func NewPinger(l *transaction.Layer, src Source, cfg PingerConfig) (*Pinger, error) {
	if l == nil || src == nil {
		return nil, errors.New("nat: NewPinger needs a transaction layer and a Source")
	}
	if cfg.Interval <= 0 {
		return nil, errors.New("nat: PingerConfig.Interval must be positive")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPingTimeout
	}
	cfg.Timeout = min(cfg.Timeout, cfg.Interval)
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultPingFailures
	}
	if cfg.MaxTargets <= 0 {
		cfg.MaxTargets = DefaultMaxTargets
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.Tick <= 0 {
		cfg.Tick = min(max(cfg.Interval/32, 10*time.Millisecond), time.Second)
	}
	if cfg.From == "" {
		cfg.From = DefaultPingFrom
	}
	from, err := sip.ParseURI(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("nat: PingerConfig.From: %w", err)
	}
	p := &Pinger{l: l, src: src, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, from: from,
		targets: make(map[string]*pingState)}
	if p.clock == nil {
		p.clock = realClock{}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	return p, nil
}

// Run pings until ctx ends, then stops the ticks, waits for one in
// progress and returns nil. Pings still in flight end by their Timeout;
// their outcomes are ignored. A Pinger runs once: Run again returns an
// error.
func (p *Pinger) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running || p.stopped {
		p.mu.Unlock()
		return errors.New("nat: Pinger already run")
	}
	p.running = true
	p.timer = p.clock.AfterFunc(0, func() { p.tick(ctx) })
	p.mu.Unlock()

	<-ctx.Done()
	p.mu.Lock()
	p.stopped = true
	p.timer.Stop()
	p.mu.Unlock()
	p.tickWG.Wait()
	return nil
}

// Stats returns the Pinger's counters.
func (p *Pinger) Stats() PingerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Targets, s.Inflight = len(p.order), p.inflight
	return s
}

// tick runs on the clock's goroutine: a new round when one is due, then
// the pings whose time has come, then OnDead for targets that died.
func (p *Pinger) tick(ctx context.Context) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.tickWG.Add(1)
	p.mu.Unlock()
	defer p.tickWG.Done()

	now := p.clock.Now()
	p.mu.Lock()
	first := p.roundStart.IsZero()
	due := first || now.Sub(p.roundStart) >= p.cfg.Interval
	p.mu.Unlock()
	if !first {
		// The round's pings whose place has come, all of them when the
		// round is over, so that the last places are not lost to the next
		// round.
		p.sendDue(ctx, now)
	}
	if due {
		p.refresh(ctx, now)
		p.sendDue(ctx, now)
	}

	p.mu.Lock()
	dead := p.dead
	p.dead = nil
	p.mu.Unlock()
	for _, t := range dead {
		if p.cfg.OnDead != nil {
			p.cfg.OnDead(t)
		}
	}

	p.mu.Lock()
	if !p.stopped {
		p.timer = p.clock.AfterFunc(p.cfg.Tick, func() { p.tick(ctx) })
	}
	p.mu.Unlock()
}

// refresh starts a round with the targets the Source lists now.
func (p *Pinger) refresh(ctx context.Context, now time.Time) {
	sctx, cancel := context.WithTimeout(ctx, p.cfg.Interval)
	defer cancel()
	var list []Target
	overflow := uint64(0)
	err := p.src(sctx, func(t Target) bool {
		if len(list) >= p.cfg.MaxTargets {
			overflow++
			return true // keep counting what is left out
		}
		list = append(list, t)
		return true
	})

	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Rounds++
	p.stats.Skipped += uint64(len(p.order) - p.cursor)
	// Rounds follow each other every Interval, not Interval plus the tick
	// that noticed, so that a target's pings do not drift.
	if next := p.roundStart.Add(p.cfg.Interval); !p.roundStart.IsZero() && now.Sub(next) < p.cfg.Tick {
		p.roundStart = next
	} else {
		p.roundStart = now
	}
	p.cursor = 0
	if err != nil {
		p.stats.SourceErrors++
		p.log.Warn("nat: listing ping targets failed; keeping the last round's", "err", err)
		return
	}
	if overflow > 0 {
		p.stats.Overflow += overflow
		p.log.Warn("nat: too many ping targets; some are not pinged", "max", p.cfg.MaxTargets, "left-out", overflow)
	}
	next := make(map[string]*pingState, len(list))
	order := make([]*pingState, 0, len(list))
	for _, t := range list {
		id := t.AoR + "\x00" + t.Key
		if _, dup := next[id]; dup {
			continue
		}
		st := p.targets[id]
		switch {
		case st == nil:
			st = &pingState{id: id, offset: placeOf(id, p.cfg.Interval)}
		case st.t.Next != t.Next:
			// Another flow: the UA registered again from elsewhere.
			st.epoch++
			st.failures, st.dead = 0, false
		}
		st.t = t
		next[id] = st
		order = append(order, st)
	}
	for id, st := range p.targets {
		if next[id] == nil {
			st.epoch++ // outcomes of its pings in flight no longer count
		}
	}
	slices.SortFunc(order, func(a, b *pingState) int { return cmp.Compare(a.offset, b.offset) })
	p.targets, p.order = next, order
	share := (len(order)*int(p.cfg.Tick/time.Microsecond) + int(p.cfg.Interval/time.Microsecond) - 1) /
		max(int(p.cfg.Interval/time.Microsecond), 1)
	p.perTick = p.cfg.MaxPerTick
	if p.perTick <= 0 {
		p.perTick = max(2*share, 16)
	}
}

// placeOf spreads targets over the interval by a hash of their identity,
// so that each keeps its place from round to round.
func placeOf(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// sendDue sends the pings whose place in the round has come, within the
// bounds.
func (p *Pinger) sendDue(ctx context.Context, now time.Time) {
	type job struct {
		st    *pingState
		epoch uint32
		t     Target
	}
	var jobs []job
	p.mu.Lock()
	elapsed := now.Sub(p.roundStart)
	for p.cursor < len(p.order) && len(jobs) < p.perTick && p.inflight < p.cfg.MaxInflight {
		st := p.order[p.cursor]
		if st.offset > elapsed {
			break
		}
		p.cursor++
		if st.inflight {
			p.stats.Skipped++
			continue
		}
		st.inflight = true
		p.inflight++
		jobs = append(jobs, job{st, st.epoch, st.t})
	}
	p.mu.Unlock()
	for _, j := range jobs {
		p.send(ctx, j.st, j.epoch, j.t)
	}
}

// send starts one OPTIONS transaction.
func (p *Pinger) send(ctx context.Context, st *pingState, epoch uint32, t Target) {
	ruri := t.URI
	ruri.UriParams = ruri.UriParams.Clone()
	ruri.Headers = nil
	req := sip.NewRequest(sip.OPTIONS, ruri)
	req.AppendHeader(&sip.FromHeader{Address: p.from, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTag()}}})
	to := ruri
	to.UriParams = nil
	req.AppendHeader(&sip.ToHeader{Address: to})
	cid := sip.CallIDHeader("keepalive-" + sip.GenerateTag())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.seq.Add(1), MethodName: sip.OPTIONS})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	var once atomic.Bool
	done := func(err error) {
		if once.CompareAndSwap(false, true) {
			p.result(st, epoch, err)
		}
	}
	_, err := p.l.Request(ctx, req, t.Next, transaction.ClientOptions{
		Timeout: p.cfg.Timeout,
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			if res.StatusCode >= 200 {
				done(nil)
			}
		},
		OnError: func(_ *transaction.ClientTx, err error) { done(err) },
	})
	if err != nil {
		done(err)
		return
	}
	p.mu.Lock()
	p.stats.Sent++
	p.mu.Unlock()
}

// result records the outcome of one ping.
func (p *Pinger) result(st *pingState, epoch uint32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	st.inflight = false
	if p.stopped || errors.Is(err, context.Canceled) {
		return
	}
	if errors.Is(err, transaction.ErrOverload) {
		// Our own transaction layer is full: says nothing about the UA.
		p.stats.Skipped++
		return
	}
	if err == nil {
		p.stats.Answered++
	} else {
		p.stats.Failed++
	}
	if st.epoch != epoch {
		return // the target went, or moved to another flow
	}
	if err == nil {
		st.failures, st.dead = 0, false
		return
	}
	st.failures++
	if st.failures >= p.cfg.Failures && !st.dead {
		st.dead = true
		p.stats.Dead++
		p.dead = append(p.dead, st.t)
	}
}

// realClock is the system clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) transaction.Timer { return time.AfterFunc(d, f) }
