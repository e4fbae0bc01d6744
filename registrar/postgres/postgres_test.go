package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/siphon-go/siphon/internal/testpeer"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/backendtest"
	"github.com/siphon-go/siphon/registrar/postgres"
)

// table returns a fresh table name in the database at url, dropped when the
// test ends.
func table(t *testing.T, url string) string {
	t.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := "siphon_test_" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			return
		}
		defer pool.Close()
		_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+name)
	})
	return name
}

func open(t *testing.T, url string, cfg postgres.Config) *postgres.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := postgres.Open(ctx, url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	url := testpeer.Postgres(t)
	backendtest.Run(t, func(t *testing.T) backendtest.Opener {
		name := table(t, url)
		return func(t *testing.T) registrar.Backend { return open(t, url, postgres.Config{Table: name}) }
	})
}

func TestTableNameChecked(t *testing.T) {
	for _, bad := range []string{"x; DROP TABLE y", "a.b.c", "1abc", `"q"`} {
		if _, err := postgres.New(context.Background(), nil, postgres.Config{Table: bad}); err == nil {
			t.Errorf("table %q accepted", bad)
		}
	}
}

// Expired rows are deleted by the sweep, not left for ever.
func TestSweepDeletesRows(t *testing.T) {
	url := testpeer.Postgres(t)
	name := table(t, url)
	b := open(t, url, postgres.Config{Table: name})
	now := time.Now()
	aor := "sip:alice@example.com"
	_ = b.Update(context.Background(), aor, now, func([]registrar.Binding) ([]registrar.Binding, error) {
		return []registrar.Binding{{AoR: aor, Key: "k", URIKey: "sip:a@192.0.2.1", Contact: "<sip:a@192.0.2.1>", Expires: now.Add(time.Second)}}, nil
	})
	if bs, err := b.Expire(context.Background(), now.Add(2*time.Second), 10); err != nil || len(bs) != 1 {
		t.Fatalf("Expire = %d, %v", len(bs), err)
	}
	pool, _ := pgxpool.New(context.Background(), url)
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows left, %v", n, err)
	}
}
