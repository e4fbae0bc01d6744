package registrar_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// env is a registrar on a memory backend with a fake clock and an event log.
type env struct {
	t       *testing.T
	clock   *siptest.Clock
	backend *memory.Backend
	reg     *registrar.Registrar
	events  *eventLog
}

type eventLog struct {
	mu  sync.Mutex
	evs []registrar.Event
}

func (l *eventLog) add(ev registrar.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

// take returns and clears the events, as "kind:key" strings.
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.evs))
	for i, ev := range l.evs {
		out[i] = ev.Kind.String() + ":" + ev.Binding.Key
		if ev.Reason != "" {
			out[i] += ":" + string(ev.Reason)
		}
	}
	l.evs = nil
	return out
}

func newEnv(t *testing.T, cfg registrar.Config) *env {
	t.Helper()
	e := &env{t: t, clock: siptest.NewClock(), backend: memory.New(memory.Config{}), events: &eventLog{}}
	cfg.Clock = e.clock
	e.reg = e.newRegistrar(cfg)
	return e
}

func (e *env) newRegistrar(cfg registrar.Config) *registrar.Registrar {
	e.t.Helper()
	cfg.Clock = e.clock
	r, err := registrar.New(e.backend, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = r.Close() })
	r.Subscribe(e.events.add)
	return r
}

// udpFlow is the flow of a UA at 192.0.2.10.
var udpFlow = transport.Flow{Transport: transport.UDP, Local: netip.MustParseAddrPort("192.0.2.1:5060"),
	Remote: netip.MustParseAddrPort("192.0.2.10:5060")}

// newReg returns a REGISTER for aor (a user at example.com) with the given
// Call-ID, CSeq and extra header lines ("Contact: <sip:...>").
func newReg(user, callID string, cseq uint32, lines ...string) *sip.Request {
	opts := []siptest.RequestOption{siptest.WithCallID(callID), siptest.WithCSeq(cseq)}
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		opts = append(opts, siptest.WithHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", opts...)
	req.To().Address.User = user
	req.From().Address.User = user
	return req
}

// do runs req through the registrar's ServeSIP with flow f and returns the
// final response.
func (e *env) do(req *sip.Request, f transport.Flow) *sip.Response {
	e.t.Helper()
	return serveWith(e.t, e.reg, req, f)
}

func serveWith(t *testing.T, h sip.Handler, req *sip.Request, f transport.Flow) *sip.Response {
	t.Helper()
	ctx := context.Background()
	if f.Transport != "" {
		ctx = transport.NewContext(ctx, f)
	}
	rec := siptest.NewRecorder()
	h.ServeSIP(ctx, rec, req)
	res := rec.Final()
	if res == nil {
		t.Fatal("no final response")
	}
	return res
}

func (e *env) must(code int, res *sip.Response) *sip.Response {
	e.t.Helper()
	if res.StatusCode != code {
		e.t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, code)
	}
	return res
}

// lookup returns the contact URIs of aor, best first.
func (e *env) lookup(user string) []string {
	e.t.Helper()
	return lookupWith(e.t, e.reg, "sip:"+user+"@example.com")
}

func lookupWith(t *testing.T, r *registrar.Registrar, uri string) []string {
	t.Helper()
	u, err := sip.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := r.Lookup(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.NameAddr.URI.String()
	}
	return out
}

func contactsOf(res *sip.Response) []string { return sip.HeaderValues(res, "Contact") }

func (e *env) advance(d time.Duration) { e.clock.Advance(d) }
