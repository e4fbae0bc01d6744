package sip_test

import (
	"context"
	"fmt"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
)

func ExampleMux() {
	mux := sip.NewMux()
	mux.HandleFunc(sip.OPTIONS, func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, sip.StatusOK, "", sip.NewHeader("Allow", mux.Allow()))
	})
	h := sip.Chain(mux, sip.NewSanity(sip.SanityConfig{}).Middleware)

	rec := siptest.NewRecorder()
	h.ServeSIP(context.Background(), rec, siptest.NewIncomingRequest(sip.OPTIONS, "sip:bob@example.com"))
	fmt.Println(rec.Final().StatusCode, sip.HeaderValues(rec.Final(), "Allow")[0])

	rec = siptest.NewRecorder()
	h.ServeSIP(context.Background(), rec, siptest.NewIncomingRequest(sip.MESSAGE, "sip:bob@example.com"))
	fmt.Println(rec.Final().StatusCode)
	// Output:
	// 200 ACK, CANCEL, OPTIONS
	// 405
}

func ExampleParser() {
	msg, err := sip.NewParser(0).Parse([]byte("INVITE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
		"Route: <sip:p1.example.com;lr>;x=1, <sip:p2.example.com;lr>\r\n" +
		"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		panic(err)
	}
	routes, _ := sip.Routes(msg)
	for _, r := range routes {
		fmt.Println(r.String())
	}
	// Output:
	// <sip:p1.example.com;lr>;x=1
	// <sip:p2.example.com;lr>
}

func ExampleSanity() {
	req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com", siptest.WithHeader("Proxy-Require", "foo"))
	err := sip.NewSanity(sip.SanityConfig{}).Check(req)
	se := err.(*sip.StatusError)
	fmt.Println(se.Code, se.Headers[0].Name()+": "+se.Headers[0].Value())
	// Output:
	// 420 Unsupported: foo
}

func ExampleNewResponse() {
	req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com")
	res := sip.NewResponse(req, sip.StatusRinging, "")
	tag, _ := res.To().Params.Get("tag")
	fmt.Println(res.StatusCode, res.Reason, tag == sip.ToTag(req))
	// Output:
	// 180 Ringing true
}
