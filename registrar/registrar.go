package registrar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siphon-go/siphon/internal/bufpool"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
)

// Defaults for Config fields left zero.
const (
	DefaultExpires       = 3600 * time.Second
	DefaultMinExpires    = 60 * time.Second
	DefaultMaxExpires    = 7200 * time.Second
	DefaultMaxContacts   = 10
	DefaultRetryAfter    = 60
	DefaultCacheGrace    = 32 * time.Second // Timer F: 64*T1
	DefaultSweepInterval = time.Second
	DefaultMaxFlows      = 100000
)

// Config tunes a Registrar. The zero value gives RFC 3261's behaviour with the
// defaults documented per field.
type Config struct {
	// DefaultExpires is granted to a contact that asks for no lifetime
	// (neither expires parameter nor Expires header); default 3600 s.
	DefaultExpires time.Duration
	// MinExpires is the shortest lifetime granted; a shorter non-zero one is
	// refused with 423 Interval Too Brief and Min-Expires (RFC 3261 §10.3
	// step 7); default 60 s.
	MinExpires time.Duration
	// MaxExpires caps the lifetime granted; longer requests are shortened
	// (the 200 OK says by how much); default 7200 s.
	MaxExpires time.Duration
	// MaxContacts bounds the bindings of one AoR; default 10. A REGISTER
	// that would exceed it is refused with 503 and Retry-After, unless
	// ReplaceOldest is set.
	MaxContacts int
	// ReplaceOldest makes a REGISTER past MaxContacts remove the bindings
	// refreshed least recently instead (reported as Deregistered with
	// ReasonReplaced).
	ReplaceOldest bool
	// RetryAfter is the Retry-After of the 503s sent past MaxContacts or
	// when the Backend fails or is full, in seconds; default 60.
	RetryAfter int

	// Domains, when set, lists the domains this registrar serves: an AoR in
	// another domain is refused with 404 (RFC 3261 §10.3 step 5). Nil
	// accepts any domain.
	Domains []string
	// AuthUser, when set, returns the user the request authenticated as
	// (auth.UsernameFromContext fits): a REGISTER whose AoR user part is
	// not that user is refused with 403 before any binding is read or
	// changed, so a user cannot register, query or remove another's
	// bindings. A request without an authenticated user is refused too.
	// A user given as "user@domain" must match the AoR's user and host.
	AuthUser func(ctx context.Context) (string, bool)
	// ServiceRoute, when set, returns the Service-Route values to put into
	// the 200 OK for aor (RFC 3608 §6).
	ServiceRoute func(ctx context.Context, aor string) []sip.NameAddr

	// Secret keys the temporary GRUUs (RFC 5627 §3.2): every instance
	// sharing a Backend must share it, and it must survive restarts for
	// temporary GRUUs to. Nil means a random secret made by New.
	Secret []byte
	// NoGRUU turns GRUU assignment (RFC 5627) off. By default a contact with
	// +sip.instance in a REGISTER that lists gruu in Supported gets pub-gruu
	// and temp-gruu.
	NoGRUU bool
	// NoOutbound turns SIP outbound (RFC 5626) off: reg-id is then ignored.
	NoOutbound bool
	// LenientPath stores Path from UAs that do not list path in Supported,
	// without echoing it. By default such a REGISTER is refused with 420 and
	// Unsupported: path (RFC 3327 §5.3).
	LenientPath bool

	// Liveness deregisters the bindings that arrived on a stream connection
	// (without Path) when that connection closes (RFC 5626 §4.2.2 flow
	// failure). Wire FlowClosed to transport.Layer.OnConnClose.
	Liveness bool
	// MaxFlows bounds the connections tracked for Liveness; default 100000.
	MaxFlows int
	// FlowAlive, when set, reports whether a stream connection of this
	// instance is open (transport.Layer.Alive fits); Lookup then prefers a
	// live flow among the flows of one outbound instance.
	FlowAlive func(connID uint64) bool

	// Node names this instance across restarts (a host name, a pod name):
	// bindings record it with the flow they arrived on, and EvictStale
	// finds those an earlier run of the same node left on stream
	// connections that died with it. Empty means a random name per run.
	Node string

	// CacheGrace is added to the lifetime an upstream registrar granted when
	// a proxy caches a binding (Cache), so the cache outlives the upstream
	// binding by the time a refresh may take; default 32 s (Timer F).
	CacheGrace time.Duration

	// SweepInterval is how often expired bindings are removed and reported;
	// default 1 s. Lookups never return an expired binding, whatever the
	// interval.
	SweepInterval time.Duration
	// Clock is the time source and drives the sweeper; nil means the real
	// clock. siptest.Clock fits.
	Clock transaction.Clock
	// Logger receives logs of backend failures; nil means slog.Default().
	Logger *slog.Logger
}

// EventKind says what happened to a binding.
type EventKind int

// The kinds of change a Registrar reports.
const (
	// Registered: a new binding.
	Registered EventKind = iota + 1
	// Refreshed: a REGISTER renewed or changed a binding.
	Refreshed
	// Deregistered: a binding was removed before it expired (see Reason).
	Deregistered
	// Expired: a binding lapsed.
	Expired
)

// String returns the kind in lower case: "registered", "refreshed", ...
func (k EventKind) String() string {
	switch k {
	case Registered:
		return "registered"
	case Refreshed:
		return "refreshed"
	case Deregistered:
		return "deregistered"
	case Expired:
		return "expired"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Reason says why a binding was deregistered.
type Reason string

// Reasons for Deregistered events.
const (
	ReasonUnregistered Reason = "unregistered" // Expires 0, or Contact: *
	ReasonReplaced     Reason = "replaced"     // pushed out past MaxContacts
	ReasonFlowFailed   Reason = "flow-failed"  // its connection closed (Liveness)
	ReasonRemoved      Reason = "removed"      // Registrar.Remove
	ReasonUpstream     Reason = "upstream"     // absent from an upstream 200 OK (Cache)
	ReasonStale        Reason = "stale"        // its connection died with an earlier run (EvictStale)
)

// Event reports a change to a binding.
type Event struct {
	Kind    EventKind
	Binding Binding
	// Reason is set for Deregistered events.
	Reason Reason
}

// Registrar is a SIP registrar (RFC 3261 §10.3) over a Backend, and the
// location service a proxy asks for the contacts of an AoR. It is a
// sip.Handler for REGISTER. It is safe for concurrent use; several instances
// may share one Backend.
type Registrar struct {
	backend Backend
	cfg     Config
	clock   transaction.Clock
	log     *slog.Logger
	node    string
	gruu    *gruuCodec

	subMu  sync.Mutex
	subs   map[int]func(Event)
	subSeq int
	nsubs  atomic.Int32 // len(subs), read without the lock on every REGISTER

	flows *flowIndex // nil without Liveness

	supported sip.Header // shared by every 200 OK: headers are immutable
	dateCache atomic.Pointer[cachedDate]
	bufs      *bufpool.Pool // encoded 200 OKs
	works     sync.Pool     // *work

	sweepMu sync.Mutex
	closed  bool
	timer   transaction.Timer
	sweepWG sync.WaitGroup
	flowWG  sync.WaitGroup
}

// New returns a Registrar storing bindings in b, and starts its sweeper.
// Call Close to stop it.
func New(b Backend, cfg Config) (*Registrar, error) {
	if b == nil {
		return nil, errors.New("registrar: nil Backend")
	}
	if cfg.DefaultExpires == 0 {
		cfg.DefaultExpires = DefaultExpires
	}
	if cfg.MinExpires == 0 {
		cfg.MinExpires = DefaultMinExpires
	}
	if cfg.MaxExpires == 0 {
		cfg.MaxExpires = DefaultMaxExpires
	}
	if cfg.DefaultExpires < 0 || cfg.MinExpires < 0 || cfg.MaxExpires < cfg.MinExpires {
		return nil, errors.New("registrar: want 0 <= MinExpires <= MaxExpires and DefaultExpires >= 0")
	}
	cfg.DefaultExpires = min(max(cfg.DefaultExpires, cfg.MinExpires), cfg.MaxExpires)
	if cfg.MaxContacts <= 0 {
		cfg.MaxContacts = DefaultMaxContacts
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.CacheGrace == 0 {
		cfg.CacheGrace = DefaultCacheGrace
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.Secret == nil {
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	}
	r := &Registrar{backend: b, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, subs: map[int]func(Event){}}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	var node [8]byte
	_, _ = rand.Read(node[:])
	r.node = hex.EncodeToString(node[:])
	if cfg.Node != "" {
		r.node = cfg.Node + "#" + r.node
	}
	r.gruu = newGRUUCodec(cfg.Secret)
	r.supported = sip.NewHeader("Supported", r.supportedTags())
	r.bufs = bufpool.New(1024)
	r.works.New = r.newWork
	if cfg.Liveness {
		r.flows = newFlowIndex(cfg.MaxFlows)
		r.flowWG.Add(1)
		go r.flowWorker()
	}
	// sweepTick rewrites r.timer under sweepMu: hold it so that a tick
	// firing at once does not race with this assignment.
	r.sweepMu.Lock()
	r.timer = r.clock.AfterFunc(cfg.SweepInterval, r.sweepTick)
	r.sweepMu.Unlock()
	return r, nil
}

// Close stops the sweeper and waits for a sweep in progress. The Backend is
// not closed.
func (r *Registrar) Close() error {
	r.sweepMu.Lock()
	r.closed = true
	r.timer.Stop()
	r.sweepMu.Unlock()
	r.sweepWG.Wait()
	if r.flows != nil {
		r.flows.close()
		r.flowWG.Wait()
	}
	return nil
}

// Node returns the identifier of this run of this instance that bindings it
// stores carry (Binding.Node): Config.Node, '#', and a random part.
func (r *Registrar) Node() string { return r.node }

// Subscribe registers fn to be called with every change to a binding made
// through this Registrar, and every expiry it finds, and returns a function
// that unregisters it. fn runs on the goroutine that made the change, after
// the Backend committed it, in order for one AoR; it must not block (hand
// slow work to a goroutine or a bounded queue). With several instances on one
// Backend, each reports the changes it made and the expiries it swept, so
// every change is reported once across them.
func (r *Registrar) Subscribe(fn func(Event)) (cancel func()) {
	r.subMu.Lock()
	r.subSeq++
	id := r.subSeq
	r.subs[id] = fn
	r.nsubs.Store(int32(len(r.subs)))
	r.subMu.Unlock()
	return func() {
		r.subMu.Lock()
		delete(r.subs, id)
		r.nsubs.Store(int32(len(r.subs)))
		r.subMu.Unlock()
	}
}

func (r *Registrar) emit(evs []Event) {
	if len(evs) == 0 {
		return
	}
	r.subMu.Lock()
	fns := make([]func(Event), 0, len(r.subs))
	for _, fn := range r.subs {
		fns = append(fns, fn)
	}
	r.subMu.Unlock()
	for _, ev := range evs {
		for _, fn := range fns {
			fn(ev)
		}
	}
}

func (r *Registrar) sweepTick() {
	r.sweepMu.Lock()
	if r.closed {
		r.sweepMu.Unlock()
		return
	}
	r.sweepWG.Add(1)
	r.sweepMu.Unlock()
	defer r.sweepWG.Done()

	ctx, cancel := context.WithTimeout(context.Background(), max(r.cfg.SweepInterval, 5*time.Second))
	if _, err := r.Sweep(ctx); err != nil {
		r.log.Warn("registrar: sweeping expired bindings", "err", err)
	}
	cancel()

	r.sweepMu.Lock()
	if !r.closed {
		r.timer = r.clock.AfterFunc(r.cfg.SweepInterval, r.sweepTick)
	}
	r.sweepMu.Unlock()
}

// sweepBatch and sweepRounds bound one Sweep.
const (
	sweepBatch  = 512
	sweepRounds = 64
)

// Sweep removes the bindings that have expired, reports each as an Expired
// event and returns how many it removed. The sweeper calls it every
// SweepInterval; one call removes at most 32768 bindings.
func (r *Registrar) Sweep(ctx context.Context) (int, error) {
	n := 0
	for range sweepRounds {
		bs, err := r.backend.Expire(ctx, r.clock.Now(), sweepBatch)
		n += len(bs)
		evs := make([]Event, len(bs))
		for i := range bs {
			evs[i] = Event{Kind: Expired, Binding: bs[i]}
		}
		r.emit(evs)
		if err != nil {
			return n, fmt.Errorf("registrar: expire: %w", err)
		}
		if len(bs) < sweepBatch {
			break
		}
	}
	return n, nil
}

// realClock is the system clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) transaction.Timer { return time.AfterFunc(d, f) }
