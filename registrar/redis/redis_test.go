package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/siphon-go/siphon/internal/testpeer"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/backendtest"
	"github.com/siphon-go/siphon/registrar/redis"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
)

// namespace returns a fresh key prefix on the server at url, whose keys are
// deleted when the test ends.
func namespace(t *testing.T, url string) string {
	t.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := "siphon-test:" + hex.EncodeToString(r[:]) + ":"
	t.Cleanup(func() {
		opts, _ := goredis.ParseURL(url)
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

func open(t *testing.T, url string, cfg redis.Config) *redis.Backend {
	t.Helper()
	b, err := redis.Open(context.Background(), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	url := testpeer.Redis(t)
	backendtest.Run(t, func(t *testing.T) backendtest.Opener {
		prefix := namespace(t, url)
		return func(t *testing.T) registrar.Backend { return open(t, url, redis.Config{Prefix: prefix}) }
	})
}

// Redis keeps an AoR's key for its latest expiry plus TTLSlack, and then
// deletes it on its own, even with no registrar sweeping.
func TestTTLSlack(t *testing.T) {
	url := testpeer.Redis(t)
	prefix := namespace(t, url)
	b := open(t, url, redis.Config{Prefix: prefix, TTLSlack: 600 * time.Millisecond})
	now := time.Now()
	aor := "sip:alice@example.com"
	err := b.Update(context.Background(), aor, now, func([]registrar.Binding) ([]registrar.Binding, error) {
		return []registrar.Binding{
			{AoR: aor, Key: "sip:a@192.0.2.1", URIKey: "sip:a@192.0.2.1", Contact: "<sip:a@192.0.2.1>", Expires: now.Add(300 * time.Millisecond)},
			{AoR: aor, Key: "sip:b@192.0.2.1", URIKey: "sip:b@192.0.2.1", Contact: "<sip:b@192.0.2.1>", Expires: now.Add(400 * time.Millisecond)},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := goredis.ParseURL(url)
	c := goredis.NewClient(opts)
	defer c.Close()
	ttl := c.PTTL(context.Background(), prefix+"aor:"+aor).Val()
	if ttl < 800*time.Millisecond || ttl > time.Second {
		t.Fatalf("PTTL = %v, want the latest expiry (400 ms) plus the slack (600 ms)", ttl)
	}
	// After the binding lapsed but within the slack, the key (and so a
	// refresh racing the expiry) is still there.
	time.Sleep(500 * time.Millisecond)
	if n := c.Exists(context.Background(), prefix+"aor:"+aor).Val(); n != 1 {
		t.Fatal("key gone inside the slack")
	}
	deadline := time.Now().Add(3 * time.Second)
	for c.Exists(context.Background(), prefix+"aor:"+aor).Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("key outlived its TTL")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two registrar processes share bindings through Redis: one registers, the
// other finds the binding and reports its expiry.
func TestSharedByTwoRegistrars(t *testing.T) {
	url := testpeer.Redis(t)
	prefix := namespace(t, url)
	clock := siptest.NewClock()
	mk := func() *registrar.Registrar {
		r, err := registrar.New(open(t, url, redis.Config{Prefix: prefix}), registrar.Config{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	a, b := mk(), mk()
	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", siptest.WithHeader("Contact", "<sip:alice@192.0.2.10>;expires=120"))
	req.To().Address.User = "alice"
	rec := siptest.NewRecorder()
	a.ServeSIP(context.Background(), rec, req)
	if rec.Final().StatusCode != 200 {
		t.Fatalf("REGISTER got %d", rec.Final().StatusCode)
	}
	u, _ := sip.ParseURI("sip:alice@example.com")
	cs, err := b.Lookup(context.Background(), u)
	if err != nil || len(cs) != 1 {
		t.Fatalf("other instance: %d contacts, %v", len(cs), err)
	}
}
