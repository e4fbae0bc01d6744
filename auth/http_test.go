package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/siptest"
)

// credService is a JSON REST credential service counting its requests.
type credService struct {
	hits    atomic.Int64
	users   map[string]map[string]string
	status  atomic.Int64 // non-zero: answer this status
	release chan struct{}
}

func (s *credService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if s.release != nil {
		<-s.release
	}
	if code := s.status.Load(); code != 0 {
		w.WriteHeader(int(code))
		return
	}
	if r.Header.Get("X-Token") != "t0k" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	u, ok := s.users[r.URL.Query().Get("username")]
	if !ok || r.URL.Query().Get("realm") != "example.com" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	_ = json.NewEncoder(w).Encode(u)
}

func newCredService(t *testing.T) (*credService, *httptest.Server) {
	s := &credService{users: map[string]map[string]string{
		"alice": {"password": "secret"},
		"bob":   {"ha1": auth.HA1(auth.MD5, "bob", "example.com", "pw"), "ha1_sha256": auth.HA1(auth.SHA256, "bob", "example.com", "pw")},
		"carol": {"ha1": auth.HA1(auth.MD5, "carol", "example.com", "pw")},
	}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func TestHTTPBackendLookupsAndCache(t *testing.T) {
	svc, srv := newCredService(t)
	clock := siptest.NewClock()
	b, err := auth.NewHTTP(srv.URL+"/creds", auth.HTTPConfig{Header: http.Header{"X-Token": {"t0k"}},
		CacheTTL: time.Minute, NegativeTTL: 5 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(user string, alg auth.Algorithm, want string, wantErr error) {
		t.Helper()
		got, err := b.HA1(ctx, user, "example.com", alg)
		if !errors.Is(err, wantErr) || got != want {
			t.Fatalf("HA1(%s, %s) = %q, %v; want %q, %v", user, alg, got, err, want, wantErr)
		}
	}
	check("alice", auth.MD5, auth.HA1(auth.MD5, "alice", "example.com", "secret"), nil)
	check("alice", auth.SHA256, auth.HA1(auth.SHA256, "alice", "example.com", "secret"), nil)
	check("bob", auth.SHA256, auth.HA1(auth.SHA256, "bob", "example.com", "pw"), nil)
	check("carol", auth.SHA256, "", auth.ErrUnknownUser) // no SHA-256 secret: fails like a bad password
	check("dave", auth.MD5, "", auth.ErrUnknownUser)
	if n := svc.hits.Load(); n != 4 {
		t.Fatalf("%d fetches for 4 users", n)
	}
	// A registration storm: repeat lookups come from the cache.
	for range 100 {
		check("alice", auth.MD5, auth.HA1(auth.MD5, "alice", "example.com", "secret"), nil)
		check("dave", auth.MD5, "", auth.ErrUnknownUser)
	}
	if n := svc.hits.Load(); n != 4 {
		t.Fatalf("%d fetches after cached lookups", n)
	}
	clock.Advance(6 * time.Second) // negative entry expires first
	check("dave", auth.MD5, "", auth.ErrUnknownUser)
	check("alice", auth.MD5, auth.HA1(auth.MD5, "alice", "example.com", "secret"), nil)
	if n := svc.hits.Load(); n != 5 {
		t.Fatalf("%d fetches after the negative TTL", n)
	}
	clock.Advance(time.Minute)
	check("alice", auth.MD5, auth.HA1(auth.MD5, "alice", "example.com", "secret"), nil)
	if n := svc.hits.Load(); n != 6 {
		t.Fatalf("%d fetches after the TTL", n)
	}
}

func TestHTTPBackendFailuresAreNotCached(t *testing.T) {
	svc, srv := newCredService(t)
	b, _ := auth.NewHTTP(srv.URL, auth.HTTPConfig{Header: http.Header{"X-Token": {"t0k"}}})
	svc.status.Store(500)
	if _, err := b.HA1(context.Background(), "alice", "example.com", auth.MD5); err == nil || errors.Is(err, auth.ErrUnknownUser) {
		t.Fatalf("500 gave %v", err)
	}
	svc.status.Store(0)
	if _, err := b.HA1(context.Background(), "alice", "example.com", auth.MD5); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if _, err := auth.NewHTTP("ftp://x", auth.HTTPConfig{}); err == nil {
		t.Fatal("ftp URL accepted")
	}
}

func TestHTTPBackendSharesConcurrentFetches(t *testing.T) {
	svc, srv := newCredService(t)
	svc.release = make(chan struct{})
	b, _ := auth.NewHTTP(srv.URL, auth.HTTPConfig{Header: http.Header{"X-Token": {"t0k"}}})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.HA1(context.Background(), "alice", "example.com", auth.MD5)
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for svc.hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue behind the first fetch
	close(svc.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := svc.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent lookups", n)
	}
}

func TestHTTPBackendCacheIsBounded(t *testing.T) {
	svc, srv := newCredService(t)
	for i := range 100 {
		svc.users[fmt.Sprintf("u%d", i)] = map[string]string{"password": "p"}
	}
	b, _ := auth.NewHTTP(srv.URL, auth.HTTPConfig{Header: http.Header{"X-Token": {"t0k"}}, CacheSize: 10})
	for i := range 100 {
		if _, err := b.HA1(context.Background(), fmt.Sprintf("u%d", i), "example.com", auth.MD5); err != nil {
			t.Fatal(err)
		}
		if n := b.CacheLen(); n > 10 {
			t.Fatalf("cache holds %d entries, limit 10", n)
		}
	}
}

func TestHTTPBackendBehindAuthenticator(t *testing.T) {
	_, srv := newCredService(t)
	b, _ := auth.NewHTTP(srv.URL, auth.HTTPConfig{Header: http.Header{"X-Token": {"t0k"}}})
	a, err := auth.New(b, auth.Config{Realm: "example.com", Secret: testSecret, Algorithms: []auth.Algorithm{auth.SHA256, auth.MD5}})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(&okHandler{})
	first := serve(t, h, register("bob", 1))
	r := register("bob", 2)
	_ = (&auth.Client{Username: "bob", Password: "pw"}).Authorize(r, first)
	if res := serve(t, h, r); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
}
