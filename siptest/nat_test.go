package siptest_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/siptest"
)

type datagram struct {
	data string
	from netip.AddrPort
}

// reader delivers what pc reads on a channel.
func reader(pc *siptest.PacketConn) <-chan datagram {
	ch := make(chan datagram, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- datagram{string(buf[:n]), from}
		}
	}()
	return ch
}

func expect(t *testing.T, ch <-chan datagram) datagram {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(2 * time.Second):
		t.Fatal("no datagram")
		return datagram{}
	}
}

func nothing(t *testing.T, ch <-chan datagram) {
	t.Helper()
	select {
	case d := <-ch:
		t.Fatalf("unexpected datagram %q from %s", d.data, d.from)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestNATUDP(t *testing.T) {
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	nat := n.AddNAT(siptest.NATConfig{
		Public:  netip.MustParseAddr("203.0.113.1"),
		Inside:  netip.MustParsePrefix("192.168.1.0/24"),
		Timeout: 30 * time.Second,
	})
	ua, err := n.ListenPacket("192.168.1.10:5060")
	require.NoError(t, err)
	srv, err := n.ListenPacket("192.0.2.1:5060")
	require.NoError(t, err)
	other, err := n.ListenPacket("192.0.2.2:5060")
	require.NoError(t, err)
	defer ua.Close()
	defer srv.Close()
	defer other.Close()
	uaIn, srvIn, otherIn := reader(ua), reader(srv), reader(other)
	uaAddr := netip.MustParseAddrPort("192.168.1.10:5060")

	// Out: the source becomes the public address and a port of the NAT's.
	_, err = ua.WriteToUDPAddrPort([]byte("register"), netip.MustParseAddrPort("192.0.2.1:5060"))
	require.NoError(t, err)
	d := expect(t, srvIn)
	require.Equal(t, "register", d.data)
	public := d.from
	require.Equal(t, netip.MustParseAddr("203.0.113.1"), public.Addr())
	require.Equal(t, 1, nat.Mappings())

	// Back: the server reaches the UA at the public address only.
	_, _ = srv.WriteToUDPAddrPort([]byte("200"), public)
	d = expect(t, uaIn)
	require.Equal(t, "200", d.data)
	require.Equal(t, netip.MustParseAddrPort("192.0.2.1:5060"), d.from, "inbound keeps the outside source")
	_, _ = srv.WriteToUDPAddrPort([]byte("direct"), uaAddr)
	nothing(t, uaIn)

	// Filtering: a host the UA never sent to is not let in.
	_, _ = other.WriteToUDPAddrPort([]byte("scan"), public)
	nothing(t, uaIn)
	nothing(t, otherIn)

	// The same inside endpoint keeps its mapping toward every destination
	// (endpoint-independent mapping).
	_, _ = ua.WriteToUDPAddrPort([]byte("hello"), netip.MustParseAddrPort("192.0.2.2:5060"))
	require.Equal(t, public, expect(t, otherIn).from)

	// Inbound traffic does not refresh the mapping; outbound does.
	clock.Advance(20 * time.Second)
	_, _ = srv.WriteToUDPAddrPort([]byte("ping"), public)
	expect(t, uaIn)
	clock.Advance(11 * time.Second)
	_, _ = srv.WriteToUDPAddrPort([]byte("late"), public)
	nothing(t, uaIn)
	require.Equal(t, 0, nat.Mappings())

	_, _ = ua.WriteToUDPAddrPort([]byte("again"), netip.MustParseAddrPort("192.0.2.1:5060"))
	again := expect(t, srvIn).from
	require.NotEqual(t, public, again, "an expired mapping is not revived")
	clock.Advance(29 * time.Second)
	_, _ = ua.WriteToUDPAddrPort([]byte("keepalive"), netip.MustParseAddrPort("192.0.2.1:5060"))
	expect(t, srvIn)
	clock.Advance(29 * time.Second)
	_, _ = srv.WriteToUDPAddrPort([]byte("still"), again)
	require.Equal(t, "still", expect(t, uaIn).data)

	nat.Reset()
	_, _ = srv.WriteToUDPAddrPort([]byte("after reset"), again)
	nothing(t, uaIn)
}

func TestNATStreams(t *testing.T) {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	n.AddNAT(siptest.NATConfig{Public: netip.MustParseAddr("203.0.113.1"), Inside: netip.MustParsePrefix("192.168.1.0/24")})
	ln, err := n.Listen("192.0.2.1:5060")
	require.NoError(t, err)
	defer ln.Close()
	inner, err := n.Listen("192.168.1.10:5060")
	require.NoError(t, err)
	defer inner.Close()

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := n.Dialer("192.168.1.10").DialContext(context.Background(), "tcp", "192.0.2.1:5060")
	require.NoError(t, err)
	defer c.Close()
	s := <-accepted
	defer s.Close()
	remote := netip.MustParseAddrPort(s.RemoteAddr().String())
	require.Equal(t, netip.MustParseAddr("203.0.113.1"), remote.Addr(), "the listener sees the NAT's address")
	require.Equal(t, "192.168.1.10", netip.MustParseAddrPort(c.LocalAddr().String()).Addr().String())

	_, err = n.Dialer("192.0.2.1").DialContext(context.Background(), "tcp", "192.168.1.10:5060")
	require.Error(t, err, "no connection from outside to a private address")
	_, err = n.Dialer("192.0.2.1").DialContext(context.Background(), "tcp", remote.String())
	require.Error(t, err, "nor to the NAT's public address")
}
