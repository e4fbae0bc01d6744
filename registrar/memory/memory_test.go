package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/backendtest"
	"github.com/siphon-go/siphon/registrar/memory"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Opener {
		b := memory.New(memory.Config{})
		return func(*testing.T) registrar.Backend { return b }
	})
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func binding(aor, uri string, exp time.Time) registrar.Binding {
	return registrar.Binding{AoR: aor, Key: uri, URIKey: uri, Contact: "<" + uri + ">", Expires: exp, Updated: t0}
}

func TestMaxBindings(t *testing.T) {
	b := memory.New(memory.Config{MaxBindings: 3})
	put := func(aor string, n int) error {
		return b.Update(context.Background(), aor, t0, func([]registrar.Binding) ([]registrar.Binding, error) {
			var bs []registrar.Binding
			for i := range n {
				bs = append(bs, binding(aor, fmt.Sprintf("sip:%d@192.0.2.1", i), t0.Add(time.Hour)))
			}
			return bs, nil
		})
	}
	if err := put("sip:a@example.com", 2); err != nil {
		t.Fatal(err)
	}
	if err := put("sip:b@example.com", 2); !errors.Is(err, registrar.ErrFull) {
		t.Fatalf("past the limit: %v", err)
	}
	if err := put("sip:b@example.com", 1); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if err := put("sip:a@example.com", 0); err != nil || b.Len() != 1 {
		t.Fatalf("after deleting: %v, %d", err, b.Len())
	}
}

// A random mix of updates and sweeps keeps the expiry heap right: every
// binding comes out of Expire exactly when it lapses.
func TestExpiryHeapRandomized(t *testing.T) {
	b := memory.New(memory.Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]time.Time{}
	now := t0
	for step := range 3000 {
		aor := fmt.Sprintf("sip:u%d@example.com", rng.IntN(200))
		switch rng.IntN(4) {
		case 0, 1:
			exp := now.Add(time.Duration(1+rng.IntN(100)) * time.Second)
			uri := fmt.Sprintf("sip:%d@192.0.2.1", rng.IntN(3))
			_ = b.Update(context.Background(), aor, now, func(cur []registrar.Binding) ([]registrar.Binding, error) {
				next := []registrar.Binding{}
				for _, c := range cur {
					if c.URIKey != uri {
						next = append(next, c)
					}
				}
				return append(next, binding(aor, uri, exp)), nil
			})
			want[aor+" "+uri] = exp
		case 2:
			_ = b.Update(context.Background(), aor, now, func([]registrar.Binding) ([]registrar.Binding, error) { return nil, nil })
			for k := range want {
				if len(k) > len(aor) && k[:len(aor)+1] == aor+" " {
					delete(want, k)
				}
			}
		case 3:
			now = now.Add(time.Duration(rng.IntN(5)) * time.Second)
			got, _ := b.Expire(context.Background(), now, 1<<20)
			for _, g := range got {
				k := g.AoR + " " + g.URIKey
				exp, ok := want[k]
				if !ok || exp.After(now) || !exp.Equal(g.Expires) {
					t.Fatalf("step %d: Expire returned %s (want %v, ok %v)", step, k, exp, ok)
				}
				delete(want, k)
			}
			for k, exp := range want {
				if !exp.After(now) {
					t.Fatalf("step %d: %s lapsed at %v but was not expired at %v", step, k, exp, now)
				}
			}
		}
	}
	if b.Len() != len(want) {
		t.Fatalf("backend holds %d bindings, want %d", b.Len(), len(want))
	}
}
