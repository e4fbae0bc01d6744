// Package bufpool pools the byte buffers messages are encoded into, so that
// sending one allocates nothing; a buffer that grew past MaxCap (a rare
// large message) is dropped rather than kept.
//
//	p := bufpool.New(2048)
//	bp := p.Get()
//	b := append((*bp)[:0], msg...)
//	send(b)
//	p.Put(bp, b)
package bufpool

import "sync"

// MaxCap is the largest buffer Put keeps.
const MaxCap = 64 << 10

// Pool is a pool of byte buffers. The zero value is not usable; call New.
type Pool struct{ p sync.Pool }

// New returns a Pool whose new buffers have capacity size.
func New(size int) *Pool {
	p := &Pool{}
	p.p.New = func() any { b := make([]byte, 0, size); return &b }
	return p
}

// Get returns a buffer; use (*bp)[:0].
func (p *Pool) Get() *[]byte { return p.p.Get().(*[]byte) }

// Put gives back bp with b, what was appended to it (it may have grown),
// unless b's capacity is past MaxCap. Neither may be used afterwards.
func (p *Pool) Put(bp *[]byte, b []byte) {
	if cap(b) <= MaxCap {
		*bp = b
		p.p.Put(bp)
	}
}
