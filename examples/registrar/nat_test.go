package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// localAddr is where ua's packets come from (its listener).
func (ua *testUA) localAddr() netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ua.contact.Port))
}

// silence closes ua's sockets: it goes away without a word, as a phone
// whose battery died.
func (ua *testUA) silence() { _ = ua.l.Transport().Close() }

// behindNAT makes ua advertise a private Contact, as a UA behind a NAT
// does, while its packets really come from its loopback socket: to the
// server the two differ exactly as a NAT makes them differ.
func behindNAT(ua *testUA) {
	ua.contact.Host = "192.168.1.10"
}

// TestNATFakePrivateContact: bob registers the Contact
// sip:bob@192.168.1.10:port from 127.0.0.1:port. The 200 OK gives him his
// Contact back as sent; alice's call reaches his real socket, his private
// Contact in the 200 OK is fixed to the address that reaches him, and the
// BYE gets there too.
func TestNATFakePrivateContact(t *testing.T) {
	for _, tp := range []string{transport.UDP, transport.TCP} {
		t.Run(tp, func(t *testing.T) {
			s := startServer(t, nil)
			alice := newUA(t, s, "alice", "alice", transport.UDP)
			bob := newUA(t, s, "bob", "bob", tp)
			behindNAT(bob)
			sent := "<" + bob.contact.String() + ">"

			res := bob.register(300)
			require.Equal(t, sip.StatusOK, res.StatusCode)
			require.Equal(t, []string{sent + ";expires=300"}, sip.HeaderValues(res, "Contact"),
				"the 200 OK lists bob's contact as he sent it")
			bs := bindings(t, s, "bob")
			require.Len(t, bs, 1)
			require.Equal(t, "192.168.1.10", bs[0].NameAddr.URI.Host)
			require.Equal(t, "127.0.0.1", bs[0].Flow.Remote.Addr().String(), "the observed source is kept")

			res, c := alice.invite("bob")
			require.Equal(t, sip.StatusOK, res.StatusCode)
			inv := recv(t, bob.invites, "INVITE at bob's real socket")
			require.Equal(t, "192.168.1.10", inv.Recipient.Host, "the Request-URI stays the registered contact")
			ct, err := sip.Contacts(res)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1", ct[0].URI.Host, "bob's answer carries the address that reaches him")
			require.Equal(t, int(bs[0].Flow.Remote.Port()), ct[0].URI.Port)

			c.ack()
			recv(t, bob.acks, "ACK at bob")
			require.Equal(t, sip.StatusOK, c.bye().StatusCode)
			recv(t, bob.byes, "BYE at bob")
			st := s.nat.Stats()
			require.Equal(t, uint64(1), st.Responses)
			require.GreaterOrEqual(t, st.FlowRoutes, uint64(1))
		})
	}
}

// TestNATCallerBehindNAT: alice calls from behind a NAT; bob's INVITE
// carries a Contact that reaches her, so his BYE (routed by that Contact
// through the proxy) gets to her socket.
func TestNATCallerBehindNAT(t *testing.T) {
	s := startServer(t, nil)
	alice := newUA(t, s, "alice", "alice", transport.UDP)
	behindNAT(alice)
	bob := newUA(t, s, "bob", "bob", transport.UDP)
	require.Equal(t, sip.StatusOK, bob.register(300).StatusCode)

	res, _ := alice.invite("bob")
	require.Equal(t, sip.StatusOK, res.StatusCode)
	inv := recv(t, bob.invites, "INVITE at bob")
	ct, err := sip.Contacts(inv)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", ct[0].URI.Host, "alice's Contact was fixed before the proxy forwarded it")
	require.Equal(t, int(alice.localAddr().Port()), ct[0].URI.Port)
	require.Equal(t, uint64(2), s.nat.Stats().Requests, "the INVITE and its retry with credentials")

	// bob hangs up: his BYE goes to alice's (fixed) Contact through the
	// route set, in Record-Route order (RFC 3261 §12.1.1).
	bye := sip.NewRequest(sip.BYE, ct[0].URI)
	bye.AppendHeader(&sip.FromHeader{Address: res.To().Address, Params: res.To().Params})
	bye.AppendHeader(&sip.ToHeader{Address: res.From().Address, Params: res.From().Params})
	bye.AppendHeader(sip.HeaderClone(res.CallID()))
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.BYE})
	mf := sip.MaxForwardsHeader(70)
	bye.AppendHeader(&mf)
	rr, err := sip.RecordRoutes(inv)
	require.NoError(t, err)
	require.NoError(t, sip.SetNameAddrs(bye, "Route", rr))
	bye.SetBody(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := bob.l.Do(ctx, bye, bob.server)
	require.NoError(t, err)
	require.Equal(t, sip.StatusOK, r.StatusCode)
	recv(t, alice.byes, "BYE at alice's real socket")
}

// TestNATPingRemovesSilentUA: with keepalives every 300 ms, a UA behind a
// NAT that answers keeps its binding; one that goes silent loses it after
// three missed pings. A UA whose Contact is its real address is not pinged.
func TestNATPingRemovesSilentUA(t *testing.T) {
	s := startServer(t, func(o *options) { o.NATPing, o.NATPingFails = 300*time.Millisecond, 3 })
	alice := newUA(t, s, "alice", "alice", transport.UDP)
	behindNAT(alice)
	bob := newUA(t, s, "bob", "bob", transport.UDP)
	behindNAT(bob)
	carol := newUA(t, s, "carol", "carol", transport.UDP) // not behind a NAT
	for _, ua := range []*testUA{alice, bob, carol} {
		require.Equal(t, sip.StatusOK, ua.register(300).StatusCode)
	}
	require.Eventually(t, func() bool { return s.pinger.Stats().Answered >= 4 }, 10*time.Second, 20*time.Millisecond,
		"alice and bob answer their pings")
	require.Equal(t, 2, s.pinger.Stats().Targets, "carol is not behind a NAT")

	bob.silence()
	require.Eventually(t, func() bool { return len(bindings(t, s, "bob")) == 0 }, 10*time.Second, 20*time.Millisecond,
		"bob's binding goes after three missed pings")
	st := s.pinger.Stats()
	require.Equal(t, uint64(1), st.Dead)
	require.GreaterOrEqual(t, st.Failed, uint64(3))
	require.Len(t, bindings(t, s, "alice"), 1, "alice answers: she stays")
	require.Len(t, bindings(t, s, "carol"), 1)
	require.Eventually(t, func() bool { return s.pinger.Stats().Targets == 1 }, 5*time.Second, 20*time.Millisecond,
		"bob's state is pruned with his binding")
}

// TestNATPingOnlyOwnBindings: two instances share a store; each pings only
// the UAs that registered with it (the other's UAs' NATs would drop its
// pings, and the misses would remove live bindings). After a restart with
// the same node and address, the new run pings the UDP bindings the old
// one left.
func TestNATPingOnlyOwnBindings(t *testing.T) {
	store := memory.New(memory.Config{})
	ping := func(node string) func(*options) {
		return func(o *options) {
			o.Backend, o.Node, o.NATPing = store, node, 100*time.Millisecond
		}
	}
	a := startServer(t, ping("node-a"))
	b := startServer(t, ping("node-b"))
	alice := newUA(t, a, "alice", "alice", transport.UDP)
	behindNAT(alice)
	require.Equal(t, sip.StatusOK, alice.register(300).StatusCode)
	require.Eventually(t, func() bool { return a.pinger.Stats().Answered > 0 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return b.pinger.Stats().Rounds >= 3 }, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, b.pinger.Stats().Targets, "node-b does not ping node-a's UA")
	require.Zero(t, b.pinger.Stats().Sent)

	// node-a restarts on the same address: it pings alice again.
	addr := a.Addr().String()
	require.NoError(t, a.Shutdown(context.Background()))
	a2 := startServer(t, func(o *options) { ping("node-a")(o); o.Addr = addr })
	require.Eventually(t, func() bool { return a2.pinger.Stats().Answered > 0 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, a2.pinger.Stats().Targets)
}

// TestRestartEvictsStaleStreamBindings: an instance restarts (same -node,
// shared store) after a crash: the TCP binding of the run that died is
// evicted at start, since its connection died with it; the UDP one stays,
// a UDP flow names only addresses.
func TestRestartEvictsStaleStreamBindings(t *testing.T) {
	store := memory.New(memory.Config{})
	first := startServer(t, func(o *options) { o.Backend, o.Node = store, "node-a" })
	alice := newUA(t, first, "alice", "alice", transport.TCP)
	bob := newUA(t, first, "bob", "bob", transport.UDP)
	require.Equal(t, sip.StatusOK, alice.register(300).StatusCode)
	require.Equal(t, sip.StatusOK, bob.register(300).StatusCode)

	second := startServer(t, func(o *options) { o.Backend, o.Node = store, "node-a" })
	require.Empty(t, bindings(t, second, "alice"), "the stale TCP binding is gone")
	require.Len(t, bindings(t, second, "bob"), 1)
}

// TestRunNATFlags: the NAT flags parse, and bad ones are refused.
func TestRunNATFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nat-contact", "sometimes"},
		{"-nat-register", "x"},
		{"-natping", "-1s"},
		{"-natping-fails", "0"},
	} {
		require.Error(t, run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard, nil), fmt.Sprint(args))
	}
	for _, args := range [][]string{
		{"-nat=false"},
		{"-natping", "0", "-nat-contact", "always", "-nat-register", "never"},
		{"-natping", "1s", "-natping-fails", "5"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan netip.AddrPort, 1)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-log-level", "warn"}, args...), io.Discard, ready)
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatal(args, err)
		}
		cancel()
		require.NoError(t, <-done, fmt.Sprint(args))
	}
}
