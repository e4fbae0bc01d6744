package proxy_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

func TestStatelessForwarder(t *testing.T) {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	tap := siptest.NewMessages()
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: siptest.Respond(180, 486), Transport: transport.Config{Tap: tap}})
	pc, err := n.ListenPacket("192.0.2.1:5060")
	require.NoError(t, err)
	tp, err := transport.New(transport.Config{DSCP: transport.NoDSCP})
	require.NoError(t, err)
	_, err = tp.AddPacketConn(pc, transport.ListenOptions{})
	require.NoError(t, err)
	fw := proxy.NewStateless(tp, proxy.StatelessConfig{Route: func(*sip.Request) (sip.Uri, error) {
		return sip.ParseURI("sip:" + uas.Addr.String())
	}})
	require.NoError(t, tp.Start(fw))
	defer tp.Close()

	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	res, err := uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"),
		transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")})
	require.NoError(t, err)
	require.Equal(t, 486, res.StatusCode)
	require.Len(t, res.GetHeaders("Via"), 1, "the forwarder's Via was removed on the way back")
	// The non-2xx ACK the UAC sent went through the forwarder with the
	// INVITE's derived branch, so the UAS's transaction absorbs it.
	var invVia, ackVia string
	require.Eventually(t, func() bool {
		for _, c := range tap.Drain() {
			if c.Dir != transport.In {
				continue
			}
			if strings.HasPrefix(c.Data, "INVITE ") {
				invVia = topVia(c.Data)
			}
			if strings.HasPrefix(c.Data, "ACK ") {
				ackVia = topVia(c.Data)
			}
		}
		return ackVia != ""
	}, 2*time.Second, time.Millisecond)
	require.Equal(t, invVia, ackVia)
}
