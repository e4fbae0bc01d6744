// Package memory is the in-process registrar.Backend: bindings live in this
// process only and are gone when it exits. It is the default for a single
// registrar and for tests.
//
// Bindings are packed (each binding's strings share one allocation, flows are
// stored as raw addresses), sharded by AoR behind 64 locks, indexed by
// contact URI and kept in a heap by expiry, so Expire costs O(log n) per
// binding, a refresh that extends a lifetime costs no heap work, and memory
// stays near half a kilobyte per binding.
//
//	reg, err := registrar.New(memory.New(memory.Config{}), registrar.Config{})
package memory

import (
	"context"
	"errors"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/transport"
)

// DefaultMaxBindings is Config.MaxBindings when zero.
const DefaultMaxBindings = 1 << 20

// Config tunes a Backend. The zero value gives the documented defaults.
type Config struct {
	// MaxBindings bounds the bindings held; default 1048576. An Update
	// that would add more fails with registrar.ErrFull, which the Registrar
	// answers 503.
	MaxBindings int
}

const shardCount = 64

// Backend keeps bindings in memory. It is safe for concurrent use.
type Backend struct {
	max    int64
	count  atomic.Int64
	seed   maphash.Seed
	shards [shardCount]shard
	uris   [shardCount]uriShard
	sweep  atomic.Uint32 // shard Expire starts at, rotating
}

var _ registrar.Backend = (*Backend)(nil)

type shard struct {
	mu   sync.Mutex
	aors map[string]*entry
	heap []*entry // min-heap on due
	// cur is where Update decodes the stored bindings it gives fn (which
	// may not keep the slice), so that a refresh allocates none; emptied
	// after each Update.
	cur []registrar.Binding
}

type entry struct {
	aor  string
	recs []rec
	// due is when Expire next looks at the entry: never after its earliest
	// binding expiry, maybe before. A refresh pushes an expiry later and
	// leaves due alone (no heap work per REGISTER); Expire then finds the
	// entry early, sees nothing expired and sifts it down to its new due.
	due int64
	idx int // position in the shard's heap
}

type uriShard struct {
	mu sync.Mutex
	// The AoRs with a binding of a contact URI, by hash of its URIKey:
	// the first in one, any others (rare: a URI in several AoRs, or a
	// hash collision) in more.
	one  map[uint64]string
	more map[uint64][]string
}

// New returns an empty Backend.
func New(cfg Config) *Backend {
	if cfg.MaxBindings <= 0 {
		cfg.MaxBindings = DefaultMaxBindings
	}
	b := &Backend{max: int64(cfg.MaxBindings), seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].aors = make(map[string]*entry)
		b.uris[i].one = make(map[uint64]string)
		b.uris[i].more = make(map[uint64][]string)
	}
	return b
}

// Len returns the number of bindings held, expired ones not yet swept
// included.
func (b *Backend) Len() int { return int(b.count.Load()) }

func (b *Backend) shardOf(aor string) *shard {
	return &b.shards[maphash.String(b.seed, aor)%shardCount]
}

// Load implements registrar.Backend.
func (b *Backend) Load(ctx context.Context, aor string) ([]registrar.Binding, error) {
	s := b.shardOf(aor)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.aors[aor]
	if e == nil {
		return nil, nil
	}
	return decodeAll(e), nil
}

func decodeAll(e *entry) []registrar.Binding {
	return decodeInto(nil, e)
}

// decodeInto appends e's bindings to dst.
func decodeInto(dst []registrar.Binding, e *entry) []registrar.Binding {
	n := len(dst)
	dst = slices.Grow(dst, len(e.recs))[:n+len(e.recs)]
	for i := range e.recs {
		e.recs[i].decode(e.aor, &dst[n+i])
	}
	return dst
}

// decodeScratch decodes e's bindings into the shard's scratch slice (s.mu
// is held); a shard keeps at most maxScratch of them between Updates.
func (s *shard) decodeScratch(e *entry) []registrar.Binding {
	s.cur = decodeInto(s.cur[:0], e)
	return s.cur
}

const maxScratch = 16

// clearScratch drops what the scratch slice refers to (the bindings'
// strings), and the slice itself after an AoR with many bindings.
func (s *shard) clearScratch() {
	if cap(s.cur) > maxScratch {
		s.cur = nil
		return
	}
	clear(s.cur)
	s.cur = s.cur[:0]
}

// Update implements registrar.Backend.
func (b *Backend) Update(ctx context.Context, aor string, now time.Time, fn func([]registrar.Binding) ([]registrar.Binding, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := b.shardOf(aor)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.aors[aor]
	var cur []registrar.Binding
	if e != nil {
		cur = s.decodeScratch(e)
		defer s.clearScratch()
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	var recs []rec
	if e != nil && len(next) == 1 && len(e.recs) == 1 {
		recs = e.recs // one binding replacing one (a refresh): in place
	} else {
		recs = make([]rec, len(next))
	}
	for i := range next {
		if j := same(cur, &next[i]); j >= 0 {
			recs[i] = e.recs[j] // unchanged: keep the packed form
			continue
		}
		r, err := encode(&next[i])
		if err != nil {
			return err
		}
		recs[i] = r
	}
	delta := int64(len(recs) - len(cur))
	if delta > 0 && b.count.Add(delta) > b.max {
		b.count.Add(-delta)
		return registrar.ErrFull
	} else if delta <= 0 {
		b.count.Add(delta)
	}
	if e != nil {
		aor = e.aor // the index shares the entry's copy
	} else if len(recs) > 0 {
		aor = strings.Clone(aor) // not the caller's: it may be a whole request
	}
	b.reindex(aor, cur, next)
	switch {
	case len(recs) == 0 && e != nil:
		s.remove(e)
	case len(recs) == 0:
	case e == nil:
		e = &entry{aor: aor, recs: recs}
		e.due = minExp(recs)
		s.aors[e.aor] = e
		s.heapPush(e)
	default:
		e.recs = recs
		if m := minExp(recs); m < e.due {
			e.due = m
			s.heapUp(e.idx)
		}
	}
	return nil
}

// same returns the index in cur of a binding equal to b, or -1.
func same(cur []registrar.Binding, b *registrar.Binding) int {
	for j := range cur {
		c := &cur[j]
		if c.Key == b.Key && c.Contact == b.Contact && c.CSeq == b.CSeq && c.CallID == b.CallID &&
			c.Expires.Equal(b.Expires) && c.Updated.Equal(b.Updated) && c.URIKey == b.URIKey &&
			c.Instance == b.Instance && c.RegID == b.RegID && c.Flow == b.Flow && c.Node == b.Node &&
			c.UserAgent == b.UserAgent && equalStrings(c.Path, b.Path) && equalStrings(c.ServiceRoute, b.ServiceRoute) {
			return j
		}
	}
	return -1
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func minExp(recs []rec) int64 {
	m := recs[0].expires
	for _, r := range recs[1:] {
		m = min(m, r.expires)
	}
	return m
}

// reindex updates the contact URI index for aor going from old to next.
func (b *Backend) reindex(aor string, old, next []registrar.Binding) {
	has := func(bs []registrar.Binding, key string) bool {
		for i := range bs {
			if bs[i].URIKey == key {
				return true
			}
		}
		return false
	}
	for i := range old {
		if k := old[i].URIKey; !has(next, k) && !has(old[:i], k) {
			b.unindex(k, aor)
		}
	}
	for i := range next {
		if k := next[i].URIKey; !has(old, k) && !has(next[:i], k) {
			b.index(k, aor)
		}
	}
}

func (b *Backend) uriShardOf(key string) (*uriShard, uint64) {
	h := maphash.String(b.seed, key)
	return &b.uris[h%shardCount], h
}

func (b *Backend) index(key, aor string) {
	u, h := b.uriShardOf(key)
	u.mu.Lock()
	// aor is the entry's copy of the AoR, shared.
	if _, ok := u.one[h]; !ok {
		u.one[h] = aor
	} else {
		u.more[h] = append(u.more[h], aor)
	}
	u.mu.Unlock()
}

func (b *Backend) unindex(key, aor string) {
	u, h := b.uriShardOf(key)
	u.mu.Lock()
	defer u.mu.Unlock()
	list := u.more[h]
	if u.one[h] == aor {
		if len(list) == 0 {
			delete(u.one, h)
			return
		}
		u.one[h], list = list[0], list[1:]
	} else {
		for i, a := range list {
			if a == aor {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
	}
	if len(list) == 0 {
		delete(u.more, h)
	} else {
		u.more[h] = list
	}
}

// ByURI implements registrar.Backend.
func (b *Backend) ByURI(ctx context.Context, uriKey string) ([]registrar.Binding, error) {
	u, h := b.uriShardOf(uriKey)
	u.mu.Lock()
	var aors []string
	if a, ok := u.one[h]; ok {
		aors = append(append(aors, a), u.more[h]...)
	}
	u.mu.Unlock()
	var out []registrar.Binding
	for _, aor := range aors {
		bs, _ := b.Load(ctx, aor)
		for _, bd := range bs {
			if bd.URIKey == uriKey {
				out = append(out, bd)
			}
		}
	}
	return out, nil
}

// Expire implements registrar.Backend.
func (b *Backend) Expire(ctx context.Context, now time.Time, limit int) ([]registrar.Binding, error) {
	t := now.UnixNano()
	var out []registrar.Binding
	start := b.sweep.Add(1)
	for i := range shardCount {
		if len(out) >= limit {
			break
		}
		s := &b.shards[(int(start)+i)%shardCount]
		s.mu.Lock()
		for len(s.heap) > 0 && s.heap[0].due <= t && len(out) < limit {
			e := s.heap[0]
			if m := minExp(e.recs); m > t {
				// Refreshed since it was due: look again at its new due.
				e.due = m
				s.heapDown(0)
				continue
			}
			cur := decodeAll(e)
			keep := make([]rec, 0, len(e.recs))
			var kept []registrar.Binding
			for j := range e.recs {
				if e.recs[j].expires <= t && len(out) < limit {
					out = append(out, cur[j])
					continue
				}
				keep = append(keep, e.recs[j])
				kept = append(kept, cur[j])
			}
			b.count.Add(int64(len(keep) - len(e.recs)))
			b.reindex(e.aor, cur, kept)
			if len(keep) == 0 {
				s.remove(e)
			} else {
				e.recs = keep
				e.due = minExp(keep)
				s.heapFix(e.idx)
			}
		}
		s.mu.Unlock()
	}
	return out, nil
}

// Range implements registrar.Backend.
func (b *Backend) Range(ctx context.Context, fn func(string, []registrar.Binding) bool) error {
	// A shard's entries are listed under its lock, then decoded under it
	// rangeBatch at a time (REGISTERs on the shard wait for one batch, not
	// the whole shard), and fn runs without it: fn may use the Backend.
	const rangeBatch = 256
	type item struct {
		aor string
		bs  []registrar.Binding
	}
	items := make([]item, rangeBatch)
	// The batch's bindings share one slice, reused by the next batch: fn
	// may not keep it.
	var slab []registrar.Binding
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		es := make([]*entry, 0, len(s.aors))
		for _, e := range s.aors {
			es = append(es, e)
		}
		s.mu.Unlock()
		for len(es) > 0 {
			batch := es[:min(rangeBatch, len(es))]
			es = es[len(batch):]
			clear(slab)
			slab = slab[:0]
			s.mu.Lock()
			for j, e := range batch {
				items[j] = item{}
				if len(e.recs) > 0 { // none once removed from the shard
					n := len(slab)
					slab = decodeInto(slab, e)
					items[j] = item{e.aor, slab[n:len(slab):len(slab)]}
				}
			}
			s.mu.Unlock()
			for _, it := range items[:len(batch)] {
				if err := ctx.Err(); err != nil {
					return err
				}
				if len(it.bs) > 0 && !fn(it.aor, it.bs) {
					return nil
				}
			}
		}
	}
	return nil
}

// remove takes e, whose last binding is gone, out of the shard; a Range
// holding it sees no bindings. s.mu is held.
func (s *shard) remove(e *entry) {
	s.heapRemove(e)
	delete(s.aors, e.aor)
	e.recs = nil
}

// The heap of a shard, by due, with each entry knowing its index.

func (s *shard) heapLess(i, j int) bool { return s.heap[i].due < s.heap[j].due }

func (s *shard) heapSwap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.heap[i].idx, s.heap[j].idx = i, j
}

func (s *shard) heapUp(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !s.heapLess(j, i) {
			break
		}
		s.heapSwap(i, j)
		j = i
	}
}

func (s *shard) heapDown(i int) bool {
	i0, n := i, len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && s.heapLess(r, l) {
			j = r
		}
		if !s.heapLess(j, i) {
			break
		}
		s.heapSwap(i, j)
		i = j
	}
	return i > i0
}

func (s *shard) heapPush(e *entry) {
	e.idx = len(s.heap)
	s.heap = append(s.heap, e)
	s.heapUp(e.idx)
}

func (s *shard) heapFix(i int) {
	if !s.heapDown(i) {
		s.heapUp(i)
	}
}

func (s *shard) heapRemove(e *entry) {
	i, last := e.idx, len(s.heap)-1
	if i != last {
		s.heapSwap(i, last)
	}
	s.heap[last] = nil
	s.heap = s.heap[:last]
	if i != last {
		s.heapFix(i)
	}
	if cap(s.heap) > 64 && len(s.heap) < cap(s.heap)/4 {
		s.heap = append([]*entry(nil), s.heap...)
	}
}

// Packed bindings.

// The string fields of a binding, stored back to back in rec.blob.
const (
	fKey = iota
	fURIKey
	fContact
	fInstance
	fCallID
	fUserAgent
	fNode
	fPath         // values separated by NUL
	fServiceRoute // values separated by NUL
	fTransport    // only for a transport name without a code
	nFields
)

type rec struct {
	blob    string
	expires int64 // Unix nanoseconds
	updated int64
	flow    flowRec
	cseq    uint32
	regID   uint32
	ends    [nFields]uint16
}

type flowRec struct {
	connID        uint64
	local, remote [16]byte
	lport, rport  uint16
	tp            uint8 // transportCodes index, 0 none, 255 in blob
	lkind, rkind  uint8 // 0 invalid, 4, 6
}

var transportCodes = [...]string{"", transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS, transport.SCTP}

var errTooLarge = errors.New("memory: binding larger than 64 KiB")

func encode(b *registrar.Binding) (rec, error) {
	r := rec{expires: b.Expires.UnixNano(), updated: b.Updated.UnixNano(), cseq: b.CSeq, regID: b.RegID}
	key := b.Key
	if key == b.URIKey {
		key = "" // the usual case: stored once
	}
	tpName := ""
	r.flow.tp = 255
	for i, name := range transportCodes {
		if name == b.Flow.Transport {
			r.flow.tp = uint8(i)
		}
	}
	if r.flow.tp == 255 {
		tpName = b.Flow.Transport
	}
	fields := [nFields]string{key, b.URIKey, b.Contact, b.Instance, b.CallID, b.UserAgent, b.Node,
		"", "", tpName}
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	for _, p := range b.Path {
		n += len(p) + 1
	}
	for _, p := range b.ServiceRoute {
		n += len(p) + 1
	}
	if n > 0xffff {
		return rec{}, errTooLarge
	}
	var sb strings.Builder
	sb.Grow(n)
	for i, f := range fields {
		switch i {
		case fPath:
			writeList(&sb, b.Path)
		case fServiceRoute:
			writeList(&sb, b.ServiceRoute)
		default:
			sb.WriteString(f)
		}
		r.ends[i] = uint16(sb.Len())
	}
	r.blob = sb.String()
	r.flow.connID = b.Flow.ConnID
	r.flow.local, r.flow.lport, r.flow.lkind = packAddr(b.Flow.Local)
	r.flow.remote, r.flow.rport, r.flow.rkind = packAddr(b.Flow.Remote)
	return r, nil
}

func writeList(sb *strings.Builder, list []string) {
	for i, v := range list {
		if i > 0 {
			sb.WriteByte(0)
		}
		sb.WriteString(v)
	}
}

func packAddr(ap netip.AddrPort) ([16]byte, uint16, uint8) {
	if !ap.IsValid() {
		return [16]byte{}, 0, 0
	}
	a := ap.Addr()
	if a.Is4() {
		return a.As16(), ap.Port(), 4
	}
	return a.As16(), ap.Port(), 6
}

func unpackAddr(b [16]byte, port uint16, kind uint8) netip.AddrPort {
	switch kind {
	case 4:
		return netip.AddrPortFrom(netip.AddrFrom16(b).Unmap(), port)
	case 6:
		return netip.AddrPortFrom(netip.AddrFrom16(b), port)
	}
	return netip.AddrPort{}
}

func (r *rec) field(i int) string {
	start := uint16(0)
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.blob[start:r.ends[i]]
}

func (r *rec) decode(aor string, b *registrar.Binding) {
	*b = registrar.Binding{
		AoR:       aor,
		Key:       r.field(fKey),
		URIKey:    r.field(fURIKey),
		Contact:   r.field(fContact),
		Instance:  r.field(fInstance),
		RegID:     r.regID,
		CallID:    r.field(fCallID),
		CSeq:      r.cseq,
		Expires:   time.Unix(0, r.expires),
		Updated:   time.Unix(0, r.updated),
		Node:      r.field(fNode),
		UserAgent: r.field(fUserAgent),
	}
	if b.Key == "" {
		b.Key = b.URIKey
	}
	if p := r.field(fPath); p != "" {
		b.Path = strings.Split(p, "\x00")
	}
	if p := r.field(fServiceRoute); p != "" {
		b.ServiceRoute = strings.Split(p, "\x00")
	}
	if r.flow.tp == 255 {
		b.Flow.Transport = r.field(fTransport)
	} else {
		b.Flow.Transport = transportCodes[r.flow.tp]
	}
	b.Flow.ConnID = r.flow.connID
	b.Flow.Local = unpackAddr(r.flow.local, r.flow.lport, r.flow.lkind)
	b.Flow.Remote = unpackAddr(r.flow.remote, r.flow.rport, r.flow.rkind)
}
