package registrar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Errors a REGISTER is refused with, found with errors.Is in what Register
// returns (always a *sip.StatusError carrying the response).
var (
	// ErrForbidden: the AoR is not the authenticated user's (403).
	ErrForbidden = errors.New("registrar: AoR does not belong to the authenticated user")
	// ErrBadRequest: the REGISTER is malformed (400), e.g. Contact: * with
	// other contacts or a non-zero Expires (RFC 3261 §10.3 step 6).
	ErrBadRequest = errors.New("registrar: bad REGISTER")
	// ErrOutOfOrder: a binding was last written by a request of the same
	// Call-ID with a CSeq at least as high (RFC 3261 §10.3 step 7).
	ErrOutOfOrder = errors.New("registrar: CSeq out of order")
	// ErrTooBrief: a lifetime below MinExpires (423).
	ErrTooBrief = errors.New("registrar: expiration too brief")
	// ErrTooManyContacts: past MaxContacts (503).
	ErrTooManyContacts = errors.New("registrar: too many contacts")
	// ErrUnavailable: the Backend failed or is full (503).
	ErrUnavailable = errors.New("registrar: backend unavailable")
	// ErrNotFound: the AoR is not served here (404).
	ErrNotFound = errors.New("registrar: not found")
)

// ServeSIP implements sip.Handler. It answers REGISTER as Register does and
// other methods 405 with Allow: REGISTER (an ACK is ignored). Backend failures
// are logged and answered 503. When w is a sip.EncodedWriter (a stateless
// transaction's, transaction.ServerConfig.Stateless) the 200 OK is encoded
// straight from the request and the bindings, without building a Response.
func (r *Registrar) ServeSIP(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	switch req.Method {
	case sip.REGISTER:
	case sip.ACK:
		return
	default:
		_ = sip.Respond(w, req, sip.StatusMethodNotAllowed, "", sip.NewHeader("Allow", "REGISTER"))
		return
	}
	wk, err := r.register(ctx, req)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			r.log.Warn("registrar: REGISTER failed", "err", err, "call-id", callIDOf(req))
		}
		_ = sip.RespondError(w, req, err)
		return
	}
	defer r.release(wk)
	if ew, ok := w.(sip.EncodedWriter); ok && r.writeEncoded(ctx, ew, req, &wk.reg, wk.stored, wk.now) {
		return
	}
	_ = w.WriteResponse(r.ok(ctx, req, &wk.reg, wk.stored, wk.now))
}

// writeEncoded sends the 200 OK encoded straight from req and the bindings,
// without building a Response (a stateless registrar's hot path: about a
// kilobyte and a tenth of the CPU of a REGISTER less). It reports false,
// having sent nothing, when w cannot take it.
func (r *Registrar) writeEncoded(ctx context.Context, w sip.EncodedWriter, req *sip.Request, reg *register, bs []Binding, now time.Time) bool {
	bp := r.bufs.Get()
	b, ok := r.appendOK(ctx, (*bp)[:0], req, reg, bs, now)
	sent := false
	if ok {
		sent, _ = w.WriteEncoded(sip.StatusOK, b)
	}
	r.bufs.Put(bp, b)
	return sent
}

func callIDOf(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

// reqContact is one Contact of a REGISTER, checked.
type reqContact struct {
	text     string // stored form: verbatim, without expires/pub-gruu/temp-gruu
	uriKey   string
	key      string
	instance string
	regID    uint32
	expires  time.Duration // 0 removes
}

// register is a REGISTER checked and ready to apply.
type register struct {
	aor       string
	callID    string
	cseq      uint32
	wildcard  bool
	query     bool
	contacts  []reqContact
	paths     []string
	outbound  bool // outbound applied to a contact (RFC 5626 §6)
	gruu      bool // the UA supports GRUU
	echoPath  bool
	flow      transport.Flow
	hasFlow   bool
	userAgent string
	one       [1]reqContact // contacts' first backing array: most REGISTERs have one
}

// Register processes a REGISTER as RFC 3261 §10.3 describes and returns the
// 200 OK to send, listing every binding of the AoR with its remaining
// lifetime. Otherwise the error is a *sip.StatusError with the refusal:
//
//   - 420 for a Require option tag not supported (path, gruu, outbound are);
//   - 404 for an AoR that is not a SIP URI or not in Config.Domains;
//   - 403 when Config.AuthUser is set and the AoR is not the user's,
//     checked before any binding is read or changed;
//   - 400 for a malformed Contact, expires or q value, or Contact: * with
//     other contacts or a non-zero Expires; 420 for Path from a UA without
//     path support (unless LenientPath); 439 for outbound through a first
//     hop that lacks it (RFC 5626 §6); 403 for a contact that is a GRUU;
//   - 423 with Min-Expires when a lifetime is below MinExpires;
//   - 400 "CSeq Out Of Order" when a binding was written by the same Call-ID
//     with a CSeq at least as high; nothing is changed. The request that
//     wrote a binding, repeated (same Call-ID, CSeq, contact and lifetime: a
//     retransmission no transaction absorbed), gets 200 with the bindings
//     unchanged;
//   - 503 with Retry-After past MaxContacts (without ReplaceOldest), or
//     when the Backend fails or is full.
//
// Contact parameters are stored verbatim. Each contact is keyed by
// +sip.instance and reg-id when present (RFC 5626 §6, RFC 5627), else by its
// URI. The flow the request came on (transport.FlowFromContext) is stored with
// the bindings. A REGISTER without Contact only lists the bindings.
func (r *Registrar) Register(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	wk, err := r.register(ctx, req)
	if err != nil {
		return nil, err
	}
	defer r.release(wk)
	return r.ok(ctx, req, &wk.reg, wk.stored, wk.now), nil
}

// work is one REGISTER in progress, pooled (a REGISTER allocated about
// 700 bytes for it): the request checked, the bindings after it, and the
// Backend.Update function bound to them.
type work struct {
	reg    register
	now    time.Time
	evs    []Event
	stored []Binding
	next   [1]Binding // stored's first backing array
	update func(cur []Binding) ([]Binding, error)
}

func (r *Registrar) newWork() any {
	w := &work{}
	w.update = func(cur []Binding) ([]Binding, error) {
		next, evs, err := r.apply(&w.reg, cur, w.now, w.next[:0])
		w.evs, w.stored = evs, next
		return next, err
	}
	return w
}

// release returns w to the pool, keeping none of the request's strings.
func (r *Registrar) release(w *work) {
	w.reg = register{}
	w.evs, w.stored = nil, nil
	clear(w.next[:])
	r.works.Put(w)
}

// register is Register up to the 200 OK: the request checked, the bindings
// after it and the time it was applied, in a work to release.
func (r *Registrar) register(ctx context.Context, req *sip.Request) (*work, error) {
	w := r.works.Get().(*work)
	w.now = r.clock.Now()
	if err := r.process(ctx, req, w); err != nil {
		r.release(w)
		return nil, err
	}
	return w, nil
}

// process checks req and applies it to the Backend, filling w.
func (r *Registrar) process(ctx context.Context, req *sip.Request, w *work) error {
	reg := &w.reg
	if err := r.check(ctx, req, reg); err != nil {
		return err
	}
	if reg.query {
		bs, err := r.backend.Load(ctx, reg.aor)
		if err != nil {
			return r.unavailable(err)
		}
		w.stored = bs
		return nil
	}
	if err := r.backend.Update(ctx, reg.aor, w.now, w.update); err != nil {
		var se *sip.StatusError
		if errors.As(err, &se) {
			return err
		}
		return r.unavailable(err)
	}
	if !reg.wildcard {
		r.track(reg.aor, reg.flow, reg.hasFlow, len(reg.paths) > 0)
	}
	r.emit(w.evs)
	return nil
}

func (r *Registrar) unavailable(err error) error {
	se := sip.NewStatusError(sip.StatusServiceUnavailable, "", sip.NewHeader("Retry-After", strconv.Itoa(r.cfg.RetryAfter)))
	se.Err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	return se
}

func refuse(code int, reason string, cause error, headers ...sip.Header) error {
	se := sip.NewStatusError(code, reason, headers...)
	se.Err = cause
	return se
}

func badRequest(reason string) error {
	return refuse(sip.StatusBadRequest, reason, fmt.Errorf("%w: %s", ErrBadRequest, strings.ToLower(reason)))
}

// check validates req and gathers what applying it needs, without touching
// the Backend.
func (r *Registrar) check(ctx context.Context, req *sip.Request, reg *register) error {
	hs, err := scanHeaders(req)
	if err != nil {
		return badRequest("Bad Header List")
	}
	if un := r.unsupported(hs.require); len(un) > 0 {
		return refuse(sip.StatusBadExtension, "", fmt.Errorf("%w: requires %s", ErrBadRequest, strings.Join(un, ", ")),
			sip.NewHeader("Unsupported", strings.Join(un, ", ")))
	}
	to, cid, cseq := req.To(), req.CallID(), req.CSeq()
	if to == nil || cid == nil || cseq == nil {
		return badRequest("Missing To, Call-ID or CSeq")
	}
	aor, err := AoR(to.Address)
	if err != nil {
		return refuse(sip.StatusNotFound, "", fmt.Errorf("%w: %w", ErrNotFound, err))
	}
	if !r.servesDomain(to.Address.Host) {
		return refuse(sip.StatusNotFound, "", fmt.Errorf("%w: domain %q", ErrNotFound, to.Address.Host))
	}
	// Before anything reads or writes a binding: a spoofed AoR must not
	// even clear the victim's bindings (Contact: *).
	if r.cfg.AuthUser != nil {
		user, ok := r.cfg.AuthUser(ctx)
		if !ok || !userOwns(user, to.Address) {
			return refuse(sip.StatusForbidden, "", fmt.Errorf("%w: %q registering %s", ErrForbidden, user, aor))
		}
	}
	*reg = register{aor: aor, callID: cid.Value(), cseq: cseq.SeqNo, userAgent: hs.userAgent}
	reg.flow, reg.hasFlow = transport.FlowFromContext(ctx)
	reg.gruu = !r.cfg.NoGRUU && hs.supGRUU
	outboundOK := !r.cfg.NoOutbound && hs.supOutbound

	var hdrExp uint32
	if hs.hasExpires {
		n, err := parseDelta(hs.expires)
		if err != nil || hs.manyExpires {
			return badRequest("Bad Expires")
		}
		hdrExp = n
	}
	hasHdrExp := hs.hasExpires
	var buf [2]string
	raws := hs.contacts(buf[:0])
	if len(raws) == 0 {
		reg.query = true
		return nil
	}
	reg.contacts = reg.one[:0]
	tooBrief := false
	regIDs := 0
	for _, raw := range raws {
		na, err := sip.ParseNameAddr(raw)
		if err != nil {
			return badRequest("Bad Contact")
		}
		if na.URI.Wildcard {
			// RFC 3261 §10.3 step 6.
			if len(raws) != 1 || !hasHdrExp || hdrExp != 0 {
				return badRequest("Wildcard Contact Needs Expires 0 Alone")
			}
			reg.wildcard = true
			break
		}
		if _, ok := na.URI.UriParams.Get("gr"); ok {
			// RFC 5627 §5.1: a GRUU cannot be registered as a contact.
			return refuse(sip.StatusForbidden, "Contact Is A GRUU", fmt.Errorf("%w: contact is a GRUU", ErrBadRequest))
		}
		c := reqContact{uriKey: URIKey(na.URI), instance: instanceOf(&na)}
		var secs uint32
		switch v, ok := na.Param("expires"); {
		case ok:
			n, err := parseDelta(v)
			if err != nil {
				return badRequest("Bad Contact Expires")
			}
			secs = n
		case hasHdrExp:
			secs = hdrExp
		default:
			secs = uint32(r.cfg.DefaultExpires / time.Second)
		}
		if q, ok := na.Param("q"); ok {
			if _, err := parseQ(q); err != nil {
				return badRequest("Bad q Value")
			}
		}
		if secs > 0 {
			d := time.Duration(secs) * time.Second
			if d < r.cfg.MinExpires {
				tooBrief = true
			}
			c.expires = min(d, r.cfg.MaxExpires)
		}
		if id, ok := na.Param("reg-id"); ok && outboundOK && c.instance != "" {
			n, err := parseDelta(id)
			if err != nil || n == 0 || n > 1<<31-1 {
				return badRequest("Bad reg-id")
			}
			c.regID = n
			regIDs++
		}
		c.key = bindingKey(c.instance, c.regID, c.uriKey)
		c.text = storedContact(raw, &na)
		reg.contacts = append(reg.contacts, c)
	}
	if tooBrief {
		return refuse(sip.StatusIntervalTooBrief, "", ErrTooBrief,
			sip.NewHeader("Min-Expires", strconv.Itoa(int(r.cfg.MinExpires/time.Second))))
	}
	if regIDs > 1 {
		// RFC 5626 §6: one flow per REGISTER.
		return badRequest("More Than One reg-id")
	}

	if len(hs.paths) > 0 {
		for _, p := range hs.paths {
			if _, err := sip.ParseNameAddr(p); err != nil {
				return badRequest("Bad Path")
			}
		}
		paths, supported := hs.paths, hs.supPath
		if !supported && !r.cfg.LenientPath {
			// RFC 3327 §5.3.
			return refuse(sip.StatusBadExtension, "", fmt.Errorf("%w: Path without Supported: path", ErrBadRequest),
				sip.NewHeader("Unsupported", "path"))
		}
		reg.paths, reg.echoPath = paths, supported
	}
	if regIDs > 0 {
		// RFC 5626 §6: the first hop (the bottom Path entry) must have
		// added ;ob, unless this registrar is the first hop.
		if n := len(reg.paths); n > 0 {
			first, err := sip.ParseNameAddr(reg.paths[n-1])
			if _, ok := first.URI.UriParams.Get("ob"); err != nil || !ok {
				return refuse(439, "First Hop Lacks Outbound Support",
					fmt.Errorf("%w: first hop lacks outbound", ErrBadRequest))
			}
		}
		reg.outbound = true
	}
	return nil
}

func (r *Registrar) unsupported(require []string) []string {
	var un []string
	for _, tag := range require {
		switch strings.ToLower(tag) {
		case "path":
			continue
		case "gruu":
			if !r.cfg.NoGRUU {
				continue
			}
		case "outbound":
			if !r.cfg.NoOutbound {
				continue
			}
		}
		un = append(un, tag)
	}
	return un
}

func (r *Registrar) servesDomain(host string) bool {
	if len(r.cfg.Domains) == 0 {
		return true
	}
	for _, d := range r.cfg.Domains {
		if strings.EqualFold(d, host) {
			return true
		}
	}
	return false
}

// userOwns reports whether the authenticated user may register aor: the
// user part must be the user, or user@host the user part and host.
func userOwns(user string, aor sip.Uri) bool {
	if user == "" {
		return false
	}
	if u, host, ok := strings.Cut(user, "@"); ok {
		return u == aor.User && strings.EqualFold(host, aor.Host)
	}
	return user == aor.User
}

// parseDelta parses delta-seconds, saturating at 2^32-1.
func parseDelta(s string) (uint32, error) {
	if s == "" || len(s) > 20 {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			return 1<<32 - 1, nil
		}
		return 0, errors.New("not delta-seconds")
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("not delta-seconds")
		}
		v = v*10 + uint64(c-'0')
	}
	return uint32(min(v, 1<<32-1)), nil
}

// storedContact returns the Contact value to store: the display name and URI
// exactly as received (in angle brackets), then every header parameter as
// received but expires, pub-gruu and temp-gruu.
func storedContact(raw string, na *sip.NameAddr) string {
	head := nameAddrHead(raw)
	var arr [256]byte
	b := append(arr[:0], head...)
	for _, kv := range na.Params {
		switch strings.ToLower(kv.K) {
		case "expires", "pub-gruu", "temp-gruu":
			continue
		}
		b = append(b, ';')
		b = append(b, kv.K...)
		if kv.V != "" {
			b = append(b, '=')
			b = append(b, kv.V...)
		}
	}
	// Mostly it is the value as sent: that needs no copy.
	if t := strings.TrimSpace(raw); t == string(b) {
		return t
	}
	return string(b)
}

// nameAddrHead returns the part of a Contact value before its header
// parameters, in name-addr form: up to the '>' closing the URI, or the
// addr-spec (which ends at the first ';') put in angle brackets.
func nameAddrHead(raw string) string {
	raw = strings.TrimLeft(raw, " \t")
	inQuote := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			if j := strings.IndexByte(raw[i:], '>'); j >= 0 {
				return raw[:i+j+1]
			}
			return raw
		case c == ';':
			return "<" + strings.TrimRight(raw[:i], " \t") + ">"
		}
	}
	return "<" + strings.TrimRight(raw, " \t") + ">"
}

// apply computes the bindings of the AoR after reg, from the stored ones,
// and the events the change makes. It is the Backend.Update function, so it
// must be repeatable.
func (r *Registrar) apply(reg *register, cur []Binding, now time.Time, buf []Binding) ([]Binding, []Event, error) {
	evs := eventLog{on: r.nsubs.Load() > 0}
	// Room for the stored bindings and the contacts that add one: a
	// refresh, the usual REGISTER, then needs no more than cur (a Binding
	// is a few hundred bytes).
	added := 0
	for _, c := range reg.contacts {
		if c.expires > 0 && !slices.ContainsFunc(cur, func(b Binding) bool { return b.Key == c.key }) {
			added++
		}
	}
	next := buf[:0]
	if cap(next) < len(cur)+added {
		next = make([]Binding, 0, len(cur)+added)
	}
	for i := range cur {
		if cur[i].Live(now) {
			next = append(next, cur[i])
		} else {
			evs.add(Event{Kind: Expired, Binding: cur[i]})
		}
	}
	if reg.wildcard {
		kept := next[:0]
		for _, b := range next {
			// RFC 3261 §10.3 step 6: a binding of the same Call-ID survives
			// a request that is not newer.
			if b.CallID == reg.callID && reg.cseq <= b.CSeq {
				kept = append(kept, b)
				continue
			}
			evs.add(Event{Kind: Deregistered, Binding: b, Reason: ReasonUnregistered})
		}
		return kept, evs.evs, nil
	}
	// Keys this request named, and those it keeps: few, so slices.
	seen := make([]string, 0, len(reg.contacts))
	touched := make([]string, 0, len(reg.contacts))
	for _, c := range reg.contacts {
		idx := -1
		for i := range next {
			if next[i].Key == c.key {
				idx = i
				break
			}
		}
		if idx >= 0 && !slices.Contains(seen, c.key) && next[idx].CallID == reg.callID && reg.cseq <= next[idx].CSeq {
			if reg.cseq == next[idx].CSeq && retransmits(&next[idx], &c) {
				// The request that wrote this binding, again: a retransmission
				// that no transaction absorbed (a stateless registrar, RFC 3261
				// §8.2.7, or one past Timer J). It is answered as the first
				// was, with the binding as it stands.
				seen = append(seen, c.key)
				touched = append(touched, c.key)
				continue
			}
			return nil, nil, refuse(sip.StatusBadRequest, "CSeq Out Of Order", ErrOutOfOrder)
		}
		seen = append(seen, c.key)
		if c.expires == 0 {
			if idx >= 0 {
				evs.add(Event{Kind: Deregistered, Binding: next[idx], Reason: ReasonUnregistered})
				next = append(next[:idx], next[idx+1:]...)
			}
			touched = slices.DeleteFunc(touched, func(k string) bool { return k == c.key })
			continue
		}
		b := Binding{AoR: reg.aor, Key: c.key, URIKey: c.uriKey, Contact: c.text, Instance: c.instance,
			RegID: c.regID, CallID: reg.callID, CSeq: reg.cseq, Expires: now.Add(c.expires), Updated: now,
			Path: reg.paths, UserAgent: reg.userAgent}
		if reg.hasFlow {
			b.Flow, b.Node = reg.flow, r.node
		}
		touched = append(touched, c.key)
		if idx >= 0 {
			next[idx] = b
			evs.add(Event{Kind: Refreshed, Binding: b})
		} else {
			next = append(next, b)
			evs.add(Event{Kind: Registered, Binding: b})
		}
	}
	for len(next) > r.cfg.MaxContacts {
		if !r.cfg.ReplaceOldest {
			return nil, nil, r.tooMany()
		}
		oldest := -1
		for i := range next {
			if !slices.Contains(touched, next[i].Key) && (oldest < 0 || next[i].Updated.Before(next[oldest].Updated)) {
				oldest = i
			}
		}
		if oldest < 0 { // the request alone has too many
			return nil, nil, r.tooMany()
		}
		evs.add(Event{Kind: Deregistered, Binding: next[oldest], Reason: ReasonReplaced})
		next = append(next[:oldest], next[oldest+1:]...)
	}
	return next, evs.evs, nil
}

// retransmits reports whether c, from a request with b's Call-ID and CSeq,
// is the contact that wrote b: the same text, asking for the lifetime b
// was given (within a second: backends may store times rounded). Anything
// else reusing a CSeq is out of order (RFC 3261 §10.3 step 7).
func retransmits(b *Binding, c *reqContact) bool {
	if c.expires <= 0 || b.Contact != c.text {
		return false
	}
	d := b.Expires.Sub(b.Updated) - c.expires
	return d > -time.Second && d < time.Second
}

// eventLog gathers the events of one update, or nothing when no one
// subscribes (the common case: building them costs an allocation per
// REGISTER).
type eventLog struct {
	on  bool
	evs []Event
}

func (l *eventLog) add(e Event) {
	if l.on {
		l.evs = append(l.evs, e)
	}
}

func (r *Registrar) tooMany() error {
	return refuse(sip.StatusServiceUnavailable, "Too Many Contacts", ErrTooManyContacts,
		sip.NewHeader("Retry-After", strconv.Itoa(r.cfg.RetryAfter)))
}

// ok builds the 200 OK of RFC 3261 §10.3 step 8.
func (r *Registrar) ok(ctx context.Context, req *sip.Request, reg *register, bs []Binding, now time.Time) *sip.Response {
	res := sip.NewResponse(req, sip.StatusOK, "")
	var buf []byte
	for i := range bs {
		if !bs[i].Live(now) {
			continue
		}
		buf = r.appendContact(buf[:0], reg, &bs[i], now)
		res.AppendHeader(sip.NewHeader("Contact", string(buf)))
	}
	res.AppendHeader(r.date(now))
	if reg.echoPath {
		res.AppendHeader(sip.NewHeader("Path", strings.Join(reg.paths, ", ")))
	}
	if r.cfg.ServiceRoute != nil {
		for _, sr := range r.cfg.ServiceRoute(ctx, reg.aor) {
			res.AppendHeader(sip.NewHeader("Service-Route", sr.String()))
		}
	}
	if reg.outbound {
		res.AppendHeader(sip.NewHeader("Require", "outbound"))
	}
	res.AppendHeader(r.supported)
	return res
}

// appendOK appends the 200 OK that ok builds, encoded (its fields in
// another order: Content-Length last), or reports false when
// sip.AppendResponseHead declines req.
func (r *Registrar) appendOK(ctx context.Context, b []byte, req *sip.Request, reg *register, bs []Binding, now time.Time) ([]byte, bool) {
	b, ok := sip.AppendResponseHead(b, req, sip.StatusOK, "")
	if !ok {
		return b, false
	}
	for i := range bs {
		if !bs[i].Live(now) {
			continue
		}
		b = append(b, "Contact: "...)
		b = r.appendContact(b, reg, &bs[i], now)
		b = append(b, "\r\n"...)
	}
	b = appendField(b, "Date", r.date(now).Value())
	if reg.echoPath {
		b = append(b, "Path: "...)
		for i, p := range reg.paths {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, p...)
		}
		b = append(b, "\r\n"...)
	}
	if r.cfg.ServiceRoute != nil {
		for _, sr := range r.cfg.ServiceRoute(ctx, reg.aor) {
			b = appendField(b, "Service-Route", sr.String())
		}
	}
	if reg.outbound {
		b = append(b, "Require: outbound\r\n"...)
	}
	b = appendField(b, "Supported", r.supported.Value())
	return append(b, "Content-Length: 0\r\n\r\n"...), true
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// appendContact appends the Contact value of the 200 OK for bd: as stored,
// with the remaining lifetime and, for a UA that supports GRUU, its GRUUs.
func (r *Registrar) appendContact(b []byte, reg *register, bd *Binding, now time.Time) []byte {
	b = append(b, bd.Contact...)
	b = append(b, ";expires="...)
	b = strconv.AppendInt(b, int64(remaining(bd.Expires, now)/time.Second), 10)
	if reg.gruu && bd.Instance != "" {
		// RFC 5627 §5.2: pub-gruu and a fresh temp-gruu.
		b = append(b, `;pub-gruu="`...)
		b = append(b, publicGRUU(bd.AoR, bd.Instance)...)
		b = append(b, `";temp-gruu="`...)
		b = append(b, r.gruu.temp(bd.AoR, bd.Instance, bd.CallID)...)
		b = append(b, '"')
	}
	return b
}

// httpDate is the RFC 1123 date of the SIP Date header (RFC 3261 §20.17).
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// remaining rounds the time left up to a whole second, so that a binding
// written now reports the lifetime granted.
func remaining(exp, now time.Time) time.Duration {
	d := exp.Sub(now)
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1) / time.Second * time.Second
}

// date returns the Date header for now, made once a second and shared by
// the responses of that second (headers are never modified once built).
func (r *Registrar) date(now time.Time) sip.Header {
	sec := now.Unix()
	if d := r.dateCache.Load(); d != nil && d.sec == sec {
		return d.h
	}
	d := &cachedDate{sec: sec, h: sip.NewHeader("Date", now.UTC().Format(httpDate))}
	r.dateCache.Store(d)
	return d.h
}

type cachedDate struct {
	sec int64
	h   sip.Header
}

func (r *Registrar) supportedTags() string {
	s := "path"
	if !r.cfg.NoOutbound {
		s += ", outbound"
	}
	if !r.cfg.NoGRUU {
		s += ", gruu"
	}
	return s
}
