package transaction_test

import (
	"context"
	"fmt"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// A UAS on loopback UDP, and a client transaction to it.
func ExampleServer() {
	ctx := context.Background()
	tp, err := transport.New(transport.Config{})
	if err != nil {
		panic(err)
	}
	ln, err := tp.Listen(ctx, "udp", "127.0.0.1:0", transport.ListenOptions{})
	if err != nil {
		panic(err)
	}
	mux := sip.NewMux()
	mux.HandleFunc(sip.OPTIONS, func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, sip.StatusOK, "")
	})
	srv := transaction.NewServer(transaction.New(tp, transaction.Config{}), mux, transaction.ServerConfig{})
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)

	// The server's layer also sends requests.
	u, _ := sip.ParseURI("sip:ping@127.0.0.1")
	req := sip.NewRequest(sip.OPTIONS, u)
	req.AppendHeader(&sip.FromHeader{Address: u, Params: sip.HeaderParams{{K: "tag", V: "1"}}})
	req.AppendHeader(&sip.ToHeader{Address: u})
	cid := sip.CallIDHeader("example-1")
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)

	res, err := srv.Layer().Do(ctx, req, transport.Target{Transport: transport.UDP, Addr: ln.Addr()})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.StatusCode, res.Reason)
	// Output:
	// 200 OK
}
