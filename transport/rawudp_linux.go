//go:build linux

package transport

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"
)

// rawUDP sends and receives datagrams with raw sendto/recvmmsg system calls
// made through the socket's RawConn. The standard library's UDP calls enter
// the scheduler's syscall state on every datagram; at SIP rates (a dozen
// datagrams per call) that keeps sysmon spinning and hands Ps between
// threads. A non-blocking sendto or recvmmsg returns at once (EAGAIN is
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

// batchSlots is how many datagrams one recvmmsg call can return; each
// has a 64 KiB slot, the largest UDP payload.
const batchSlots = 8

// mmsghdr is struct mmsghdr of recvmmsg(2).
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// batchReader reads up to batchSlots datagrams per system call with
// recvmmsg: under load, datagrams wait while one is handled, and a call
// per datagram (plus the one that finds the queue empty) is a large part
// of a SIP server's CPU on a virtual machine.
type batchReader struct {
	fn    func(fd uintptr) bool
	buf   []byte
	iov   [batchSlots]syscall.Iovec
	rsa   [batchSlots]syscall.RawSockaddrAny
	msgs  [batchSlots]mmsghdr
	n     int
	errno syscall.Errno
	rc    syscall.RawConn
}

func (r *rawUDP) batchReader() *batchReader {
	br := &batchReader{buf: make([]byte, batchSlots*65536), rc: r.rc}
	for i := range br.msgs {
		br.iov[i].Base = &br.buf[i*65536]
		br.iov[i].SetLen(65536)
		br.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&br.rsa[i]))
		br.msgs[i].hdr.Iov = &br.iov[i]
		br.msgs[i].hdr.Iovlen = 1
	}
	br.fn = br.call
	return br
}

func (br *batchReader) call(fd uintptr) bool {
	for i := range br.msgs {
		br.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(br.rsa[i]))
		br.msgs[i].hdr.Flags = 0
		br.msgs[i].n = 0
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&br.msgs[0])), batchSlots, syscall.MSG_DONTWAIT, 0, 0)
	if errno == syscall.EAGAIN {
		return false // wait for a datagram
	}
	br.n, br.errno = int(n), errno
	return true
}

// read waits for at least one datagram and returns how many it read.
func (br *batchReader) read() (int, error) {
	br.n, br.errno = 0, 0
	if err := br.rc.Read(br.fn); err != nil {
		return 0, err
	}
	if br.errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: br.errno}
	}
	return br.n, nil
}

// datagram returns the i-th datagram of the last read and its source.
func (br *batchReader) datagram(i int) ([]byte, netip.AddrPort) {
	m := &br.msgs[i]
	var from netip.AddrPort
	switch br.rsa[i].Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&br.rsa[i]))
		from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), htons(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&br.rsa[i]))
		from = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), htons(sa.Port))
	}
	return br.buf[i*65536 : i*65536+int(m.n)], from
}

// batches returns the batch reader of the one goroutine reading the
// socket.
func (r *rawUDP) batches() datagramBatch { return r.batchReader() }

func (r *rawUDP) underlying() *net.UDPConn { return r.UDPConn }
