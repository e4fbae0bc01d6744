package memory

// hashIndex maps 64-bit hashes (already uniform: maphash output) to slot
// numbers in one flat table, open addressing with linear probing, at most
// half full. A lookup in Go's map goes through its directory, a table and a
// group, each a likely cache miss with 100,000 AoRs under load; here it is
// one. Deletion shifts the probe chain back, so there are no tombstones.
type hashIndex struct {
	ents []hashEnt // a power of two long, or nil
	n    int
}

type hashEnt struct {
	h uint64
	v uint32 // the slot number + 1; 0 marks an empty entry
}

const minHashIndex = 16

// find returns the position of h, or of the empty entry ending its chain.
func (x *hashIndex) find(h uint64) (int, bool) {
	mask := len(x.ents) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := &x.ents[i]
		if e.v == 0 {
			return i, false
		}
		if e.h == h {
			return i, true
		}
	}
}

// get returns the slot of h.
func (x *hashIndex) get(h uint64) (uint32, bool) {
	if x.n == 0 {
		return 0, false
	}
	i, ok := x.find(h)
	if !ok {
		return 0, false
	}
	return x.ents[i].v - 1, true
}

// set makes v the slot of h.
func (x *hashIndex) set(h uint64, v uint32) {
	if 2*(x.n+1) > len(x.ents) {
		x.grow()
	}
	i, ok := x.find(h)
	if !ok {
		x.n++
	}
	x.ents[i] = hashEnt{h: h, v: v + 1}
}

func (x *hashIndex) grow() {
	old := x.ents
	x.ents = make([]hashEnt, max(2*len(old), minHashIndex))
	mask := len(x.ents) - 1
	for _, e := range old {
		if e.v == 0 {
			continue
		}
		i := int(e.h) & mask
		for x.ents[i].v != 0 {
			i = (i + 1) & mask
		}
		x.ents[i] = e
	}
}

// del removes h.
func (x *hashIndex) del(h uint64) {
	if x.n == 0 {
		return
	}
	i, ok := x.find(h)
	if !ok {
		return
	}
	mask := len(x.ents) - 1
	// Move back each later entry of the chain whose home is not between
	// the hole and it (cyclically), so every entry stays reachable.
	for j := (i + 1) & mask; x.ents[j].v != 0; j = (j + 1) & mask {
		home := int(x.ents[j].h) & mask
		if i <= j && i < home && home <= j || i > j && (i < home || home <= j) {
			continue
		}
		x.ents[i] = x.ents[j]
		i = j
	}
	x.ents[i] = hashEnt{}
	x.n--
}
