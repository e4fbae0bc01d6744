package dispatcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Algorithm picks the order in which a group's destinations are tried.
type Algorithm int

const (
	// RoundRobin starts each request at the next destination in turn.
	RoundRobin Algorithm = iota
	// Weighted is smooth weighted round robin: over any window, each
	// destination is first in proportion to its Weight, evenly spread.
	Weighted
	// Hash orders destinations by rendezvous hashing of Config.HashKey
	// (the Call-ID by default): every request of a call goes to the same
	// destination, and when one goes down only its calls move.
	Hash
)

// String names the algorithm as ParseAlgorithm accepts it.
func (a Algorithm) String() string {
	switch a {
	case RoundRobin:
		return "round-robin"
	case Weighted:
		return "weighted"
	case Hash:
		return "hash"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// ParseAlgorithm reads "round-robin", "weighted" or "hash".
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "round-robin", "roundrobin", "rr":
		return RoundRobin, nil
	case "weighted", "weight":
		return Weighted, nil
	case "hash":
		return Hash, nil
	}
	return 0, fmt.Errorf("dispatcher: unknown algorithm %q (want round-robin, weighted or hash)", s)
}

// Destination is one SIP server of a group.
type Destination struct {
	// URI is where requests go, e.g. sip:10.0.0.1:5060;transport=tcp. The
	// Request-URI of a relayed request is kept: the destination becomes its
	// next hop.
	URI sip.Uri
	// Weight is the share of Weighted selection; 0 counts as 1.
	Weight int
	// Priority is the failover tier: destinations of a lower Priority are
	// used only while every destination of a higher one (a smaller number)
	// is down.
	Priority int
}

// ParseDestination reads "host:port", "host:port;transport=tcp" or a sip:
// or sips: URI.
func ParseDestination(s string) (Destination, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "sip:") && !strings.HasPrefix(s, "sips:") {
		s = "sip:" + s
	}
	u, err := sip.ParseURI(s)
	if err != nil {
		return Destination{}, fmt.Errorf("dispatcher: destination %q: %w", s, err)
	}
	return Destination{URI: u}, nil
}

// State is a destination's probing state.
type State struct {
	Destination
	// Up is false once probing or MarkDown took the destination out.
	Up bool
	// Manual is set when MarkUp or MarkDown decided Up; probing leaves it.
	Manual bool
	// Failures and Successes are the current runs of probe results.
	Failures, Successes int
	// Changed is when Up last changed.
	Changed time.Time
}

// Prober checks one destination; a nil error means it is alive.
type Prober interface {
	Probe(ctx context.Context, dst Destination) error
}

// ProberFunc adapts a function to Prober.
type ProberFunc func(ctx context.Context, dst Destination) error

// Probe implements Prober.
func (f ProberFunc) Probe(ctx context.Context, dst Destination) error { return f(ctx, dst) }

// Config configures a Dispatcher. The zero value dispatches without probing.
type Config struct {
	// Interval between probe rounds; 0 turns probing off (Run returns at
	// once) and every destination stays as marked.
	Interval time.Duration
	// Timeout of one probe; default Interval, at most 5 s.
	Timeout time.Duration
	// FailAfter consecutive failed probes mark a destination down; default 2.
	FailAfter int
	// RecoverAfter consecutive good probes mark it up again; default 2.
	RecoverAfter int
	// Prober sends the probes (an OptionsProber on the SIP stack); nil with
	// a non-zero Interval makes Run fail.
	Prober Prober
	// HashKey is the key of Hash selection; default the Call-ID.
	HashKey func(req *sip.Request) string
	// OnChange is called (outside any lock) when a destination goes up or
	// down.
	OnChange func(group string, st State)
	// MaxGroups and MaxDestinations bound the tables; defaults 1000 and 1000
	// per group.
	MaxGroups       int
	MaxDestinations int
	// Logger receives up/down transitions; nil means slog.Default().
	Logger *slog.Logger
}

// Errors.
var (
	ErrNoGroup       = errors.New("dispatcher: no such group")
	ErrNoDestination = errors.New("dispatcher: no such destination")
	ErrLimit         = errors.New("dispatcher: too many groups or destinations")
)

type dest struct {
	d      Destination
	key    string // canonical URI text
	up     atomic.Bool
	weight int

	// guarded by group.mu
	manual              bool
	failures, successes int
	changed             time.Time
	current             int // smooth weighted round robin
}

type group struct {
	name string
	algo Algorithm
	rr   atomic.Uint64

	mu    sync.Mutex
	dests []*dest // sorted by Priority, stable
}

// Dispatcher holds destination groups and picks targets for requests. It
// is safe for concurrent use.
type Dispatcher struct {
	cfg Config
	log *slog.Logger

	mu     sync.RWMutex
	groups map[string]*group
}

// New returns a Dispatcher with no groups.
func New(cfg Config) *Dispatcher {
	if cfg.FailAfter <= 0 {
		cfg.FailAfter = 2
	}
	if cfg.RecoverAfter <= 0 {
		cfg.RecoverAfter = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = min(cfg.Interval, 5*time.Second)
	}
	if cfg.HashKey == nil {
		cfg.HashKey = callID
	}
	if cfg.MaxGroups <= 0 {
		cfg.MaxGroups = 1000
	}
	if cfg.MaxDestinations <= 0 {
		cfg.MaxDestinations = 1000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{cfg: cfg, log: log, groups: make(map[string]*group)}
}

func callID(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

func newDest(d Destination) *dest {
	x := &dest{d: d, key: d.URI.String(), weight: max(d.Weight, 1)}
	x.up.Store(true)
	return x
}

// SetGroup creates or replaces a group. Destinations that were already in
// the group keep their up/down state.
func (d *Dispatcher) SetGroup(name string, algo Algorithm, dsts ...Destination) error {
	if len(dsts) > d.cfg.MaxDestinations {
		return ErrLimit
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.groups[name]
	if old == nil && len(d.groups) >= d.cfg.MaxGroups {
		return ErrLimit
	}
	g := &group{name: name, algo: algo}
	for _, x := range dsts {
		nd := newDest(x)
		if old != nil {
			old.mu.Lock()
			if prev := old.find(nd.key); prev != nil {
				nd.up.Store(prev.up.Load())
				nd.manual, nd.changed = prev.manual, prev.changed
			}
			old.mu.Unlock()
		}
		g.dests = append(g.dests, nd)
	}
	g.sort()
	d.groups[name] = g
	return nil
}

// RemoveGroup deletes a group.
func (d *Dispatcher) RemoveGroup(name string) {
	d.mu.Lock()
	delete(d.groups, name)
	d.mu.Unlock()
}

// Groups returns the group names, sorted.
func (d *Dispatcher) Groups() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	names := make([]string, 0, len(d.groups))
	for n := range d.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (d *Dispatcher) group(name string) *group {
	d.mu.RLock()
	g := d.groups[name]
	d.mu.RUnlock()
	return g
}

// AddDestination adds dst to a group (created round-robin if missing).
func (d *Dispatcher) AddDestination(name string, dst Destination) error {
	d.mu.Lock()
	g := d.groups[name]
	if g == nil {
		if len(d.groups) >= d.cfg.MaxGroups {
			d.mu.Unlock()
			return ErrLimit
		}
		g = &group{name: name}
		d.groups[name] = g
	}
	d.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	nd := newDest(dst)
	if g.find(nd.key) != nil {
		return nil
	}
	if len(g.dests) >= d.cfg.MaxDestinations {
		return ErrLimit
	}
	// Copy on write: Select iterates a snapshot without the lock.
	g.dests = append(slices.Clip(g.dests), nd)
	g.sort()
	return nil
}

// RemoveDestination removes the destination with URI uri from a group.
func (d *Dispatcher) RemoveDestination(name, uri string) error {
	g := d.group(name)
	if g == nil {
		return ErrNoGroup
	}
	key, err := canonical(uri)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.IndexFunc(g.dests, func(x *dest) bool { return x.key == key })
	if i < 0 {
		return ErrNoDestination
	}
	g.dests = slices.Delete(slices.Clone(g.dests), i, i+1)
	return nil
}

func canonical(uri string) (string, error) {
	dst, err := ParseDestination(uri)
	if err != nil {
		return "", err
	}
	return dst.URI.String(), nil
}

func (g *group) find(key string) *dest {
	for _, x := range g.dests {
		if x.key == key {
			return x
		}
	}
	return nil
}

func (g *group) sort() {
	slices.SortStableFunc(g.dests, func(a, b *dest) int { return cmp.Compare(a.d.Priority, b.d.Priority) })
}

// MarkDown takes a destination out of selection until MarkUp; probing no
// longer changes it.
func (d *Dispatcher) MarkDown(group, uri string) error { return d.mark(group, uri, false) }

// MarkUp puts a destination back into selection and hands it back to
// probing.
func (d *Dispatcher) MarkUp(group, uri string) error { return d.mark(group, uri, true) }

func (d *Dispatcher) mark(name, uri string, up bool) error {
	g := d.group(name)
	if g == nil {
		return ErrNoGroup
	}
	key, err := canonical(uri)
	if err != nil {
		return err
	}
	g.mu.Lock()
	x := g.find(key)
	if x == nil {
		g.mu.Unlock()
		return ErrNoDestination
	}
	x.manual = !up
	x.failures, x.successes = 0, 0
	changed := d.setLocked(x, up)
	st := x.state()
	g.mu.Unlock()
	if changed {
		d.changed(name, st)
	}
	return nil
}

// setLocked changes x's state; g.mu is held.
func (d *Dispatcher) setLocked(x *dest, up bool) bool {
	if x.up.Load() == up {
		return false
	}
	x.up.Store(up)
	x.changed = time.Now()
	return true
}

func (x *dest) state() State {
	return State{Destination: x.d, Up: x.up.Load(), Manual: x.manual, Failures: x.failures, Successes: x.successes, Changed: x.changed}
}

func (d *Dispatcher) changed(group string, st State) {
	d.log.Info("dispatcher: destination changed", "group", group, "uri", st.URI.String(), "up", st.Up)
	if d.cfg.OnChange != nil {
		d.cfg.OnChange(group, st)
	}
}

// Destinations returns the states of a group's destinations, in priority
// order.
func (d *Dispatcher) Destinations(name string) ([]State, error) {
	g := d.group(name)
	if g == nil {
		return nil, ErrNoGroup
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]State, len(g.dests))
	for i, x := range g.dests {
		out[i] = x.state()
	}
	return out, nil
}

// Select returns the targets for req in the order to try them: the chosen
// destination of the best tier that has one up, then the other up
// destinations of that tier, then the lower tiers. It returns nil when the
// group is unknown or every destination is down. Each target's Q falls
// with its position, so proxy.Options{Sequential: true} tries them one by
// one, moving on after 408, 5xx or a transport error.
func (d *Dispatcher) Select(name string, req *sip.Request) []proxy.Target {
	g := d.group(name)
	if g == nil {
		return nil
	}
	g.mu.Lock()
	dests := g.dests
	g.mu.Unlock()
	ups := make([]*dest, 0, len(dests))
	for _, x := range dests {
		if x.up.Load() {
			ups = append(ups, x)
		}
	}
	if len(ups) == 0 {
		return nil
	}
	var key string
	if g.algo == Hash && req != nil {
		key = d.cfg.HashKey(req)
	}
	out := make([]proxy.Target, 0, len(ups))
	for i := 0; i < len(ups); {
		j := i + 1
		for j < len(ups) && ups[j].d.Priority == ups[i].d.Priority {
			j++
		}
		d.order(g, ups[i:j], key)
		i = j
	}
	for i, x := range ups {
		out = append(out, target(x.d, 1-float64(i)/float64(len(ups)+1)))
	}
	return out
}

// order sorts one tier in place.
func (d *Dispatcher) order(g *group, tier []*dest, key string) {
	if len(tier) < 2 {
		return
	}
	switch g.algo {
	case RoundRobin:
		n := int(g.rr.Add(1)-1) % len(tier)
		slices.Reverse(tier[:n])
		slices.Reverse(tier[n:])
		slices.Reverse(tier)
	case Weighted:
		// Smooth weighted round robin (as nginx): every destination gains
		// its weight, the best is picked and pays the total.
		g.mu.Lock()
		total, best := 0, 0
		for i, x := range tier {
			x.current += x.weight
			total += x.weight
			if x.current > tier[best].current {
				best = i
			}
		}
		tier[best].current -= total
		g.mu.Unlock()
		first := tier[best]
		copy(tier[1:best+1], tier[:best])
		tier[0] = first
		rest := tier[1:]
		slices.SortStableFunc(rest, func(a, b *dest) int { return cmp.Compare(b.weight, a.weight) })
	case Hash:
		scores := make(map[*dest]uint64, len(tier))
		k := fnv(fnvOffset, key)
		for _, x := range tier {
			scores[x] = mix(fnv(k^0xff, x.key))
		}
		slices.SortFunc(tier, func(a, b *dest) int { return cmp.Compare(scores[b], scores[a]) })
	}
}

// target makes the proxy target for a destination: the next hop, leaving
// the Request-URI alone. An IP destination is the explicit next hop; a
// host name becomes a pre-loaded loose Route, resolved by the proxy.
func target(d Destination, q float64) proxy.Target {
	t := proxy.Target{Q: q}
	host := strings.Trim(d.URI.Host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		tp := proxy.URITransport(&d.URI)
		port := uint16(d.URI.Port)
		if port == 0 {
			port = transport.DefaultPort(tp)
		}
		t.Next = transport.Target{Transport: tp, Addr: netip.AddrPortFrom(ip.Unmap(), port)}
		return t
	}
	u := d.URI
	u.UriParams = u.UriParams.Clone()
	u.UriParams.Add("lr", "")
	t.Route = []sip.NameAddr{{URI: u}}
	return t
}

const fnvOffset = 14695981039346656037

// fnv is FNV-1a over s, continuing from h.
func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is the splitmix64 finaliser: FNV alone spreads the last bytes of
// similar strings poorly.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
