package proxy_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// BenchmarkProxiedCall measures one call through a record-routing proxy on
// the in-memory network: INVITE, 180, 200, ACK, BYE, 200, with the UAC, the
// proxy and the UAS in one process. Allocations cover all three.
func BenchmarkProxiedCall(b *testing.B) {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	siptest.NewStack(b, n, "192.0.2.20:5060", siptest.StackConfig{
		Transaction: transaction.Config{TryingDelay: transaction.NoTrying},
		Handler: sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
			switch req.Method {
			case sip.ACK:
			case sip.INVITE:
				_ = sip.Respond(w, req, 180, "")
				res := sip.NewResponse(req, 200, "")
				res.AppendHeader(sip.NewHeader("Contact", "<sip:bob@192.0.2.20:5060>"))
				_ = w.WriteResponse(res)
			default:
				_ = sip.Respond(w, req, 200, "")
			}
		})})
	target, _ := sip.ParseURI("sip:bob@192.0.2.20:5060")
	siptest.NewStack(b, n, "192.0.2.1:5060", siptest.StackConfig{
		Transaction: transaction.Config{TryingDelay: transaction.NoTrying},
		NewHandler: func(l *transaction.Layer) sip.Handler {
			p := proxy.New(l, proxy.Config{RecordRoute: true})
			return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
				_ = p.Relay(ctx, w, req, nil, proxy.Target{URI: target})
			})
		}})
	uac := siptest.NewStack(b, n, "192.0.2.10:5060", siptest.StackConfig{})
	px := transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inv := siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.1", siptest.WithHeader("Contact", "<sip:alice@192.0.2.10:5060>"))
		res, err := uac.Do(ctx, inv, px)
		if err != nil || res.StatusCode != 200 {
			b.Fatal(err)
		}
		ack := sip.NewRequest(sip.ACK, inv.Recipient)
		transaction.PrependVia(ack, "")
		ack.AppendHeader(inv.From())
		ack.AppendHeader(res.To())
		ack.AppendHeader(inv.CallID())
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.ACK})
		mf := sip.MaxForwardsHeader(70)
		ack.AppendHeader(&mf)
		ack.SetBody(nil)
		if err := uac.Transactions.Send(ack, px); err != nil {
			b.Fatal(err)
		}
		bye := sip.NewRequest(sip.BYE, inv.Recipient)
		bye.AppendHeader(inv.From())
		bye.AppendHeader(res.To())
		bye.AppendHeader(inv.CallID())
		bye.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.BYE})
		mf2 := sip.MaxForwardsHeader(70)
		bye.AppendHeader(&mf2)
		bye.SetBody(nil)
		if res, err := uac.Do(ctx, bye, px); err != nil || res.StatusCode != 200 {
			b.Fatal(err)
		}
	}
}
