package diameter_test

import (
	"context"
	"testing"

	"github.com/siphon-go/siphon/diameter"
)

// BenchmarkLoopbackRequests measures requests per second over one loopback
// TCP connection, with b.N requests in flight from parallel goroutines.
func BenchmarkLoopbackRequests(b *testing.B) {
	mux := diameter.NewMux()
	mux.Handle(diameter.AppCx, 300, answering("hss"))
	srv, err := diameter.NewServer(diameter.ServerConfig{Config: nodeConfig("hss.example.com", mux)})
	if err != nil {
		b.Fatal(err)
	}
	l := listenLoopback(b)
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	cfg := nodeConfig("icscf.example.com", nil)
	cfg.WatchdogInterval = 0
	p, err := diameter.NewPeer(l.Addr().String(), diameter.PeerConfig{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitOpen(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Do(context.Background(), uar()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
