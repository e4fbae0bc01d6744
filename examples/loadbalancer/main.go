// Command loadbalancer is a SIP load balancer built only from siphon's
// public API: a record-routing stateful proxy in front of a group of SIP
// servers, choosing one per call (round robin, weighted or by Call-ID hash),
// failing over to the next on 408, 5xx or a transport error, and taking
// servers out of rotation when they stop answering OPTIONS.
//
//	go run ./examples/loadbalancer -addr 127.0.0.1:5060 \
//	    -dst 10.0.0.1:5060,10.0.0.2:5060;transport=tcp -algo round-robin -probe 5s
//
// See README.md beside this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/siphon-go/siphon/examples/internal/debughttp"
	"github.com/siphon-go/siphon/examples/internal/memidle"
	"github.com/siphon-go/siphon/proxy/dispatcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadbalancer:", err)
		os.Exit(1)
	}
}

// parseDsts reads -dst: comma-separated host:port or SIP URIs, each with an
// optional ";weight=N" (for -algo weighted) and ";priority=N" (a backup tier:
// higher numbers are used only when every lower one is down).
func parseDsts(s string) ([]dispatcher.Destination, error) {
	var out []dispatcher.Destination
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var weight, prio int
		var keep []string
		for i, part := range strings.Split(item, ";") {
			k, v, _ := strings.Cut(part, "=")
			switch {
			case i > 0 && k == "weight":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return nil, fmt.Errorf("-dst %q: weight must be a positive integer", item)
				}
				weight = n
			case i > 0 && k == "priority":
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("-dst %q: priority must be a non-negative integer", item)
				}
				prio = n
			default:
				keep = append(keep, part)
			}
		}
		d, err := dispatcher.ParseDestination(strings.Join(keep, ";"))
		if err != nil {
			return nil, fmt.Errorf("-dst: %w", err)
		}
		if d.URI.Host == "" {
			return nil, fmt.Errorf("-dst %q: no host", item)
		}
		d.Weight, d.Priority = weight, prio
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("-dst: give at least one HOST:PORT")
	}
	return out, nil
}

// run parses args, serves until ctx ends, and sends the bound address to
// ready when it is not nil.
func run(ctx context.Context, args []string, logOut io.Writer, ready chan<- netip.AddrPort) error {
	fs := flag.NewFlagSet("loadbalancer", flag.ContinueOnError)
	fs.SetOutput(logOut)
	addr := fs.String("addr", "127.0.0.1:5060", "address to listen on, UDP and TCP")
	advertise := fs.String("advertise", "", "host[:port] to put in Record-Route and Via instead of -addr (a public IP or an FQDN)")
	dsts := fs.String("dst", "", "the servers: HOST:PORT[;transport=tcp][;weight=N][;priority=N],... (required)")
	algo := fs.String("algo", "round-robin", "round-robin, weighted or hash (by Call-ID)")
	probe := fs.Duration("probe", 0, "OPTIONS health-probe interval; 0 = off")
	spread := fs.Bool("spread", false, "give each new INVITE a goroutine of its own, so forwarding calls spreads over the cores (more CPU per call, a higher ceiling); default: every request on the goroutine that read it")
	replyTimeout := fs.Duration("reply-timeout", 2*time.Second, "move a request to the next server when one has not answered at all in this time (INVITE: not even 100 Trying)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	releaseIdle := fs.Duration("release-idle", 10*time.Second, "when load has stopped, give freed memory back to the OS every this often until little is left; 0 = leave it to the Go runtime")
	debugAddr := fs.String("debug", "", "address for HTTP profiling endpoints (/debug/mem, /debug/heap, /debug/cpu?seconds=N), for benchmarks; empty = off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	ds, err := parseDsts(*dsts)
	if err != nil {
		return err
	}
	a, err := dispatcher.ParseAlgorithm(*algo)
	if err != nil {
		return fmt.Errorf("-algo: %w", err)
	}
	if *probe < 0 || *replyTimeout < 0 {
		return errors.New("-probe and -reply-timeout must not be negative")
	}
	s, err := newServer(ctx, options{
		Addr: *addr, Advertise: *advertise, Dsts: ds, Algo: a, Probe: *probe, ReplyTimeout: *replyTimeout, Spread: *spread, Logger: log,
	})
	if err != nil {
		return err
	}
	if *debugAddr != "" {
		stop, err := debughttp.Serve(*debugAddr, log)
		if err != nil {
			_ = s.Shutdown(context.Background())
			return err
		}
		defer stop()
	}
	log.Info("loadbalancer: serving", "addr", s.Addr().String(), "transports", "udp,tcp",
		"servers", len(ds), "algo", a.String(), "probe", probe.String())
	if ready != nil {
		ready <- s.Addr()
	}
	if *releaseIdle > 0 {
		go memidle.Run(ctx, *releaseIdle)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}
