package memory

import (
	"math/rand/v2"
	"testing"
)

// TestHashIndexRandomized holds hashIndex to a map through random sets and
// deletes, with hashes from a small range so that probe chains wrap, meet
// and are cut by deletions.
func TestHashIndexRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, span := range []uint64{8, 64, 1 << 12, 1 << 40} {
		var x hashIndex
		want := map[uint64]uint32{}
		for op := range 10_000 {
			// Hashes cluster in the low bits when span is small: many share
			// a home entry.
			h := rng.Uint64N(span) << (rng.UintN(2) * 32)
			switch rng.UintN(3) {
			case 0, 1:
				v := uint32(rng.UintN(1 << 20))
				x.set(h, v)
				want[h] = v
			default:
				x.del(h)
				delete(want, h)
			}
			if op%997 == 0 || op == 9_999 {
				if x.n != len(want) {
					t.Fatalf("span %d op %d: len %d, want %d", span, op, x.n, len(want))
				}
				for k, v := range want {
					if got, ok := x.get(k); !ok || got != v {
						t.Fatalf("span %d op %d: get(%d) = %d %v, want %d", span, op, k, got, ok, v)
					}
				}
				if 2*x.n > len(x.ents) {
					t.Fatalf("more than half full: %d of %d", x.n, len(x.ents))
				}
			}
			if _, ok := x.get(h); ok != (want[h] != 0 || hasKey(want, h)) {
				t.Fatalf("span %d op %d: get(%d) presence %v", span, op, h, ok)
			}
		}
	}
}

func hasKey(m map[uint64]uint32, k uint64) bool { _, ok := m[k]; return ok }
