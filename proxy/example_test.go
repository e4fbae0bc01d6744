package proxy_test

import (
	"context"
	"fmt"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// serve starts a transaction.Server for h (built on its layer) on loopback
// UDP and returns its address.
func serve(ctx context.Context, sc transaction.ServerConfig, h func(*transaction.Layer) sip.Handler) (*transaction.Server, transport.Target) {
	tp, err := transport.New(transport.Config{})
	if err != nil {
		panic(err)
	}
	ln, err := tp.Listen(ctx, "udp", "127.0.0.1:0", transport.ListenOptions{})
	if err != nil {
		panic(err)
	}
	l := transaction.New(tp, transaction.Config{})
	srv := transaction.NewServer(l, h(l), sc)
	if err := srv.Start(); err != nil {
		panic(err)
	}
	return srv, transport.Target{Transport: transport.UDP, Addr: ln.Addr()}
}

// An event-driven proxy (Detach, handlers inline) between a client and a
// UAS on loopback UDP: the MESSAGE is addressed to the UAS and sent to the
// proxy, which forwards it by its Request-URI and relays the answer.
func ExampleProxy() {
	ctx := context.Background()
	uas, uasAt := serve(ctx, transaction.ServerConfig{}, func(*transaction.Layer) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
			_ = sip.Respond(w, req, sip.StatusOK, "")
		})
	})
	defer uas.Shutdown(ctx)
	inline := transaction.ServerConfig{Inline: func(*sip.Request) bool { return true }}
	px, pxAt := serve(ctx, inline, func(l *transaction.Layer) sip.Handler {
		return proxy.New(l, proxy.Config{RecordRoute: true, Detach: true})
	})
	defer px.Shutdown(ctx)

	// A request addressed to the UAS (siptest fills in the mandatory headers).
	req := siptest.NewRequest(sip.MESSAGE, "sip:bob@"+uasAt.Addr.String())

	// The client: the UAS's layer, sending to the proxy.
	res, err := uas.Layer().Do(ctx, req, pxAt)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.StatusCode, res.Reason)
	// Output:
	// 200 OK
}
