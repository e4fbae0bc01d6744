package transaction

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"time"
)

// A completed non-INVITE server transaction over UDP lingers for Timer J
// (64*T1, 32 s by default) only to answer retransmitted requests with its
// final response (RFC 3261 §17.2.2). At thousands of REGISTERs a second
// that is six figures of transactions, each a ServerTx with its timers,
// its flow and a heap timer entry, all traced by the garbage collector.
//
// A ghost is what such a transaction really needs: its key and the bytes
// of its final response. The ServerTx ends when it sends the final
// response and leaves a ghost in its shard. Ghosts are kept in a form the
// collector does not trace entry by entry: an index from a 64-bit hash of
// the key to a sequence number, a FIFO ring of fixed-size records, and the
// keys and responses packed into fixed-size byte chunks that are reused
// once they empty. Every ghost in a layer lives for the same 64*T1, so
// the FIFO is also expiry order and one timer per shard reaps them.
//
// Ghosts are bounded by bytes (Config.MaxLingerBytes), not counted among
// the live transactions that MaxTransactions limits: a REGISTER rate above
// MaxTransactions/32 s must not turn into 503s. When a shard's chunks are
// all in use, the oldest chunk's ghosts end early. A retransmission that
// arrives after its ghost is gone reaches the TU again as a new request,
// which is what a stateless UAS does with every retransmission (RFC 3261
// §8.2.7); the retransmissions that matter come within a few T1 of the
// original (Timer E doubling from T1), long before an evicted ghost's turn.

const (
	ghostChunk     = 64 << 10 // bytes per chunk; a bigger record is not ghosted
	ghostSpare     = 1        // empty chunks a shard keeps for reuse
	ghostRecsFloor = 256      // ring capacity kept when a shard empties
)

type ghostRec struct {
	at   int64  // expiry, unix nanoseconds on the layer's clock
	hash uint64 // of the key, for removal from the index
	off  uint64 // absolute offset of the key, then the response bytes
	klen uint32
	dlen uint32
}

// ghosts is one shard's store; the shard's mutex guards it.
type ghosts struct {
	l      *Layer
	s      *shard
	index  map[uint64]uint64 // key hash → sequence number
	recs   []ghostRec        // ring: recs[(head+i)%len(recs)] has sequence first+i
	head   int
	n      int
	first  uint64
	chunks [][]byte // chunks[0] starts at absolute offset base
	base   uint64
	end    uint64 // absolute offset where the next record goes
	spare  [][]byte
	timer  txTimer
	armed  bool // timer is scheduled or about to fire
	// maxChunks bounds len(chunks); at the bound, add evicts the oldest.
	maxChunks int
}

func (g *ghosts) init(l *Layer, s *shard) {
	g.l, g.s = l, s
	g.maxChunks = max(1, l.cfg.MaxLingerBytes/(shards*ghostChunk))
	g.index = make(map[uint64]uint64)
	g.timer.init(g, 0)
}

func appendKey(b []byte, k key) []byte {
	b = append(b, k.branch...)
	b = append(b, 0)
	b = append(b, k.host...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(k.port), 10)
	b = append(b, 0)
	return append(b, k.method...)
}

func (l *Layer) keyHash(k key) uint64 { return maphash.Comparable(l.seed, k) }

// add stores the final response data of the transaction with key k. It
// reports false when the record does not fit a chunk; the caller keeps the
// transaction instead. s.mu is held.
func (g *ghosts) add(k key, h uint64, data []byte, now int64, ttl time.Duration) bool {
	var kb [256]byte
	kbytes := appendKey(kb[:0], k)
	size := uint64(len(kbytes) + len(data))
	if size > ghostChunk {
		return false
	}
	// A record never straddles two chunks.
	if len(g.chunks) == 0 || g.end+size > g.base+uint64(len(g.chunks))*ghostChunk {
		if len(g.chunks) >= g.maxChunks {
			g.evictOldestChunk()
		}
		if len(g.chunks) == 0 {
			g.base = (g.end + ghostChunk - 1) / ghostChunk * ghostChunk
			g.end = g.base
		} else {
			g.end = g.base + uint64(len(g.chunks))*ghostChunk
		}
		var c []byte
		if n := len(g.spare); n > 0 {
			c, g.spare = g.spare[n-1], g.spare[:n-1]
		} else {
			c = make([]byte, ghostChunk)
		}
		g.chunks = append(g.chunks, c)
	}
	c := g.chunks[(g.end-g.base)/ghostChunk]
	at := g.end % ghostChunk
	copy(c[at:], kbytes)
	copy(c[at+uint64(len(kbytes)):], data)
	if g.n == len(g.recs) {
		g.grow()
	}
	seq := g.first + uint64(g.n)
	g.recs[(g.head+g.n)%len(g.recs)] = ghostRec{
		at: now + int64(ttl), hash: h, off: g.end, klen: uint32(len(kbytes)), dlen: uint32(len(data)),
	}
	g.n++
	g.end += size
	g.index[h] = seq
	if !g.armed {
		g.armed = true
		g.l.sched.schedule(&g.timer, ttl)
	}
	return true
}

func (g *ghosts) grow() {
	n := 2 * len(g.recs)
	if n < ghostRecsFloor {
		n = ghostRecsFloor
	}
	recs := make([]ghostRec, n)
	for i := 0; i < g.n; i++ {
		recs[i] = g.recs[(g.head+i)%len(g.recs)]
	}
	g.recs, g.head = recs, 0
}

// evictOldestChunk ends the ghosts stored in the oldest chunk before their
// Timer J, to make room, and frees the chunk. s.mu is held.
func (g *ghosts) evictOldestChunk() {
	boundary := g.base + ghostChunk
	dropped := 0
	for g.n > 0 && g.recs[g.head].off < boundary {
		g.drop()
		dropped++
	}
	g.freeChunks()
	g.l.ghostCount.Add(-int64(dropped))
	g.l.ghostsEvicted.Add(uint64(dropped))
}

// drop removes the oldest ghost. s.mu is held.
func (g *ghosts) drop() {
	r := &g.recs[g.head]
	if g.index[r.hash] == g.first {
		delete(g.index, r.hash)
	}
	g.head = (g.head + 1) % len(g.recs)
	g.n--
	g.first++
}

// freeChunks releases the chunks wholly before the oldest live record,
// keeping a spare for reuse. s.mu is held.
func (g *ghosts) freeChunks() {
	keep := g.end
	if g.n > 0 {
		keep = g.recs[g.head].off
	}
	for len(g.chunks) > 0 && (g.base+ghostChunk <= keep || g.n == 0) {
		if len(g.spare) < ghostSpare {
			g.spare = append(g.spare, g.chunks[0])
		}
		g.chunks[0] = nil
		g.chunks = g.chunks[1:]
		g.base += ghostChunk
	}
}

// lookup returns a copy of the response of the ghost with key k, or nil.
// s.mu is held.
func (g *ghosts) lookup(k key, h uint64, now int64) []byte {
	seq, ok := g.index[h]
	if !ok || seq < g.first || seq >= g.first+uint64(g.n) {
		return nil
	}
	r := g.recs[(g.head+int(seq-g.first))%len(g.recs)]
	if r.at <= now {
		return nil
	}
	c := g.chunks[(r.off-g.base)/ghostChunk]
	at := r.off % ghostChunk
	var kb [256]byte
	if !bytes.Equal(c[at:at+uint64(r.klen)], appendKey(kb[:0], k)) {
		return nil // another key with the same hash
	}
	at += uint64(r.klen)
	return bytes.Clone(c[at : at+uint64(r.dlen)])
}

// reap drops the ghosts that expired by now and reports how many. s.mu is
// held.
func (g *ghosts) reap(now int64) int {
	dropped := 0
	for g.n > 0 && g.recs[g.head].at <= now {
		g.drop()
		dropped++
	}
	g.freeChunks()
	if g.n == 0 {
		if len(g.chunks) == 0 {
			g.chunks = nil
		}
		if len(g.recs) > ghostRecsFloor {
			g.recs, g.head = nil, 0
		}
		if len(g.index) == 0 {
			g.index = make(map[uint64]uint64) // a map never shrinks by deleting
		}
	}
	return dropped
}

// onTimer implements timerOwner: Timer J for the shard's oldest ghosts.
func (g *ghosts) onTimer(_ uint8, gen uint32) {
	g.s.mu.Lock()
	if g.timer.gen != gen {
		g.s.mu.Unlock()
		return
	}
	now := g.l.cfg.Clock.Now().UnixNano()
	dropped := g.reap(now)
	if g.n > 0 {
		g.l.sched.schedule(&g.timer, time.Duration(g.recs[g.head].at-now))
	} else {
		g.armed = false
	}
	g.s.mu.Unlock()
	g.l.ghostCount.Add(-int64(dropped))
}

// ghostLen returns the number of ghosts in every shard.
func (l *Layer) ghostLen() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.ghosts.n
		s.mu.Unlock()
	}
	return n
}
