//go:build linux

package transport

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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
	out    sendBatch
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
	r.out.fn = r.out.call
	r.out.buf = make([]byte, 0, sendBatchBytes)
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
	sa    syscall.RawSockaddrInet6 // or an Inet4 in its first bytes
	salen uint32
	n     int
	errno syscall.Errno
}

func (w *rawWrite) call(fd uintptr) bool {
	var bp unsafe.Pointer
	if len(w.b) > 0 {
		bp = unsafe.Pointer(&w.b[0])
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(bp), uintptr(len(w.b)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&w.sa)), uintptr(w.salen))
	if errno == syscall.EAGAIN {
		return false // wait for room, then try again
	}
	w.n, w.errno = int(n), errno
	return true
}

func htons(p uint16) uint16 { return p<<8 | p>>8 }

// putSockaddr writes addr into sa as the socket's family wants it (an
// IPv4 address IPv4-mapped on a dual-stack socket) and returns its length;
// 0 when an IPv4 socket is given an IPv6 address.
func (r *rawUDP) putSockaddr(sa *syscall.RawSockaddrInet6, addr netip.AddrPort) uint32 {
	ip := addr.Addr()
	if r.inet6 {
		*sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(addr.Port()), Addr: ip.As16()}
		return uint32(unsafe.Sizeof(*sa))
	}
	if !ip.Unmap().Is4() {
		return 0
	}
	sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
	*sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Port: htons(addr.Port()), Addr: ip.Unmap().As4()}
	return uint32(unsafe.Sizeof(*sa4))
}

// WriteToUDPAddrPort sends b to addr.
func (r *rawUDP) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	w := r.writer.Get().(*rawWrite)
	w.b, w.errno, w.n = b, 0, 0
	if w.salen = r.putSockaddr(&w.sa, addr); w.salen == 0 {
		r.writer.Put(w)
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: syscall.EAFNOSUPPORT}
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
const batchSlots = 16

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

const (
	sendSlots      = 32       // datagrams per sendmmsg call
	sendBatchBytes = 64 << 10 // their bytes; a bigger datagram goes alone
)

// sendBatch gathers the datagrams sent while a reader handles a batch of
// received ones (a server answering them, mostly), for one sendmmsg call
// when the batch is done: the system call per datagram is much of the cost
// of sending one.
type sendBatch struct {
	mu     sync.Mutex
	active atomic.Int32 // readers handling a batch; changed under mu
	n      int
	buf    []byte // the datagrams, back to back
	off    [sendSlots + 1]int
	sa     [sendSlots]syscall.RawSockaddrInet6 // or an Inet4 in its first bytes
	salen  [sendSlots]uint32
	msgs   [sendSlots]mmsghdr
	iov    [sendSlots]syscall.Iovec
	fn     func(fd uintptr) bool
	next   int // the first datagram the current flush has not sent
	errno  syscall.Errno
}

// beginBatch is called by a reader before it handles a batch of
// datagrams, endBatch after: datagrams sent in between leave together.
func (r *rawUDP) beginBatch() {
	r.out.mu.Lock()
	r.out.active.Add(1)
	r.out.mu.Unlock()
}

func (r *rawUDP) endBatch() {
	q := &r.out
	q.mu.Lock()
	q.active.Add(-1)
	r.flushLocked()
	q.mu.Unlock()
}

// queue takes a copy of b for addr into the current batch and reports
// whether it did; when no reader is handling a batch (or b is too big,
// or addr needs the error of a direct send) the caller sends b itself,
// after what is queued.
func (r *rawUDP) queue(b []byte, addr netip.AddrPort) bool {
	q := &r.out
	if q.active.Load() == 0 {
		return false // the usual case outside a batch: no lock
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active.Load() == 0 {
		return false
	}
	if len(b) > sendBatchBytes {
		r.flushLocked()
		return false
	}
	if q.n == sendSlots || len(q.buf)+len(b) > sendBatchBytes {
		r.flushLocked()
	}
	i := q.n
	if q.salen[i] = r.putSockaddr(&q.sa[i], addr); q.salen[i] == 0 {
		r.flushLocked()
		return false // the direct send reports the error
	}
	q.off[i] = len(q.buf)
	q.buf = append(q.buf, b...)
	q.off[i+1] = len(q.buf)
	q.n++
	return true
}

// flushLocked sends the queued datagrams. A datagram the kernel refuses
// (as a direct send would have failed) is dropped, as UDP may. q.mu is
// held.
func (r *rawUDP) flushLocked() {
	q := &r.out
	if q.n == 0 {
		return
	}
	for i := range q.n {
		q.iov[i].Base = &q.buf[q.off[i]]
		q.iov[i].SetLen(q.off[i+1] - q.off[i])
		q.msgs[i] = mmsghdr{}
		q.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&q.sa[i]))
		q.msgs[i].hdr.Namelen = q.salen[i]
		q.msgs[i].hdr.Iov = &q.iov[i]
		q.msgs[i].hdr.Iovlen = 1
	}
	q.next = 0
	for q.next < q.n {
		q.errno = 0
		if err := r.rc.Write(q.fn); err != nil {
			break // closed
		}
		if q.errno != 0 {
			q.next++ // skip the one refused
		}
	}
	q.n = 0
	q.buf = q.buf[:0]
}

func (q *sendBatch) call(fd uintptr) bool {
	n, _, errno := syscall.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&q.msgs[q.next])), uintptr(q.n-q.next), syscall.MSG_DONTWAIT, 0, 0)
	if errno == syscall.EAGAIN {
		return false // wait for room, then try again
	}
	if errno != 0 {
		q.errno = errno
		return true
	}
	q.next += int(n)
	return true
}

func (r *rawUDP) underlying() *net.UDPConn { return r.UDPConn }
