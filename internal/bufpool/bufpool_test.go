package bufpool

import "testing"

// A buffer comes back with what it grew to, unless past MaxCap.
func TestPutKeepsGrownBuffersUpToMaxCap(t *testing.T) {
	p := New(16)
	bp := p.Get()
	if cap(*bp) != 16 || len(*bp) != 0 {
		t.Fatalf("new buffer len %d cap %d", len(*bp), cap(*bp))
	}
	b := append((*bp)[:0], make([]byte, 100)...)
	p.Put(bp, b)
	if cap(*bp) < 100 {
		t.Fatalf("Put kept cap %d, want the grown buffer", cap(*bp))
	}
	big := make([]byte, 0, MaxCap+1)
	bp2 := p.Get()
	p.Put(bp2, big)
	if cap(*bp2) == cap(big) {
		t.Fatal("a buffer past MaxCap was kept")
	}
}
