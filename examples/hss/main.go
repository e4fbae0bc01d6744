// Command hss is a small in-memory HSS serving the Cx interface (UAR, MAR
// with Milenage AKA vectors, SAR with a user profile, LIR) for IMS labs and
// tests. It uses only siphon's public API.
//
//	hss -listen 127.0.0.1:3868 -host hss.ims.example.com -realm ims.example.com \
//	    -subscribers subscribers.json -scscf sip:scscf.ims.example.com:6060
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/cx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run parses args, serves until ctx ends, and reports the bound address on
// ready when it is not nil.
func run(ctx context.Context, args []string, logOut io.Writer, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("hss", flag.ContinueOnError)
	fs.SetOutput(logOut)
	listen := fs.String("listen", "127.0.0.1:3868", "TCP address to serve Cx on")
	host := fs.String("host", "hss.ims.example.com", "Origin-Host of the HSS")
	realm := fs.String("realm", "ims.example.com", "Origin-Realm of the HSS")
	subsPath := fs.String("subscribers", "subscribers.json", "JSON file of subscribers (impi, impus, k, opc or op, sqn, amf)")
	scscf := fs.String("scscf", "sip:scscf.ims.example.com", "S-CSCF offered to the I-CSCF in Server-Capabilities")
	peers := fs.String("allow-hosts", "", "comma-separated Origin-Host values allowed to connect (default: any)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*subsPath)
	if err != nil {
		return fmt.Errorf("hss: %w", err)
	}
	hss, err := loadSubscribers(f, *scscf)
	_ = f.Close()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	mux := diameter.NewMux()
	hss.Server().Register(mux)
	cfg := diameter.ServerConfig{Config: diameter.Config{
		OriginHost: *host, OriginRealm: *realm, Apps: []diameter.App{cx.App()},
		Handler: mux, Logger: log,
	}}
	if *peers != "" {
		cfg.AllowedHosts = strings.Split(*peers, ",")
	}
	srv, err := diameter.NewServer(cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("hss: %w", err)
	}
	log.Info("hss: serving Cx", "addr", l.Addr().String(), "subscribers", len(hss.subs))
	if ready != nil {
		ready <- l.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; !errors.Is(err, diameter.ErrServerClosed) {
		return err
	}
	return nil
}
