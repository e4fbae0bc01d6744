package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Defaults for HTTPConfig fields left zero.
const (
	DefaultHTTPTimeout     = 2 * time.Second
	DefaultHTTPCacheTTL    = 60 * time.Second
	DefaultHTTPNegativeTTL = 10 * time.Second
	DefaultHTTPCacheSize   = 10000
)

// HTTPConfig tunes an HTTP backend. The zero value gives the defaults
// documented per field.
type HTTPConfig struct {
	// Client makes the requests; nil means a client with Timeout.
	Client *http.Client
	// Timeout bounds one lookup; default 2 s.
	Timeout time.Duration
	// Header is added to every request (an API token, for instance).
	Header http.Header
	// CacheTTL is how long a user's credentials are reused before being
	// fetched again; default 60 s. A registration storm (every phone
	// re-registering after an outage) then costs one fetch per user.
	// Negative disables the cache.
	CacheTTL time.Duration
	// NegativeTTL is how long an unknown user is remembered; default 10 s.
	// Negative disables negative caching.
	NegativeTTL time.Duration
	// CacheSize bounds the cached users; default 10000. When full, an
	// insert drops the expired entries of a random sample of the cache, or
	// else the sampled entry closest to expiry.
	CacheSize int
	// Now returns the current time for cache expiry; nil means time.Now.
	Now func() time.Time
}

// HTTP is a Backend that asks a JSON REST service for credentials:
//
//	GET <url>?username=alice&realm=example.com
//
// answered 200 with a JSON object holding any of
//
//	{"ha1": "<MD5 HA1 hex>", "ha1_sha256": "<SHA-256 HA1 hex>", "password": "<plain>"}
//
// (a password serves every algorithm), or 404 for an unknown user. Any other
// status is a backend failure. Results are cached per user and realm for
// HTTPConfig.CacheTTL; concurrent lookups of one user share one request.
// It is safe for concurrent use.
type HTTP struct {
	url    string
	client *http.Client
	cfg    HTTPConfig

	mu       sync.Mutex
	cache    map[httpKey]*httpEntry
	inflight map[httpKey]*httpCall
}

var _ Backend = (*HTTP)(nil)

type httpKey struct{ user, realm string }

// httpCreds is the JSON the service answers with.
type httpCreds struct {
	HA1       string `json:"ha1"`
	HA1SHA256 string `json:"ha1_sha256"`
	Password  string `json:"password"`
}

type httpEntry struct {
	creds   httpCreds
	unknown bool
	expires time.Time
}

type httpCall struct {
	done  chan struct{}
	entry *httpEntry
	err   error
}

// NewHTTP returns an HTTP backend querying rawURL (http or https).
func NewHTTP(rawURL string, cfg HTTPConfig) (*HTTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("auth: HTTP backend URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("auth: HTTP backend URL %q: want http or https", rawURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHTTPTimeout
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultHTTPCacheTTL
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = DefaultHTTPNegativeTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultHTTPCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: cfg.Timeout}
	}
	return &HTTP{url: rawURL, client: c, cfg: cfg,
		cache: make(map[httpKey]*httpEntry), inflight: make(map[httpKey]*httpCall)}, nil
}

// HA1 implements Backend.
func (h *HTTP) HA1(ctx context.Context, username, realm string, alg Algorithm) (string, error) {
	e, err := h.lookup(ctx, httpKey{username, realm})
	if err != nil {
		return "", err
	}
	if e.unknown {
		return "", ErrUnknownUser
	}
	switch {
	case alg.Base() == MD5 && e.creds.HA1 != "":
		return e.creds.HA1, nil
	case alg.Base() == SHA256 && e.creds.HA1SHA256 != "":
		return e.creds.HA1SHA256, nil
	case e.creds.Password != "":
		return HA1(alg, username, realm, e.creds.Password), nil
	}
	// Credentials exist, but not for this algorithm: the request fails as
	// a wrong password would.
	return "", ErrUnknownUser
}

func (h *HTTP) lookup(ctx context.Context, k httpKey) (*httpEntry, error) {
	now := h.cfg.Now()
	h.mu.Lock()
	if e := h.cache[k]; e != nil {
		if now.Before(e.expires) {
			h.mu.Unlock()
			return e, nil
		}
		delete(h.cache, k)
	}
	if c := h.inflight[k]; c != nil {
		h.mu.Unlock()
		select {
		case <-c.done:
			return c.entry, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &httpCall{done: make(chan struct{})}
	h.inflight[k] = c
	h.mu.Unlock()

	// The fetch is not tied to one caller's context: others may be waiting
	// on it. Timeout bounds it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Timeout)
	c.entry, c.err = h.fetch(fctx, k)
	cancel()

	h.mu.Lock()
	delete(h.inflight, k)
	if c.err == nil {
		ttl := h.cfg.CacheTTL
		if c.entry.unknown {
			ttl = h.cfg.NegativeTTL
		}
		if ttl > 0 {
			c.entry.expires = h.cfg.Now().Add(ttl)
			h.store(k, c.entry)
		}
	}
	h.mu.Unlock()
	close(c.done)
	return c.entry, c.err
}

// store adds e under h.mu. When the cache is full it looks at a sample of
// entries (map order is random), drops the expired ones and, if that freed
// nothing, the one closest to expiry: bounded work per insert.
func (h *HTTP) store(k httpKey, e *httpEntry) {
	if len(h.cache) >= h.cfg.CacheSize {
		now := h.cfg.Now()
		var victim httpKey
		var soonest time.Time
		found, n := false, 0
		for ck, ce := range h.cache {
			if n++; n > 64 {
				break
			}
			if !now.Before(ce.expires) {
				delete(h.cache, ck)
				continue
			}
			if !found || ce.expires.Before(soonest) {
				victim, soonest, found = ck, ce.expires, true
			}
		}
		if len(h.cache) >= h.cfg.CacheSize && found {
			delete(h.cache, victim)
		}
	}
	h.cache[k] = e
}

func (h *HTTP) fetch(ctx context.Context, k httpKey) (*httpEntry, error) {
	u, _ := url.Parse(h.url)
	q := u.Query()
	q.Set("username", k.user)
	q.Set("realm", k.realm)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("auth: HTTP backend: %w", err)
	}
	for name, vals := range h.cfg.Header {
		for _, v := range vals {
			req.Header.Add(name, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	res, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: HTTP backend: %w", err)
	}
	defer res.Body.Close()
	body := io.LimitReader(res.Body, 64<<10)
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, body)
		return &httpEntry{unknown: true}, nil
	default:
		_, _ = io.Copy(io.Discard, body)
		return nil, fmt.Errorf("auth: HTTP backend: status %d", res.StatusCode)
	}
	var c httpCreds
	if err := json.NewDecoder(body).Decode(&c); err != nil {
		return nil, fmt.Errorf("auth: HTTP backend: decoding: %w", err)
	}
	if c.HA1 == "" && c.HA1SHA256 == "" && c.Password == "" {
		return nil, errors.New("auth: HTTP backend: answer holds no credentials")
	}
	return &httpEntry{creds: c}, nil
}

// CacheLen returns the number of cached users.
func (h *HTTP) CacheLen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.cache)
}
