package nat_test

import (
	"context"
	"testing"

	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// BenchmarkMiddleware is the Fix Contact middleware's cost per request, as
// a proxy's handler chain pays it: an INVITE from a UA behind a NAT whose
// Contact is rewritten, and one from a public UA that is only tested.
func BenchmarkMiddleware(b *testing.B) {
	for _, bc := range []struct {
		name, via, contact, src string
	}{
		{"nated", "UDP 192.168.1.10:5060", `<sip:alice@192.168.1.10:5060;ob>;` + instance + `;reg-id=1;expires=3600`, "203.0.113.7:40001"},
		{"public", "UDP 198.51.100.7:5060", `<sip:alice@198.51.100.7:5060;ob>;` + instance + `;reg-id=1;expires=3600`, "198.51.100.7:5060"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			x, err := nat.New(nat.Config{})
			if err != nil {
				b.Fatal(err)
			}
			req := request(b, "INVITE", bc.via, bc.contact)
			ctx := transport.NewContext(context.Background(), flow(transport.UDP, bc.src))
			h := x.Middleware(sip.HandlerFunc(func(context.Context, sip.ResponseWriter, *sip.Request) {}))
			hs := req.Headers()
			ci := -1
			for i := range hs {
				if hs[i].Name() == "Contact" {
					ci = i
				}
			}
			orig := hs[ci]
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.ServeSIP(ctx, nil, req)
				hs[ci] = orig // the next request arrives unfixed
			}
		})
	}
}
