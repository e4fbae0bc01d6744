// Command registrar is a residential SIP registrar and proxy built only from
// siphon's public API: REGISTER with digest authentication into a registrar
// (memory, Redis or PostgreSQL), and calls between registered users routed to
// all their contacts at once (parallel forking) through a record-routing
// stateful proxy.
//
//	go run ./examples/registrar                       # 127.0.0.1:5060, demo users alice and bob
//	go run ./examples/registrar -addr 0.0.0.0:5060 -users users.txt \
//	    -backend redis -backend-url redis://127.0.0.1:6379/0
//
// See README.md beside this file.
package main

import (
	"context"
	"crypto/rand"
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

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/examples/internal/debughttp"
	"github.com/siphon-go/siphon/examples/internal/memidle"
	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/registrar/postgres"
	"github.com/siphon-go/siphon/registrar/redis"
	"github.com/siphon-go/siphon/transport/guard"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "registrar:", err)
		os.Exit(1)
	}
}

// demoUsers are used when no -users file is given, so that the example runs
// on a fresh machine. Never in production.
const demoUsers = "alice:alice\nbob:bob\n"

// run parses args, serves until ctx ends, and sends the bound address to
// ready when it is not nil.
func run(ctx context.Context, args []string, logOut io.Writer, ready chan<- netip.AddrPort) error {
	fs := flag.NewFlagSet("registrar", flag.ContinueOnError)
	fs.SetOutput(logOut)
	addr := fs.String("addr", "127.0.0.1:5060", "address to listen on, UDP and TCP")
	advertise := fs.String("advertise", "", "host[:port] to put in Record-Route and Via instead of -addr (a public IP or an FQDN)")
	usersPath := fs.String("users", "", "file of user:password lines (default: demo users alice:alice and bob:bob)")
	realm := fs.String("realm", "", "digest realm (default: the domain of each request)")
	domains := fs.String("domain", "", "comma-separated domains served (default: any)")
	backend := fs.String("backend", "memory", "location store: memory, redis or postgres")
	backendURL := fs.String("backend-url", "", "redis://host:port/db or postgres://user:pass@host:port/db")
	node := fs.String("node", "", "name of this instance across restarts, for shared backends (default: host name)")
	secret := fs.String("secret", "", "nonce secret shared by instances behind one name, at least 16 bytes (default: random)")
	nonceTTL := fs.Duration("nonce-ttl", auth.DefaultNonceTTL, "how long a digest nonce is accepted")
	authRegister := fs.Bool("auth", true, "digest-authenticate REGISTER (turn off only for benchmarks or a trusted network)")
	authCalls := fs.Bool("auth-calls", true, "challenge (407) calls and other initial requests")
	recordRoute := fs.Bool("record-route", true, "record-route dialogs so that in-dialog requests come through")
	minExpires := fs.Duration("min-expires", registrar.DefaultMinExpires, "shortest registration accepted (423 below it)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	releaseIdle := fs.Duration("release-idle", 10*time.Second, "when load has stopped, give freed memory back to the OS every this often until little is left; 0 = leave it to the Go runtime")
	debugAddr := fs.String("debug", "", "address for an HTTP endpoint /debug/mem (heap after a GC, for benchmarks); empty = off")
	guardOn := fs.Bool("guard", true, "security guards: per-source rate limit and bans, scanner User-Agent drop, failed-auth auto-ban, sanity and Route checks")
	rateLimit := fs.String("ratelimit", "50/s", "packets per second per source before a ban (N/s; 0 = off)")
	banTime := fs.Duration("ban", guard.DefaultBanTime, "how long a banned source is dropped")
	trusted := fs.String("trusted", "", "comma-separated CIDRs exempt from every guard (e.g. 10.0.0.0/8,192.0.2.7/32)")
	natOn := fs.Bool("nat", true, "NAT traversal: force rport, fix the Contact of calls from and to UAs behind NATs, send requests for a registered UA to the address its REGISTER came from")
	natContact := fs.String("nat-contact", "nated", "when to fix the Contact of calls: nated (when a NAT is detected), always or never")
	natRegister := fs.String("nat-register", "nated", "when to send to a registered UA's observed source instead of its contact: nated, always or never")
	natPing := fs.Duration("natping", 30*time.Second, "interval of OPTIONS keepalives to registered UAs behind NATs (0 = off)")
	natPingFails := fs.Int("natping-fails", nat.DefaultPingFailures, "keepalives missed in a row before a UA's binding is removed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var natCfg *nat.Config
	if *natOn {
		cm, err := nat.ParseMode(*natContact)
		if err != nil {
			return fmt.Errorf("-nat-contact: %w", err)
		}
		rm, err := nat.ParseMode(*natRegister)
		if err != nil {
			return fmt.Errorf("-nat-register: %w", err)
		}
		natCfg = &nat.Config{Contact: cm, Register: rm}
	}
	if *natPing < 0 || *natPingFails < 1 {
		return fmt.Errorf("-natping %v, -natping-fails %d: want an interval >= 0 and at least one failure", *natPing, *natPingFails)
	}
	var gc *guard.Config
	if *guardOn {
		gc = defaultGuard()
		n, err := parseRate(*rateLimit)
		if err != nil {
			return err
		}
		gc.RateLimit, gc.BanTime = n, *banTime
		if gc.Trusted, err = parseCIDRs(*trusted); err != nil {
			return err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))

	var usersText io.Reader = strings.NewReader(demoUsers)
	if *usersPath != "" {
		f, err := os.Open(*usersPath)
		if err != nil {
			return err
		}
		defer f.Close()
		usersText = f
	} else {
		log.Warn("no -users file: serving the demo users alice:alice and bob:bob")
	}
	users, err := auth.ReadStatic(usersText)
	if err != nil {
		return err
	}

	store, closeStore, err := openBackend(ctx, *backend, *backendURL)
	if err != nil {
		return err
	}
	defer closeStore()
	if *node == "" && *backend != "memory" {
		h, _ := os.Hostname()
		*node = h + "/" + *addr
	}
	var sec []byte
	if *secret != "" {
		sec = []byte(*secret)
	} else {
		sec = make([]byte, 32)
		_, _ = rand.Read(sec)
	}

	o := options{
		Addr:      *addr,
		Advertise: *advertise,
		Users:     users,
		Realm:     *realm,
		Backend:   store,
		// The in-memory store answers at once: REGISTER needs no goroutine.
		InlineRegister: *backend == "memory",
		Node:           *node,
		AuthCalls:      *authCalls,
		NoAuth:         !*authRegister,
		Secret:         sec,
		RecordRoute:    *recordRoute,
		Logger:         log,
		Registrar:      registrar.Config{MinExpires: *minExpires},
		Auth:           auth.Config{NonceTTL: *nonceTTL},
		Guard:          gc,
		NAT:            natCfg,
		NATPing:        *natPing,
		NATPingFails:   *natPingFails,
	}
	if *domains != "" {
		o.Domains = strings.Split(*domains, ",")
	}
	s, err := newServer(ctx, o)
	if err != nil {
		return err
	}
	if *debugAddr != "" {
		stopDebug, err := debughttp.Serve(*debugAddr, log)
		if err != nil {
			_ = s.Shutdown(context.Background())
			return err
		}
		defer stopDebug()
	}
	log.Info("registrar: serving", "addr", s.Addr().String(), "transports", "udp,tcp", "backend", *backend, "users", users.Len(),
		"nat", *natOn, "natping", *natPing)
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

// openBackend opens the location store named by kind.
// parseRate reads "-ratelimit": "N/s" or "N" packets per second, 0 = off.
func parseRate(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("-ratelimit %q: want N/s with N >= 0", s)
	}
	return n, nil
}

// parseCIDRs reads "-trusted": comma-separated CIDRs or single addresses.
func parseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p)
		} else if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		} else {
			return nil, fmt.Errorf("-trusted %q: not a CIDR or address", f)
		}
	}
	return out, nil
}

func openBackend(ctx context.Context, kind, url string) (registrar.Backend, func(), error) {
	switch kind {
	case "memory":
		return memory.New(memory.Config{}), func() {}, nil
	case "redis":
		if url == "" {
			url = "redis://127.0.0.1:6379/0"
		}
		b, err := redis.Open(ctx, url, redis.Config{})
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	case "postgres":
		if url == "" {
			return nil, nil, errors.New("-backend postgres needs -backend-url postgres://user:pass@host:port/db")
		}
		b, err := postgres.Open(ctx, url, postgres.Config{})
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	}
	return nil, nil, fmt.Errorf("-backend %q: want memory, redis or postgres", kind)
}
