package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy/dispatcher"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

func TestParseDsts(t *testing.T) {
	ds, err := parseDsts("127.0.0.1:5070, 10.0.0.2:5060;transport=tcp;weight=3,sip:10.0.0.3;priority=1")
	require.NoError(t, err)
	require.Len(t, ds, 3)
	require.Equal(t, "sip:127.0.0.1:5070", ds[0].URI.String())
	require.Equal(t, "sip:10.0.0.2:5060;transport=tcp", ds[1].URI.String())
	require.Equal(t, 3, ds[1].Weight)
	require.Equal(t, 1, ds[2].Priority)
	for _, bad := range []string{"", ",", "10.0.0.1;weight=0", "10.0.0.1;priority=x", "sip:@"} {
		_, err := parseDsts(bad)
		require.Error(t, err, bad)
	}
}

func TestRunFlags(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"-addr", "127.0.0.1:0"},
		{"-addr", "127.0.0.1:0", "-dst", "127.0.0.1:5070", "-algo", "random"},
		{"-addr", "127.0.0.1:0", "-dst", "127.0.0.1:5070", "-probe", "-1s"},
		{"-addr", "127.0.0.1:0", "-dst", "127.0.0.1:5070", "-log-level", "loud"},
	} {
		require.Error(t, run(context.Background(), args, &out, nil), strings.Join(args, " "))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan netip.AddrPort, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-dst", "127.0.0.1:5070", "-algo", "hash", "-probe", "1s"}, io.Discard, ready)
	}()
	select {
	case a := <-ready:
		require.True(t, a.IsValid())
	case err := <-done:
		t.Fatal(err)
	}
	cancel()
	require.NoError(t, <-done)
}

// startLB starts a load balancer on a free loopback port.
func startLB(t *testing.T, dsts string, mod func(*options)) *server {
	t.Helper()
	ds, err := parseDsts(dsts)
	require.NoError(t, err)
	o := options{Addr: "127.0.0.1:0", Dsts: ds, Algo: dispatcher.RoundRobin, ReplyTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&o)
	}
	s, err := newServer(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// client is a transaction layer on loopback UDP to send requests from.
func client(t *testing.T) *transaction.Layer {
	t.Helper()
	tp, err := transport.New(transport.Config{})
	require.NoError(t, err)
	_, err = tp.Listen(context.Background(), transport.UDP, "127.0.0.1:0", transport.ListenOptions{})
	require.NoError(t, err)
	l := transaction.New(tp, transaction.Config{})
	require.NoError(t, l.Start(nil))
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// TestDeadServersFailFastWith503: the only server refuses TCP connections,
// so the call fails at once with 503 rather than ringing into a timeout.
func TestDeadServersFailFastWith503(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	s := startLB(t, dead+";transport=tcp", nil)
	l := client(t)
	start := time.Now()
	res, err := l.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"),
		transport.Target{Transport: transport.UDP, Addr: s.Addr()})
	require.NoError(t, err)
	require.Equal(t, sip.StatusServiceUnavailable, res.StatusCode)
	require.Less(t, time.Since(start), 2*time.Second)
}

// TestEveryServerDownAnswers503: with the group marked down the load
// balancer answers 503 with Retry-After itself.
func TestEveryServerDownAnswers503(t *testing.T) {
	s := startLB(t, "127.0.0.1:9", nil)
	require.NoError(t, s.disp.MarkDown(group, "127.0.0.1:9"))
	res, err := client(t).Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"),
		transport.Target{Transport: transport.UDP, Addr: s.Addr()})
	require.NoError(t, err)
	require.Equal(t, sip.StatusServiceUnavailable, res.StatusCode)
	require.Equal(t, []string{"5"}, sip.HeaderValues(res, "Retry-After"))
}

// TestOptionsToTheLoadBalancer: a keepalive to the balancer itself is
// answered there, not sent to a server.
func TestOptionsToTheLoadBalancer(t *testing.T) {
	s := startLB(t, "127.0.0.1:9", nil)
	req := siptest.NewRequest(sip.OPTIONS, "sip:"+s.Addr().String())
	res, err := client(t).Do(context.Background(), req, transport.Target{Transport: transport.UDP, Addr: s.Addr()})
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
}
