package transaction

import "testing"

// A shard's map is made anew when it empties after holding shrinkAfter
// entries or more (its buckets would stay allocated), not before.
func TestShardMapsShrinkOnceEmpty(t *testing.T) {
	m, peak := map[int]int{}, 0
	for i := range shrinkAfter - 1 {
		m[i] = i
		grew(m, &peak)
	}
	clear(m)
	if m2 := shrink(m, &peak); peak != shrinkAfter-1 {
		t.Fatalf("a small map was remade (peak %d)", peak)
	} else {
		m = m2
	}
	for i := range shrinkAfter {
		m[i] = i
		grew(m, &peak)
	}
	delete(m, 0)
	if shrink(m, &peak); peak != shrinkAfter {
		t.Fatal("a map that is not empty was remade")
	}
	clear(m)
	if m2 := shrink(m, &peak); peak != 0 || m2 == nil || len(m2) != 0 {
		t.Fatalf("peak %d after shrinking", peak)
	}
}
