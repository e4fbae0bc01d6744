package cx_test

import (
	"context"
	"fmt"
	"net"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/cx"
)

// An HSS and an I-CSCF on loopback: the I-CSCF asks which S-CSCF serves a
// registering user.
func Example() {
	mux := diameter.NewMux()
	(&cx.Server{UAR: func(ctx context.Context, q *cx.UAR) (*cx.UAA, error) {
		return &cx.UAA{Result: cx.Experimental(cx.FirstRegistration), ServerName: "sip:scscf.ims.example.com"}, nil
	}}).Register(mux)
	srv, _ := diameter.NewServer(diameter.ServerConfig{Config: diameter.Config{
		OriginHost: "hss.ims.example.com", OriginRealm: "ims.example.com", Apps: []diameter.App{cx.App()}, Handler: mux,
	}})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	peer, _ := diameter.NewPeer(l.Addr().String(), diameter.PeerConfig{Config: diameter.Config{
		OriginHost: "icscf.ims.example.com", OriginRealm: "ims.example.com", Apps: []diameter.App{cx.App()},
	}})
	defer peer.Close()
	_ = peer.WaitOpen(context.Background())

	client, _ := cx.NewClient(peer, cx.Config{OriginHost: "icscf.ims.example.com", DestinationRealm: "ims.example.com"})
	uaa, err := client.UAR(context.Background(), &cx.UAR{UserName: "alice@ims.example.com", PublicIdentity: "sip:alice@ims.example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(uaa.Result, uaa.ServerName)
	// Output: 2001 (vendor 10415) sip:scscf.ims.example.com
}
