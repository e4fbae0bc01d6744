package main

import (
	"context"
	"net/http"
	_ "net/http/pprof"
	"flag"
	"log"
	"log/slog"
	"os"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:15062", "")
	dst := flag.String("dst", "127.0.0.1:15090", "")
	flag.Parse()
	go http.ListenAndServe("127.0.0.1:16060", nil)
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	tp, err := transport.New(transport.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tp.Listen(context.Background(), "udp", *listen, transport.ListenOptions{}); err != nil {
		log.Fatal(err)
	}
	l := transaction.New(tp, transaction.Config{})
	u, _ := sip.ParseURI("sip:" + *dst)
	p := proxy.New(l, proxy.Config{RecordRoute: true, Domains: []string{"127.0.0.1"}, Locate: func(ctx context.Context, req *sip.Request) ([]proxy.Target, error) {
		return []proxy.Target{{URI: u}}, nil
	}})
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = p.Relay(ctx, w, req, nil, proxy.Target{URI: u})
	})
	srv := transaction.NewServer(l, h, transaction.ServerConfig{InlineACK: true})
	log.Fatal(srv.Serve())
}
