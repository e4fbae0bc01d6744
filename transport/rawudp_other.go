//go:build !linux

package transport

import "net"

func newRawUDP(uc *net.UDPConn) packetConn { return uc }
