package resolve_test

import (
	"context"
	"testing"

	"github.com/siphon-go/siphon/internal/dnstest"
	"github.com/siphon-go/siphon/transport/resolve"
)

// BenchmarkResolveCached resolves a NAPTR -> SRV -> A domain (three
// transports, one server each) from a warm cache.
func BenchmarkResolveCached(b *testing.B) {
	s := dnstest.New(b, zone)
	r := newResolver(b, resolve.Config{}, s)
	u := uri(b, "sip:naptr.example.com")
	ctx := context.Background()
	if _, err := r.Resolve(ctx, u); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveCachedHostPort is the A/AAAA-only path (a URI with a
// port).
func BenchmarkResolveCachedHostPort(b *testing.B) {
	s := dnstest.New(b, zone)
	r := newResolver(b, resolve.Config{}, s)
	u := uri(b, "sip:multi.example.com:5060")
	ctx := context.Background()
	if _, err := r.Resolve(ctx, u); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}
