package resolve

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// cache holds answers, positive and negative, until they expire, in at most
// max entries: inserting into a full cache evicts the least recently used
// entry, so a flood of names cannot grow it.
type cache struct {
	mu  sync.Mutex
	max int
	m   map[query]*list.Element
	lru list.List // of *entry, most recently used at the front
}

type entry struct {
	q       query
	rs      *rrset
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[query]*list.Element)}
}

// get returns the unexpired answer for q. The rrset is shared: callers must
// not modify it.
func (c *cache) get(q query, now time.Time) (*rrset, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[q]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.m, q)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.rs, true
}

// put stores rs for q until expires.
func (c *cache) put(q query, rs *rrset, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[q]; ok {
		e := el.Value.(*entry)
		e.rs, e.expires = rs, expires
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*entry).q)
	}
	c.m[q] = c.lru.PushFront(&entry{q: q, rs: rs, expires: expires})
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// group coalesces concurrent identical queries: one goroutine asks, every
// caller waiting for the same query shares its answer. A caller whose
// context ends stops waiting at once; the query itself is cancelled when
// its last caller has gone.
type group struct {
	mu sync.Mutex
	m  map[query]*flight
}

type flight struct {
	done    chan struct{}
	rs      *rrset
	err     error
	waiters int
	cancel  context.CancelFunc
}

func (g *group) do(ctx context.Context, q query, fn func(context.Context, query) (*rrset, error)) (*rrset, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[query]*flight)
	}
	f, ok := g.m[q]
	if !ok {
		// The query outlives any one caller (values are kept, cancellation
		// is not): it ends when it is answered or nobody waits any more.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		g.m[q] = f
		go func() {
			rs, err := fn(fctx, q)
			g.mu.Lock()
			f.rs, f.err = rs, err
			if g.m[q] == f {
				delete(g.m, q)
			}
			g.mu.Unlock()
			cancel()
			close(f.done)
		}()
	}
	f.waiters++
	g.mu.Unlock()
	select {
	case <-f.done:
		return f.rs, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			if g.m[q] == f {
				delete(g.m, q) // the next caller starts afresh
			}
		}
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}
