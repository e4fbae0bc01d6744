package registrar_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// discard is a ResponseWriter that drops responses, so the benchmark
// measures the registrar, not a recorder.
type discard struct{ code int }

func (d *discard) WriteResponse(res *sip.Response) error { d.code = res.StatusCode; return nil }

func benchRegister(user string) *sip.Request {
	req := newReg(user, "a84b4c76e66710@192.0.2.10", 1,
		"Contact: <sip:"+user+"@192.0.2.10:5060>", "Expires: 3600", "User-Agent: Phone/1.0")
	return req
}

// BenchmarkRegister measures one REGISTER through ServeSIP on the memory
// backend: parsing the Contact, the backend update and the 200 OK.
func BenchmarkRegister(b *testing.B) {
	ctx := transport.NewContext(context.Background(), udpFlow)
	b.Run("refresh", func(b *testing.B) {
		reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{})
		defer reg.Close()
		req := benchRegister("alice")
		w := &discard{}
		b.ReportAllocs()
		for b.Loop() {
			req.CSeq().SeqNo++
			reg.ServeSIP(ctx, w, req)
			if w.code != 200 {
				b.Fatalf("got %d", w.code)
			}
		}
	})
	b.Run("new-aor", func(b *testing.B) {
		reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{})
		defer reg.Close()
		req := benchRegister("alice")
		users := make([]string, 1<<16)
		for i := range users {
			users[i] = fmt.Sprintf("user%05d", i)
		}
		w := &discard{}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			req.To().Address.User = users[i%len(users)]
			req.CSeq().SeqNo++
			i++
			reg.ServeSIP(ctx, w, req)
			if w.code != 200 {
				b.Fatalf("got %d", w.code)
			}
		}
	})
	b.Run("digest", func(b *testing.B) {
		reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{AuthUser: auth.UsernameFromContext})
		defer reg.Close()
		a, _ := auth.New(auth.NewStatic(map[string]string{"alice": "secret"}), auth.Config{Realm: "example.com"})
		h := a.Middleware(reg)
		req := benchRegister("alice")
		_, err := a.Authenticate(ctx, req)
		var se *sip.StatusError
		errors.As(err, &se)
		chal := sip.NewResponse(req, se.Code, "")
		chal.AppendHeader(se.Headers[0])
		c := &auth.Client{Username: "alice", Password: "secret"}
		creds := make([]string, b.N)
		for i := range creds {
			if i == 0 {
				_ = c.Authorize(req, chal)
			} else {
				c.Sign(req)
			}
			creds[i] = sip.HeaderValues(req, "Authorization")[0]
		}
		w := &discard{}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			sip.RemoveHeaders(req, "Authorization")
			req.AppendHeader(sip.NewHeader("Authorization", creds[i]))
			req.CSeq().SeqNo++
			h.ServeSIP(ctx, w, req)
			if w.code != 200 {
				b.Fatalf("got %d", w.code)
			}
		}
	})
}

// BenchmarkLookup measures the location lookup a proxy makes per INVITE.
func BenchmarkLookup(b *testing.B) {
	reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{})
	defer reg.Close()
	reg.ServeSIP(transport.NewContext(context.Background(), udpFlow), &discard{}, benchRegister("alice"))
	u, _ := sip.ParseURI("sip:alice@example.com")
	b.ReportAllocs()
	for b.Loop() {
		if cs, _ := reg.Lookup(context.Background(), u); len(cs) != 1 {
			b.Fatal("no contact")
		}
	}
}

// BenchmarkRange measures one pass over 10,000 AoRs (what a NAT pinger or
// an admin listing makes): ns/op is per AoR.
func BenchmarkRange(b *testing.B) {
	const n = 10000
	ctx := transport.NewContext(context.Background(), udpFlow)
	reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{})
	defer reg.Close()
	w := &discard{}
	for i := range n {
		user := fmt.Sprintf("user%06d", i)
		reg.ServeSIP(ctx, w, newReg(user, fmt.Sprintf("%08x@192.0.2.10", i), 1,
			fmt.Sprintf("Contact: <sip:%s@192.0.2.10:5060>", user), "Expires: 3600"))
	}
	b.ReportAllocs()
	seen := 0
	for b.Loop() {
		seen = 0
		_ = reg.Range(context.Background(), func(string, []registrar.Binding) bool { seen++; return true })
	}
	if seen != n {
		b.Fatalf("ranged over %d AoRs", seen)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/AoR")
}

// heapPerBinding registers n AoRs with one binding each through ServeSIP and
// returns the live heap they added, per binding.
func heapPerBinding(tb testing.TB, n int) float64 {
	ctx := transport.NewContext(context.Background(), udpFlow)
	backend := memory.New(memory.Config{})
	reg, _ := registrar.New(backend, registrar.Config{})
	defer reg.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := &discard{}
	for i := range n {
		user := fmt.Sprintf("user%06d", i)
		req := newReg(user, fmt.Sprintf("%08x-%04x@192.0.2.%d", i*7919, i%65536, 10+i%200), 1,
			fmt.Sprintf("Contact: <sip:%s@192.0.2.%d:%d>", user, 10+i%200, 5060+i%1000), "Expires: 3600",
			"User-Agent: Phone/1.0")
		reg.ServeSIP(ctx, w, req)
		if w.code != 200 {
			tb.Fatalf("REGISTER %d got %d", i, w.code)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if backend.Len() != n {
		tb.Fatalf("%d bindings stored", backend.Len())
	}
	runtime.KeepAlive(backend)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// The memory backend holds a typical binding (a 30-byte contact, a
// 30-byte Call-ID, a User-Agent, a UDP flow) in well under a kilobyte.
func TestMemoryBytesPerBinding(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	per := heapPerBinding(t, n)
	t.Logf("memory backend: %.0f bytes per binding over %d bindings", per, n)
	if per > 1024 {
		t.Fatalf("%.0f bytes per binding, want at most 1 KB", per)
	}
}

// BenchmarkBytesPerBinding reports the heap per binding as a metric.
func BenchmarkBytesPerBinding(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(heapPerBinding(b, 100000), "bytes/binding")
	}
}

var _ = siptest.NewRecorder
