//go:build !linux

package transport

import (
	"context"
	"net"
	"net/netip"
)

func listenSCTP(netip.AddrPort, int) (net.Listener, error) { return nil, ErrSCTPUnsupported }

func dialSCTP(context.Context, netip.AddrPort, int) (net.Conn, error) {
	return nil, ErrSCTPUnsupported
}
