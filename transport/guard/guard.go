package guard

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultRateWindow  = time.Second
	DefaultBanTime     = 10 * time.Minute
	DefaultThreshold   = 10
	DefaultScoreWindow = 10 * time.Minute
	DefaultMaxEntries  = 1 << 16
	DefaultUnanswered  = 8
	shardCount         = 32
	shardMask          = shardCount - 1
	reasonRate         = "rate"
	reasonScore        = "score"
	reasonManual       = "manual"
	reasonBlocklist    = "blocklist"
	reasonScannerUA    = "scanner-ua"
)

// DefaultScannerUserAgents returns the substrings (matched
// case-insensitively) of the User-Agent of well-known SIP scanners and
// brute-force tools, used when Config.ScannerUserAgents is nil. sipsak is
// not listed: it is a common monitoring tool.
func DefaultScannerUserAgents() []string {
	return []string{
		"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "vaxsipuseragent",
		"pplsip", "iwar", "sundayddr", "sipscan", "smap", "siparmyknife", "nmap",
		"voipbuster", "sip-daemon", "fdsipua",
	}
}

// Signal is evidence against a source that feeds the auto-ban score.
type Signal int

// Signals. Those marked "verified" count only on connection-oriented
// transports (TCP, TLS, WS, WSS, SCTP), where the source address cannot be
// forged; on UDP they are ignored, so that a spoofed packet cannot get a
// victim banned.
const (
	// SignalChallengeUnanswered: Config.Unanswered challenges in a row got
	// no credentials back (an enumeration scan). Verified.
	SignalChallengeUnanswered Signal = iota + 1
	// SignalInvalidCredentials: credentials with a valid nonce but a wrong
	// response or an unknown user. Counts on every transport: the nonce
	// proves the source received our challenge.
	SignalInvalidCredentials
	// SignalBadNonce: a forged, stale or replayed nonce. Verified.
	SignalBadNonce
	// SignalTimerH: an INVITE server transaction whose ACK never came
	// (RFC 3261 §17.2.1 Timer H). Verified.
	SignalTimerH
	// SignalHandshake: a failed TLS handshake or WebSocket upgrade. Verified.
	SignalHandshake
	// SignalGarbage: non-SIP bytes, or a malformed or oversized message, on
	// a stream. Verified.
	SignalGarbage
	// SignalScannerUA: a request with a scanner User-Agent. Verified (on
	// UDP the request is still dropped, but not scored).
	SignalScannerUA
	// SignalRelayTimeout: a relayed request's target did not answer. It
	// never counts: the source did nothing wrong.
	SignalRelayTimeout
	numSignals
)

var signalNames = [...]string{"", "challenge-unanswered", "invalid-credentials", "bad-nonce", "timer-h",
	"handshake", "garbage", "scanner-ua", "relay-timeout"}

// String names the signal.
func (s Signal) String() string {
	if s > 0 && s < numSignals {
		return signalNames[s]
	}
	return "unknown"
}

// verified reports whether s counts only from an unspoofable source.
func (s Signal) verified() bool {
	return s != SignalInvalidCredentials && s != SignalRelayTimeout
}

// DefaultWeights returns the score of each signal used when Config.Weights
// is nil. With DefaultThreshold 10, ten wrong passwords, four bursts of
// garbage on TCP or one scanner request on TCP ban a source.
func DefaultWeights() map[Signal]int {
	return map[Signal]int{
		SignalChallengeUnanswered: 2,
		SignalInvalidCredentials:  1,
		SignalBadNonce:            2,
		SignalTimerH:              1,
		SignalHandshake:           2,
		SignalGarbage:             3,
		SignalScannerUA:           10,
	}
}

// Config tunes a Guard. The zero value enables rate limiting off, scanner
// blocking on, auto-ban on, no ACLs.
type Config struct {
	// Trusted sources are exempt from everything: ACLs, rate limits,
	// scanner blocking, scores, bans and request guards.
	Trusted []netip.Prefix
	// Allow, when non-empty, admits only these sources (and Trusted ones).
	Allow []netip.Prefix
	// Deny refuses these sources.
	Deny []netip.Prefix
	// RateLimit is the number of packets (datagrams, or accepted
	// connections and messages on streams) a source may send per
	// RateWindow; a source above it is banned for BanTime, as Kamailio's
	// pike does. 0 means no rate limit.
	RateLimit int
	// RateWindow is the rate-limit window; default 1 s.
	RateWindow time.Duration
	// BanTime is how long a ban lasts; default 10 min. During a ban every
	// packet of the source is dropped silently, before parsing.
	BanTime time.Duration
	// Threshold is the score at which a source is banned; default 10. A
	// negative value disables auto-ban.
	Threshold int
	// ScoreWindow is how long a source's score accumulates before it starts
	// from zero again; default 10 min.
	ScoreWindow time.Duration
	// Weights overrides the score of signals; nil means DefaultWeights. A
	// missing signal scores 0.
	Weights map[Signal]int
	// Unanswered is the number of challenges in a row without a credentials
	// attempt that makes a SignalChallengeUnanswered; default 8.
	Unanswered int
	// ScannerUserAgents are case-insensitive User-Agent substrings whose
	// requests are dropped; nil means DefaultScannerUserAgents, an empty
	// non-nil slice turns scanner blocking off.
	ScannerUserAgents []string
	// MaxEntries bounds each table (bans, rate windows, scores); default
	// 65536. A full table drops expired entries, then arbitrary ones.
	MaxEntries int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives a line per ban; nil means slog.Default().
	Logger *slog.Logger
	// OnBan, when set, is called for every new ban with its reason. It must
	// not block.
	OnBan func(addr netip.Addr, reason string, until time.Time)
}

// Stats are the Guard's counters since New.
type Stats struct {
	Allowed        uint64 // packets and connections admitted
	DroppedBanned  uint64 // dropped because the source was banned
	DroppedACL     uint64 // dropped by Allow/Deny
	DroppedScanner uint64 // requests dropped for a scanner User-Agent
	RateBans       uint64 // bans for exceeding RateLimit
	ScoreBans      uint64 // bans for reaching Threshold
	Signals        uint64 // signals that scored
	Violations     uint64 // transport violations reported
	Banned         int    // sources banned now (including expired not yet pruned)
	Tracked        int    // sources with a rate window or a score
}

type window struct {
	start int64 // unix nanos
	count int32
}

type score struct {
	start      int64
	value      int32
	unanswered int32
}

type shard struct {
	mu     sync.Mutex
	bans   map[netip.Addr]int64 // until, unix nanos
	rates  map[netip.Addr]window
	scores map[netip.Addr]score
	// allowed counts admitted packets under mu, so that the hot path does
	// not share one atomic counter across cores.
	allowed uint64
	_       [32]byte // keep shards' locks on separate cache lines
}

// Guard implements transport.Guard, transport.GuardReporter and
// transport.Rewriter: it drops banned, denied and flooding sources before
// parsing, scanner requests after parsing, bans sources whose score reaches
// the threshold, and strips or replaces Server and User-Agent on the way out.
// Its Middleware adds request guards to a sip.Handler. It is safe for
// concurrent use; create it with New.
type Guard struct {
	cfg        Config
	now        func() time.Time
	log        *slog.Logger
	trusted    []netip.Prefix
	allow      []netip.Prefix
	deny       []netip.Prefix
	scanners   []string
	weights    [numSignals]int32
	rateWindow int64
	banTime    int64
	scoreWin   int64
	maxPerSh   int
	nbans      atomic.Int64 // bans in the tables; 0 skips the lookup
	shards     [shardCount]shard
	ext        atomic.Pointer[map[netip.Addr]struct{}] // blocklist entries
	extPfx     atomic.Pointer[[]netip.Prefix]

	header headerControl

	allowed, dropBan, dropACL, dropScanner atomic.Uint64
	rateBans, scoreBans, signals, viol     atomic.Uint64
}

var (
	_ transport.Guard         = (*Guard)(nil)
	_ transport.GuardReporter = (*Guard)(nil)
	_ transport.Rewriter      = (*Guard)(nil)
)

// New returns a Guard for cfg.
func New(cfg Config) (*Guard, error) {
	if cfg.RateLimit < 0 {
		return nil, errors.New("guard: negative RateLimit")
	}
	if cfg.RateWindow < 0 || cfg.BanTime < 0 || cfg.ScoreWindow < 0 {
		return nil, errors.New("guard: negative duration")
	}
	if cfg.RateWindow == 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.BanTime == 0 {
		cfg.BanTime = DefaultBanTime
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.ScoreWindow == 0 {
		cfg.ScoreWindow = DefaultScoreWindow
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Unanswered <= 0 {
		cfg.Unanswered = DefaultUnanswered
	}
	g := &Guard{cfg: cfg, now: cfg.Now, log: cfg.Logger}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.trusted = masked(cfg.Trusted)
	g.allow = masked(cfg.Allow)
	g.deny = masked(cfg.Deny)
	uas := cfg.ScannerUserAgents
	if uas == nil {
		uas = DefaultScannerUserAgents()
	}
	for _, s := range uas {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			g.scanners = append(g.scanners, s)
		}
	}
	w := cfg.Weights
	if w == nil {
		w = DefaultWeights()
	}
	for s, v := range w {
		if s > 0 && s < numSignals && s != SignalRelayTimeout {
			g.weights[s] = int32(v)
		}
	}
	g.rateWindow = int64(cfg.RateWindow)
	g.banTime = int64(cfg.BanTime)
	g.scoreWin = int64(cfg.ScoreWindow)
	g.maxPerSh = max(1, cfg.MaxEntries/shardCount)
	for i := range g.shards {
		g.shards[i].bans = make(map[netip.Addr]int64)
		g.shards[i].rates = make(map[netip.Addr]window)
		g.shards[i].scores = make(map[netip.Addr]score)
	}
	return g, nil
}

func masked(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		out = append(out, p.Masked())
	}
	return out
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (g *Guard) shard(a netip.Addr) *shard {
	b := a.As16()
	h := uint32(b[15]) ^ uint32(b[14])<<3 ^ uint32(b[13])<<5 ^ uint32(b[12])<<7 ^ uint32(b[7]) ^ uint32(b[5])<<2
	h ^= h >> 5
	return &g.shards[h&shardMask]
}

// Trusted reports whether a is in Config.Trusted.
func (g *Guard) Trusted(a netip.Addr) bool { return contains(g.trusted, a.Unmap()) }

// Allow implements transport.Guard. It is called for every datagram and
// accepted connection before parsing: trusted sources pass; denied, banned
// and blocklisted ones are dropped; the rest count against RateLimit.
func (g *Guard) Allow(_ string, remote netip.AddrPort) bool {
	a := remote.Addr().Unmap()
	if len(g.trusted) > 0 && contains(g.trusted, a) {
		g.allowed.Add(1)
		return true
	}
	if (len(g.deny) > 0 && contains(g.deny, a)) || (len(g.allow) > 0 && !contains(g.allow, a)) {
		g.dropACL.Add(1)
		return false
	}
	if g.blocklisted(a) {
		g.dropBan.Add(1)
		return false
	}
	if g.nbans.Load() == 0 && g.cfg.RateLimit == 0 {
		g.allowed.Add(1)
		return true
	}
	now := g.now().UnixNano()
	s := g.shard(a)
	s.mu.Lock()
	if g.nbans.Load() != 0 {
		if until, ok := s.bans[a]; ok {
			if now < until {
				s.mu.Unlock()
				g.dropBan.Add(1)
				return false
			}
			delete(s.bans, a)
			g.nbans.Add(-1)
		}
	}
	if g.cfg.RateLimit > 0 {
		w, ok := s.rates[a]
		if !ok || now-w.start >= g.rateWindow {
			if !ok && len(s.rates) >= g.maxPerSh {
				pruneRates(s.rates, now, g.rateWindow)
				for k := range s.rates { // still full of live windows
					delete(s.rates, k)
					break
				}
			}
			w = window{start: now}
		}
		w.count++
		s.rates[a] = w
		if int(w.count) > g.cfg.RateLimit {
			delete(s.rates, a)
			g.banLocked(s, a, now, reasonRate)
			s.mu.Unlock()
			g.rateBans.Add(1)
			g.dropBan.Add(1)
			return false
		}
	}
	s.allowed++
	s.mu.Unlock()
	return true
}

func pruneRates(m map[netip.Addr]window, now, win int64) {
	for k, w := range m {
		if now-w.start >= win {
			delete(m, k)
		}
	}
}

// banLocked bans a with s.mu held.
func (g *Guard) banLocked(s *shard, a netip.Addr, now int64, reason string) {
	if _, ok := s.bans[a]; !ok {
		if len(s.bans) >= g.maxPerSh {
			for k, until := range s.bans {
				if until <= now {
					delete(s.bans, k)
					g.nbans.Add(-1)
				}
			}
			if len(s.bans) >= g.maxPerSh {
				for k := range s.bans {
					delete(s.bans, k)
					g.nbans.Add(-1)
					break
				}
			}
		}
		g.nbans.Add(1)
	}
	until := now + g.banTime
	s.bans[a] = until
	g.log.Warn("guard: banned", "addr", a.String(), "reason", reason, "for", time.Duration(g.banTime).String())
	if g.cfg.OnBan != nil {
		g.cfg.OnBan(a, reason, time.Unix(0, until))
	}
}

// Ban bans a for Config.BanTime, unless it is trusted.
func (g *Guard) Ban(a netip.Addr) {
	a = a.Unmap()
	if g.Trusted(a) {
		return
	}
	s := g.shard(a)
	s.mu.Lock()
	g.banLocked(s, a, g.now().UnixNano(), reasonManual)
	s.mu.Unlock()
}

// Unban lifts a's ban and clears its score.
func (g *Guard) Unban(a netip.Addr) {
	a = a.Unmap()
	s := g.shard(a)
	s.mu.Lock()
	if _, ok := s.bans[a]; ok {
		delete(s.bans, a)
		g.nbans.Add(-1)
	}
	delete(s.scores, a)
	s.mu.Unlock()
}

// Banned reports whether a is banned now (by Ban, score, rate or blocklist).
func (g *Guard) Banned(a netip.Addr) bool {
	a = a.Unmap()
	if g.blocklisted(a) {
		return true
	}
	s := g.shard(a)
	s.mu.Lock()
	until, ok := s.bans[a]
	s.mu.Unlock()
	return ok && g.now().UnixNano() < until
}

// Signal adds the weight of sig to the score of the source of a message that
// came over transport tp, and bans it when the score reaches the threshold.
// Verified signals from UDP, all signals from trusted sources and
// SignalRelayTimeout are ignored. It reports whether the source is banned
// afterwards.
func (g *Guard) Signal(tp string, remote netip.AddrPort, sig Signal) bool {
	a := remote.Addr().Unmap()
	if sig <= 0 || sig >= numSignals || g.Trusted(a) {
		return false
	}
	if sig.verified() && !reliable(tp) {
		return false
	}
	w := g.weights[sig]
	if w <= 0 || g.cfg.Threshold < 0 {
		return false
	}
	g.signals.Add(1)
	now := g.now().UnixNano()
	s := g.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := g.scoreLocked(s, a, now)
	sc.value += w
	if int(sc.value) >= g.cfg.Threshold {
		delete(s.scores, a)
		g.banLocked(s, a, now, reasonScore+":"+sig.String())
		g.scoreBans.Add(1)
		return true
	}
	s.scores[a] = sc
	return false
}

func (g *Guard) scoreLocked(s *shard, a netip.Addr, now int64) score {
	sc, ok := s.scores[a]
	if ok && now-sc.start < g.scoreWin {
		return sc
	}
	if !ok && len(s.scores) >= g.maxPerSh {
		for k, v := range s.scores {
			if now-v.start >= g.scoreWin {
				delete(s.scores, k)
			}
		}
		if len(s.scores) >= g.maxPerSh {
			for k := range s.scores {
				delete(s.scores, k)
				break
			}
		}
	}
	return score{start: now}
}

// Success clears the score of a source that authenticated.
func (g *Guard) Success(remote netip.AddrPort) {
	a := remote.Addr().Unmap()
	s := g.shard(a)
	s.mu.Lock()
	delete(s.scores, a)
	s.mu.Unlock()
}

// Challenged records that a source was sent a digest challenge; after
// Config.Unanswered of them with no credentials attempt in between it
// counts as SignalChallengeUnanswered.
func (g *Guard) Challenged(tp string, remote netip.AddrPort) {
	a := remote.Addr().Unmap()
	if g.Trusted(a) || !reliable(tp) {
		return
	}
	now := g.now().UnixNano()
	s := g.shard(a)
	s.mu.Lock()
	sc := g.scoreLocked(s, a, now)
	sc.unanswered++
	fire := int(sc.unanswered) >= g.cfg.Unanswered
	if fire {
		sc.unanswered = 0
	}
	s.scores[a] = sc
	s.mu.Unlock()
	if fire {
		g.Signal(tp, remote, SignalChallengeUnanswered)
	}
}

// Answered records that a source sent credentials (right or wrong), which
// resets its count of unanswered challenges.
func (g *Guard) Answered(remote netip.AddrPort) {
	a := remote.Addr().Unmap()
	s := g.shard(a)
	s.mu.Lock()
	if sc, ok := s.scores[a]; ok {
		sc.unanswered = 0
		s.scores[a] = sc
	}
	s.mu.Unlock()
}

// Report implements transport.GuardReporter: garbage, malformed and
// oversized messages count as SignalGarbage, failed handshakes as
// SignalHandshake (on stream transports only).
func (g *Guard) Report(tp string, remote netip.AddrPort, v transport.Violation) {
	g.viol.Add(1)
	switch v {
	case transport.ViolationHandshake:
		g.Signal(tp, remote, SignalHandshake)
	case transport.ViolationGarbage, transport.ViolationMalformed, transport.ViolationTooLarge:
		g.Signal(tp, remote, SignalGarbage)
	}
}

// reliable reports whether tp is connection-oriented, so that its source
// address has been verified by a handshake.
func reliable(tp string) bool {
	switch strings.ToUpper(tp) {
	case transport.UDP, "":
		return false
	}
	return true
}

// Scanner reports whether ua contains one of the scanner substrings.
func (g *Guard) Scanner(ua string) bool {
	if len(g.scanners) == 0 || ua == "" {
		return false
	}
	for _, s := range g.scanners {
		if containsFold(ua, s) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case substr, ignoring
// ASCII case, without allocating.
func containsFold(s, substr string) bool {
	n := len(substr)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != substr[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// Inbound implements transport.Rewriter: a request from an untrusted source
// whose User-Agent names a scanner is dropped silently (and scored as
// SignalScannerUA on stream transports).
func (g *Guard) Inbound(msg sip.Message, f transport.Flow) bool {
	req, ok := msg.(*sip.Request)
	if !ok || len(g.scanners) == 0 {
		return true
	}
	h := sip.Field(req, "User-Agent")
	if h == nil || !g.Scanner(h.Value()) {
		return true
	}
	if g.Trusted(f.Remote.Addr()) {
		return true
	}
	g.dropScanner.Add(1)
	g.Signal(f.Transport, f.Remote, SignalScannerUA)
	return false
}

// Outbound implements transport.Rewriter: it applies the Server and
// User-Agent policy of SetHeaders, to a copy of msg when that changes it.
func (g *Guard) Outbound(msg sip.Message, _ transport.Target) (sip.Message, bool) {
	return g.header.apply(msg), true
}

// PassesEncoded implements transport.Passthrough: Outbound changes nothing
// of a response without Server or User-Agent unless HeaderPolicy.Value
// (which adds Server) is set.
func (g *Guard) PassesEncoded() bool {
	p := g.header.p.Load()
	return p == nil || p.Strip || p.Value == ""
}

// Stats returns the counters.
func (g *Guard) Stats() Stats {
	st := Stats{
		Allowed: g.allowed.Load(), DroppedBanned: g.dropBan.Load(), DroppedACL: g.dropACL.Load(),
		DroppedScanner: g.dropScanner.Load(), RateBans: g.rateBans.Load(), ScoreBans: g.scoreBans.Load(),
		Signals: g.signals.Load(), Violations: g.viol.Load(),
	}
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		st.Allowed += s.allowed
		st.Banned += len(s.bans)
		st.Tracked += len(s.rates) + len(s.scores)
		s.mu.Unlock()
	}
	return st
}

// Prune drops expired bans, rate windows and scores. Tables are also pruned
// when they fill; call Prune periodically to return memory sooner.
func (g *Guard) Prune() {
	now := g.now().UnixNano()
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		for k, until := range s.bans {
			if until <= now {
				delete(s.bans, k)
				g.nbans.Add(-1)
			}
		}
		for k, w := range s.rates {
			if now-w.start >= g.rateWindow {
				delete(s.rates, k)
			}
		}
		for k, v := range s.scores {
			if now-v.start >= g.scoreWin {
				delete(s.scores, k)
			}
		}
		s.mu.Unlock()
	}
}
