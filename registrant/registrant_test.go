package registrant_test

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/registrant"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// upstream is a registrar behind digest auth on the memory network, with a
// switch that makes it answer a fixed status instead.
type upstream struct {
	reg        *registrar.Registrar
	stack      *siptest.Stack
	override   atomic.Int64 // answer this code when non-zero
	retryAfter atomic.Int64
	requests   atomic.Int64
	challenges atomic.Int64
	mu         sync.Mutex
	seen       []*sip.Request
}

func newUpstream(t *testing.T, net *siptest.Network, clock *siptest.Clock, cfg registrar.Config, nonceTTL time.Duration) *upstream {
	t.Helper()
	cfg.Clock = clock
	reg, err := registrar.New(memory.New(memory.Config{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	a, err := auth.New(auth.NewStatic(map[string]string{"alice": "secret"}), auth.Config{Realm: "example.com", Now: clock.Now, NonceTTL: nonceTTL,
		Secret: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{reg: reg}
	inner := a.Middleware(reg)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		u.requests.Add(1)
		u.mu.Lock()
		u.seen = append(u.seen, req)
		u.mu.Unlock()
		if code := u.override.Load(); code != 0 {
			var hs []sip.Header
			if ra := u.retryAfter.Load(); ra > 0 {
				hs = append(hs, sip.NewHeader("Retry-After", itoa(ra)))
			}
			_ = sip.Respond(w, req, int(code), "", hs...)
			return
		}
		inner.ServeSIP(ctx, &counting{w, u}, req)
	})
	u.stack = siptest.NewStack(t, net, "192.0.2.1:5060", siptest.StackConfig{Handler: h})
	return u
}

type counting struct {
	sip.ResponseWriter
	u *upstream
}

func (c *counting) WriteResponse(res *sip.Response) error {
	if res.StatusCode == 401 {
		c.u.challenges.Add(1)
	}
	return c.ResponseWriter.WriteResponse(res)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (u *upstream) bindings(t *testing.T) []registrar.Binding {
	t.Helper()
	bs, err := u.reg.Bindings(context.Background(), "sip:alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// states collects OnState reports.
type states chan registrant.Status

func (s states) next(t *testing.T, want registrant.State) registrant.Status {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st := <-s:
			if st.State == want {
				return st
			}
			if want == registrant.Registered && st.State == registrant.Failed {
				t.Fatalf("registration failed: %d %v", st.Code, st.Err)
			}
		case <-timeout:
			t.Fatalf("no %s state within 5 s", want)
		}
	}
}

func setup(t *testing.T, rcfg registrar.Config, cfg registrant.Config) (*siptest.Clock, *upstream, *registrant.Registrant, states) {
	return setupTTL(t, time.Hour, rcfg, cfg)
}

func setupTTL(t *testing.T, nonceTTL time.Duration, rcfg registrar.Config, cfg registrant.Config) (*siptest.Clock, *upstream, *registrant.Registrant, states) {
	t.Helper()
	clock := siptest.NewClock()
	net := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	up := newUpstream(t, net, clock, rcfg, nonceTTL)
	ua := siptest.NewStack(t, net, "192.0.2.10:5060", siptest.StackConfig{})
	ch := make(states, 100)
	cfg.Registrar, _ = sip.ParseURI("sip:example.com")
	cfg.AoR, _ = sip.ParseURI("sip:alice@example.com")
	if cfg.Password == "" {
		cfg.Password = "secret"
	}
	cfg.OnState = func(s registrant.Status) { ch <- s }
	r, err := registrant.New(ua.Transactions, up.stack.Target(transport.UDP), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return clock, up, r, ch
}

func TestRegisterRefreshUnregister(t *testing.T) {
	clock, up, r, ch := setup(t, registrar.Config{}, registrant.Config{Expires: 600 * time.Second})
	r.Start()
	ch.next(t, registrant.Registering)
	st := ch.next(t, registrant.Registered)
	if st.Expires != 600*time.Second || st.Code != 200 {
		t.Fatalf("status %+v", st)
	}
	bs := up.bindings(t)
	if len(bs) != 1 || bs[0].Contact != "<sip:alice@192.0.2.10:5060>" {
		t.Fatalf("upstream bindings %+v", bs)
	}
	if n := up.challenges.Load(); n != 1 {
		t.Fatalf("%d challenges for the first registration", n)
	}
	// Refresh 60 s before expiry, with the remembered nonce (no new
	// challenge) and the same Call-ID, higher CSeq.
	clock.Advance(539 * time.Second)
	select {
	case st := <-ch:
		t.Fatalf("refreshed early: %+v", st)
	default:
	}
	clock.Advance(time.Second)
	ch.next(t, registrant.Registering)
	ch.next(t, registrant.Registered)
	if n := up.challenges.Load(); n != 1 {
		t.Fatalf("%d challenges after a refresh: the nonce was not reused", n)
	}
	up.mu.Lock()
	first, last := up.seen[0], up.seen[len(up.seen)-1]
	up.mu.Unlock()
	if first.CallID().Value() != last.CallID().Value() || last.CSeq().SeqNo <= first.CSeq().SeqNo {
		t.Fatal("refresh did not continue the registration's Call-ID and CSeq")
	}
	if bs := up.bindings(t); len(bs) != 1 || bs[0].Expires.Sub(clock.Now()) != 600*time.Second {
		t.Fatalf("after refresh %+v", bs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if len(up.bindings(t)) != 0 {
		t.Fatal("Stop did not unregister")
	}
	if r.Status().State != registrant.Unregistered {
		t.Fatalf("state %v", r.Status().State)
	}
}

func TestRetryWithBackoff(t *testing.T) {
	clock, up, r, ch := setup(t, registrar.Config{}, registrant.Config{RetryBase: 10 * time.Second, RetryMax: 40 * time.Second})
	up.override.Store(500)
	r.Start()
	var delays []time.Duration
	for i := range 4 {
		st := ch.next(t, registrant.Failed)
		if st.Code != 500 {
			t.Fatalf("failure %d: %+v", i, st)
		}
		delays = append(delays, st.RetryIn)
		if i == 3 {
			// Retry-After is honoured: the next attempt gets a 503 with it.
			up.override.Store(503)
			up.retryAfter.Store(300)
		}
		clock.Advance(st.RetryIn)
	}
	caps := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second}
	for i, d := range delays {
		if d < caps[i]/2 || d > caps[i] {
			t.Fatalf("retry %d after %v, want between %v and %v", i+1, d, caps[i]/2, caps[i])
		}
	}
	if st := ch.next(t, registrant.Failed); st.Code != 503 || st.RetryIn < 300*time.Second {
		t.Fatalf("503 with Retry-After 300: %d, retry in %v", st.Code, st.RetryIn)
	}
	// The registrar recovers: the next attempt registers and the backoff
	// resets.
	up.override.Store(0)
	clock.Advance(300 * time.Second)
	ch.next(t, registrant.Registered)
}

func TestTimeoutThenRecovery(t *testing.T) {
	clock, up, r, ch := setup(t, registrar.Config{}, registrant.Config{})
	_ = up.stack.Transport.Close() // the registrar is gone: Timer F
	r.Start()
	ch.next(t, registrant.Registering)
	for i := 0; i < 64; i++ {
		clock.Advance(time.Second)
		select {
		case st := <-ch:
			if st.State != registrant.Failed || st.Err == nil {
				t.Fatalf("status %+v", st)
			}
			return
		default:
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no failure after Timer F")
}

func TestIntervalTooBrief(t *testing.T) {
	_, up, r, ch := setup(t, registrar.Config{MinExpires: 900 * time.Second}, registrant.Config{Expires: 300 * time.Second})
	r.Start()
	if st := ch.next(t, registrant.Registered); st.Expires != 900*time.Second {
		t.Fatalf("granted %v", st.Expires)
	}
	if bs := up.bindings(t); len(bs) != 1 {
		t.Fatalf("%d bindings", len(bs))
	}
}

func TestWrongPassword(t *testing.T) {
	_, up, r, ch := setup(t, registrar.Config{}, registrant.Config{Password: "wrong"})
	r.Start()
	st := ch.next(t, registrant.Failed)
	if st.Code != 401 {
		t.Fatalf("status %+v", st)
	}
	if n := up.requests.Load(); n != 2 {
		t.Fatalf("%d REGISTERs for a wrong password, want 2 (challenge, one answer)", n)
	}
	if len(up.bindings(t)) != 0 {
		t.Fatal("a binding with a wrong password")
	}
}

// The nonce has expired by the time of the refresh: the pre-signed
// REGISTER gets a stale challenge, which is answered without a failure.
func TestStaleNonceOnRefresh(t *testing.T) {
	clock, up, r, ch := setupTTL(t, 5*time.Minute, registrar.Config{}, registrant.Config{Expires: 600 * time.Second})
	r.Start()
	ch.next(t, registrant.Registered)
	clock.Advance(540 * time.Second)
	ch.next(t, registrant.Registering)
	if st := ch.next(t, registrant.Registered); st.Code != 200 {
		t.Fatalf("status %+v", st)
	}
	if n := up.challenges.Load(); n != 2 {
		t.Fatalf("%d challenges, want 2 (first registration, stale nonce)", n)
	}
}

func TestTCPContactServiceRouteAndResolve(t *testing.T) {
	sr, _ := sip.ParseNameAddr("<sip:orig@core.example.com;lr>")
	clock := siptest.NewClock()
	net := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	up := newUpstream(t, net, clock, registrar.Config{ServiceRoute: func(context.Context, string) []sip.NameAddr {
		return []sip.NameAddr{sr}
	}}, time.Hour)
	ua := siptest.NewStack(t, net, "192.0.2.10:5060", siptest.StackConfig{})
	resolved := 0
	ch := make(states, 10)
	cfg := registrant.Config{Password: "secret", OnState: func(s registrant.Status) { ch <- s },
		Resolve: func(context.Context) (transport.Target, error) {
			resolved++
			return up.stack.Target(transport.TCP), nil
		}}
	cfg.Registrar, _ = sip.ParseURI("sip:example.com")
	cfg.AoR, _ = sip.ParseURI("sip:alice@example.com")
	r, err := registrant.New(ua.Transactions, transport.Target{Transport: transport.TCP}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())
	r.Start()
	st := ch.next(t, registrant.Registered)
	if len(st.ServiceRoute) != 1 || st.ServiceRoute[0].URI.Host != "core.example.com" {
		t.Fatalf("Service-Route %+v", st.ServiceRoute)
	}
	bs := up.bindings(t)
	if len(bs) != 1 || bs[0].Contact != "<sip:alice@192.0.2.10:5060;transport=tcp>" || bs[0].Flow.Transport != transport.TCP {
		t.Fatalf("bindings %+v", bs)
	}
	if resolved == 0 {
		t.Fatal("Resolve not used")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := registrant.New(nil, transport.Target{}, registrant.Config{}); err == nil {
		t.Fatal("nil layer accepted")
	}
	net := siptest.NewNetwork(siptest.NetworkConfig{})
	ua := siptest.NewStack(t, net, "192.0.2.10:5060", siptest.StackConfig{})
	if _, err := registrant.New(ua.Transactions, transport.Target{}, registrant.Config{}); err == nil {
		t.Fatal("missing AoR accepted")
	}
}

// resolverFunc adapts a function to registrant.Resolver.
type resolverFunc func(ctx context.Context, u sip.Uri) ([]transport.Target, error)

func (f resolverFunc) Resolve(ctx context.Context, u sip.Uri) ([]transport.Target, error) {
	return f(ctx, u)
}

// TestResolverTargetsAreTriedInOrder: with Config.Resolver, a REGISTER
// moves past a refused connection and a 503 to the next target (RFC 3263
// §4.3), and the registrar is resolved again for the refresh.
func TestResolverTargetsAreTriedInOrder(t *testing.T) {
	clock := siptest.NewClock()
	net := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	up := newUpstream(t, net, clock, registrar.Config{}, time.Hour)
	var busy atomic.Int64
	busyStack := siptest.NewStack(t, net, "192.0.2.2:5060", siptest.StackConfig{Handler: sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		busy.Add(1)
		_ = sip.Respond(w, req, 503, "")
	})})
	ua := siptest.NewStack(t, net, "192.0.2.10:5060", siptest.StackConfig{})
	var asked atomic.Int64
	var gotURI atomic.Value
	res := resolverFunc(func(_ context.Context, u sip.Uri) ([]transport.Target, error) {
		asked.Add(1)
		gotURI.Store(u.String())
		refused := transport.Target{Transport: transport.TCP, Addr: netip.MustParseAddrPort("192.0.2.77:5060")}
		return []transport.Target{refused, busyStack.Target(transport.UDP), up.stack.Target(transport.UDP)}, nil
	})
	ch := make(states, 100)
	cfg := registrant.Config{Password: "secret", Expires: 600 * time.Second, Resolver: res, OnState: func(s registrant.Status) { ch <- s }}
	cfg.Registrar, _ = sip.ParseURI("sip:example.com")
	cfg.AoR, _ = sip.ParseURI("sip:alice@example.com")
	r, err := registrant.New(ua.Transactions, transport.Target{Transport: transport.UDP}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	r.Start()
	ch.next(t, registrant.Registered)
	if n := busy.Load(); n != 1 {
		t.Fatalf("the 503 target got %d REGISTERs", n)
	}
	if len(up.bindings(t)) != 1 {
		t.Fatal("not registered upstream")
	}
	if s, _ := gotURI.Load().(string); s != "sip:example.com" {
		t.Fatalf("resolved %q", s)
	}
	clock.Advance(540 * time.Second)
	ch.next(t, registrant.Registering)
	ch.next(t, registrant.Registered)
	if n := asked.Load(); n != 2 {
		t.Fatalf("resolved %d times, want once per attempt", n)
	}
}
