package registrar

import (
	"context"
	"fmt"
)

// Bindings returns the live bindings of aor, a canonical AoR (see AoR), for
// admin views.
func (r *Registrar) Bindings(ctx context.Context, aor string) ([]Binding, error) {
	bs, err := r.backend.Load(ctx, aor)
	if err != nil {
		return nil, fmt.Errorf("registrar: bindings of %s: %w", aor, err)
	}
	now := r.clock.Now()
	live := bs[:0:0]
	for _, b := range bs {
		if b.Live(now) {
			live = append(live, b)
		}
	}
	return live, nil
}

// Range calls fn with the live bindings of every AoR that has some, until fn
// returns false, for admin listings. Its cost is that of scanning the
// Backend.
func (r *Registrar) Range(ctx context.Context, fn func(aor string, bindings []Binding) bool) error {
	now := r.clock.Now()
	err := r.backend.Range(ctx, func(aor string, bs []Binding) bool {
		live := bs[:0:0]
		for _, b := range bs {
			if b.Live(now) {
				live = append(live, b)
			}
		}
		if len(live) == 0 {
			return true
		}
		return fn(aor, live)
	})
	if err != nil {
		return fmt.Errorf("registrar: range: %w", err)
	}
	return nil
}

// Remove removes the binding of aor whose Key is key, or every binding of
// aor when key is empty, reports each as Deregistered with ReasonRemoved, and
// returns how many it removed.
func (r *Registrar) Remove(ctx context.Context, aor, key string) (int, error) {
	return r.remove(ctx, aor, ReasonRemoved, func(b *Binding) bool { return key == "" || b.Key == key })
}

// remove drops the bindings of aor that match, emitting events.
func (r *Registrar) remove(ctx context.Context, aor string, why Reason, match func(*Binding) bool) (int, error) {
	now := r.clock.Now()
	var evs []Event
	err := r.backend.Update(ctx, aor, now, func(cur []Binding) ([]Binding, error) {
		evs = evs[:0]
		next := make([]Binding, 0, len(cur))
		for i := range cur {
			b := &cur[i]
			switch {
			case !b.Live(now):
				evs = append(evs, Event{Kind: Expired, Binding: *b})
			case match(b):
				evs = append(evs, Event{Kind: Deregistered, Binding: *b, Reason: why})
			default:
				next = append(next, *b)
			}
		}
		return next, nil
	})
	if err != nil {
		return 0, fmt.Errorf("registrar: removing from %s: %w", aor, err)
	}
	r.emit(evs)
	n := 0
	for _, ev := range evs {
		if ev.Kind == Deregistered {
			n++
		}
	}
	return n, nil
}
