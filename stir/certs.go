package stir

import (
	"container/list"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxChainCerts bounds the certificates read from one x5u response.
const maxChainCerts = 10

// maxURLLen bounds the x5u/info URL.
const maxURLLen = 2048

// credential is a validated signer: the leaf's key, the chain up to a trust
// anchor and the leaf's TN Authorization List. It is immutable.
type credential struct {
	pub    *ecdsa.PublicKey
	chain  []*x509.Certificate
	tnAuth *TNAuthList
}

// certEntry is the certificate chain fetched from one x5u URL, leaf first.
type certEntry struct {
	url     string
	certs   []*x509.Certificate
	inter   *x509.CertPool
	expires time.Time
	elem    *list.Element

	// The last successful validation and the period in which it holds, bounds
	// included (the intersection of the chain's validity periods). Guarded
	// by certCache.mu.
	cred       *credential
	validFrom  time.Time
	validUntil time.Time
}

// fetchCall is one x5u fetch that concurrent verifications of the same URL
// wait for instead of fetching again.
type fetchCall struct {
	done  chan struct{}
	entry *certEntry
	err   error
}

// certCache holds fetched certificate chains by URL, at most limit of them,
// each until its expiry; the least recently used entry is evicted first.
type certCache struct {
	mu       sync.Mutex
	limit    int
	entries  map[string]*certEntry
	lru      list.List // of *certEntry, most recently used first
	inflight map[string]*fetchCall
}

func newCertCache(limit int) *certCache {
	return &certCache{
		limit:    limit,
		entries:  make(map[string]*certEntry),
		inflight: make(map[string]*fetchCall),
	}
}

func (c *certCache) removeLocked(e *certEntry) {
	delete(c.entries, e.url)
	c.lru.Remove(e.elem)
}

func (c *certCache) lookupLocked(u string, now time.Time) *certEntry {
	e := c.entries[u]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		c.removeLocked(e)
		return nil
	}
	c.lru.MoveToFront(e.elem)
	return e
}

func (c *certCache) storeLocked(e *certEntry) {
	if old := c.entries[e.url]; old != nil {
		c.removeLocked(old)
	}
	e.elem = c.lru.PushFront(e)
	c.entries[e.url] = e
	for len(c.entries) > c.limit {
		c.removeLocked(c.lru.Back().Value.(*certEntry))
	}
}

// chain returns the certificate chain for x5u from the cache or the network.
// Concurrent misses for one URL share a single fetch, which runs under its own
// FetchTimeout so that one caller giving up does not fail the others; each
// caller still returns as soon as its own ctx is done.
func (v *Verifier) chain(ctx context.Context, x5u string) (*certEntry, error) {
	if err := v.checkURL(x5u); err != nil {
		return nil, err
	}
	c := v.cache
	c.mu.Lock()
	if e := c.lookupLocked(x5u, v.now()); e != nil {
		c.mu.Unlock()
		return e, nil
	}
	call := c.inflight[x5u]
	if call == nil {
		if len(c.inflight) >= c.limit {
			// Too many distinct fetches under way to track: fetch alone.
			c.mu.Unlock()
			fctx, cancel := context.WithTimeout(ctx, v.cfg.FetchTimeout)
			defer cancel()
			e, err := v.fetch(fctx, x5u)
			if err == nil {
				c.mu.Lock()
				c.storeIfCacheable(e)
				c.mu.Unlock()
			}
			return e, err
		}
		call = &fetchCall{done: make(chan struct{})}
		c.inflight[x5u] = call
		go v.runFetch(context.WithoutCancel(ctx), x5u, call)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.entry, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, x5u, ctx.Err())
	}
}

func (v *Verifier) runFetch(ctx context.Context, x5u string, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.FetchTimeout)
	defer cancel()
	e, err := v.fetch(ctx, x5u)
	c := v.cache
	c.mu.Lock()
	if err == nil {
		c.storeIfCacheable(e)
	}
	delete(c.inflight, x5u)
	c.mu.Unlock()
	call.entry, call.err = e, err
	close(call.done)
}

func (c *certCache) storeIfCacheable(e *certEntry) {
	if e.expires.After(time.Time{}) && e.elem == nil {
		c.storeLocked(e)
	}
}

// checkURL refuses x5u values that are not absolute HTTPS URLs (HTTP ones are
// accepted when AllowHTTP is set): a chain fetched in clear text could be
// swapped on the way.
func (v *Verifier) checkURL(raw string) error {
	if len(raw) > maxURLLen {
		return fmt.Errorf("%w: x5u longer than %d bytes", ErrFetch, maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: x5u: %w", ErrFetch, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && v.cfg.AllowHTTP:
	default:
		return fmt.Errorf("%w: x5u %q is not an https URL", ErrFetch, clip(raw))
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: x5u %q has no host or has user info", ErrFetch, clip(raw))
	}
	if v.cfg.CheckURL != nil {
		if err := v.cfg.CheckURL(u); err != nil {
			return fmt.Errorf("%w: x5u %q refused: %w", ErrFetch, clip(raw), err)
		}
	}
	return nil
}

// fetch downloads and parses the chain at x5u. The returned entry's expiry is
// zero when the response must not be cached.
func (v *Verifier) fetch(ctx context.Context, x5u string) (*certEntry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, x5u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, x5u, err)
	}
	// STI repositories serve application/pem-certificate-chain (RFC 8555
	// §9.1); a single DER certificate is accepted too.
	req.Header.Set("Accept", "application/pem-certificate-chain, application/pkix-cert;q=0.5, */*;q=0.1")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, x5u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP status %d", ErrFetch, x5u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxCertSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, x5u, err)
	}
	if int64(len(body)) > v.cfg.MaxCertSize {
		return nil, fmt.Errorf("%w: %s: response larger than %d bytes", ErrFetch, x5u, v.cfg.MaxCertSize)
	}
	certs, err := parseChain(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, x5u, err)
	}
	e := &certEntry{url: x5u, certs: certs, inter: x509.NewCertPool()}
	for _, c := range certs[1:] {
		e.inter.AddCert(c)
	}
	if ttl := cacheLifetime(resp.Header, v.cfg.CacheTTL, v.cfg.CacheMaxTTL); ttl > 0 {
		e.expires = v.now().Add(ttl)
	}
	return e, nil
}

// parseChain reads PEM certificates (leaf first), or a single DER one.
func parseChain(body []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := body
	for len(certs) <= maxChainCerts {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		c, err := x509.ParseCertificate(body)
		if err != nil {
			return nil, errors.New("no certificate in response")
		}
		certs = append(certs, c)
	}
	if len(certs) > maxChainCerts {
		return nil, fmt.Errorf("more than %d certificates", maxChainCerts)
	}
	for _, c := range certs {
		// The TNAuthList extension is handled here (RFC 8226 §9), so a CA
		// that marks it critical must not make the chain unverifiable.
		kept := c.UnhandledCriticalExtensions[:0]
		for _, id := range c.UnhandledCriticalExtensions {
			if !id.Equal(oidTNAuthList) {
				kept = append(kept, id)
			}
		}
		c.UnhandledCriticalExtensions = kept
	}
	return certs, nil
}

// ParsePEMCertificates returns the certificates of the CERTIFICATE blocks in
// data, such as a file of approved STI-CA roots to give NewVerifier. Other
// PEM blocks are skipped; data without any certificate is an error.
func ParsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("stir: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("stir: no PEM certificate found")
	}
	return certs, nil
}

// cacheLifetime returns how long a response may be cached: zero for
// Cache-Control no-store or no-cache, max-age when given (at most maxTTL), def
// otherwise.
func cacheLifetime(h http.Header, def, maxTTL time.Duration) time.Duration {
	ttl := def
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				if n > int64(maxTTL/time.Second) {
					ttl = maxTTL
				} else {
					ttl = time.Duration(n) * time.Second
				}
			}
		}
	}
	return ttl
}

// credential returns the validated credential for x5u: the chain fetched (or
// cached), verified to a trust anchor at the current time.
func (v *Verifier) credential(ctx context.Context, x5u string) (*credential, error) {
	e, err := v.chain(ctx, x5u)
	if err != nil {
		return nil, err
	}
	now := v.now()
	c := v.cache
	c.mu.Lock()
	cred := e.cred
	valid := cred != nil && !now.Before(e.validFrom) && !now.After(e.validUntil)
	c.mu.Unlock()
	if valid {
		return cred, nil
	}
	cred, from, until, err := v.validate(e, now)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e.cred, e.validFrom, e.validUntil = cred, from, until
	c.mu.Unlock()
	return cred, nil
}

// validate verifies e's chain to the trust anchors at now and requires EC
// P-256 keys throughout, as the SHAKEN certificate profile does
// (ATIS-1000080).
func (v *Verifier) validate(e *certEntry, now time.Time) (*credential, time.Time, time.Time, error) {
	var zero time.Time
	leaf := e.certs[0]
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, zero, zero, fmt.Errorf("%w: %s: leaf key is not EC P-256", ErrCertificate, e.url)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: e.inter,
		CurrentTime:   now,
		// STI certificates need not carry an extended key usage.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, zero, zero, fmt.Errorf("%w: %s: %w", ErrCertificate, e.url, err)
	}
	chain := chains[0]
	from, until := chain[0].NotBefore, chain[0].NotAfter
	for _, c := range chain {
		if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			return nil, zero, zero, fmt.Errorf("%w: %s: %q does not have an EC P-256 key", ErrCertificate, e.url, c.Subject.CommonName)
		}
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	tnAuth, terr := tnAuthListOf(leaf)
	if terr != nil {
		if v.cfg.RequireTNAuthList {
			return nil, zero, zero, fmt.Errorf("%w: %s: %w", ErrCertificate, e.url, terr)
		}
		v.log.Debug("stir: ignoring unreadable TNAuthList", "x5u", e.url, "error", terr)
		tnAuth = nil
	}
	if tnAuth == nil && v.cfg.RequireTNAuthList {
		return nil, zero, zero, fmt.Errorf("%w: %s: certificate has no TNAuthList", ErrCertificate, e.url)
	}
	return &credential{pub: pub, chain: chain, tnAuth: tnAuth}, from, until, nil
}
