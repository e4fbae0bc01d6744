package transaction_test

import (
	"context"
	"testing"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

var okHandler = sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	_ = sip.Respond(w, req, 200, "")
})

// BenchmarkTransactionRoundTrip measures an OPTIONS transaction in process:
// the client builds and sends the request, the server parses it, runs a
// handler that answers 200, and the client parses the response. Allocations
// cover both sides.
func BenchmarkTransactionRoundTrip(b *testing.B) {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	uas := siptest.NewStack(b, n, "192.0.2.20:5060", siptest.StackConfig{Handler: okHandler})
	uac := siptest.NewStack(b, n, "192.0.2.10:5060", siptest.StackConfig{})
	target := uas.Target(transport.UDP)
	ctx := context.Background()
	reqs := make([]*sip.Request, b.N)
	for i := range reqs {
		reqs[i] = siptest.NewRequest(sip.OPTIONS, "sip:bob@192.0.2.20")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := uac.Do(ctx, reqs[i], target)
		if err != nil || res.StatusCode != 200 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDatagramToHandler measures the server side alone: a datagram is
// read, parsed, matched, dispatched to a handler, answered and the answer
// written.
func BenchmarkDatagramToHandler(b *testing.B) {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	done := make(chan struct{}, 1)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 200, "")
		done <- struct{}{}
	})
	uas := siptest.NewStack(b, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h})
	pc, err := n.ListenPacket("192.0.2.11:5060")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	go func() { // drain the responses
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	msgs := make([][]byte, b.N)
	for i := range msgs {
		req := siptest.NewRequest(sip.OPTIONS, "sip:bob@192.0.2.20")
		req.PrependHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.11", Port: 5060,
			Params: sip.HeaderParams{{K: "branch", V: sip.GenerateBranch()}, {K: "rport"}}})
		msgs[i] = []byte(req.String())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pc.WriteToUDPAddrPort(msgs[i], uas.Addr); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}
