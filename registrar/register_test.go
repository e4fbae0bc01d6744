package registrar_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

func TestRegisterRefreshQueryUnregister(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	res := e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10:5060>"), udpFlow))
	if got := contactsOf(res); !slices.Equal(got, []string{"<sip:alice@192.0.2.10:5060>;expires=3600"}) {
		t.Fatalf("200 Contact = %q", got)
	}
	if len(sip.HeaderValues(res, "Date")) != 1 {
		t.Fatal("no Date header")
	}
	if got := e.lookup("alice"); !slices.Equal(got, []string{"sip:alice@192.0.2.10:5060"}) {
		t.Fatalf("lookup = %q", got)
	}
	if got := e.events.take(); !slices.Equal(got, []string{"registered:sip:alice@192.0.2.10:5060"}) {
		t.Fatalf("events %q", got)
	}
	// Refresh with a shorter lifetime via the Expires header.
	e.advance(10 * time.Second)
	res = e.must(200, e.do(newReg("alice", "c1", 2, "Contact: <sip:alice@192.0.2.10:5060>", "Expires: 120"), udpFlow))
	if got := contactsOf(res); !slices.Equal(got, []string{"<sip:alice@192.0.2.10:5060>;expires=120"}) {
		t.Fatalf("refresh Contact = %q", got)
	}
	if got := e.events.take(); !slices.Equal(got, []string{"refreshed:sip:alice@192.0.2.10:5060"}) {
		t.Fatalf("events %q", got)
	}
	// A query (no Contact) lists the bindings with what is left.
	e.advance(20 * time.Second)
	res = e.must(200, e.do(newReg("alice", "other", 1), udpFlow))
	if got := contactsOf(res); !slices.Equal(got, []string{"<sip:alice@192.0.2.10:5060>;expires=100"}) {
		t.Fatalf("query Contact = %q", got)
	}
	// expires=0 on the contact removes it.
	res = e.must(200, e.do(newReg("alice", "c1", 3, "Contact: <sip:alice@192.0.2.10:5060>;expires=0"), udpFlow))
	if len(contactsOf(res)) != 0 || len(e.lookup("alice")) != 0 {
		t.Fatalf("after unregister: %q, lookup %q", contactsOf(res), e.lookup("alice"))
	}
	if got := e.events.take(); !slices.Equal(got, []string{"deregistered:sip:alice@192.0.2.10:5060:unregistered"}) {
		t.Fatalf("events %q", got)
	}
}

func TestExpiresParameterBeatsHeader(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	res := e.must(200, e.do(newReg("alice", "c1", 1,
		"Contact: <sip:a@192.0.2.10>;expires=300, <sip:b@192.0.2.10>", "Expires: 600"), udpFlow))
	got := contactsOf(res)
	want := []string{"<sip:a@192.0.2.10>;expires=300", "<sip:b@192.0.2.10>;expires=600"}
	if !slices.Equal(got, want) {
		t.Fatalf("Contact = %q, want %q", got, want)
	}
}

func TestMinMaxDefaultExpires(t *testing.T) {
	e := newEnv(t, registrar.Config{MinExpires: 60 * time.Second, MaxExpires: 3600 * time.Second, DefaultExpires: 1800 * time.Second})
	res := e.must(423, e.do(newReg("alice", "c1", 1, "Contact: <sip:a@192.0.2.10>;expires=30"), udpFlow))
	if got := sip.HeaderValues(res, "Min-Expires"); !slices.Equal(got, []string{"60"}) {
		t.Fatalf("Min-Expires = %q", got)
	}
	if len(e.lookup("alice")) != 0 {
		t.Fatal("423 left a binding")
	}
	// One brief contact refuses the whole request: nothing applied.
	e.must(423, e.do(newReg("alice", "c1", 2, "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>;expires=1"), udpFlow))
	if len(e.lookup("alice")) != 0 {
		t.Fatal("423 applied part of the request")
	}
	res = e.must(200, e.do(newReg("alice", "c1", 3, "Contact: <sip:a@192.0.2.10>;expires=99999, <sip:b@192.0.2.10>"), udpFlow))
	want := []string{"<sip:a@192.0.2.10>;expires=3600", "<sip:b@192.0.2.10>;expires=1800"}
	if got := contactsOf(res); !slices.Equal(got, want) {
		t.Fatalf("Contact = %q, want %q", got, want)
	}
}

func TestWildcard(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>"), udpFlow))
	e.must(200, e.do(newReg("alice", "c2", 5, "Contact: <sip:c@192.0.2.11>"), udpFlow))
	e.events.take()
	for _, bad := range [][]string{
		{"Contact: *"},                                  // no Expires
		{"Contact: *", "Expires: 10"},                   // not zero
		{"Contact: *, <sip:d@192.0.2.1>", "Expires: 0"}, // not alone
	} {
		e.must(400, e.do(newReg("alice", "c1", 9, bad...), udpFlow))
	}
	if n := len(e.lookup("alice")); n != 3 {
		t.Fatalf("bad wildcards removed bindings: %d left", n)
	}
	// RFC 3261 §10.3 step 6: a binding of the same Call-ID with a higher
	// CSeq survives.
	e.must(200, e.do(newReg("alice", "c2", 3, "Contact: *", "Expires: 0"), udpFlow))
	if got := e.lookup("alice"); !slices.Equal(got, []string{"sip:c@192.0.2.11"}) {
		t.Fatalf("after wildcard: %q", got)
	}
	if got := e.events.take(); len(got) != 2 || !strings.HasSuffix(got[0], ":unregistered") {
		t.Fatalf("events %q", got)
	}
	e.must(200, e.do(newReg("alice", "c2", 6, "Contact: *", "Expires: 0"), udpFlow))
	if got := e.lookup("alice"); len(got) != 0 {
		t.Fatalf("after second wildcard: %q", got)
	}
}

func TestCSeqOrderingPerCallID(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	e.must(200, e.do(newReg("alice", "c1", 5, "Contact: <sip:a@192.0.2.10>;expires=300"), udpFlow))
	for _, cseq := range []uint32{5, 4} {
		res := e.must(400, e.do(newReg("alice", "c1", cseq, "Contact: <sip:a@192.0.2.10>;expires=0"), udpFlow))
		if res.Reason != "CSeq Out Of Order" {
			t.Fatalf("reason %q", res.Reason)
		}
	}
	if len(e.lookup("alice")) != 1 {
		t.Fatal("an out-of-order request changed the binding")
	}
	// Another Call-ID (another UA, or this one after a reboot) is not ordered
	// against it.
	e.must(200, e.do(newReg("alice", "c2", 1, "Contact: <sip:a@192.0.2.10>;expires=600"), udpFlow))
	// The same CSeq asking for something else is out of order.
	e.must(400, e.do(newReg("alice", "c2", 1, "Contact: <sip:a@192.0.2.10>;expires=300"), udpFlow))
	e.must(200, e.do(newReg("alice", "c1", 6, "Contact: <sip:a@192.0.2.10>;expires=0"), udpFlow))
}

// A stateless registrar (or one whose transaction state has gone) sees a
// retransmitted REGISTER again: it gets 200 with the bindings as they
// stand, not 400, and changes nothing (RFC 3261 §8.2.7).
func TestRetransmittedRegisterIsAnsweredUnchanged(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	e.must(200, e.do(newReg("alice", "c1", 5, "Contact: <sip:a@192.0.2.10>;expires=300", "Contact: <sip:b@192.0.2.11>;expires=600"), udpFlow))
	before, _ := e.reg.Bindings(context.Background(), "sip:alice@example.com")
	_ = e.events.take()
	e.advance(2 * time.Second)
	res := e.must(200, e.do(newReg("alice", "c1", 5, "Contact: <sip:a@192.0.2.10>;expires=300", "Contact: <sip:b@192.0.2.11>;expires=600"), udpFlow))
	if n := len(contactsOf(res)); n != 2 {
		t.Fatalf("200 OK lists %d contacts, want 2", n)
	}
	after, _ := e.reg.Bindings(context.Background(), "sip:alice@example.com")
	if len(after) != 2 || !after[0].Expires.Equal(before[0].Expires) || !after[1].Expires.Equal(before[1].Expires) {
		t.Fatalf("a retransmission changed the bindings: %+v → %+v", before, after)
	}
	if got := e.events.take(); len(got) != 0 {
		t.Fatalf("a retransmission made events %q", got)
	}
	// A retransmitted removal finds nothing left to remove.
	e.must(200, e.do(newReg("alice", "c1", 6, "Contact: <sip:a@192.0.2.10>;expires=0"), udpFlow))
	e.must(200, e.do(newReg("alice", "c1", 6, "Contact: <sip:a@192.0.2.10>;expires=0"), udpFlow))
	if got := e.lookup("alice"); !slices.Equal(got, []string{"sip:b@192.0.2.11"}) {
		t.Fatalf("after the removal: %q", got)
	}
}

func TestQValuesAndOrder(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:low@192.0.2.10>;q=0.1, <sip:high@192.0.2.10>;q=0.9"), udpFlow))
	e.advance(time.Second)
	e.must(200, e.do(newReg("alice", "c2", 1, "Contact: <sip:none@192.0.2.11>"), udpFlow))
	if got := e.lookup("alice"); !slices.Equal(got, []string{"sip:none@192.0.2.11", "sip:high@192.0.2.10", "sip:low@192.0.2.10"}) {
		t.Fatalf("order %q", got)
	}
	for _, q := range []string{"1.5", "0.1234", "x", "-1", "2"} {
		e.must(400, e.do(newReg("alice", "c3", 1, "Contact: <sip:bad@192.0.2.12>;q="+q), udpFlow))
	}
}

func TestContactParametersRoundTripVerbatim(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	contact := `"Alice Smith" <sip:alice@192.0.2.10:5061;transport=tcp;ob>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel";audio;video;+sip.methods="INVITE,BYE";X-Custom=VaL;expires=200`
	res := e.must(200, e.do(newReg("alice", "c1", 1, "Contact: "+contact), udpFlow))
	want := strings.Replace(contact, ";expires=200", "", 1) + ";expires=200"
	if got := contactsOf(res); len(got) != 1 || got[0] != want {
		t.Fatalf("Contact = %q\nwant      %q", got, want)
	}
	bs, _ := e.reg.Bindings(context.Background(), "sip:alice@example.com")
	if len(bs) != 1 || bs[0].Contact != strings.Replace(contact, ";expires=200", "", 1) {
		t.Fatalf("stored %+v", bs)
	}
	// An addr-spec Contact is stored in name-addr form, its header
	// parameters kept.
	e.must(200, e.do(newReg("bob", "c2", 1, "Contact: sip:bob@192.0.2.11;expires=60;+sip.instance=\"<urn:uuid:1>\""), udpFlow))
	bs, _ = e.reg.Bindings(context.Background(), "sip:bob@example.com")
	if len(bs) != 1 || bs[0].Contact != `<sip:bob@192.0.2.11>;+sip.instance="<urn:uuid:1>"` {
		t.Fatalf("stored %q", bs[0].Contact)
	}
}

func TestMaxContacts(t *testing.T) {
	e := newEnv(t, registrar.Config{MaxContacts: 2, RetryAfter: 30})
	e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:a@192.0.2.10>"), udpFlow))
	e.advance(time.Second)
	e.must(200, e.do(newReg("alice", "c2", 1, "Contact: <sip:b@192.0.2.10>"), udpFlow))
	res := e.must(503, e.do(newReg("alice", "c3", 1, "Contact: <sip:c@192.0.2.10>"), udpFlow))
	if got := sip.HeaderValues(res, "Retry-After"); !slices.Equal(got, []string{"30"}) {
		t.Fatalf("Retry-After %q", got)
	}
	// A refresh of an existing binding is still fine at the limit.
	e.advance(time.Second)
	e.must(200, e.do(newReg("alice", "c1", 2, "Contact: <sip:a@192.0.2.10>"), udpFlow))

	r := e.newRegistrar(registrar.Config{MaxContacts: 2, ReplaceOldest: true})
	e.events.take()
	e.advance(time.Second)
	e.must(200, serveWith(t, r, newReg("alice", "c3", 2, "Contact: <sip:c@192.0.2.10>"), udpFlow))
	// b was refreshed least recently (a was refreshed above).
	if got := e.lookup("alice"); !slices.Contains(got, "sip:a@192.0.2.10") || !slices.Contains(got, "sip:c@192.0.2.10") || len(got) != 2 {
		t.Fatalf("after replace-oldest: %q", got)
	}
	if got := e.events.take(); !slices.Contains(got, "deregistered:sip:b@192.0.2.10:replaced") {
		t.Fatalf("events %q", got)
	}
	// More contacts in one request than allowed: refused either way.
	e.must(503, serveWith(t, r, newReg("alice", "c4", 1, "Contact: <sip:x@192.0.2.1>, <sip:y@192.0.2.1>, <sip:z@192.0.2.1>"), udpFlow))
}

// The AoR is checked against the authenticated user before any binding is
// touched: a spoofed Contact: * must not clear the victim's bindings, and a
// spoofed query must not list them.
func TestAoRMustBeTheAuthenticatedUser(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	e.must(200, e.do(newReg("victim", "v1", 1, "Contact: <sip:victim@192.0.2.20>"), udpFlow))
	e.events.take()

	loads := 0
	counting := &countingBackend{Backend: e.backend, loads: &loads}
	r, err := registrar.New(counting, registrar.Config{Clock: e.clock, AuthUser: func(ctx context.Context) (string, bool) {
		u, ok := ctx.Value(userKey{}).(string)
		return u, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Subscribe(e.events.add)
	as := func(user string, req *sip.Request) *sip.Response {
		ctx := transport.NewContext(context.WithValue(context.Background(), userKey{}, user), udpFlow)
		rec := siptest.NewRecorder()
		r.ServeSIP(ctx, rec, req)
		return rec.Final()
	}
	for _, req := range []*sip.Request{
		newReg("victim", "m1", 1, "Contact: *", "Expires: 0"),
		newReg("victim", "m1", 2, "Contact: <sip:mallory@203.0.113.9>"),
		newReg("victim", "m1", 3),
	} {
		if res := as("mallory", req); res.StatusCode != 403 {
			t.Fatalf("spoofed AoR got %d", res.StatusCode)
		}
	}
	if loads != 0 {
		t.Fatalf("the backend was touched %d times before the 403", loads)
	}
	if got := e.lookup("victim"); !slices.Equal(got, []string{"sip:victim@192.0.2.20"}) {
		t.Fatalf("victim's bindings = %q", got)
	}
	if got := e.events.take(); len(got) != 0 {
		t.Fatalf("events %q", got)
	}
	// No authenticated user at all: refused too.
	rec := siptest.NewRecorder()
	r.ServeSIP(context.Background(), rec, newReg("victim", "m2", 1, "Contact: *", "Expires: 0"))
	if rec.Final().StatusCode != 403 {
		t.Fatalf("unauthenticated got %d", rec.Final().StatusCode)
	}
	// The owner, as user or user@domain, is fine.
	if res := as("victim", newReg("victim", "v1", 2, "Contact: <sip:victim@192.0.2.20>")); res.StatusCode != 200 {
		t.Fatalf("owner got %d", res.StatusCode)
	}
	if res := as("victim@EXAMPLE.com", newReg("victim", "v1", 3, "Contact: <sip:victim@192.0.2.20>")); res.StatusCode != 200 {
		t.Fatalf("owner@domain got %d", res.StatusCode)
	}
	if res := as("victim@evil.example", newReg("victim", "v1", 4, "Contact: *", "Expires: 0")); res.StatusCode != 403 {
		t.Fatalf("user@other-domain got %d", res.StatusCode)
	}
}

type userKey struct{}

// countingBackend counts every access.
type countingBackend struct {
	registrar.Backend
	loads *int
}

func (c *countingBackend) Load(ctx context.Context, aor string) ([]registrar.Binding, error) {
	*c.loads++
	return c.Backend.Load(ctx, aor)
}

func (c *countingBackend) Update(ctx context.Context, aor string, now time.Time, fn func([]registrar.Binding) ([]registrar.Binding, error)) error {
	*c.loads++
	return c.Backend.Update(ctx, aor, now, fn)
}

func TestRefusalsAreOnTheWire(t *testing.T) {
	e := newEnv(t, registrar.Config{Domains: []string{"example.com"}})
	cases := []struct {
		name string
		req  *sip.Request
		code int
	}{
		{"bad contact", newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10"), 400},
		{"bad expires header", newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10>", "Expires: soon"), 400},
		{"bad expires param", newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10>;expires=-1"), 400},
		{"unsupported require", newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10>", "Require: foo, path"), 420},
		{"contact is a gruu", newReg("alice", "c", 1, "Contact: <sip:alice@example.com;gr=urn:uuid:1>"), 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(c.req, udpFlow)
			if res.StatusCode != c.code {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, c.code)
			}
		})
	}
	other := newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10>")
	other.To().Address.Host = "example.org"
	e.must(404, e.do(other, udpFlow))
	tel := newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10>")
	tel.To().Address = sip.Uri{Scheme: "tel", User: "+15551234"}
	e.must(404, e.do(tel, udpFlow))
	res := e.do(siptest.NewIncomingRequest(sip.INVITE, "sip:alice@example.com"), udpFlow)
	if res.StatusCode != 405 || sip.HeaderValues(res, "Allow")[0] != "REGISTER" {
		t.Fatalf("INVITE got %d", res.StatusCode)
	}
	if res := e.do(newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10>", "Require: path"), udpFlow); res.StatusCode != 200 {
		t.Fatalf("Require: path got %d", res.StatusCode)
	}
}

func TestBackendFailureIs503(t *testing.T) {
	e := newEnv(t, registrar.Config{RetryAfter: 7})
	r, _ := registrar.New(failingBackend{}, registrar.Config{Clock: e.clock, RetryAfter: 7})
	defer r.Close()
	res := serveWith(t, r, newReg("alice", "c", 1, "Contact: <sip:a@192.0.2.10>"), udpFlow)
	if res.StatusCode != 503 || sip.HeaderValues(res, "Retry-After")[0] != "7" {
		t.Fatalf("got %d", res.StatusCode)
	}
}

type failingBackend struct{ registrar.Backend }

var errDown = errors.New("store down")

func (failingBackend) Update(context.Context, string, time.Time, func([]registrar.Binding) ([]registrar.Binding, error)) error {
	return errDown
}
func (failingBackend) Expire(context.Context, time.Time, int) ([]registrar.Binding, error) {
	return nil, errDown
}

func TestPathAndServiceRoute(t *testing.T) {
	sr, _ := sip.ParseNameAddr("<sip:orig@scscf.example.com;lr>")
	e := newEnv(t, registrar.Config{ServiceRoute: func(ctx context.Context, aor string) []sip.NameAddr {
		return []sip.NameAddr{sr}
	}})
	path := "Path: <sip:term@pcscf.example.com;lr>, <sip:edge@edge.example.com;lr>"
	// Without Supported: path: refused (RFC 3327 §5.3).
	res := e.must(420, e.do(newReg("alice", "c1", 1, "Contact: <sip:a@192.0.2.10>", path), udpFlow))
	if sip.HeaderValues(res, "Unsupported")[0] != "path" {
		t.Fatal("no Unsupported: path")
	}
	res = e.must(200, e.do(newReg("alice", "c1", 2, "Contact: <sip:a@192.0.2.10>", path, "Supported: path"), udpFlow))
	if got := sip.HeaderValues(res, "Path"); len(got) != 1 || got[0] != "<sip:term@pcscf.example.com;lr>, <sip:edge@edge.example.com;lr>" {
		t.Fatalf("Path in 200 = %q", got)
	}
	if got := sip.HeaderValues(res, "Service-Route"); !slices.Equal(got, []string{"<sip:orig@scscf.example.com;lr>"}) {
		t.Fatalf("Service-Route = %q", got)
	}
	u, _ := sip.ParseURI("sip:alice@example.com")
	cs, _ := e.reg.Lookup(context.Background(), u)
	if len(cs) != 1 || len(cs[0].Route) != 2 || cs[0].Route[0].URI.Host != "pcscf.example.com" {
		t.Fatalf("lookup route %+v", cs)
	}
	if _, ok := cs[0].Target(); ok {
		t.Fatal("a contact behind Path offered its flow as the target")
	}
	// LenientPath stores without echoing.
	r := e.newRegistrar(registrar.Config{LenientPath: true})
	res = e.must(200, serveWith(t, r, newReg("bob", "c1", 1, "Contact: <sip:b@192.0.2.11>", path), udpFlow))
	if len(sip.HeaderValues(res, "Path")) != 0 {
		t.Fatal("echoed Path to a UA without path support")
	}
}

func TestLookupByContactURI(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:pbx@192.0.2.50:5070;transport=udp>"), udpFlow))
	e.must(200, e.do(newReg("bob", "c2", 1, "Contact: <sip:pbx@192.0.2.50:5070;transport=udp>"), udpFlow))
	for _, uri := range []string{"sip:pbx@192.0.2.50:5070;transport=UDP", "sip:pbx@192.0.2.50:5070;transport=udp;other=1"} {
		u, _ := sip.ParseURI(uri)
		cs, err := e.reg.LookupContact(context.Background(), u)
		if err != nil || len(cs) != 2 {
			t.Fatalf("%s: %d contacts, %v", uri, len(cs), err)
		}
	}
	for _, uri := range []string{"sip:pbx@192.0.2.50", "sip:pbx@192.0.2.50:5070;transport=tcp"} {
		u, _ := sip.ParseURI(uri)
		if cs, _ := e.reg.LookupContact(context.Background(), u); len(cs) != 0 {
			t.Fatalf("%s matched %d", uri, len(cs))
		}
	}
}

func TestAdminListAndRemove(t *testing.T) {
	e := newEnv(t, registrar.Config{})
	for i := range 5 {
		e.must(200, e.do(newReg(fmt.Sprintf("u%d", i), "c", 1, "Contact: <sip:a@192.0.2.10>, <sip:b@192.0.2.10>"), udpFlow))
	}
	seen := 0
	_ = e.reg.Range(context.Background(), func(aor string, bs []registrar.Binding) bool {
		seen += len(bs)
		return true
	})
	if seen != 10 {
		t.Fatalf("Range saw %d bindings", seen)
	}
	e.events.take()
	n, err := e.reg.Remove(context.Background(), "sip:u1@example.com", "sip:a@192.0.2.10")
	if err != nil || n != 1 {
		t.Fatalf("Remove = %d, %v", n, err)
	}
	n, _ = e.reg.Remove(context.Background(), "sip:u2@example.com", "")
	if n != 2 || len(e.lookup("u2")) != 0 || len(e.lookup("u1")) != 1 {
		t.Fatalf("Remove all = %d", n)
	}
	if got := e.events.take(); len(got) != 3 || !strings.HasSuffix(got[0], ":removed") {
		t.Fatalf("events %q", got)
	}
}

func TestExpiryIsOnTimeAndReported(t *testing.T) {
	e := newEnv(t, registrar.Config{MinExpires: time.Second})
	e.must(200, e.do(newReg("alice", "c1", 1, "Contact: <sip:a@192.0.2.10>;expires=10, <sip:b@192.0.2.10>;expires=20"), udpFlow))
	e.events.take()
	e.advance(9 * time.Second)
	if got := e.lookup("alice"); len(got) != 2 {
		t.Fatalf("at 9 s: %q", got)
	}
	e.advance(1 * time.Second) // exactly 10 s: a lapsed, even before a sweep
	if got := e.lookup("alice"); !slices.Equal(got, []string{"sip:b@192.0.2.10"}) {
		t.Fatalf("at 10 s: %q", got)
	}
	e.advance(time.Second) // the sweeper has run
	if got := e.events.take(); !slices.Equal(got, []string{"expired:sip:a@192.0.2.10"}) {
		t.Fatalf("events %q", got)
	}
	if e.backend.Len() != 1 {
		t.Fatalf("backend holds %d bindings", e.backend.Len())
	}
	e.advance(10 * time.Second)
	if got := e.events.take(); !slices.Equal(got, []string{"expired:sip:b@192.0.2.10"}) || e.backend.Len() != 0 {
		t.Fatalf("events %q, %d left", got, e.backend.Len())
	}
}
