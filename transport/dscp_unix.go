//go:build linux || darwin || freebsd || netbsd || openbsd

package transport

import (
	"strings"
	"syscall"
)

// dscpControl returns a socket control function that marks every packet with
// dscp (RFC 2474: the top six bits of the TOS / traffic class byte).
func dscpControl(dscp int) func(network, address string, c syscall.RawConn) error {
	if dscp <= 0 {
		return nil
	}
	tos := dscp << 2
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if strings.HasSuffix(network, "6") {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, tos)
				// A dual-stack socket also carries IPv4; best effort.
				_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, tos)
				return
			}
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, tos)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
