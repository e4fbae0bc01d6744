package registrar

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/siphon-go/siphon/sip"
)

// Lookup returns the contacts a request for uri should go to (the location
// service of RFC 3261 §16.5), best first: by q value (absent counts as 1.0),
// then most recently refreshed. uri is an AoR (any form: its canonical AoR
// is looked up), a public GRUU (AoR;gr=instance: the bindings of that
// instance) or a temporary GRUU this registrar issued (RFC 5627 §6). Among
// the outbound flows of one instance (RFC 5626 §5.3) only one is returned:
// a live flow of this instance when Config.FlowAlive says so, else the most
// recently refreshed. Expired bindings are never returned. An unknown AoR
// gives no contacts and no error.
func (r *Registrar) Lookup(ctx context.Context, uri sip.Uri) ([]Contact, error) {
	now := r.clock.Now()
	var (
		aor      string
		instance string
		hash     []byte
		isGRUU   bool
	)
	if gr, ok := uri.UriParams.Get("gr"); ok {
		isGRUU = true
		if gr != "" {
			a, err := AoR(uri)
			if err != nil {
				return nil, err
			}
			aor, instance = a, gr
		} else {
			a, inst, h, ok := r.gruu.open(uri)
			if !ok {
				return nil, nil // not a GRUU of ours
			}
			aor, instance, hash = a, inst, h
		}
	} else {
		a, err := AoR(uri)
		if err != nil {
			return nil, err
		}
		aor = a
	}
	bs, err := r.backend.Load(ctx, aor)
	if err != nil {
		return nil, fmt.Errorf("registrar: lookup %s: %w", aor, err)
	}
	live := bs[:0:0]
	for i := range bs {
		b := &bs[i]
		if !b.Live(now) {
			continue
		}
		if isGRUU && (!strings.EqualFold(b.Instance, instance) || (hash != nil && !sameCallHash(b.CallID, hash))) {
			continue
		}
		live = append(live, *b)
	}
	return r.contacts(live), nil
}

// LookupContact returns the bindings, of any AoR, whose contact URI equals
// uri (RFC 3261 §19.1.4): for a request sent to a contact address directly,
// as a PBX does after learning it from a 200 OK.
func (r *Registrar) LookupContact(ctx context.Context, uri sip.Uri) ([]Contact, error) {
	now := r.clock.Now()
	bs, err := r.backend.ByURI(ctx, URIKey(uri))
	if err != nil {
		return nil, fmt.Errorf("registrar: lookup contact: %w", err)
	}
	live := bs[:0:0]
	for _, b := range bs {
		if b.Live(now) {
			live = append(live, b)
		}
	}
	return r.contacts(live), nil
}

// contacts collapses outbound flows, sorts and parses bindings.
func (r *Registrar) contacts(bs []Binding) []Contact {
	out := make([]Contact, 0, len(bs))
	for i := range bs {
		b := &bs[i]
		na, err := b.NameAddr()
		if err != nil {
			r.log.Warn("registrar: stored contact does not parse", "aor", b.AoR, "contact", b.Contact, "err", err)
			continue
		}
		c := Contact{Binding: *b, NameAddr: na, Local: b.Node == r.node}
		if len(b.Path) > 0 {
			c.Route, err = sip.ParseNameAddrList(strings.Join(b.Path, ","))
			if err != nil {
				r.log.Warn("registrar: stored Path does not parse", "aor", b.AoR, "err", err)
				continue
			}
		}
		if b.RegID != 0 {
			if j := slices.IndexFunc(out, func(o Contact) bool {
				return o.RegID != 0 && strings.EqualFold(o.Instance, b.Instance)
			}); j >= 0 {
				if r.betterFlow(&c, &out[j]) {
					out[j] = c
				}
				continue
			}
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Contact) int {
		if c := cmp.Compare(qOf(&b.NameAddr), qOf(&a.NameAddr)); c != 0 {
			return c
		}
		return b.Updated.Compare(a.Updated)
	})
	return out
}

func (r *Registrar) alive(c *Contact) bool {
	if !c.Local {
		return false
	}
	if c.Flow.ConnID == 0 || r.cfg.FlowAlive == nil {
		return true
	}
	return r.cfg.FlowAlive(c.Flow.ConnID)
}

// betterFlow reports whether a is a better flow than b for one instance.
func (r *Registrar) betterFlow(a, b *Contact) bool {
	if aa, ba := r.alive(a), r.alive(b); aa != ba {
		return aa
	}
	return a.Updated.After(b.Updated)
}

func qOf(na *sip.NameAddr) int {
	if q, ok := na.Param("q"); ok {
		if v, err := parseQ(q); err == nil {
			return v
		}
	}
	return 1000
}
