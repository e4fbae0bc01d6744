// Package backendtest is the conformance suite for registrar.Backend
// implementations: the memory, redis and postgres backends run it, and so can
// a custom one.
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backendtest.Opener {
//			ns := freshNamespace(t) // empty, removed by t.Cleanup
//			return func(t *testing.T) registrar.Backend { return open(t, ns) }
//		})
//	}
//
// It checks the Backend contract directly (round trip of every field,
// atomic updates under contention from several clients, exactly-once expiry
// across instances, lookups by contact URI, listing) and a Registrar running
// on it: registration, lookup and removal, bindings that survive a restart of
// the registrar (a new Registrar on a newly opened Backend), expiry on time
// with one Expired event across instances, and concurrent REGISTERs from two
// instances losing nothing.
package backendtest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// Opener opens a Backend on one namespace of the store under test. Every
// Backend it returns must see the same data, as a restarted process
// reconnecting to the store would; a memory backend returns the same value
// each time. Backends it opens are closed by the Opener's own t.Cleanup, if
// needed.
type Opener func(t *testing.T) registrar.Backend

// Run runs the suite as subtests of t. newStore is called once per subtest
// and must return an Opener on a fresh, empty namespace.
func Run(t *testing.T, newStore func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"LoadUnknown", testLoadUnknown},
		{"UpdateErrorChangesNothing", testUpdateError},
		{"EmptyResultDeletes", testEmptyDeletes},
		{"ConcurrentUpdatesSerialize", testConcurrentUpdates},
		{"ExpireOnceAcrossInstances", testExpireOnce},
		{"ExpireSkipsDropped", testExpireSkipsDropped},
		{"ByURI", testByURI},
		{"Range", testRange},
		{"RegistrarRegisterLookupUnregister", testRegistrarBasic},
		{"RegistrarSurvivesRestart", testRegistrarRestart},
		{"RegistrarExpiresOnTime", testRegistrarExpiry},
		{"RegistrarConcurrentInstances", testRegistrarConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// base is the instant the suite's bindings are written at: the fake clock's.
var base = siptest.NewClock().Now()

func full(aor string, i int) registrar.Binding {
	uri := fmt.Sprintf("sip:u%d@192.0.2.%d:5060;transport=tcp", i, 10+i%200)
	return registrar.Binding{
		AoR:          aor,
		Key:          fmt.Sprintf("<urn:uuid:%08d-0000-1000-8000-000000000000>;reg-id=%d", i, i%3+1),
		URIKey:       uri,
		Contact:      fmt.Sprintf(`"User %d" <%s;ob>;+sip.instance="<urn:uuid:%08d-0000-1000-8000-000000000000>";reg-id=%d;+g.3gpp.smsip;q=0.5`, i, uri, i, i%3+1),
		Instance:     fmt.Sprintf("urn:uuid:%08d-0000-1000-8000-000000000000", i),
		RegID:        uint32(i%3 + 1),
		CallID:       fmt.Sprintf("call-%d@192.0.2.1", i),
		CSeq:         uint32(100 + i),
		Expires:      base.Add(time.Duration(3600+i) * time.Second).Add(123456789),
		Updated:      base.Add(987654321),
		Path:         []string{"<sip:p2@proxy.example.com;lr>", "<sip:p1@edge.example.com;lr;ob>"},
		ServiceRoute: []string{"<sip:orig@scscf.example.com;lr>"},
		Flow: transport.Flow{Transport: transport.TCP, Local: netip.MustParseAddrPort("192.0.2.1:5060"),
			Remote: netip.MustParseAddrPort(fmt.Sprintf("[2001:db8::%x]:40000", i+1)), ConnID: uint64(1000 + i)},
		Node:      "node-a",
		UserAgent: "Phone/1.0 (über)",
	}
}

func minimal(aor, uri string, expires time.Time) registrar.Binding {
	return registrar.Binding{AoR: aor, Key: uri, URIKey: uri, Contact: "<" + uri + ">", CallID: "c@" + aor,
		CSeq: 1, Expires: expires, Updated: base}
}

func set(t *testing.T, b registrar.Backend, aor string, bs ...registrar.Binding) {
	t.Helper()
	err := b.Update(context.Background(), aor, base, func([]registrar.Binding) ([]registrar.Binding, error) {
		return bs, nil
	})
	if err != nil {
		t.Fatalf("Update %s: %v", aor, err)
	}
}

func load(t *testing.T, b registrar.Backend, aor string) []registrar.Binding {
	t.Helper()
	bs, err := b.Load(context.Background(), aor)
	if err != nil {
		t.Fatalf("Load %s: %v", aor, err)
	}
	return bs
}

// diff describes how got differs from want, or returns "".
func diff(got, want registrar.Binding) string {
	var d []string
	chk := func(name string, ok bool, g, w any) {
		if !ok {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	chk("AoR", got.AoR == want.AoR, got.AoR, want.AoR)
	chk("Key", got.Key == want.Key, got.Key, want.Key)
	chk("URIKey", got.URIKey == want.URIKey, got.URIKey, want.URIKey)
	chk("Contact", got.Contact == want.Contact, got.Contact, want.Contact)
	chk("Instance", got.Instance == want.Instance, got.Instance, want.Instance)
	chk("RegID", got.RegID == want.RegID, got.RegID, want.RegID)
	chk("CallID", got.CallID == want.CallID, got.CallID, want.CallID)
	chk("CSeq", got.CSeq == want.CSeq, got.CSeq, want.CSeq)
	chk("Expires", got.Expires.Equal(want.Expires), got.Expires, want.Expires)
	chk("Updated", got.Updated.Equal(want.Updated), got.Updated, want.Updated)
	chk("Path", slices.Equal(got.Path, want.Path), got.Path, want.Path)
	chk("ServiceRoute", slices.Equal(got.ServiceRoute, want.ServiceRoute), got.ServiceRoute, want.ServiceRoute)
	chk("Flow", got.Flow == want.Flow, got.Flow, want.Flow)
	chk("Node", got.Node == want.Node, got.Node, want.Node)
	chk("UserAgent", got.UserAgent == want.UserAgent, got.UserAgent, want.UserAgent)
	return strings.Join(d, "; ")
}

func testRoundTrip(t *testing.T, open Opener) {
	b := open(t)
	aor := "sip:alice@example.com"
	want := []registrar.Binding{full(aor, 1), full(aor, 2), minimal(aor, "sip:x@192.0.2.9", base.Add(time.Hour))}
	want[2].Flow = transport.Flow{Transport: transport.UDP, Local: netip.MustParseAddrPort("192.0.2.1:5060"),
		Remote: netip.MustParseAddrPort("192.0.2.9:5062")}
	set(t, b, aor, want...)
	for _, bk := range []registrar.Backend{b, open(t)} { // and from another client
		got := load(t, bk, aor)
		if len(got) != len(want) {
			t.Fatalf("Load returned %d bindings, want %d", len(got), len(want))
		}
		for i := range want {
			if d := diff(got[i], want[i]); d != "" {
				t.Errorf("binding %d (order must be kept): %s", i, d)
			}
		}
	}
	// The Update function sees exactly what Load returns.
	err := b.Update(context.Background(), aor, base, func(cur []registrar.Binding) ([]registrar.Binding, error) {
		if len(cur) != 3 || diff(cur[0], want[0]) != "" {
			t.Errorf("Update saw %d bindings", len(cur))
		}
		return cur[1:], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := load(t, b, aor); len(got) != 2 || diff(got[0], want[1]) != "" {
		t.Fatalf("after dropping the first: %d bindings", len(got))
	}
}

func testLoadUnknown(t *testing.T, open Opener) {
	if got := load(t, open(t), "sip:nobody@example.com"); len(got) != 0 {
		t.Fatalf("unknown AoR: %d bindings", len(got))
	}
}

func testUpdateError(t *testing.T, open Opener) {
	b := open(t)
	aor := "sip:alice@example.com"
	set(t, b, aor, minimal(aor, "sip:a@192.0.2.1", base.Add(time.Hour)))
	boom := fmt.Errorf("refused")
	err := b.Update(context.Background(), aor, base, func(cur []registrar.Binding) ([]registrar.Binding, error) {
		return nil, boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want the function's error itself", err)
	}
	if got := load(t, b, aor); len(got) != 1 {
		t.Fatalf("a failed Update changed the bindings: %d", len(got))
	}
}

func testEmptyDeletes(t *testing.T, open Opener) {
	b := open(t)
	aor := "sip:alice@example.com"
	set(t, b, aor, minimal(aor, "sip:a@192.0.2.1", base.Add(time.Hour)))
	set(t, b, aor)
	if got := load(t, b, aor); len(got) != 0 {
		t.Fatalf("%d bindings after an empty Update", len(got))
	}
	if got, _ := b.ByURI(context.Background(), "sip:a@192.0.2.1"); len(got) != 0 {
		t.Fatalf("ByURI found %d bindings of a deleted AoR", len(got))
	}
	_ = b.Range(context.Background(), func(aor string, bs []registrar.Binding) bool {
		t.Errorf("Range listed %s with %d bindings", aor, len(bs))
		return true
	})
}

func testConcurrentUpdates(t *testing.T, open Opener) {
	const workers, each = 8, 10
	aor := "sip:busy@example.com"
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		b := open(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				uri := fmt.Sprintf("sip:w%d-%d@192.0.2.1", w, i)
				errs <- b.Update(context.Background(), aor, base, func(cur []registrar.Binding) ([]registrar.Binding, error) {
					return append(slices.Clone(cur), minimal(aor, uri, base.Add(time.Hour))), nil
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Update: %v", err)
		}
	}
	if got := load(t, open(t), aor); len(got) != workers*each {
		t.Fatalf("%d bindings after %d concurrent appends: updates were lost", len(got), workers*each)
	}
}

func testExpireOnce(t *testing.T, open Opener) {
	b := open(t)
	want := map[string]bool{}
	for i := range 40 {
		aor := fmt.Sprintf("sip:u%d@example.com", i)
		old := minimal(aor, fmt.Sprintf("sip:old%d@192.0.2.1", i), base.Add(time.Duration(i%5+1)*time.Second))
		live := minimal(aor, fmt.Sprintf("sip:live%d@192.0.2.1", i), base.Add(time.Hour))
		set(t, b, aor, old, live)
		want[old.URIKey] = true
	}
	now := base.Add(10 * time.Second)
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 3 {
		bk := open(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				bs, err := bk.Expire(context.Background(), now, 7)
				if err != nil {
					t.Errorf("Expire: %v", err)
					return
				}
				if len(bs) > 7 {
					t.Errorf("Expire returned %d bindings past its limit of 7", len(bs))
				}
				mu.Lock()
				for _, bd := range bs {
					got[bd.URIKey]++
					if bd.Expires.After(now) {
						t.Errorf("Expire returned a live binding %s", bd.URIKey)
					}
				}
				mu.Unlock()
				if len(bs) == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%s expired %d times, want once", k, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("Expire returned %d distinct bindings, want %d", len(got), len(want))
	}
	for i := range 40 {
		bs := load(t, b, fmt.Sprintf("sip:u%d@example.com", i))
		if len(bs) != 1 || !strings.HasPrefix(bs[0].URIKey, "sip:live") {
			t.Fatalf("u%d after expiry: %d bindings", i, len(bs))
		}
	}
	if bs, _ := b.Expire(context.Background(), now, 100); len(bs) != 0 {
		t.Fatalf("a second sweep found %d", len(bs))
	}
}

func testExpireSkipsDropped(t *testing.T, open Opener) {
	b := open(t)
	aor := "sip:alice@example.com"
	set(t, b, aor, minimal(aor, "sip:a@192.0.2.1", base.Add(time.Second)), minimal(aor, "sip:b@192.0.2.1", base.Add(time.Hour)))
	// An Update drops the lapsed binding first (as the Registrar does).
	set(t, b, aor, minimal(aor, "sip:b@192.0.2.1", base.Add(time.Hour)))
	if bs, _ := b.Expire(context.Background(), base.Add(time.Minute), 10); len(bs) != 0 {
		t.Fatalf("Expire returned %d dropped bindings", len(bs))
	}
	// Extending a binding moves its expiry.
	set(t, b, aor, minimal(aor, "sip:b@192.0.2.1", base.Add(2*time.Hour)))
	if bs, _ := b.Expire(context.Background(), base.Add(90*time.Minute), 10); len(bs) != 0 {
		t.Fatalf("Expire returned an extended binding")
	}
	if bs, _ := b.Expire(context.Background(), base.Add(2*time.Hour), 10); len(bs) != 1 {
		t.Fatalf("Expire at the new expiry returned %d", len(bs))
	}
}

func testByURI(t *testing.T, open Opener) {
	b := open(t)
	shared := "sip:pbx@192.0.2.50:5070"
	set(t, b, "sip:a@example.com", minimal("sip:a@example.com", shared, base.Add(time.Hour)), minimal("sip:a@example.com", "sip:x@192.0.2.1", base.Add(time.Hour)))
	set(t, b, "sip:b@example.com", minimal("sip:b@example.com", shared, base.Add(time.Hour)))
	got, err := b.ByURI(context.Background(), shared)
	if err != nil || len(got) != 2 {
		t.Fatalf("ByURI = %d, %v", len(got), err)
	}
	aors := []string{got[0].AoR, got[1].AoR}
	sort.Strings(aors)
	if !slices.Equal(aors, []string{"sip:a@example.com", "sip:b@example.com"}) {
		t.Fatalf("ByURI AoRs %q", aors)
	}
	set(t, b, "sip:a@example.com", minimal("sip:a@example.com", "sip:x@192.0.2.1", base.Add(time.Hour)))
	if got, _ := open(t).ByURI(context.Background(), shared); len(got) != 1 || got[0].AoR != "sip:b@example.com" {
		t.Fatalf("after removal ByURI = %+v", got)
	}
	// More AoRs on the URI, and one removed that was not the first.
	set(t, b, "sip:c@example.com", minimal("sip:c@example.com", shared, base.Add(time.Hour)))
	set(t, b, "sip:d@example.com", minimal("sip:d@example.com", shared, base.Add(time.Hour)))
	set(t, b, "sip:c@example.com", minimal("sip:c@example.com", "sip:y@192.0.2.1", base.Add(time.Hour)))
	got, _ = open(t).ByURI(context.Background(), shared)
	aors = aors[:0]
	for _, g := range got {
		aors = append(aors, g.AoR)
	}
	sort.Strings(aors)
	if !slices.Equal(aors, []string{"sip:b@example.com", "sip:d@example.com"}) {
		t.Fatalf("after removing a later AoR, ByURI AoRs %q", aors)
	}
}

func testRange(t *testing.T, open Opener) {
	b := open(t)
	for i := range 30 {
		aor := fmt.Sprintf("sip:r%d@example.com", i)
		set(t, b, aor, minimal(aor, "sip:a@192.0.2.1", base.Add(time.Hour)), minimal(aor, "sip:b@192.0.2.1", base.Add(time.Hour)))
	}
	seen := map[string]int{}
	if err := b.Range(context.Background(), func(aor string, bs []registrar.Binding) bool {
		seen[aor] += len(bs)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 30 {
		t.Fatalf("Range saw %d AoRs", len(seen))
	}
	for aor, n := range seen {
		if n != 2 {
			t.Fatalf("%s: %d bindings", aor, n)
		}
	}
	calls := 0
	_ = b.Range(context.Background(), func(string, []registrar.Binding) bool { calls++; return calls < 3 })
	if calls != 3 {
		t.Fatalf("Range went on after false: %d calls", calls)
	}
}

// Registrar-level tests.

type events struct {
	mu  sync.Mutex
	evs []registrar.Event
}

func (e *events) add(ev registrar.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) count(k registrar.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

func newRegistrar(t *testing.T, b registrar.Backend, clock *siptest.Clock, evs *events, cfg registrar.Config) *registrar.Registrar {
	t.Helper()
	cfg.Clock = clock
	r, err := registrar.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if evs != nil {
		r.Subscribe(evs.add)
	}
	return r
}

var uaFlow = transport.Flow{Transport: transport.TCP, Local: netip.MustParseAddrPort("192.0.2.1:5060"),
	Remote: netip.MustParseAddrPort("192.0.2.10:40000"), ConnID: 42}

func register(t *testing.T, r *registrar.Registrar, user, callID string, cseq uint32, lines ...string) *sip.Response {
	t.Helper()
	res := serve(r, user, callID, cseq, lines...)
	if res == nil {
		t.Fatal("no response")
	}
	return res
}

// serve runs a REGISTER through r and returns the final response, or nil.
// It may run on any goroutine.
func serve(r *registrar.Registrar, user, callID string, cseq uint32, lines ...string) *sip.Response {
	opts := []siptest.RequestOption{siptest.WithCallID(callID), siptest.WithCSeq(cseq)}
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		opts = append(opts, siptest.WithHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", opts...)
	req.To().Address.User = user
	req.From().Address.User = user
	rec := siptest.NewRecorder()
	r.ServeSIP(transport.NewContext(context.Background(), uaFlow), rec, req)
	return rec.Final()
}

func lookup(t *testing.T, r *registrar.Registrar, uri string) []registrar.Contact {
	t.Helper()
	u, err := sip.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := r.Lookup(context.Background(), u)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	return cs
}

func testRegistrarBasic(t *testing.T, open Opener) {
	clock := siptest.NewClock()
	evs := &events{}
	r := newRegistrar(t, open(t), clock, evs, registrar.Config{})
	contact := `Contact: <sip:alice@192.0.2.10:40000;transport=tcp>;+sip.instance="<urn:uuid:1>";+g.oma.sip-im;expires=600`
	res := register(t, r, "alice", "c1", 1, contact, "Supported: gruu")
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER got %d %s", res.StatusCode, res.Reason)
	}
	cs := lookup(t, r, "sip:alice@example.com")
	if len(cs) != 1 || cs[0].NameAddr.URI.Host != "192.0.2.10" || cs[0].Flow != uaFlow || !cs[0].Local {
		t.Fatalf("lookup %+v", cs)
	}
	if _, ok := cs[0].NameAddr.Param("+g.oma.sip-im"); !ok || !strings.Contains(cs[0].Contact, "+g.oma.sip-im") {
		t.Fatalf("feature tag lost: %q", cs[0].Contact)
	}
	if len(lookup(t, r, "sip:alice@example.com;gr=urn:uuid:1")) != 1 {
		t.Fatal("public GRUU does not resolve")
	}
	u, _ := sip.ParseURI("sip:alice@192.0.2.10:40000;transport=tcp")
	if cs, err := r.LookupContact(context.Background(), u); err != nil || len(cs) != 1 {
		t.Fatalf("LookupContact = %d, %v", len(cs), err)
	}
	if res := register(t, r, "alice", "c1", 2, "Contact: *", "Expires: 0"); res.StatusCode != 200 {
		t.Fatalf("unregister got %d", res.StatusCode)
	}
	if cs := lookup(t, r, "sip:alice@example.com"); len(cs) != 0 {
		t.Fatalf("after Contact: * %d contacts", len(cs))
	}
	if evs.count(registrar.Registered) != 1 || evs.count(registrar.Deregistered) != 1 {
		t.Fatalf("events: %+v", evs.evs)
	}
}

func testRegistrarRestart(t *testing.T, open Opener) {
	clock := siptest.NewClock()
	secret := []byte("shared gruu secret")
	r1 := newRegistrar(t, open(t), clock, nil, registrar.Config{Secret: secret})
	res := register(t, r1, "alice", "c1", 1, `Contact: <sip:alice@192.0.2.10:40000;transport=tcp>;+sip.instance="<urn:uuid:1>"`, "Supported: gruu")
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER got %d", res.StatusCode)
	}
	var temp string
	for _, c := range sip.HeaderValues(res, "Contact") {
		na, _ := sip.ParseNameAddr(c)
		v, _ := na.Param("temp-gruu")
		temp = sip.Unquote(v)
	}
	_ = r1.Close()

	clock.Advance(time.Minute)
	r2 := newRegistrar(t, open(t), clock, nil, registrar.Config{Secret: secret})
	cs := lookup(t, r2, "sip:alice@example.com")
	if len(cs) != 1 || cs[0].Local || cs[0].Flow != uaFlow {
		t.Fatalf("after restart: %+v", cs)
	}
	if len(lookup(t, r2, temp)) != 1 {
		t.Fatal("temp GRUU does not resolve after restart")
	}
	// The refresh continues the same registration (CSeq order holds): the
	// CSeq reused for another lifetime is out of order, the very request
	// repeated is a retransmission.
	if res := register(t, r2, "alice", "c1", 1, `Contact: <sip:alice@192.0.2.10:40000;transport=tcp>;+sip.instance="<urn:uuid:1>";expires=120`); res.StatusCode != 400 {
		t.Fatalf("reused CSeq after restart got %d", res.StatusCode)
	}
	if res := register(t, r2, "alice", "c1", 1, `Contact: <sip:alice@192.0.2.10:40000;transport=tcp>;+sip.instance="<urn:uuid:1>"`); res.StatusCode != 200 {
		t.Fatalf("retransmission after restart got %d", res.StatusCode)
	}
	if res := register(t, r2, "alice", "c1", 2, `Contact: <sip:alice@192.0.2.10:40000;transport=tcp>;+sip.instance="<urn:uuid:1>"`); res.StatusCode != 200 {
		t.Fatalf("refresh after restart got %d", res.StatusCode)
	}
	if cs := lookup(t, r2, "sip:alice@example.com"); len(cs) != 1 || !cs[0].Local {
		t.Fatalf("after refresh: %+v", cs)
	}
}

func testRegistrarExpiry(t *testing.T, open Opener) {
	clock := siptest.NewClock()
	evs := &events{}
	cfg := registrar.Config{MinExpires: time.Second}
	r1 := newRegistrar(t, open(t), clock, evs, cfg)
	r2 := newRegistrar(t, open(t), clock, evs, cfg) // another instance sweeping too
	if res := register(t, r1, "alice", "c1", 1, "Contact: <sip:a@192.0.2.10>;expires=60, <sip:b@192.0.2.10>;expires=120"); res.StatusCode != 200 {
		t.Fatalf("REGISTER got %d", res.StatusCode)
	}
	clock.Advance(59 * time.Second)
	if n := len(lookup(t, r2, "sip:alice@example.com")); n != 2 {
		t.Fatalf("at 59 s: %d contacts", n)
	}
	clock.Advance(time.Second)
	if cs := lookup(t, r2, "sip:alice@example.com"); len(cs) != 1 || cs[0].NameAddr.URI.User != "b" {
		t.Fatalf("at 60 s: %+v", cs)
	}
	clock.Advance(2 * time.Second) // both sweepers have run
	if n := evs.count(registrar.Expired); n != 1 {
		t.Fatalf("%d Expired events for one lapsed binding", n)
	}
	clock.Advance(time.Minute)
	if n := evs.count(registrar.Expired); n != 2 {
		t.Fatalf("%d Expired events after both lapsed", n)
	}
	if bs := load(t, open(t), "sip:alice@example.com"); len(bs) != 0 {
		t.Fatalf("%d bindings left in the store", len(bs))
	}
}

func testRegistrarConcurrent(t *testing.T, open Opener) {
	clock := siptest.NewClock()
	evs := &events{}
	cfg := registrar.Config{MaxContacts: 100}
	rs := []*registrar.Registrar{newRegistrar(t, open(t), clock, evs, cfg), newRegistrar(t, open(t), clock, evs, cfg)}
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := serve(rs[i%2], "alice", fmt.Sprintf("c%d", i), 1, fmt.Sprintf("Contact: <sip:d%d@192.0.2.10>", i))
			if res == nil {
				codes <- 0
				return
			}
			codes <- res.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("concurrent REGISTER got %d", c)
		}
	}
	if n := len(lookup(t, rs[0], "sip:alice@example.com")); n != 20 {
		t.Fatalf("%d contacts after 20 concurrent REGISTERs", n)
	}
	if n := evs.count(registrar.Registered); n != 20 {
		t.Fatalf("%d Registered events", n)
	}
}
