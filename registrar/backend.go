package registrar

import (
	"context"
	"errors"
	"time"
)

// Backend stores bindings, keyed by AoR. Implementations live in the
// sub-packages memory, redis and postgres; the backendtest package checks
// that one behaves as the Registrar needs. Every method must be safe for
// concurrent use, also from several Registrar instances (processes) sharing
// the store.
type Backend interface {
	// Load returns the bindings stored for aor, in the order last stored;
	// expired ones may be among them (callers compare Expires).
	Load(ctx context.Context, aor string) ([]Binding, error)

	// Update replaces the bindings of aor atomically with what fn returns
	// when given the stored ones (as Load returns them): no other Update of
	// aor may interleave. fn may be called more than once (optimistic
	// stores retry on conflict) and must not have effects outside its
	// result. fn may keep the bindings' values (their strings) but not the
	// slice cur: a Backend may reuse it once fn returns. Likewise the
	// Backend stores what fn returns but not the slice, which its caller
	// reuses once Update returns. If fn returns an error, nothing changes
	// and Update returns it. An empty result deletes aor.
	//
	// now is the caller's current time: stores that expire data on their
	// own (a Redis TTL) measure the lifetime of aor's data from it, keeping
	// it at least until the latest Expires.
	Update(ctx context.Context, aor string, now time.Time, fn func(cur []Binding) ([]Binding, error)) error

	// Expire removes up to limit bindings whose Expires is at or before
	// now, across all AoRs, and returns them. Each expired binding is
	// returned by exactly one call, so that exactly one instance reports
	// it, and never after an Update has dropped it.
	Expire(ctx context.Context, now time.Time, limit int) ([]Binding, error)

	// ByURI returns the bindings, of any AoR, whose URIKey is uriKey.
	// Expired ones may be among them.
	ByURI(ctx context.Context, uriKey string) ([]Binding, error)

	// Range calls fn with the bindings of every AoR until fn returns
	// false. Bindings changed while Range runs may or may not be seen. As
	// with Update, fn may keep the bindings' values but not the slice,
	// which a Backend may reuse for the next AoRs (a listing of every
	// binding then allocates little).
	Range(ctx context.Context, fn func(aor string, bindings []Binding) bool) error
}

// ErrFull is returned by a Backend that has reached its configured size.
// The Registrar answers 503 with Retry-After.
var ErrFull = errors.New("registrar: backend full")
