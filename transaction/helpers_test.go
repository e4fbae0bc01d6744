package transaction_test

import (
	"net/netip"
	"testing"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

type netipAddrPort = netip.AddrPort

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// newServer returns a Server for h on a UDP socket at addr of n, not yet
// started: a server whose Start, Serve and Shutdown the test drives.
func newServer(t *testing.T, n *siptest.Network, addr string, h sip.Handler, sc transaction.ServerConfig) *transaction.Server {
	t.Helper()
	pc, err := n.ListenPacket(addr)
	require.NoError(t, err)
	tp, err := transport.New(transport.Config{})
	require.NoError(t, err)
	_, err = tp.AddPacketConn(pc, transport.ListenOptions{})
	require.NoError(t, err)
	return transaction.NewServer(transaction.New(tp, transaction.Config{}), h, sc)
}
