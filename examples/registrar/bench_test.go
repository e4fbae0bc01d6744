package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// BenchmarkRegisterDatagram measures the registrar as bench/register.sh
// loads it, in one process: REGISTER refreshes of a table of 100,000
// bindings arrive over loopback UDP (a fresh Call-ID and branch each, like
// SIPp's), up to 32 in flight, and each is answered 200. The server is
// built as main builds it for -auth=false -guard=false with the memory
// backend (REGISTER handled inline, NAT traversal on). Allocations count the
// whole process; the client's are none.
func BenchmarkRegisterDatagram(b *testing.B) {
	const users, window = 100_000, 32
	s, conn := noAuthServer(b, &nat.Config{})
	_ = conn.SetReadBuffer(4 << 20)
	local := conn.LocalAddr().String()
	server := s.Addr().String()

	// The reader counts the 200s in answered (negative once anything else
	// came or the socket closed) and pokes wake without ever blocking, so
	// it ends when the connection is closed.
	var answered atomic.Int64
	wake := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 65536)
		for {
			m, err := conn.Read(buf)
			switch {
			case err != nil:
				answered.Store(-1)
			case m < 12 || string(buf[7:11]) != " 200":
				answered.Store(-2)
			default:
				answered.Add(1)
			}
			select {
			case wake <- struct{}{}:
			default:
			}
			if answered.Load() < 0 {
				return
			}
		}
	}()
	tmpl := newRegisterTemplate(server, local, users)
	seq := 0
	msg := make([]byte, 0, 1024)
	send := func() {
		user := seq % users
		seq++
		msg = tmpl.append(msg[:0], user, seq)
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	// run sends n REGISTERs, keeping at most window unanswered, and waits
	// for the last answer.
	done := 0
	lost := time.NewTimer(time.Hour)
	defer lost.Stop()
	run := func(n int) {
		target := done + n
		sent := done
		for done < target {
			for sent < target && sent-done < window {
				send()
				sent++
			}
			lost.Reset(2 * time.Second)
			select {
			case <-wake:
				c := int(answered.Load())
				if c < 0 {
					b.Fatalf("reader stopped (%d)", c)
				}
				done = c
			case <-lost.C:
				// A datagram lost on loopback: resend the window.
				sent = done
			}
		}
	}
	run(users) // fill
	time.Sleep(100 * time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	run(b.N)
}

// noAuthServer starts the server as main builds it for -auth=false with
// the memory backend (REGISTER handled inline) and natCfg, and dials it
// over UDP; both end with tb.
func noAuthServer(tb testing.TB, natCfg *nat.Config) (*server, *net.UDPConn) {
	tb.Helper()
	s, err := newServer(context.Background(), options{
		Addr:           "127.0.0.1:0",
		Users:          auth.NewStatic(nil),
		Backend:        memory.New(memory.Config{}),
		InlineRegister: true,
		NoAuth:         true,
		RecordRoute:    true,
		Secret:         []byte("a shared secret for the test nonces"),
		NAT:            natCfg,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return s, conn
}

// registerTemplate builds REGISTERs of user u as SIPp's bench scenario
// sends them, without allocating.
type registerTemplate struct {
	head, from, to, toTail, callID, contact, tail string
	users                                         []string
}

func newRegisterTemplate(server, local string, users int) *registerTemplate {
	t := &registerTemplate{
		head:    "REGISTER sip:" + server + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-bench-",
		from:    "\r\nFrom: <sip:",
		to:      "@" + server + ">;tag=",
		toTail:  "@" + server + ">",
		callID:  "\r\nCall-ID: ",
		contact: "-bench@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContact: <sip:",
		tail:    "@" + local + ">\r\nMax-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
		users:   make([]string, users),
	}
	for i := range t.users {
		t.users[i] = fmt.Sprintf("u%07d", i)
	}
	return t
}

func (t *registerTemplate) append(b []byte, u, seq int) []byte {
	user := t.users[u]
	b = append(b, t.head...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, t.from...)
	b = append(b, user...)
	b = append(b, t.to...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, "\r\nTo: <sip:"...)
	b = append(b, user...)
	b = append(b, t.toTail...)
	b = append(b, t.callID...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, t.contact...)
	b = append(b, user...)
	b = append(b, t.tail...)
	return b
}

// BenchmarkPingTargets measures one round's listing of the NAT pinger
// (pingTargets) over 100,000 bindings registered as bench/register.sh
// registers them: from one UDP source, not behind a NAT, so none is a
// target and the cost is that of looking at each binding.
func BenchmarkPingTargets(b *testing.B) {
	const users = 100_000
	s, conn := noAuthServer(b, &nat.Config{})
	local := conn.LocalAddr().String()
	server := s.Addr().String()
	flow := transport.Flow{Transport: transport.UDP, Local: s.Addr(),
		Remote: netip.MustParseAddrPort(local)}
	ctx := transport.NewContext(context.Background(), flow)
	tmpl := newRegisterTemplate(server, local, users)
	p := sip.NewParser(0)
	var msg []byte
	for u := range users {
		msg = tmpl.append(msg[:0], u, u+1)
		m, err := p.Parse(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.reg.Register(ctx, m.(*sip.Request)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := s.pingTargets(context.Background(), func(nat.Target) bool { n++; return true }); err != nil || n != 0 {
			b.Fatalf("pingTargets: %d targets, %v", n, err)
		}
	}
}
