//go:build linux

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// SCTP runs one-to-one style (RFC 6458 §4): a SOCK_STREAM socket with
// IPPROTO_SCTP behaves like a TCP socket for connect, accept, read and write,
// so the standard library can wrap it, and RFC 4168's framing is RFC 3261's
// stream framing.
const ipprotoSCTP = 132

func sctpSocket(ap netip.AddrPort, dscp int) (int, syscall.Sockaddr, error) {
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ap.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, ipprotoSCTP)
	if err != nil {
		if errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.ESOCKTNOSUPPORT) ||
			errors.Is(err, syscall.EAFNOSUPPORT) {
			return -1, nil, ErrSCTPUnsupported
		}
		return -1, nil, fmt.Errorf("transport: sctp socket: %w", err)
	}
	if dscp > 0 {
		if family == syscall.AF_INET {
			_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_TOS, dscp<<2)
		} else {
			_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, dscp<<2)
		}
	}
	return fd, sa, nil
}

func listenSCTP(ap netip.AddrPort, dscp int) (net.Listener, error) {
	fd, sa, err := sctpSocket(ap, dscp)
	if err != nil {
		return nil, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("transport: sctp bind %s: %w", ap, err)
	}
	if err := syscall.Listen(fd, syscall.SOMAXCONN); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("transport: sctp listen %s: %w", ap, err)
	}
	f := os.NewFile(uintptr(fd), "sctp-listener")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("transport: sctp listener: %w", err)
	}
	return ln, nil
}

func dialSCTP(ctx context.Context, ap netip.AddrPort, dscp int) (net.Conn, error) {
	fd, sa, err := sctpSocket(ap, dscp)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Connect(fd, sa) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		syscall.Close(fd)
		return nil, ctx.Err()
	}
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("transport: sctp connect %s: %w", ap, err)
	}
	f := os.NewFile(uintptr(fd), "sctp")
	defer f.Close()
	return net.FileConn(f)
}
