// Package redis is a registrar.Backend on Redis
// (github.com/redis/go-redis/v9): bindings are shared by every registrar
// instance using the same server and key prefix, and survive restarts of the
// registrar.
//
// Each AoR is one key holding its bindings, written atomically with
// WATCH/MULTI (optimistic: a conflicting writer retries) and given a TTL of
// its latest expiry plus TTLSlack, so Redis drops what no registrar sweeps. A
// sorted set orders AoRs by their earliest expiry for Expire, and one set per
// contact URI indexes ByURI; both are hints checked against the AoR key, so
// they never need to be exact. One Redis server or a Sentinel-managed primary
// is supported; Redis Cluster is not, since an update spans several keys.
//
//	b, err := redis.Open(ctx, "redis://:password@127.0.0.1:6379/0", redis.Config{})
//	if err != nil { ... }
//	defer b.Close()
//	reg, err := registrar.New(b, registrar.Config{})
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/internal/wire"
)

// Defaults for Config fields left zero.
const (
	DefaultPrefix     = "siphon:reg:"
	DefaultTTLSlack   = 30 * time.Second
	DefaultMaxRetries = 100
)

// Config tunes a Backend. The zero value gives the documented defaults.
type Config struct {
	// Prefix starts every key the backend uses; default "siphon:reg:".
	// Registrars sharing bindings use the same prefix.
	Prefix string
	// TTLSlack is how long Redis keeps an AoR's key after its latest
	// binding expires; default 30 s. The registrar removes expired bindings
	// itself, on time; the slack keeps Redis from deleting a key under a
	// REGISTER that is refreshing it at the last moment, or under an
	// instance whose clock lags, and gives the sweeper time to report the
	// expiry. Keys of bindings no registrar sweeps disappear after it.
	TTLSlack time.Duration
	// MaxRetries bounds the attempts of one Update when other writers keep
	// changing the AoR; default 100.
	MaxRetries int
}

// Backend stores bindings in Redis. It is safe for concurrent use.
type Backend struct {
	c     goredis.UniversalClient
	cfg   Config
	owned bool // Close closes c
}

var _ registrar.Backend = (*Backend)(nil)

// New returns a Backend using c, which the caller keeps and closes.
func New(c goredis.UniversalClient, cfg Config) *Backend {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.TTLSlack <= 0 {
		cfg.TTLSlack = DefaultTTLSlack
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	return &Backend{c: c, cfg: cfg}
}

// Open connects to the Redis server at url
// ("redis://[user:password@]host:port/db", or rediss:// for TLS), checks it
// answers, and returns a Backend that Close disconnects.
func Open(ctx context.Context, url string, cfg Config) (*Backend, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	c := goredis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis: connecting to %s: %w", opts.Addr, err)
	}
	b := New(c, cfg)
	b.owned = true
	return b, nil
}

// Close closes the client if Open made it.
func (b *Backend) Close() error {
	if b.owned {
		return b.c.Close()
	}
	return nil
}

func (b *Backend) aorKey(aor string) string { return b.cfg.Prefix + "aor:" + aor }
func (b *Backend) uriKey(uri string) string { return b.cfg.Prefix + "uri:" + uri }
func (b *Backend) expKey() string           { return b.cfg.Prefix + "exp" }

// Load implements registrar.Backend.
func (b *Backend) Load(ctx context.Context, aor string) ([]registrar.Binding, error) {
	raw, err := b.c.Get(ctx, b.aorKey(aor)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis: load %s: %w", aor, err)
	}
	return decode(aor, raw)
}

// fnError carries the Update function's own error out of the transaction.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// ErrContention is returned by an Update that kept conflicting with other
// writers for Config.MaxRetries attempts.
var ErrContention = errors.New("redis: too much contention on one AoR")

// Update implements registrar.Backend.
func (b *Backend) Update(ctx context.Context, aor string, now time.Time, fn func([]registrar.Binding) ([]registrar.Binding, error)) error {
	key := b.aorKey(aor)
	for attempt := range b.cfg.MaxRetries {
		err := b.c.Watch(ctx, func(tx *goredis.Tx) error {
			raw, err := tx.Get(ctx, key).Bytes()
			if err != nil && !errors.Is(err, goredis.Nil) {
				return err
			}
			cur, err := decode(aor, raw)
			if err != nil {
				return err
			}
			next, err := fn(cur)
			if err != nil {
				return fnError{err}
			}
			enc, err := encode(next)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				b.write(ctx, p, aor, now, cur, next, enc)
				return nil
			})
			return err
		}, key)
		var fe fnError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &fe):
			return fe.err
		case errors.Is(err, goredis.TxFailedErr):
			// Another writer changed the AoR: back off a little, retry.
			backoff := time.Duration(rand.IntN(1+min(attempt, 10))) * time.Millisecond
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
		default:
			return fmt.Errorf("redis: update %s: %w", aor, err)
		}
	}
	return fmt.Errorf("%w: %s", ErrContention, aor)
}

// write queues the commands that store next for aor.
func (b *Backend) write(ctx context.Context, p goredis.Pipeliner, aor string, now time.Time, cur, next []registrar.Binding, enc []byte) {
	key := b.aorKey(aor)
	var ttl time.Duration
	if len(next) == 0 {
		p.Del(ctx, key)
		p.ZRem(ctx, b.expKey(), aor)
	} else {
		first, last := next[0].Expires, next[0].Expires
		for _, bd := range next[1:] {
			if bd.Expires.Before(first) {
				first = bd.Expires
			}
			if bd.Expires.After(last) {
				last = bd.Expires
			}
		}
		ttl = max(last.Sub(now), 0) + b.cfg.TTLSlack
		p.Set(ctx, key, enc, ttl)
		p.ZAdd(ctx, b.expKey(), goredis.Z{Score: float64(first.UnixMilli()), Member: aor})
	}
	has := func(bs []registrar.Binding, uri string) bool {
		for i := range bs {
			if bs[i].URIKey == uri {
				return true
			}
		}
		return false
	}
	for i := range cur {
		if u := cur[i].URIKey; !has(next, u) && !has(cur[:i], u) {
			p.SRem(ctx, b.uriKey(u), aor)
		}
	}
	for i := range next {
		u := next[i].URIKey
		if has(next[:i], u) {
			continue
		}
		if !has(cur, u) {
			p.SAdd(ctx, b.uriKey(u), aor)
		}
		// The index lives as long as the longest-lived AoR in it.
		secs := (ttl + time.Second - 1) / time.Second * time.Second
		p.ExpireNX(ctx, b.uriKey(u), secs)
		p.ExpireGT(ctx, b.uriKey(u), secs)
	}
}

// Expire implements registrar.Backend. Candidates come from the expiry set;
// each is removed by an Update, so that of several instances sweeping at
// once exactly one removes (and returns) a binding.
func (b *Backend) Expire(ctx context.Context, now time.Time, limit int) ([]registrar.Binding, error) {
	aors, err := b.c.ZRangeByScore(ctx, b.expKey(), &goredis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprint(now.UnixMilli()), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: expire: %w", err)
	}
	var out []registrar.Binding
	for _, aor := range aors {
		if len(out) >= limit {
			break
		}
		var got []registrar.Binding
		err := b.Update(ctx, aor, now, func(cur []registrar.Binding) ([]registrar.Binding, error) {
			got = got[:0]
			next := make([]registrar.Binding, 0, len(cur))
			for _, bd := range cur {
				if !bd.Expires.After(now) && len(out)+len(got) < limit {
					got = append(got, bd)
				} else {
					next = append(next, bd)
				}
			}
			return next, nil
		})
		if err != nil {
			return out, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// ByURI implements registrar.Backend.
func (b *Backend) ByURI(ctx context.Context, uriKey string) ([]registrar.Binding, error) {
	aors, err := b.c.SMembers(ctx, b.uriKey(uriKey)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: by URI: %w", err)
	}
	var out []registrar.Binding
	for _, aor := range aors {
		bs, err := b.Load(ctx, aor)
		if err != nil {
			return nil, err
		}
		for _, bd := range bs {
			if bd.URIKey == uriKey {
				out = append(out, bd)
			}
		}
	}
	return out, nil
}

// Range implements registrar.Backend, scanning the AoR keys.
func (b *Backend) Range(ctx context.Context, fn func(string, []registrar.Binding) bool) error {
	prefix := b.aorKey("")
	iter := b.c.Scan(ctx, 0, globEscape(prefix)+"*", 200).Iterator()
	for iter.Next(ctx) {
		aor := strings.TrimPrefix(iter.Val(), prefix)
		bs, err := b.Load(ctx, aor)
		if err != nil {
			return err
		}
		if len(bs) > 0 && !fn(aor, bs) {
			return nil
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("redis: range: %w", err)
	}
	return nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// record is the value of an AoR key: a format version and the bindings.
type record struct {
	V        int            `json:"v"`
	Bindings []wire.Binding `json:"b"`
}

func encode(bs []registrar.Binding) ([]byte, error) {
	rec := record{V: 1, Bindings: make([]wire.Binding, len(bs))}
	for i := range bs {
		rec.Bindings[i] = wire.From(&bs[i])
	}
	return json.Marshal(rec)
}

func decode(aor string, raw []byte) ([]registrar.Binding, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("redis: decoding bindings of %s: %w", aor, err)
	}
	if rec.V != 1 {
		return nil, fmt.Errorf("redis: bindings of %s have format version %d", aor, rec.V)
	}
	out := make([]registrar.Binding, len(rec.Bindings))
	for i := range rec.Bindings {
		out[i] = rec.Bindings[i].Binding(aor)
	}
	return out, nil
}
