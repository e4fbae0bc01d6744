package diameter_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
)

// A server routes one command to a handler; a peer dials it and sends a
// request built from generic AVPs, with a nested group.
func Example() {
	cfg := func(host string, h diameter.Handler) diameter.Config {
		return diameter.Config{
			OriginHost: host, OriginRealm: "example.com", Handler: h,
			Apps: []diameter.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}},
		}
	}
	mux := diameter.NewMux()
	mux.HandleFunc(diameter.AppCx, 300, func(ctx context.Context, r *diameter.Request) (*diameter.Message, error) {
		impu := r.Body().String(601, diameter.Vendor3GPP)
		a := r.AnswerExperimental(diameter.Vendor3GPP, 2001)
		a.AddAVP(diameter.NewGroup(603, diameter.Vendor3GPP, // Server-Capabilities
			diameter.NewAVP(602, diameter.Vendor3GPP, datatype.UTF8String("sip:scscf.example.com;for="+impu))))
		return a, nil
	})
	srv, _ := diameter.NewServer(diameter.ServerConfig{Config: cfg("hss.example.com", mux)})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	peer, _ := diameter.NewPeer(l.Addr().String(), diameter.PeerConfig{Config: cfg("icscf.example.com", nil)})
	defer peer.Close()
	_ = peer.WaitOpen(context.Background())

	req := diameter.NewSessionRequest(300, diameter.AppCx, "icscf.example.com", nil)
	req.AddAVP(diameter.NewAVP(601, diameter.Vendor3GPP, datatype.UTF8String("sip:alice@example.com")))
	ans, err := peer.Do(context.Background(), req)
	if err != nil {
		fmt.Println(err)
		return
	}
	caps := diameter.Body(ans).Group(603, diameter.Vendor3GPP)
	fmt.Println(diameter.ResultOf(ans), caps.String(602, diameter.Vendor3GPP))
	// Output: 2001 (vendor 10415) sip:scscf.example.com;for=sip:alice@example.com
}

// Decode never panics: a truncated AVP is reported with the result code an
// answer should carry.
func ExampleDecode() {
	req := diameter.NewRequest(300, diameter.AppCx, nil)
	req.AddAVP(diameter.NewAVP(601, diameter.Vendor3GPP, datatype.UTF8String("sip:alice@example.com")))
	req.Header.MessageLength = uint32(req.Len())
	b, _ := req.Serialize()
	b[diameter.HeaderLength+7] = 200 // the AVP now claims more bytes than the message has

	_, err := diameter.Decode(b, diameter.Dictionary())
	var de *diameter.DecodeError
	if errors.As(err, &de) {
		fmt.Println(de.ResultCode, de.Header != nil)
	}
	// Output: 5014 true
}

// A relay forwards everything it receives to a pool of upstream peers,
// refusing loops with 3005.
func ExampleRelay() {
	upstream, _ := diameter.NewPeer("192.0.2.10:3868", diameter.PeerConfig{Config: diameter.Config{
		OriginHost: "dra.example.com", OriginRealm: "example.com", Apps: []diameter.App{{ID: diameter.AppRelay}},
	}})
	pool, _ := diameter.NewPool([]diameter.Member{{Peer: upstream}}, diameter.PoolConfig{Policy: diameter.Failover})
	srv, _ := diameter.NewServer(diameter.ServerConfig{Config: diameter.Config{
		OriginHost: "dra.example.com", OriginRealm: "example.com", Apps: []diameter.App{{ID: diameter.AppRelay}},
		Handler: &diameter.Relay{Upstream: pool},
	}})
	_ = srv
}
