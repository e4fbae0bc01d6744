// Package memory is the in-process registrar.Backend: bindings live in this
// process only and are gone when it exits. It is the default for a single
// registrar and for tests.
//
// Bindings are sharded by AoR behind 64 locks and packed so that the
// garbage collector has next to nothing to mark per binding: a shard keeps
// the strings of its AoRs and bindings back to back in one append-only byte
// arena (compacted into a new one when it fills), its AoRs in pages of
// fixed-size slots holding offsets into it, and its indexes (by AoR, by
// contact URI, by expiry) keyed by 64-bit hash or slot number. A refresh
// that changes no string writes nothing to the arena and allocates nothing;
// Expire costs O(log n) per binding; memory stays near half a kilobyte per
// binding.
//
// The strings of the bindings handed out point into an arena, which is
// never written where it has been read: a binding kept by a caller keeps
// that arena's memory (the shard's, a few hundred kilobytes at 100,000
// bindings) alive until it is dropped.
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
	"unsafe"

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

const (
	shardCount = 64
	pageSize   = 256 // slots per page
)

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
	mu sync.Mutex
	// index finds an AoR's slot by the AoR's hash. An AoR whose hash is
	// another's (possible, if never seen) is in coll, which holds only
	// AoRs whose hash is in index.
	index hashIndex
	coll  map[string]uint32
	pages []*[pageSize]slot
	free  []uint32 // slots not in use
	heap  []uint32 // slots in use, a min-heap on due
	// arena holds the strings of the shard's AoRs and bindings. It is only
	// appended to: strings handed out point into it. When full it is
	// compacted into a new one (the old lives on while a string refers to
	// it); dead counts the bytes in it no slot refers to any more.
	arena []byte
	dead  int
	// Update's scratch, emptied after each: cur is where it decodes the
	// stored bindings it gives fn (which may not keep the slice), so that a
	// refresh allocates none; plan, used and recs are its working state.
	cur  []registrar.Binding
	plan []step
	used []bool
	recs []rec
}

// slot is an AoR's place in a shard: no pointers but rest, which is nil
// unless the AoR has more than one binding.
type slot struct {
	hash   uint64 // of the AoR
	aor    uint32 // arena offset of the AoR
	aorLen uint32
	n      uint32 // bindings; 0 for a slot not in use
	hidx   uint32 // position in the shard's heap
	// due is when Expire next looks at the slot: never after its earliest
	// binding expiry, maybe before. A refresh pushes an expiry later and
	// leaves due alone (no heap work per REGISTER); Expire then finds the
	// slot early, sees nothing expired and sifts it down to its new due.
	due   int64
	first rec
	rest  []rec
}

// step says how Update stores a binding fn returned: as the j-th stored
// one (unchanged), with the j-th's strings and its own numbers, or encoded
// afresh.
type step struct {
	kind uint8
	j    int32
}

const (
	stepEncode = iota
	stepKeep
	stepStrings
)

type uriShard struct {
	mu sync.Mutex
	// The AoRs with a binding of a contact URI, by hash of its URIKey, as
	// refs (shard<<32 | slot): the first in one, any others (rare: a URI
	// in several AoRs, or a hash collision) in more.
	one  map[uint64]uint64
	more map[uint64][]uint64
}

// New returns an empty Backend.
func New(cfg Config) *Backend {
	if cfg.MaxBindings <= 0 {
		cfg.MaxBindings = DefaultMaxBindings
	}
	b := &Backend{max: int64(cfg.MaxBindings), seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].coll = make(map[string]uint32)
		b.uris[i].one = make(map[uint64]uint64)
		b.uris[i].more = make(map[uint64][]uint64)
	}
	return b
}

// Len returns the number of bindings held, expired ones not yet swept
// included.
func (b *Backend) Len() int { return int(b.count.Load()) }

// shardOf returns aor's hash and shard.
func (b *Backend) shardOf(aor string) (uint64, *shard) {
	h := maphash.String(b.seed, aor)
	return h, &b.shards[h%shardCount]
}

func ref(h uint64, si uint32) uint64 { return h%shardCount<<32 | uint64(si) }

func (s *shard) slot(si uint32) *slot { return &s.pages[si/pageSize][si%pageSize] }

// str returns the n bytes of the arena at off as a string sharing them.
func (s *shard) str(off, n uint32) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&s.arena[off], int(n))
}

func (s *shard) aorOf(sl *slot) string { return s.str(sl.aor, sl.aorLen) }

func (sl *slot) rec(i int) *rec {
	if i == 0 {
		return &sl.first
	}
	return &sl.rest[i-1]
}

// setRecs makes recs the slot's bindings (at least one).
func (sl *slot) setRecs(recs []rec) {
	sl.n = uint32(len(recs))
	sl.first = recs[0]
	if len(recs) == 1 {
		sl.rest = nil
		return
	}
	sl.rest = append(sl.rest[:0], recs[1:]...)
}

// lookup returns the slot of aor, whose hash is h.
func (s *shard) lookup(h uint64, aor string) (uint32, bool) {
	si, ok := s.index.get(h)
	if !ok {
		return 0, false
	}
	if s.aorOf(s.slot(si)) == aor {
		return si, true
	}
	si, ok = s.coll[aor]
	return si, ok
}

// newSlot takes a slot for aor, whose hash is h and for which the arena
// has room.
func (s *shard) newSlot(h uint64, aor string) uint32 {
	var si uint32
	if n := len(s.free); n > 0 {
		si, s.free = s.free[n-1], s.free[:n-1]
	} else {
		si = uint32(len(s.pages) * pageSize)
		s.pages = append(s.pages, new([pageSize]slot))
		for i := si + pageSize - 1; i > si; i-- {
			s.free = append(s.free, i)
		}
	}
	sl := s.slot(si)
	*sl = slot{hash: h, aor: uint32(len(s.arena)), aorLen: uint32(len(aor))}
	s.arena = append(s.arena, aor...)
	if _, ok := s.index.get(h); ok {
		s.coll[strings.Clone(aor)] = si
	} else {
		s.index.set(h, si)
	}
	return si
}

// removeSlot frees slot si with the bindings it still holds.
func (s *shard) removeSlot(si uint32) {
	sl := s.slot(si)
	s.dead += int(sl.aorLen)
	for i := range int(sl.n) {
		s.dead += sl.rec(i).size()
	}
	s.heapRemove(si)
	if v, ok := s.index.get(sl.hash); ok && v == si {
		s.index.del(sl.hash)
		for k, v := range s.coll { // empty but for hash collisions
			if s.slot(v).hash == sl.hash {
				s.index.set(sl.hash, v)
				delete(s.coll, k)
				break
			}
		}
	} else {
		delete(s.coll, s.aorOf(sl))
	}
	*sl = slot{}
	s.free = append(s.free, si)
}

// reserve makes room for n more bytes in the arena, compacting it into a
// new one when it is full. Offsets in slots change; strings handed out do
// not (they keep the old arena).
func (s *shard) reserve(n int) {
	if len(s.arena)+n <= cap(s.arena) {
		return
	}
	live := len(s.arena) - s.dead + n
	na := make([]byte, 0, max(live+live/2, 4096))
	for _, p := range s.pages {
		for i := range p {
			sl := &p[i]
			if sl.n == 0 {
				continue
			}
			off := uint32(len(na))
			na = append(na, s.arena[sl.aor:sl.aor+sl.aorLen]...)
			sl.aor = off
			for j := range int(sl.n) {
				r := sl.rec(j)
				off := uint32(len(na))
				na = append(na, s.arena[r.off:r.off+uint32(r.size())]...)
				r.off = off
			}
		}
	}
	s.arena, s.dead = na, 0
}

// Load implements registrar.Backend.
func (b *Backend) Load(ctx context.Context, aor string) ([]registrar.Binding, error) {
	h, s := b.shardOf(aor)
	s.mu.Lock()
	defer s.mu.Unlock()
	si, ok := s.lookup(h, aor)
	if !ok {
		return nil, nil
	}
	return s.decodeInto(nil, s.slot(si)), nil
}

// decodeInto appends sl's bindings to dst.
func (s *shard) decodeInto(dst []registrar.Binding, sl *slot) []registrar.Binding {
	n, k := len(dst), int(sl.n)
	dst = slices.Grow(dst, k)[:n+k]
	aor := s.aorOf(sl)
	for i := range k {
		s.decode(aor, sl.rec(i), &dst[n+i])
	}
	return dst
}

// decodeScratch decodes sl's bindings into the shard's scratch slice (s.mu
// is held); a shard keeps at most maxScratch of them between Updates.
func (s *shard) decodeScratch(sl *slot) []registrar.Binding {
	s.cur = s.decodeInto(s.cur[:0], sl)
	return s.cur
}

const maxScratch = 16

// clearScratch drops what the scratch slices refer to (the bindings'
// strings), and the slices themselves after an AoR with many bindings.
func (s *shard) clearScratch() {
	if cap(s.cur) > maxScratch {
		s.cur = nil
	} else {
		clear(s.cur)
		s.cur = s.cur[:0]
	}
	if cap(s.plan) > maxScratch {
		s.plan = nil
	}
	if cap(s.used) > maxScratch {
		s.used = nil
	}
	if cap(s.recs) > maxScratch {
		s.recs = nil
	}
}

var errTooLarge = errors.New("memory: binding larger than 64 KiB")

// Update implements registrar.Backend.
func (b *Backend) Update(ctx context.Context, aor string, now time.Time, fn func([]registrar.Binding) ([]registrar.Binding, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, s := b.shardOf(aor)
	s.mu.Lock()
	defer s.mu.Unlock()
	si, found := s.lookup(h, aor)
	defer s.clearScratch()
	var cur []registrar.Binding
	if found {
		cur = s.decodeScratch(s.slot(si))
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	if len(next) == 0 {
		if found {
			b.count.Add(-int64(len(cur)))
			b.reindex(ref(h, si), cur, nil)
			s.removeSlot(si)
		}
		return nil
	}
	// Plan how each binding is stored and how many arena bytes that takes,
	// before anything changes (an error leaves the AoR as it was).
	used := append(s.used[:0], make([]bool, len(cur))...)
	plan := s.plan[:0]
	need := 0
	if !found {
		need = len(aor)
	}
	for i := range next {
		st := step{kind: stepEncode}
		if j := sameStrings(cur, used, &next[i]); j >= 0 {
			used[j] = true
			st = step{kind: stepStrings, j: int32(j)}
			if sameNumbers(&cur[j], &next[i]) {
				st.kind = stepKeep
			}
		} else {
			n := encodedLen(&next[i])
			if n > 0xffff {
				return errTooLarge
			}
			need += n
		}
		plan = append(plan, st)
	}
	s.used, s.plan = used, plan
	delta := int64(len(next) - len(cur))
	if delta > 0 && b.count.Add(delta) > b.max {
		b.count.Add(-delta)
		return registrar.ErrFull
	} else if delta <= 0 {
		b.count.Add(delta)
	}
	s.reserve(need)
	if !found {
		si = s.newSlot(h, aor)
	}
	sl := s.slot(si)
	recs := s.recs[:0]
	for i, st := range plan {
		switch st.kind {
		case stepKeep:
			recs = append(recs, *sl.rec(int(st.j)))
		case stepStrings:
			r := numbers(&next[i])
			old := sl.rec(int(st.j))
			r.off, r.ends = old.off, old.ends
			recs = append(recs, r)
		default:
			recs = append(recs, s.encode(&next[i]))
		}
	}
	for j := range cur {
		if !used[j] {
			s.dead += sl.rec(j).size()
		}
	}
	b.reindex(ref(h, si), cur, next)
	sl.setRecs(recs)
	s.recs = recs[:0]
	if m := sl.minExp(); !found {
		sl.due = m
		s.heapPush(si)
	} else if m < sl.due {
		sl.due = m
		s.heapUp(int(sl.hidx))
	}
	return nil
}

// sameStrings returns the index in cur of a binding not yet used whose
// strings are b's, or -1.
func sameStrings(cur []registrar.Binding, used []bool, b *registrar.Binding) int {
	for j := range cur {
		c := &cur[j]
		if !used[j] && c.Key == b.Key && c.URIKey == b.URIKey && c.Contact == b.Contact && c.CallID == b.CallID &&
			c.Instance == b.Instance && c.Node == b.Node && c.UserAgent == b.UserAgent &&
			c.Flow.Transport == b.Flow.Transport &&
			equalStrings(c.Path, b.Path) && equalStrings(c.ServiceRoute, b.ServiceRoute) {
			return j
		}
	}
	return -1
}

// sameNumbers reports whether c and b, whose strings are equal, are equal.
func sameNumbers(c, b *registrar.Binding) bool {
	return c.CSeq == b.CSeq && c.Expires.Equal(b.Expires) && c.Updated.Equal(b.Updated) &&
		c.RegID == b.RegID && c.Flow == b.Flow
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

func (sl *slot) minExp() int64 {
	m := sl.first.expires
	for _, r := range sl.rest {
		m = min(m, r.expires)
	}
	return m
}

// reindex updates the contact URI index for the AoR at ref going from old
// to next.
func (b *Backend) reindex(ref uint64, old, next []registrar.Binding) {
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
			b.unindex(k, ref)
		}
	}
	for i := range next {
		if k := next[i].URIKey; !has(old, k) && !has(next[:i], k) {
			b.index(k, ref)
		}
	}
}

func (b *Backend) uriShardOf(key string) (*uriShard, uint64) {
	h := maphash.String(b.seed, key)
	return &b.uris[h%shardCount], h
}

func (b *Backend) index(key string, ref uint64) {
	u, h := b.uriShardOf(key)
	u.mu.Lock()
	if _, ok := u.one[h]; !ok {
		u.one[h] = ref
	} else {
		u.more[h] = append(u.more[h], ref)
	}
	u.mu.Unlock()
}

func (b *Backend) unindex(key string, ref uint64) {
	u, h := b.uriShardOf(key)
	u.mu.Lock()
	defer u.mu.Unlock()
	list := u.more[h]
	if u.one[h] == ref {
		if len(list) == 0 {
			delete(u.one, h)
			return
		}
		u.one[h], list = list[0], list[1:]
	} else {
		for i, r := range list {
			if r == ref {
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
	var refs []uint64
	if r, ok := u.one[h]; ok {
		refs = append(append(refs, r), u.more[h]...)
	}
	u.mu.Unlock()
	var out []registrar.Binding
	for _, r := range refs {
		s, si := &b.shards[r>>32], uint32(r)
		s.mu.Lock()
		// The slot may hold another AoR by now (freed and reused since the
		// index was read): the URI key is compared, never assumed.
		sl := s.slot(si)
		aor := s.aorOf(sl)
		for i := range int(sl.n) {
			if rc := sl.rec(i); s.field(rc, fURIKey) == uriKey {
				out = append(out, registrar.Binding{})
				s.decode(aor, rc, &out[len(out)-1])
			}
		}
		s.mu.Unlock()
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
		si := (int(start) + i) % shardCount
		s := &b.shards[si]
		s.mu.Lock()
		for len(s.heap) > 0 && s.slot(s.heap[0]).due <= t && len(out) < limit {
			slotIdx := s.heap[0]
			sl := s.slot(slotIdx)
			if m := sl.minExp(); m > t {
				// Refreshed since it was due: look again at its new due.
				sl.due = m
				s.heapDown(0)
				continue
			}
			cur := s.decodeInto(nil, sl)
			keep := s.recs[:0]
			var kept []registrar.Binding
			dead := 0
			for j := range int(sl.n) {
				if rc := sl.rec(j); rc.expires <= t && len(out) < limit {
					out = append(out, cur[j])
					dead += rc.size()
					continue
				}
				keep = append(keep, *sl.rec(j))
				kept = append(kept, cur[j])
			}
			b.count.Add(int64(len(keep)) - int64(sl.n))
			r := uint64(si)<<32 | uint64(slotIdx)
			b.reindex(r, cur, kept)
			if len(keep) == 0 {
				s.removeSlot(slotIdx)
			} else {
				s.dead += dead
				sl.setRecs(keep)
				sl.due = sl.minExp()
				s.heapFix(int(sl.hidx))
			}
			s.recs = keep[:0]
		}
		s.clearScratch()
		s.mu.Unlock()
	}
	return out, nil
}

// Range implements registrar.Backend.
func (b *Backend) Range(ctx context.Context, fn func(string, []registrar.Binding) bool) error {
	// A shard's slots are decoded under its lock rangeBatch at a time
	// (REGISTERs on the shard wait for one batch, not the whole shard), and
	// fn runs without it: fn may use the Backend. An AoR there throughout
	// keeps its slot, so it is seen once.
	const rangeBatch = 256
	type item struct {
		aor string
		bs  []registrar.Binding
	}
	items := make([]item, 0, rangeBatch)
	// The batch's bindings share one slice, reused by the next batch: fn
	// may not keep it.
	var slab []registrar.Binding
	for i := range b.shards {
		s := &b.shards[i]
		for start := uint32(0); ; start += rangeBatch {
			clear(slab)
			slab, items = slab[:0], items[:0]
			s.mu.Lock()
			end := min(start+rangeBatch, uint32(len(s.pages)*pageSize))
			for si := start; si < end; si++ {
				if sl := s.slot(si); sl.n > 0 {
					n := len(slab)
					slab = s.decodeInto(slab, sl)
					items = append(items, item{s.aorOf(sl), slab[n:len(slab):len(slab)]})
				}
			}
			s.mu.Unlock()
			for _, it := range items {
				if err := ctx.Err(); err != nil {
					return err
				}
				if !fn(it.aor, it.bs) {
					return nil
				}
			}
			if end < start+rangeBatch {
				break
			}
		}
	}
	return nil
}

// The heap of a shard's slots, by due, with each slot knowing its index.

func (s *shard) heapLess(i, j int) bool { return s.slot(s.heap[i]).due < s.slot(s.heap[j]).due }

func (s *shard) heapSwap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.slot(s.heap[i]).hidx, s.slot(s.heap[j]).hidx = uint32(i), uint32(j)
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

func (s *shard) heapPush(si uint32) {
	s.slot(si).hidx = uint32(len(s.heap))
	s.heap = append(s.heap, si)
	s.heapUp(len(s.heap) - 1)
}

func (s *shard) heapFix(i int) {
	if !s.heapDown(i) {
		s.heapUp(i)
	}
}

func (s *shard) heapRemove(si uint32) {
	i, last := int(s.slot(si).hidx), len(s.heap)-1
	if i != last {
		s.heapSwap(i, last)
	}
	s.heap = s.heap[:last]
	if i != last {
		s.heapFix(i)
	}
	if cap(s.heap) > 64 && len(s.heap) < cap(s.heap)/4 {
		s.heap = append([]uint32(nil), s.heap...)
	}
}

// Packed bindings.

// The string fields of a binding, stored back to back in the arena.
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

// rec is a binding without pointers: its strings are in the shard's arena
// at off, field i ending at ends[i].
type rec struct {
	off     uint32
	ends    [nFields]uint16
	cseq    uint32
	regID   uint32
	expires int64 // Unix nanoseconds
	updated int64
	flow    flowRec
}

type flowRec struct {
	connID        uint64
	local, remote [16]byte
	lport, rport  uint16
	tp            uint8 // transportCodes index, 0 none, 255 in the arena
	lkind, rkind  uint8 // 0 invalid, 4, 6
}

var transportCodes = [...]string{"", transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS, transport.SCTP}

// size is the number of arena bytes r's strings take.
func (r *rec) size() int { return int(r.ends[nFields-1]) }

func transportCode(name string) uint8 {
	for i, n := range transportCodes {
		if n == name {
			return uint8(i)
		}
	}
	return 255
}

// fields returns b's string fields as stored (Path and ServiceRoute
// empty: they are lists).
func fields(b *registrar.Binding) [nFields]string {
	key := b.Key
	if key == b.URIKey {
		key = "" // the usual case: stored once
	}
	tp := ""
	if transportCode(b.Flow.Transport) == 255 {
		tp = b.Flow.Transport
	}
	return [nFields]string{key, b.URIKey, b.Contact, b.Instance, b.CallID, b.UserAgent, b.Node, "", "", tp}
}

func listLen(list []string) int {
	n := 0
	for i, v := range list {
		n += len(v)
		if i > 0 {
			n++
		}
	}
	return n
}

// encodedLen returns the arena bytes b's strings take.
func encodedLen(b *registrar.Binding) int {
	n := listLen(b.Path) + listLen(b.ServiceRoute)
	for _, f := range fields(b) {
		n += len(f)
	}
	return n
}

// numbers returns b as a rec without its strings.
func numbers(b *registrar.Binding) rec {
	r := rec{expires: b.Expires.UnixNano(), updated: b.Updated.UnixNano(), cseq: b.CSeq, regID: b.RegID}
	r.flow.tp = transportCode(b.Flow.Transport)
	r.flow.connID = b.Flow.ConnID
	r.flow.local, r.flow.lport, r.flow.lkind = packAddr(b.Flow.Local)
	r.flow.remote, r.flow.rport, r.flow.rkind = packAddr(b.Flow.Remote)
	return r
}

// encode appends b's strings to the arena, which has room for them
// (encodedLen, at most 64 KiB), and returns b packed.
func (s *shard) encode(b *registrar.Binding) rec {
	r := numbers(b)
	r.off = uint32(len(s.arena))
	for i, f := range fields(b) {
		switch i {
		case fPath:
			s.appendList(b.Path)
		case fServiceRoute:
			s.appendList(b.ServiceRoute)
		default:
			s.arena = append(s.arena, f...)
		}
		r.ends[i] = uint16(len(s.arena) - int(r.off))
	}
	return r
}

func (s *shard) appendList(list []string) {
	for i, v := range list {
		if i > 0 {
			s.arena = append(s.arena, 0)
		}
		s.arena = append(s.arena, v...)
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

func (s *shard) field(r *rec, i int) string {
	start := uint16(0)
	if i > 0 {
		start = r.ends[i-1]
	}
	return s.str(r.off+uint32(start), uint32(r.ends[i]-start))
}

func (s *shard) decode(aor string, r *rec, b *registrar.Binding) {
	*b = registrar.Binding{
		AoR:       aor,
		Key:       s.field(r, fKey),
		URIKey:    s.field(r, fURIKey),
		Contact:   s.field(r, fContact),
		Instance:  s.field(r, fInstance),
		RegID:     r.regID,
		CallID:    s.field(r, fCallID),
		CSeq:      r.cseq,
		Expires:   time.Unix(0, r.expires),
		Updated:   time.Unix(0, r.updated),
		Node:      s.field(r, fNode),
		UserAgent: s.field(r, fUserAgent),
	}
	if b.Key == "" {
		b.Key = b.URIKey
	}
	if p := s.field(r, fPath); p != "" {
		b.Path = strings.Split(p, "\x00")
	}
	if p := s.field(r, fServiceRoute); p != "" {
		b.ServiceRoute = strings.Split(p, "\x00")
	}
	if r.flow.tp == 255 {
		b.Flow.Transport = s.field(r, fTransport)
	} else {
		b.Flow.Transport = transportCodes[r.flow.tp]
	}
	b.Flow.ConnID = r.flow.connID
	b.Flow.Local = unpackAddr(r.flow.local, r.flow.lport, r.flow.lkind)
	b.Flow.Remote = unpackAddr(r.flow.remote, r.flow.rport, r.flow.rkind)
}
