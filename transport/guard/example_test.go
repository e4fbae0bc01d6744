package guard_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/guard"
)

func Example() {
	g, err := guard.New(guard.Config{
		RateLimit: 3, // packets per second per source
		BanTime:   time.Minute,
		Trusted:   []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	flood := netip.MustParseAddrPort("192.0.2.66:5060")
	pbx := netip.MustParseAddrPort("10.1.2.3:5060")
	for i := range 5 {
		fmt.Println("flood", i, g.Allow(transport.UDP, flood), "pbx", g.Allow(transport.UDP, pbx))
	}
	// Wrong passwords over TCP add up to a ban too.
	tcp := netip.MustParseAddrPort("203.0.113.5:40000")
	for range guard.DefaultThreshold {
		g.Signal(transport.TCP, tcp, guard.SignalInvalidCredentials)
	}
	fmt.Println("brute force banned:", g.Banned(tcp.Addr()))
	fmt.Println("rate bans:", g.Stats().RateBans, "score bans:", g.Stats().ScoreBans)
	// Output:
	// flood 0 true pbx true
	// flood 1 true pbx true
	// flood 2 true pbx true
	// flood 3 false pbx true
	// flood 4 false pbx true
	// brute force banned: true
	// rate bans: 1 score bans: 1
}
