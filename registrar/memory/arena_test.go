package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siphon-go/siphon/registrar"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func put(t *testing.T, b *Backend, aor string, contacts ...string) {
	t.Helper()
	err := b.Update(context.Background(), aor, t0, func([]registrar.Binding) ([]registrar.Binding, error) {
		var bs []registrar.Binding
		for i, c := range contacts {
			bs = append(bs, registrar.Binding{AoR: aor, Key: c, URIKey: c, Contact: "<" + c + ">",
				CallID: fmt.Sprintf("call-%d-%s", i, c), Expires: t0.Add(time.Hour), Updated: t0})
		}
		return bs, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Bindings whose strings change fill a shard's arena, which is compacted
// into a new one: what is stored survives it, strings handed out before it
// do not change, and the arena stays within a small multiple of what is
// live.
func TestArenaCompaction(t *testing.T) {
	b := New(Config{})
	ctx := context.Background()
	const aors = 200
	first, err := b.Load(ctx, "sip:none@example.com")
	if err != nil || first != nil {
		t.Fatalf("empty backend: %v %v", first, err)
	}
	put(t, b, "sip:u0@example.com", "sip:old@192.0.2.1")
	held, _ := b.Load(ctx, "sip:u0@example.com")
	for round := range 50 {
		for i := range aors {
			aor := fmt.Sprintf("sip:u%d@example.com", i)
			put(t, b, aor, fmt.Sprintf("sip:r%d@192.0.2.1", round), fmt.Sprintf("sip:x%d@192.0.2.2", round))
		}
	}
	if held[0].Contact != "<sip:old@192.0.2.1>" || held[0].CallID != "call-0-sip:old@192.0.2.1" || held[0].AoR != "sip:u0@example.com" {
		t.Fatalf("a binding handed out before compaction changed: %+v", held[0])
	}
	for i := range aors {
		aor := fmt.Sprintf("sip:u%d@example.com", i)
		bs, _ := b.Load(ctx, aor)
		if len(bs) != 2 || bs[0].AoR != aor || bs[0].Contact != "<sip:r49@192.0.2.1>" || bs[1].URIKey != "sip:x49@192.0.2.2" {
			t.Fatalf("%s after compactions: %+v", aor, bs)
		}
	}
	if got, _ := b.ByURI(ctx, "sip:x49@192.0.2.2"); len(got) != aors {
		t.Fatalf("ByURI after compactions: %d bindings", len(got))
	}
	if got, _ := b.ByURI(ctx, "sip:x48@192.0.2.2"); len(got) != 0 {
		t.Fatalf("ByURI of a replaced URI: %d bindings", len(got))
	}
	for i := range b.shards {
		s := &b.shards[i]
		live := len(s.arena) - s.dead
		if cap(s.arena) > 4096 && cap(s.arena) > 3*live {
			t.Errorf("shard %d: arena of %d bytes for %d live", i, cap(s.arena), live)
		}
	}
}

// Two AoRs whose hashes are equal each keep their slot; removing the one
// in the index promotes the other.
func TestHashCollision(t *testing.T) {
	b := New(Config{})
	s := &b.shards[0]
	const h = 64 * 7 // shard 0
	s.reserve(64)
	a := s.newSlot(h, "sip:a@example.com")
	c := s.newSlot(h, "sip:c@example.com")
	for _, tc := range []struct {
		aor string
		si  uint32
	}{{"sip:a@example.com", a}, {"sip:c@example.com", c}} {
		s.slot(tc.si).n = 1
		s.heapPush(tc.si)
		if si, ok := s.lookup(h, tc.aor); !ok || si != tc.si {
			t.Fatalf("lookup %s: %d %v, want %d", tc.aor, si, ok, tc.si)
		}
	}
	if _, ok := s.lookup(h, "sip:b@example.com"); ok {
		t.Fatal("an AoR never stored was found")
	}
	s.slot(a).n = 0 // no bindings to account
	s.removeSlot(a)
	if si, ok := s.lookup(h, "sip:c@example.com"); !ok || si != c || len(s.coll) != 0 {
		t.Fatalf("after removing the indexed AoR: %d %v, coll %v", si, ok, s.coll)
	}
	if _, ok := s.lookup(h, "sip:a@example.com"); ok {
		t.Fatal("a removed AoR was found")
	}
	s.slot(c).n = 0
	s.removeSlot(c)
	if s.index.n != 0 || len(s.heap) != 0 {
		t.Fatalf("after removing both: index %v heap %v", s.index, s.heap)
	}
}
