package diameter_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
)

var cxApp = diameter.App{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}

// fast timers keep the loopback tests short; production defaults are 30 s.
func nodeConfig(host string, h diameter.Handler) diameter.Config {
	return diameter.Config{
		OriginHost:       host,
		OriginRealm:      "example.com",
		Apps:             []diameter.App{cxApp},
		Handler:          h,
		WatchdogInterval: 200 * time.Millisecond,
		ReopenDWAs:       1,
		RequestTimeout:   2 * time.Second,
		HandshakeTimeout: 2 * time.Second,
	}
}

func startServer(t *testing.T, cfg diameter.ServerConfig) (*diameter.Server, string) {
	t.Helper()
	srv, err := diameter.NewServer(cfg)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, l.Addr().String()
}

func startPeer(t *testing.T, addr string, cfg diameter.Config) *diameter.Peer {
	t.Helper()
	p, err := diameter.NewPeer(addr, diameter.PeerConfig{Config: cfg, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.WaitOpen(ctx))
	return p
}

// answering returns a handler that answers every request with 2001 and a
// Server-Name naming this node, so tests can tell servers apart.
func answering(name string) diameter.Handler {
	return diameter.HandlerFunc(func(ctx context.Context, r *diameter.Request) (*diameter.Message, error) {
		a := r.Answer(diameter.Success)
		a.AddAVP(diameter.NewAVP(602, diameter.Vendor3GPP, datatype.UTF8String(name)))
		return a, nil
	})
}

func uar() *diameter.Message {
	m := diameter.NewSessionRequest(300, diameter.AppCx, "client.example.com", nil)
	m.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, diameter.AppCx))
	m.AddAVP(diameter.NewAVP(277, 0, datatype.Enumerated(1)))
	m.AddAVP(diameter.NewAVP(283, 0, datatype.DiameterIdentity("example.com")))
	m.AddAVP(diameter.NewAVP(601, diameter.Vendor3GPP, datatype.UTF8String("sip:alice@example.com")))
	return m
}

func serverName(m *diameter.Message) string {
	return diameter.Body(m).String(602, diameter.Vendor3GPP)
}

// freezer is a TCP proxy whose forwarding can be stopped, to make a peer
// fall silent without closing its connection.
type freezer struct {
	l      net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, u)
			f.mu.Unlock()
			go f.pipe(c, u)
			go f.pipe(u, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			_ = c.Close()
		}
		f.mu.Unlock()
	})
	return f
}

func (f *freezer) addr() string { return f.l.Addr().String() }

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			_ = dst.Close()
			return
		}
		if f.frozen.Load() {
			continue // swallow: the peer looks alive to TCP but never answers
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			_ = src.Close()
			return
		}
	}
}

func datatypeUTF8(s string) datatype.UTF8String           { return datatype.UTF8String(s) }
func datatypeIdentity(s string) datatype.DiameterIdentity { return datatype.DiameterIdentity(s) }

func listenOn(addr string) (net.Listener, error) {
	var err error
	for range 50 { // the old listener's port may linger briefly
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

func listenLoopback(tb testing.TB) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return l
}
