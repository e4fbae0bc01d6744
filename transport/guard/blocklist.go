package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Blocklist is a source of addresses to drop, such as APIBan.
type Blocklist interface {
	// Fetch returns the current list of banned addresses and networks.
	Fetch(ctx context.Context) ([]netip.Prefix, error)
}

// HTTPBlocklist fetches an APIBan-style JSON document: an object whose "ipaddress"
// array lists addresses or CIDRs, e.g. {"ipaddress":["192.0.2.1","198.51.100.0/24"],"ID":"…"}.
// A bare JSON array of strings is accepted too.
type HTTPBlocklist struct {
	// URL of the document.
	URL string
	// Client makes the request; nil means http.DefaultClient with a 10 s
	// timeout from ctx.
	Client *http.Client
	// MaxBytes bounds the body; default 8 MiB.
	MaxBytes int64
}

var _ Blocklist = (*HTTPBlocklist)(nil)

// Fetch implements Blocklist.
func (h *HTTPBlocklist) Fetch(ctx context.Context) ([]netip.Prefix, error) {
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("guard: blocklist: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("guard: blocklist: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("guard: blocklist: %s", res.Status)
	}
	max := h.MaxBytes
	if max <= 0 {
		max = 8 << 20
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, max))
	if err != nil {
		return nil, fmt.Errorf("guard: blocklist: %w", err)
	}
	var list []string
	var doc struct {
		IPAddress []string `json:"ipaddress"`
	}
	if err := json.Unmarshal(body, &doc); err == nil {
		list = doc.IPAddress
	} else if err2 := json.Unmarshal(body, &list); err2 != nil {
		return nil, fmt.Errorf("guard: blocklist: %w", err)
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		} else if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}

// SetBlocklist replaces the blocklisted addresses and networks; trusted
// sources stay exempt.
func (g *Guard) SetBlocklist(ps []netip.Prefix) {
	addrs := make(map[netip.Addr]struct{})
	var nets []netip.Prefix
	for _, p := range masked(ps) {
		if p.IsSingleIP() {
			addrs[p.Addr()] = struct{}{}
		} else {
			nets = append(nets, p)
		}
	}
	g.ext.Store(&addrs)
	g.extPfx.Store(&nets)
}

func (g *Guard) blocklisted(a netip.Addr) bool {
	if m := g.ext.Load(); m != nil && len(*m) > 0 {
		if _, ok := (*m)[a]; ok {
			return true
		}
	}
	if p := g.extPfx.Load(); p != nil && len(*p) > 0 {
		return contains(*p, a)
	}
	return false
}

// PollBlocklist fetches b now and then every interval until ctx ends,
// replacing the blocklist after each successful fetch. A failed fetch keeps
// the previous list and is passed to onError, when set. It blocks; run it in
// a goroutine.
func (g *Guard) PollBlocklist(ctx context.Context, b Blocklist, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = 15 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ps, err := b.Fetch(ctx)
		if err == nil {
			g.SetBlocklist(ps)
		} else if onError != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
