//go:build linux

package transport

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"
)

// rawUDP sends and receives datagrams with raw sendto/recvfrom system calls
// made through the socket's RawConn. The standard library's UDP calls enter
// the scheduler's syscall state on every datagram; at SIP rates (a dozen
// datagrams per call) that keeps sysmon spinning and hands Ps between
// threads. A non-blocking sendto or recvfrom returns at once (EAGAIN is
// handed back to the netpoller), so the scheduler need not know.
type rawUDP struct {
	*net.UDPConn
	rc     syscall.RawConn
	inet6  bool
	writer sync.Pool
}

func newRawUDP(uc *net.UDPConn) packetConn {
	rc, err := uc.SyscallConn()
	if err != nil {
		return uc
	}
	r := &rawUDP{UDPConn: uc, rc: rc}
	var serr error
	_ = rc.Control(func(fd uintptr) {
		var sa syscall.Sockaddr
		sa, serr = syscall.Getsockname(int(fd))
		_, r.inet6 = sa.(*syscall.SockaddrInet6)
	})
	if serr != nil {
		return uc
	}
	r.writer.New = func() any {
		w := &rawWrite{}
		w.fn = w.call
		return w
	}
	return r
}

// rawWrite holds one sendto call's arguments, so the function handed to
// RawConn.Write is bound once and does not allocate per datagram.
type rawWrite struct {
	fn    func(fd uintptr) bool
	b     []byte
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	inet6 bool
	n     int
	errno syscall.Errno
}

func (w *rawWrite) call(fd uintptr) bool {
	var p unsafe.Pointer
	var l uintptr
	if w.inet6 {
		p, l = unsafe.Pointer(&w.sa6), unsafe.Sizeof(w.sa6)
	} else {
		p, l = unsafe.Pointer(&w.sa4), unsafe.Sizeof(w.sa4)
	}
	var bp unsafe.Pointer
	if len(w.b) > 0 {
		bp = unsafe.Pointer(&w.b[0])
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(bp), uintptr(len(w.b)), syscall.MSG_DONTWAIT, uintptr(p), l)
	if errno == syscall.EAGAIN {
		return false // wait for room, then try again
	}
	w.n, w.errno = int(n), errno
	return true
}

func htons(p uint16) uint16 { return p<<8 | p>>8 }

// WriteToUDPAddrPort sends b to addr.
func (r *rawUDP) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	w := r.writer.Get().(*rawWrite)
	w.b, w.inet6, w.errno, w.n = b, r.inet6, 0, 0
	ip := addr.Addr()
	if r.inet6 {
		w.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(addr.Port()), Addr: ip.As16()}
		if ip.Is4() {
			w.sa6.Addr = netip.AddrFrom16(ip.As16()).As16() // IPv4-mapped on a dual-stack socket
		}
	} else {
		if !ip.Unmap().Is4() {
			r.writer.Put(w)
			return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: syscall.EAFNOSUPPORT}
		}
		w.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Port: htons(addr.Port()), Addr: ip.Unmap().As4()}
	}
	err := r.rc.Write(w.fn)
	n, errno := w.n, w.errno
	w.b = nil
	r.writer.Put(w)
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: errno}
	}
	return n, nil
}

// rawReader is the receive state of the one goroutine reading a socket.
type rawReader struct {
	fn    func(fd uintptr) bool
	b     []byte
	rsa   syscall.RawSockaddrAny
	n     int
	errno syscall.Errno
}

func (rd *rawReader) call(fd uintptr) bool {
	l := uint32(unsafe.Sizeof(rd.rsa))
	var bp unsafe.Pointer
	if len(rd.b) > 0 {
		bp = unsafe.Pointer(&rd.b[0])
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(bp), uintptr(len(rd.b)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&rd.rsa)), uintptr(unsafe.Pointer(&l)))
	if errno == syscall.EAGAIN {
		return false // wait for a datagram
	}
	rd.n, rd.errno = int(n), errno
	return true
}

// reader returns a function reading one datagram into b, for the single
// reading goroutine of this socket.
func (r *rawUDP) reader() func(b []byte) (int, netip.AddrPort, error) {
	rd := &rawReader{}
	rd.fn = rd.call
	return func(b []byte) (int, netip.AddrPort, error) {
		rd.b, rd.errno, rd.n = b, 0, 0
		if err := r.rc.Read(rd.fn); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if rd.errno != 0 {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: rd.errno}
		}
		var from netip.AddrPort
		switch rd.rsa.Addr.Family {
		case syscall.AF_INET:
			sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rd.rsa))
			from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), htons(sa.Port))
		case syscall.AF_INET6:
			sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rd.rsa))
			from = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), htons(sa.Port))
		}
		return rd.n, from, nil
	}
}

func (r *rawUDP) underlying() *net.UDPConn { return r.UDPConn }
