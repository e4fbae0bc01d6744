package registrar

import (
	"context"
	"fmt"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Cache stores what the registrar of record granted, for a proxy in front of
// it (an edge proxy, a P-CSCF) that must route requests to its UAs over the
// flows they registered on. Call it with the REGISTER as received (ctx
// carrying its flow, as a Handler's ctx does) and the final response the
// upstream registrar sent, before relaying that response; Cache writes no
// response itself.
//
// For each Contact of the REGISTER, the lifetime is read from the 2xx, not
// from the request: the expires parameter of the matching Contact in the
// response, else its Expires header. CacheGrace is added so that the cached
// binding outlives the upstream one while a refresh is under way; MinExpires
// and MaxExpires do not apply. A contact the response does not list (or with
// expires=0), and every binding for Contact: *, is removed and reported as
// Deregistered with ReasonUpstream. Service-Route values of the response are
// kept in Binding.ServiceRoute. A non-2xx response changes nothing.
func (r *Registrar) Cache(ctx context.Context, req *sip.Request, res *sip.Response) error {
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil
	}
	now := r.clock.Now()
	to := req.To()
	if to == nil {
		return fmt.Errorf("registrar: cache: %w: no To", ErrBadRequest)
	}
	aor, err := AoR(to.Address)
	if err != nil {
		return fmt.Errorf("registrar: cache: %w", err)
	}
	granted := map[string]uint32{}
	resContacts, err := sip.Contacts(res)
	if err != nil {
		return fmt.Errorf("registrar: cache: %w: response Contact: %w", ErrBadRequest, err)
	}
	resExp, hasResExp, err := sip.ExpiresValue(res)
	if err != nil {
		return fmt.Errorf("registrar: cache: %w: response Expires: %w", ErrBadRequest, err)
	}
	for i := range resContacts {
		na := &resContacts[i]
		if v, ok := na.Param("expires"); ok {
			if n, err := parseDelta(v); err == nil {
				granted[URIKey(na.URI)] = n
				continue
			}
		}
		if hasResExp {
			granted[URIKey(na.URI)] = resExp
		}
	}
	raws, err := sip.ListValues(req, "Contact")
	if err != nil {
		return fmt.Errorf("registrar: cache: %w: Contact: %w", ErrBadRequest, err)
	}
	outboundOK := !r.cfg.NoOutbound && sip.HasOptionTag(req, "Supported", "outbound")
	var contacts []reqContact
	wildcard := false
	for _, raw := range raws {
		na, err := sip.ParseNameAddr(raw)
		if err != nil {
			return fmt.Errorf("registrar: cache: %w: Contact: %w", ErrBadRequest, err)
		}
		if na.URI.Wildcard {
			wildcard = true
			break
		}
		c := reqContact{uriKey: URIKey(na.URI), instance: instanceOf(&na), text: storedContact(raw, &na)}
		if id, ok := na.Param("reg-id"); ok && outboundOK && c.instance != "" {
			if n, err := parseDelta(id); err == nil && n > 0 {
				c.regID = n
			}
		}
		c.key = bindingKey(c.instance, c.regID, c.uriKey)
		if secs := granted[c.uriKey]; secs > 0 {
			c.expires = time.Duration(secs)*time.Second + r.cfg.CacheGrace
		}
		contacts = append(contacts, c)
	}
	if len(raws) == 0 {
		return nil // a query
	}
	paths, _ := sip.ListValues(req, "Path")
	routes, _ := sip.ListValues(res, "Service-Route")
	flow, hasFlow := transport.FlowFromContext(ctx)
	callID, cseq := callIDOf(req), uint32(0)
	if cs := req.CSeq(); cs != nil {
		cseq = cs.SeqNo
	}
	ua := ""
	if vs := sip.HeaderValues(req, "User-Agent"); len(vs) > 0 {
		ua = vs[0]
	}

	var evs []Event
	err = r.backend.Update(ctx, aor, now, func(cur []Binding) ([]Binding, error) {
		evs = evs[:0]
		next := make([]Binding, 0, len(cur)+len(contacts))
		for _, b := range cur {
			switch {
			case !b.Live(now):
				evs = append(evs, Event{Kind: Expired, Binding: b})
			case wildcard:
				evs = append(evs, Event{Kind: Deregistered, Binding: b, Reason: ReasonUpstream})
			default:
				next = append(next, b)
			}
		}
		for _, c := range contacts {
			idx := -1
			for i := range next {
				if next[i].Key == c.key {
					idx = i
					break
				}
			}
			if c.expires == 0 {
				if idx >= 0 {
					evs = append(evs, Event{Kind: Deregistered, Binding: next[idx], Reason: ReasonUpstream})
					next = append(next[:idx], next[idx+1:]...)
				}
				continue
			}
			b := Binding{AoR: aor, Key: c.key, URIKey: c.uriKey, Contact: c.text, Instance: c.instance, RegID: c.regID,
				CallID: callID, CSeq: cseq, Expires: now.Add(c.expires), Updated: now, Path: paths,
				ServiceRoute: routes, UserAgent: ua}
			if hasFlow {
				b.Flow, b.Node = flow, r.node
			}
			if idx >= 0 {
				next[idx] = b
				evs = append(evs, Event{Kind: Refreshed, Binding: b})
			} else {
				next = append(next, b)
				evs = append(evs, Event{Kind: Registered, Binding: b})
			}
		}
		for len(next) > r.cfg.MaxContacts { // the cache cannot refuse: drop the stalest
			oldest := 0
			for i := range next {
				if next[i].Updated.Before(next[oldest].Updated) {
					oldest = i
				}
			}
			evs = append(evs, Event{Kind: Deregistered, Binding: next[oldest], Reason: ReasonReplaced})
			next = append(next[:oldest], next[oldest+1:]...)
		}
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("registrar: cache %s: %w", aor, err)
	}
	if !wildcard {
		r.track(aor, flow, hasFlow, len(paths) > 0)
	}
	r.emit(evs)
	return nil
}
