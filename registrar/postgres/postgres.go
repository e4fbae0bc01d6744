// Package postgres is a registrar.Backend on PostgreSQL
// (github.com/jackc/pgx/v5): bindings are rows shared by every registrar
// instance using the same database and table, and survive restarts.
//
// The backend creates its table and indexes if they are missing. An update
// of one AoR runs in a transaction holding a per-AoR advisory lock; expired
// rows are deleted by Expire in batches (FOR UPDATE SKIP LOCKED, so several
// instances sweep without waiting on each other and each row is reported
// once).
//
//	b, err := postgres.Open(ctx, "postgres://user:pass@127.0.0.1:5432/sip?sslmode=disable", postgres.Config{})
//	if err != nil { ... }
//	defer b.Close()
//	reg, err := registrar.New(b, registrar.Config{})
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/internal/wire"
)

// DefaultTable is Config.Table when empty.
const DefaultTable = "siphon_bindings"

// Config tunes a Backend. The zero value gives the documented defaults.
type Config struct {
	// Table holds the bindings; default "siphon_bindings". It may be
	// qualified by a schema ("sip.bindings"). Registrars sharing bindings
	// use the same table.
	Table string
}

// Backend stores bindings in a PostgreSQL table. It is safe for concurrent
// use.
type Backend struct {
	pool  *pgxpool.Pool
	owned bool
	table string // quoted
	q     queries
}

var _ registrar.Backend = (*Backend)(nil)

type queries struct {
	lock, load, del, insert, expire, byURI, aors string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

// New returns a Backend using pool, which the caller keeps and closes, and
// creates the table and its indexes if they do not exist.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Backend, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if !identRE.MatchString(cfg.Table) {
		return nil, fmt.Errorf("postgres: table name %q: want [schema.]identifier", cfg.Table)
	}
	parts := strings.Split(cfg.Table, ".")
	t := pgx.Identifier(parts).Sanitize()
	idx := func(suffix string) string {
		return pgx.Identifier{parts[len(parts)-1] + "_" + suffix}.Sanitize()
	}
	b := &Backend{pool: pool, table: t}
	b.q = queries{
		lock:   `SELECT pg_advisory_xact_lock(hashtextextended($1, 5060))`,
		load:   `SELECT binding FROM ` + t + ` WHERE aor = $1 ORDER BY pos FOR UPDATE`,
		del:    `DELETE FROM ` + t + ` WHERE aor = $1`,
		insert: `INSERT INTO ` + t + ` (aor, pos, uri_key, expires_ns, binding) VALUES ($1, $2, $3, $4, $5)`,
		expire: `DELETE FROM ` + t + ` WHERE ctid IN (SELECT ctid FROM ` + t +
			` WHERE expires_ns <= $1 ORDER BY expires_ns LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING aor, binding`,
		byURI: `SELECT aor, binding FROM ` + t + ` WHERE uri_key = $1 ORDER BY aor, pos`,
		aors:  `SELECT DISTINCT aor FROM ` + t + ` WHERE aor > $1 ORDER BY aor LIMIT 200`,
	}
	// The advisory lock keeps two instances starting at once from racing
	// on CREATE TABLE IF NOT EXISTS.
	schema := []string{
		`SELECT pg_advisory_xact_lock(5060)`,
		`CREATE TABLE IF NOT EXISTS ` + t + ` (
			aor        text   NOT NULL,
			pos        int    NOT NULL,
			uri_key    text   NOT NULL,
			expires_ns bigint NOT NULL,
			binding    jsonb  NOT NULL,
			PRIMARY KEY (aor, pos))`,
		`CREATE INDEX IF NOT EXISTS ` + idx("expires") + ` ON ` + t + ` (expires_ns)`,
		`CREATE INDEX IF NOT EXISTS ` + idx("uri") + ` ON ` + t + ` (uri_key)`,
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, s := range schema {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: creating %s: %w", cfg.Table, err)
	}
	return b, nil
}

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN, as pgx parses them), creates the table if needed, and returns a
// Backend that Close disconnects.
func Open(ctx context.Context, url string, cfg Config) (*Backend, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	b, err := New(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	b.owned = true
	return b, nil
}

// Close closes the pool if Open made it.
func (b *Backend) Close() error {
	if b.owned {
		b.pool.Close()
	}
	return nil
}

func decodeRow(aor string, raw []byte) (registrar.Binding, error) {
	var s wire.Binding
	if err := json.Unmarshal(raw, &s); err != nil {
		return registrar.Binding{}, fmt.Errorf("postgres: decoding a binding of %s: %w", aor, err)
	}
	return s.Binding(aor), nil
}

func (b *Backend) loadWith(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, aor, query string) ([]registrar.Binding, error) {
	rows, err := q.Query(ctx, query, aor)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []registrar.Binding
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		bd, err := decodeRow(aor, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, bd)
	}
	return out, rows.Err()
}

// Load implements registrar.Backend.
func (b *Backend) Load(ctx context.Context, aor string) ([]registrar.Binding, error) {
	bs, err := b.loadWith(ctx, b.pool, aor, strings.TrimSuffix(b.q.load, " FOR UPDATE"))
	if err != nil {
		return nil, fmt.Errorf("postgres: load %s: %w", aor, err)
	}
	return bs, nil
}

// fnError carries the Update function's own error out of the transaction.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// Update implements registrar.Backend.
func (b *Backend) Update(ctx context.Context, aor string, now time.Time, fn func([]registrar.Binding) ([]registrar.Binding, error)) error {
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, b.q.lock, aor); err != nil {
			return err
		}
		// FOR UPDATE: a concurrent Expire skips these rows, so a lapsed
		// binding is reported by whichever of the two removes it.
		cur, err := b.loadWith(ctx, tx, aor, b.q.load)
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return fnError{err}
		}
		batch := &pgx.Batch{}
		batch.Queue(b.q.del, aor)
		for i := range next {
			raw, err := json.Marshal(wire.From(&next[i]))
			if err != nil {
				return err
			}
			batch.Queue(b.q.insert, aor, i, next[i].URIKey, next[i].Expires.UnixNano(), raw)
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	if err != nil {
		return fmt.Errorf("postgres: update %s: %w", aor, err)
	}
	return nil
}

// Expire implements registrar.Backend.
func (b *Backend) Expire(ctx context.Context, now time.Time, limit int) ([]registrar.Binding, error) {
	rows, err := b.pool.Query(ctx, b.q.expire, now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: expire: %w", err)
	}
	defer rows.Close()
	var out []registrar.Binding
	for rows.Next() {
		var aor string
		var raw []byte
		if err := rows.Scan(&aor, &raw); err != nil {
			return out, fmt.Errorf("postgres: expire: %w", err)
		}
		bd, err := decodeRow(aor, raw)
		if err != nil {
			return out, err
		}
		out = append(out, bd)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("postgres: expire: %w", err)
	}
	return out, nil
}

// ByURI implements registrar.Backend.
func (b *Backend) ByURI(ctx context.Context, uriKey string) ([]registrar.Binding, error) {
	rows, err := b.pool.Query(ctx, b.q.byURI, uriKey)
	if err != nil {
		return nil, fmt.Errorf("postgres: by URI: %w", err)
	}
	defer rows.Close()
	var out []registrar.Binding
	for rows.Next() {
		var aor string
		var raw []byte
		if err := rows.Scan(&aor, &raw); err != nil {
			return nil, fmt.Errorf("postgres: by URI: %w", err)
		}
		bd, err := decodeRow(aor, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, bd)
	}
	return out, rows.Err()
}

// Range implements registrar.Backend, paging through AoRs in order.
func (b *Backend) Range(ctx context.Context, fn func(string, []registrar.Binding) bool) error {
	after := ""
	for {
		rows, err := b.pool.Query(ctx, b.q.aors, after)
		if err != nil {
			return fmt.Errorf("postgres: range: %w", err)
		}
		aors, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("postgres: range: %w", err)
		}
		for _, aor := range aors {
			bs, err := b.Load(ctx, aor)
			if err != nil {
				return err
			}
			if len(bs) > 0 && !fn(aor, bs) {
				return nil
			}
		}
		if len(aors) < 200 {
			return nil
		}
		after = aors[len(aors)-1]
	}
}
