// Package looptest connects a diameter.Server and a diameter.Peer over
// loopback TCP on port 0 for the application packages' tests.
package looptest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/siphon-go/siphon/diameter"
)

// Node returns a Config for tests: short timeouts, realm example.com.
func Node(host string, h diameter.Handler, apps ...diameter.App) diameter.Config {
	return diameter.Config{
		OriginHost: host, OriginRealm: "example.com", Apps: apps, Handler: h,
		RequestTimeout: 2 * time.Second, HandshakeTimeout: 2 * time.Second,
	}
}

// Pair starts a server with srvCfg and a peer with peerCfg dialling it, and
// returns the peer (to send to the server) and the server's connection to
// the peer (to send to the peer). Both are closed at test end.
func Pair(t testing.TB, srvCfg, peerCfg diameter.Config) (*diameter.Peer, *diameter.Conn) {
	t.Helper()
	srv, err := diameter.NewServer(diameter.ServerConfig{Config: srvCfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	p, err := diameter.NewPeer(l.Addr().String(), diameter.PeerConfig{Config: peerCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitOpen(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c := srv.Conn(peerCfg.OriginHost); c != nil {
			return p, c
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("looptest: server never saw the peer")
	return nil, nil
}
