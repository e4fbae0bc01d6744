package registrar

import (
	"context"
	"fmt"
	"strings"

	"github.com/siphon-go/siphon/transport"
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
// Backend. fn may keep the bindings (their values) but not the slice, which
// may be reused for the next AoR.
func (r *Registrar) Range(ctx context.Context, fn func(aor string, bindings []Binding) bool) error {
	now := r.clock.Now()
	err := r.backend.Range(ctx, func(aor string, bs []Binding) bool {
		live := bs
		for i := range bs {
			if !bs[i].Live(now) {
				// Copied only when one has lapsed: fn gets the bindings
				// the Backend gave, or a slice of its own.
				live = make([]Binding, 0, len(bs)-1)
				for _, b := range bs {
					if b.Live(now) {
						live = append(live, b)
					}
				}
				break
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

// EvictStale removes the bindings that an earlier run of this node (same
// Config.Node) stored on stream connections, registered directly rather than
// through a proxy's Path: those connections closed when that run ended, so
// requests cannot reach the UAs through them and the UAs will register again
// on new ones. Each is reported as Deregistered with ReasonStale. Call it
// once after starting; it scans the Backend (see Range). Without Config.Node
// it does nothing, since bindings of other instances sharing the Backend
// cannot be told from those of an earlier run.
func (r *Registrar) EvictStale(ctx context.Context) (int, error) {
	if r.cfg.Node == "" {
		return 0, nil
	}
	prefix := r.cfg.Node + "#"
	stale := func(b *Binding) bool {
		return b.Node != r.node && strings.HasPrefix(b.Node, prefix) && transport.IsStream(b.Flow.Transport) && len(b.Path) == 0
	}
	var aors []string
	err := r.backend.Range(ctx, func(aor string, bs []Binding) bool {
		for i := range bs {
			if stale(&bs[i]) {
				aors = append(aors, aor)
				break
			}
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("registrar: evicting stale flows: %w", err)
	}
	n := 0
	for _, aor := range aors {
		k, err := r.remove(ctx, aor, ReasonStale, stale)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
