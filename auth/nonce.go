package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"hash/maphash"
	"sync"
	"time"
)

// A nonce is base64url(issued[8] | random[4] | mac[16]): the issue time in
// Unix nanoseconds, four random bytes so that two challenges in the same
// nanosecond differ, and the first 16 bytes of HMAC-SHA256 over the realm and
// the first twelve bytes. Any instance holding the secret can check it, so a
// re-REGISTER may land on another node behind the same name (RFC 7616 §5.4
// leaves the nonce format to the server).
const (
	nonceRawLen = 8 + 4 + 16
	nonceLen    = (nonceRawLen*8 + 5) / 6 // base64 without padding
)

var (
	errBadNonce   = errors.New("nonce was not issued here")
	errStaleNonce = errors.New("nonce expired")
)

type nonceMinter struct {
	ttl  time.Duration
	macs sync.Pool // of hash.Hash: HMAC-SHA256 keyed with the secret
}

func newNonceMinter(secret []byte, ttl time.Duration) *nonceMinter {
	key := append([]byte(nil), secret...)
	n := &nonceMinter{ttl: ttl}
	n.macs.New = func() any { return hmac.New(sha256.New, key) }
	return n
}

// mac writes the first 16 bytes of the nonce MAC over realm and head to dst.
func (n *nonceMinter) mac(dst []byte, realm string, head []byte) {
	m := n.macs.Get().(hash.Hash)
	m.Reset()
	var scratch [256]byte
	b := append(scratch[:0], "siphon-digest-nonce\x00"...)
	b = append(b, realm...)
	b = append(b, 0)
	b = append(b, head...)
	m.Write(b)
	var sum [sha256.Size]byte
	copy(dst, m.Sum(sum[:0]))
	n.macs.Put(m)
}

// issue returns a new nonce for realm.
func (n *nonceMinter) issue(now time.Time, realm string) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(raw[8:12])
	n.mac(raw[12:], realm, raw[:12])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// check returns when nonce was issued, errBadNonce if it was not issued for
// realm with this secret, and errStaleNonce (with the issue time) if it is
// older than the TTL or implausibly far in the future.
func (n *nonceMinter) check(nonce string, now time.Time, realm string) (int64, error) {
	if len(nonce) != nonceLen {
		return 0, errBadNonce
	}
	var src [nonceLen]byte
	copy(src[:], nonce)
	var raw [nonceRawLen]byte
	if k, err := base64.RawURLEncoding.Decode(raw[:], src[:]); err != nil || k != nonceRawLen {
		return 0, errBadNonce
	}
	var mac [16]byte
	n.mac(mac[:], realm, raw[:12])
	if !hmac.Equal(raw[12:], mac[:]) {
		return 0, errBadNonce
	}
	issued := int64(binary.BigEndian.Uint64(raw[:8]))
	age := now.UnixNano() - issued
	if age > int64(n.ttl) || -age > int64(n.ttl) {
		return issued, errStaleNonce
	}
	return issued, nil
}

// counter remembers, per nonce, the nonce-counts already used (RFC 7616
// §3.4: "the server can detect request replays by watching for the same
// nc-value"), within a fixed number of entries. An entry lives until its
// nonce expires. When the table is full the oldest entry is dropped and the
// shard's watermark moves to its issue time: a nonce issued at or before the
// watermark that has no entry is then treated as stale, so dropping an entry
// never lets its nonce-counts be replayed.
type counter struct {
	seed   maphash.Seed
	shards [counterShards]counterShard
}

const counterShards = 16

type counterShard struct {
	mu        sync.Mutex
	max       int
	m         map[string]*ncEntry
	queue     []*ncEntry // in insertion order; entries leave from the head
	head      int
	watermark int64
}

type ncEntry struct {
	nonce   string
	issued  int64
	expires int64
	max     uint32 // highest nonce-count seen
	seen    uint64 // bit i: max-1-i was seen
}

var (
	errReplay  = errors.New("nonce-count replayed")
	errEvicted = errors.New("nonce forgotten under load")
)

func newCounter(maxEntries int) *counter {
	c := &counter{seed: maphash.MakeSeed()}
	per := max(maxEntries/counterShards, 1)
	for i := range c.shards {
		c.shards[i].max = per
		c.shards[i].m = make(map[string]*ncEntry)
	}
	return c
}

// use records nonce-count nc of nonce (0 when the request has no qop, which
// makes the nonce single-use). It returns errReplay for a count already seen
// or too far behind the highest, errEvicted when the nonce's entry may have
// been dropped.
func (c *counter) use(nonce string, issued, expires int64, nc uint32, now int64) error {
	s := &c.shards[maphash.String(c.seed, nonce)%counterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	e := s.m[nonce]
	if e == nil {
		if issued <= s.watermark {
			return errEvicted
		}
		if len(s.m) >= s.max {
			s.evictHead()
		}
		e = &ncEntry{nonce: nonce, issued: issued, expires: expires, max: nc}
		s.m[nonce] = e
		s.queue = append(s.queue, e)
		return nil
	}
	switch {
	case nc > e.max:
		shift := nc - e.max
		switch {
		case shift < 64:
			e.seen = e.seen<<shift | 1<<(shift-1)
		case shift == 64:
			e.seen = 1 << 63
		default:
			e.seen = 0
		}
		e.max = nc
		return nil
	case nc == e.max:
		return errReplay
	default:
		d := e.max - nc
		if d > 64 {
			return errReplay
		}
		bit := uint64(1) << (d - 1)
		if e.seen&bit != 0 {
			return errReplay
		}
		e.seen |= bit
		return nil
	}
}

// prune drops expired entries from the head of the queue. Entries are queued
// roughly in issue order, so expired ones gather at the head; one that is not
// yet expired stops the scan, and capacity eviction handles the rest.
func (s *counterShard) prune(now int64) {
	for s.head < len(s.queue) && s.queue[s.head].expires <= now {
		delete(s.m, s.queue[s.head].nonce)
		s.queue[s.head] = nil
		s.head++
	}
	s.compact()
}

func (s *counterShard) evictHead() {
	e := s.queue[s.head]
	delete(s.m, e.nonce)
	s.queue[s.head] = nil
	s.head++
	if e.issued > s.watermark {
		s.watermark = e.issued
	}
	s.compact()
}

func (s *counterShard) compact() {
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
		return
	}
	if s.head > 1024 && s.head*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
}

// len returns the number of remembered nonces.
func (c *counter) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
