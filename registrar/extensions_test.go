package registrar_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

func tcpFlow(id uint64) transport.Flow {
	return transport.Flow{Transport: transport.TCP, Local: netip.MustParseAddrPort("192.0.2.1:5060"),
		Remote: netip.MustParseAddrPort("192.0.2.10:40000"), ConnID: id}
}

const inst = `+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"`

func lookupContacts(t *testing.T, r *registrar.Registrar, uri string) []registrar.Contact {
	t.Helper()
	u, err := sip.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := r.Lookup(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestOutboundFlows(t *testing.T) {
	alive := map[uint64]bool{7: true, 8: true}
	e := newEnv(t, registrar.Config{FlowAlive: func(id uint64) bool { return alive[id] }})
	contact := func(regID string) string {
		return "Contact: <sip:alice@192.0.2.10;transport=tcp;ob>;" + inst + ";reg-id=" + regID
	}
	res := e.must(200, e.do(newReg("alice", "c1", 1, contact("1"), "Supported: outbound, path"), tcpFlow(7)))
	if got := sip.HeaderValues(res, "Require"); !slices.Equal(got, []string{"outbound"}) {
		t.Fatalf("Require = %q", got)
	}
	e.advance(time.Second)
	e.must(200, e.do(newReg("alice", "c2", 1, contact("2"), "Supported: outbound"), tcpFlow(8)))
	bs, _ := e.reg.Bindings(context.Background(), "sip:alice@example.com")
	if len(bs) != 2 {
		t.Fatalf("%d bindings for two flows", len(bs))
	}
	// One contact per instance: the most recent live flow.
	cs := lookupContacts(t, e.reg, "sip:alice@example.com")
	if len(cs) != 1 || cs[0].RegID != 2 || !cs[0].Local {
		t.Fatalf("lookup %+v", cs)
	}
	if tg, ok := cs[0].Target(); !ok || tg.ConnID != 8 || tg.Transport != transport.TCP {
		t.Fatalf("target %+v %v", tg, ok)
	}
	alive[8] = false
	if cs := lookupContacts(t, e.reg, "sip:alice@example.com"); len(cs) != 1 || cs[0].RegID != 1 {
		t.Fatalf("with flow 8 dead: %+v", cs)
	}
	// Without Supported: outbound the reg-id is ignored: keyed by instance.
	res = e.must(200, e.do(newReg("bob", "c3", 1, "Contact: <sip:bob@192.0.2.11>;"+inst+";reg-id=1"), tcpFlow(9)))
	if len(sip.HeaderValues(res, "Require")) != 0 {
		t.Fatal("Require: outbound without outbound support")
	}
	bs, _ = e.reg.Bindings(context.Background(), "sip:bob@example.com")
	if len(bs) != 1 || bs[0].RegID != 0 || bs[0].Key != "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>" {
		t.Fatalf("bob %+v", bs)
	}
	// RFC 5627: the same instance at a new address replaces its binding.
	e.must(200, e.do(newReg("bob", "c4", 1, "Contact: <sip:bob@192.0.2.99>;"+inst), tcpFlow(10)))
	if got := lookupWith(t, e.reg, "sip:bob@example.com"); !slices.Equal(got, []string{"sip:bob@192.0.2.99"}) {
		t.Fatalf("bob after moving: %q", got)
	}
}

func TestOutboundChecks(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	two := "Contact: <sip:a@192.0.2.10;ob>;" + inst + ";reg-id=1, <sip:b@192.0.2.10;ob>;" + strings.Replace(inst, "f81d", "aaaa", 1) + ";reg-id=2"
	e.must(400, e.do(newReg("alice", "c1", 1, two, "Supported: outbound"), tcpFlow(1)))
	ob := "Contact: <sip:a@192.0.2.10;ob>;" + inst + ";reg-id=1"
	res := e.must(439, e.do(newReg("alice", "c1", 2, ob, "Supported: outbound, path",
		"Path: <sip:p2@proxy2.example.com;lr>, <sip:p1@edge.example.com;lr>"), tcpFlow(1)))
	if res.Reason != "First Hop Lacks Outbound Support" {
		t.Fatalf("reason %q", res.Reason)
	}
	e.must(200, e.do(newReg("alice", "c1", 3, ob, "Supported: outbound, path",
		"Path: <sip:p2@proxy2.example.com;lr>, <sip:p1@edge.example.com;lr;ob>"), tcpFlow(1)))
	e.must(400, e.do(newReg("carol", "c1", 1, "Contact: <sip:a@192.0.2.10;ob>;"+inst+";reg-id=0", "Supported: outbound"), tcpFlow(1)))
}

func TestGRUU(t *testing.T) {
	secret := []byte("gruu secret shared by instances")
	e := newEnv(t, registrar.Config{Secret: secret})
	res := e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10>;"+inst,
		"Contact: <sip:alice@192.0.2.77>", "Supported: gruu"), udpFlow))
	var pub, temp1 string
	for _, c := range contactsOf(res) {
		if !strings.Contains(c, "192.0.2.10") {
			if strings.Contains(c, "gruu") {
				t.Fatalf("GRUU for a contact without instance: %s", c)
			}
			continue
		}
		na, err := sip.ParseNameAddr(c)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := na.Param("pub-gruu")
		tp, _ := na.Param("temp-gruu")
		pub, temp1 = sip.Unquote(p), sip.Unquote(tp)
	}
	if pub != "sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6" {
		t.Fatalf("pub-gruu %q", pub)
	}
	if !strings.HasPrefix(temp1, "sip:tgruu.") || !strings.HasSuffix(temp1, "@example.com;gr") {
		t.Fatalf("temp-gruu %q", temp1)
	}
	for _, g := range []string{pub, temp1} {
		if got := lookupWith(t, e.reg, g); !slices.Equal(got, []string{"sip:alice@192.0.2.10"}) {
			t.Fatalf("lookup %s = %q", g, got)
		}
	}
	// A refresh under the same Call-ID gives a new temp GRUU; both work.
	res = e.must(200, e.do(newReg("alice", "c1", 2, "Contact: <sip:alice@192.0.2.10>;"+inst, "Supported: gruu"), udpFlow))
	temp2 := tempGRUUOf(t, res)
	if temp2 == temp1 {
		t.Fatal("temp GRUU not renewed")
	}
	if len(lookupWith(t, e.reg, temp1)) != 1 || len(lookupWith(t, e.reg, temp2)) != 1 {
		t.Fatal("a temp GRUU of the current registration does not resolve")
	}
	// Another instance with the same secret resolves it (after a restart).
	r2 := e.newRegistrar(registrar.Config{Secret: secret})
	if len(lookupWith(t, r2, temp2)) != 1 {
		t.Fatal("temp GRUU did not survive a restart")
	}
	r3 := e.newRegistrar(registrar.Config{})
	if len(lookupWith(t, r3, temp2)) != 0 {
		t.Fatal("temp GRUU resolved with another secret")
	}
	// A new Call-ID invalidates the earlier temp GRUUs (RFC 5627 §5.2).
	e.must(200, e.do(newReg("alice", "c9", 1, "Contact: <sip:alice@192.0.2.10>;"+inst, "Supported: gruu"), udpFlow))
	if len(lookupWith(t, e.reg, temp1)) != 0 || len(lookupWith(t, e.reg, temp2)) != 0 {
		t.Fatal("old temp GRUU survived a new Call-ID")
	}
	if len(lookupWith(t, e.reg, pub)) != 1 {
		t.Fatal("pub GRUU lost")
	}
	// Garbage that looks like a temp GRUU resolves to nothing.
	if len(lookupWith(t, e.reg, "sip:tgruu.AAAA@example.com;gr")) != 0 {
		t.Fatal("forged temp GRUU resolved")
	}
}

func tempGRUUOf(t *testing.T, res *sip.Response) string {
	t.Helper()
	for _, c := range contactsOf(res) {
		na, _ := sip.ParseNameAddr(c)
		if v, ok := na.Param("temp-gruu"); ok {
			return sip.Unquote(v)
		}
	}
	t.Fatal("no temp-gruu")
	return ""
}

func TestFlowsAfterRestart(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10;transport=tcp>"), tcpFlow(5)))
	e.must(200, e.do(newReg("bob", "c2", 1, "Contact: <sip:bob@192.0.2.10>"), udpFlow))
	cs := lookupContacts(t, e.reg, "sip:alice@example.com")
	if len(cs) != 1 || !cs[0].Local || cs[0].Flow.ConnID != 5 {
		t.Fatalf("before restart %+v", cs)
	}
	r2 := e.newRegistrar(registrar.Config{})
	cs = lookupContacts(t, r2, "sip:alice@example.com")
	if len(cs) != 1 || cs[0].Local {
		t.Fatalf("after restart %+v", cs)
	}
	// Connection 5 of the old process is not connection 5 of this one.
	if _, ok := cs[0].Target(); ok {
		t.Fatal("a stream flow of another instance offered as target")
	}
	cs = lookupContacts(t, r2, "sip:bob@example.com")
	if tg, ok := cs[0].Target(); !ok || tg.ConnID != 0 || tg.Addr != udpFlow.Remote {
		t.Fatalf("UDP target after restart %+v %v", tg, ok)
	}
}

func TestLivenessDeregistersOnFlowClose(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	r := e.newRegistrar(registrar.Config{Liveness: true})
	e.must(200, serveWith(t, r, newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10;transport=tcp>"), tcpFlow(5)))
	e.must(200, serveWith(t, r, newReg("alice", "c2", 1, "Contact: <sip:alice@192.0.2.11>"), udpFlow))
	e.must(200, serveWith(t, r, newReg("bob", "c3", 1, "Contact: <sip:bob@192.0.2.12;transport=tcp>",
		"Path: <sip:edge@edge.example.com;lr>", "Supported: path"), tcpFlow(5)))
	e.events.take()
	r.FlowClosed(tcpFlow(6)) // not ours: nothing
	r.FlowClosed(tcpFlow(5))
	waitFor(t, func() bool { return len(lookupWith(t, r, "sip:alice@example.com")) == 1 })
	if got := e.events.take(); !slices.Equal(got, []string{"deregistered:sip:alice@192.0.2.10;transport=tcp:flow-failed"}) {
		t.Fatalf("events %q", got)
	}
	if len(lookupWith(t, r, "sip:bob@example.com")) != 1 {
		t.Fatal("a binding behind Path was removed with the proxy's connection")
	}
}

// TestLivenessManyAoRsOnOneFlow: an edge proxy that does not add Path (or a
// load generator) carries many users on one connection; liveness must cover
// all of them, not the first few.
func TestLivenessManyAoRsOnOneFlow(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	r := e.newRegistrar(registrar.Config{Liveness: true})
	const n = 500
	for i := 0; i < n; i++ {
		user := fmt.Sprintf("u%03d", i)
		e.must(200, serveWith(t, r, newReg(user, "c-"+user, 1, "Contact: <sip:"+user+"@192.0.2.10;transport=tcp>"), tcpFlow(7)))
	}
	r.FlowClosed(tcpFlow(7))
	waitFor(t, func() bool {
		for i := 0; i < n; i += 50 {
			if len(lookupWith(t, r, fmt.Sprintf("sip:u%03d@example.com", i))) != 0 {
				return false
			}
		}
		return len(lookupWith(t, r, fmt.Sprintf("sip:u%03d@example.com", n-1))) == 0
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Over the real transport: a UA registers over TCP, its connection closes,
// transport.Layer.OnConnClose reaches the registrar, the binding goes.
func TestLivenessOverTransport(t *testing.T) {
	net := siptest.NewNetwork(siptest.NetworkConfig{})
	e := newEnv(t, registrar.Config{})
	r := e.newRegistrar(registrar.Config{Liveness: true})
	srv := siptest.NewStack(t, net, "192.0.2.1:5060", siptest.StackConfig{Handler: r})
	srv.Transport.OnConnClose(r.FlowClosed)
	ua := siptest.NewStack(t, net, "192.0.2.10:5060", siptest.StackConfig{})
	req := newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10:5060;transport=tcp>")
	req.RemoveHeader("Via")
	res, err := ua.Do(context.Background(), req, srv.Target(transport.TCP))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}
	cs := lookupContacts(t, r, "sip:alice@example.com")
	if len(cs) != 1 || cs[0].Flow.Transport != transport.TCP || cs[0].Flow.ConnID == 0 || !cs[0].Local {
		t.Fatalf("binding %+v", cs)
	}
	_ = ua.Transactions.Close() // the UA goes away: its connection closes
	waitFor(t, func() bool { return len(lookupWith(t, r, "sip:alice@example.com")) == 0 })
}

func TestProxyCache(t *testing.T) {
	e := newEnv(t, registrar.Config{MaxExpires: 100 * time.Second})
	req := newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10;transport=tcp>;+sip.instance=\"<urn:uuid:1>\"", "Expires: 7200")
	ok := sip.NewResponse(req, 200, "")
	ok.AppendHeader(sip.NewHeader("Contact", "<sip:alice@192.0.2.10;transport=tcp>;+sip.instance=\"<urn:uuid:1>\";expires=600"))
	ok.AppendHeader(sip.NewHeader("Contact", "<sip:alice@198.51.100.7>;expires=300")) // another device, not ours
	ok.AppendHeader(sip.NewHeader("Service-Route", "<sip:orig@scscf.example.com;lr>"))
	ctx := transport.NewContext(context.Background(), tcpFlow(3))
	if err := e.reg.Cache(ctx, req, ok); err != nil {
		t.Fatal(err)
	}
	bs, _ := e.reg.Bindings(context.Background(), "sip:alice@example.com")
	if len(bs) != 1 {
		t.Fatalf("cached %d bindings", len(bs))
	}
	if got := bs[0].Expires.Sub(e.clock.Now()); got != 600*time.Second+registrar.DefaultCacheGrace {
		t.Fatalf("cached lifetime %v: the 200's expires plus Timer F, not the request's or MaxExpires", got)
	}
	if !slices.Equal(bs[0].ServiceRoute, []string{"<sip:orig@scscf.example.com;lr>"}) || bs[0].Flow.ConnID != 3 {
		t.Fatalf("cached %+v", bs[0])
	}
	// Expires header fallback.
	req2 := newReg("bob", "c2", 1, "Contact: <sip:bob@192.0.2.11>")
	ok2 := sip.NewResponse(req2, 200, "")
	ok2.AppendHeader(sip.NewHeader("Contact", "<sip:bob@192.0.2.11>"))
	ok2.AppendHeader(sip.NewHeader("Expires", "1200"))
	_ = e.reg.Cache(ctx, req2, ok2)
	bs, _ = e.reg.Bindings(context.Background(), "sip:bob@example.com")
	if len(bs) != 1 || bs[0].Expires.Sub(e.clock.Now()) != 1200*time.Second+registrar.DefaultCacheGrace {
		t.Fatalf("bob %+v", bs)
	}
	// Failures change nothing; a 200 without our contact removes it.
	unreg := newReg("alice", "c1", 2, "Contact: <sip:alice@192.0.2.10;transport=tcp>;+sip.instance=\"<urn:uuid:1>\"", "Expires: 0")
	_ = e.reg.Cache(ctx, unreg, sip.NewResponse(unreg, 403, ""))
	if len(lookupWith(t, e.reg, "sip:alice@example.com")) != 1 {
		t.Fatal("a 403 changed the cache")
	}
	e.events.take()
	_ = e.reg.Cache(ctx, unreg, sip.NewResponse(unreg, 200, ""))
	if len(lookupWith(t, e.reg, "sip:alice@example.com")) != 0 {
		t.Fatal("deregistration not cached")
	}
	if got := e.events.take(); !slices.Equal(got, []string{"deregistered:<urn:uuid:1>:upstream"}) {
		t.Fatalf("events %q", got)
	}
}

func TestEvictStaleAfterRestart(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	host1 := e.newRegistrar(registrar.Config{Node: "host1"})
	host2 := e.newRegistrar(registrar.Config{Node: "host2"})
	e.must(200, serveWith(t, host1, newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10;transport=tcp>"), tcpFlow(5)))
	e.must(200, serveWith(t, host1, newReg("alice", "c2", 1, "Contact: <sip:alice@192.0.2.11>"), udpFlow))
	e.must(200, serveWith(t, host1, newReg("carol", "c3", 1, "Contact: <sip:carol@192.0.2.13;transport=tcp>",
		"Path: <sip:edge@edge.example.com;lr>", "Supported: path"), tcpFlow(6)))
	e.must(200, serveWith(t, host2, newReg("bob", "c4", 1, "Contact: <sip:bob@192.0.2.12;transport=tcp>"), tcpFlow(5)))
	e.events.take()

	if n, _ := host2.EvictStale(context.Background()); n != 0 {
		t.Fatalf("a running node evicted %d bindings", n)
	}
	restarted := e.newRegistrar(registrar.Config{Node: "host1"})
	n, err := restarted.EvictStale(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("EvictStale = %d, %v", n, err)
	}
	if got := lookupWith(t, restarted, "sip:alice@example.com"); !slices.Equal(got, []string{"sip:alice@192.0.2.11"}) {
		t.Fatalf("alice after eviction: %q", got)
	}
	if len(lookupWith(t, restarted, "sip:bob@example.com")) != 1 || len(lookupWith(t, restarted, "sip:carol@example.com")) != 1 {
		t.Fatal("evicted another node's binding, or one behind Path")
	}
	if got := e.events.take(); !slices.Equal(got, []string{"deregistered:sip:alice@192.0.2.10;transport=tcp:stale"}) {
		t.Fatalf("events %q", got)
	}
	if n, _ := e.reg.EvictStale(context.Background()); n != 0 {
		t.Fatal("EvictStale without Node evicted")
	}
}
