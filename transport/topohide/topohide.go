package topohide

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Config configures a Hider.
type Config struct {
	// Codec seals what is hidden: a *Cipher (stateless, shared key) or a
	// *Store (stateful). Required.
	Codec Codec
	// Inside lists the networks whose topology is hidden. A message sent to
	// an address outside them is hidden; one received from outside them is
	// restored. Required.
	Inside []netip.Prefix
	// Host is the "host" or "host:port" the outside reaches this element at;
	// hidden Record-Route and Contact entries point there. Required. The
	// element's own Via sent-by and Record-Route come from its listeners:
	// advertise a public address on them (transport.ListenOptions.Advertise),
	// or an inside one is hidden like any other.
	Host string
	// InternalHost reports whether a Record-Route or Contact host belongs to
	// the inside; nil means an IP address within Inside. Set it when inside
	// elements are named by host names.
	InternalHost func(host string) bool
	// HideCallID replaces the Call-ID of calls from the inside with a token
	// on the outside. Calls from the outside then carry their Call-ID with
	// the prefix "th-" on the inside, so that the two can be told apart.
	HideCallID bool
	// Strip lists header fields removed from messages to the outside (such
	// as "P-Charging-Vector", "Server", "User-Agent" or "Warning").
	Strip []string
	// Logger receives the Hider's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Stats are a Hider's counters.
type Stats struct {
	// Hidden counts messages rewritten on their way out.
	Hidden uint64
	// Restored counts messages restored on their way in.
	Restored uint64
	// BadTokens counts tokens from the outside that did not open: forged,
	// corrupted, or expired from a Store.
	BadTokens uint64
}

// Hider is a transport.Rewriter that hides the inside's topology from the
// outside (see the package documentation). It is safe for concurrent use.
type Hider struct {
	codec    Codec
	inside   []netip.Prefix
	host     string
	port     int
	internal func(string) bool
	callID   bool
	strip    []string
	log      *slog.Logger

	hidden, restored, bad atomic.Uint64
}

// The parameter that carries a token in a Via or a URI.
const param = "th"

// The prefix that marks an outside Call-ID on the inside.
const outsidePrefix = "th-"

// Kinds of sealed data, the first byte of a token's plaintext: a token is
// only ever restored into the place it was made for.
const (
	kindVias   = 'v' // the Via values below ours, one per line
	kindRoute  = 'r' // a whole Record-Route entry
	kindURI    = 'u' // a Contact URI
	kindCallID = 'c' // a Call-ID
	viaSep     = "\n"
)

// New returns a Hider for cfg.
func New(cfg Config) (*Hider, error) {
	if cfg.Codec == nil {
		return nil, errors.New("topohide: no Codec")
	}
	if len(cfg.Inside) == 0 {
		return nil, errors.New("topohide: no Inside networks")
	}
	h := &Hider{codec: cfg.Codec, internal: cfg.InternalHost, callID: cfg.HideCallID, log: cfg.Logger}
	for _, p := range cfg.Inside {
		h.inside = append(h.inside, p.Masked())
	}
	host, port := cfg.Host, ""
	if hp, pp, err := net.SplitHostPort(cfg.Host); err == nil {
		host, port = hp, pp
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return nil, errors.New("topohide: no Host")
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		host = "[" + host + "]"
	}
	h.host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("topohide: bad port in Host %q", cfg.Host)
		}
		h.port = n
	}
	for _, name := range cfg.Strip {
		h.strip = append(h.strip, sip.CanonicalName(name))
	}
	if h.internal == nil {
		h.internal = h.insideHost
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Stats returns the counters.
func (h *Hider) Stats() Stats {
	return Stats{Hidden: h.hidden.Load(), Restored: h.restored.Load(), BadTokens: h.bad.Load()}
}

func (h *Hider) isInside(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range h.inside {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (h *Hider) insideHost(host string) bool {
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && h.isInside(ip)
}

// Outbound implements transport.Rewriter: a message to the outside leaves
// as a copy with the inside hidden.
func (h *Hider) Outbound(msg sip.Message, t transport.Target) (sip.Message, bool) {
	if !t.Addr.IsValid() || h.isInside(t.Addr.Addr()) {
		return msg, true
	}
	out, changed, err := h.hide(msg, t)
	if err != nil {
		// Sending the inside in clear is worse than not sending.
		h.log.Warn("topohide: message dropped, cannot hide it", "to", t.Addr, "err", err)
		return nil, false
	}
	if !changed {
		return msg, true
	}
	h.hidden.Add(1)
	return out, true
}

func (h *Hider) hide(msg sip.Message, t transport.Target) (sip.Message, bool, error) {
	_, isReq := msg.(*sip.Request)
	m, ok := msg.(editable)
	if !ok {
		return msg, false, nil
	}
	src := m.Headers()
	out := make([]sip.Header, 0, len(src))
	changed := false
	top := -1 // index in out of our Via, in requests
	var lower []string
	for _, hdr := range src {
		name := sip.CanonicalName(hdr.Name())
		if h.stripped(name) {
			changed = true
			continue
		}
		switch name {
		case "Via":
			if !isReq {
				break
			}
			if top < 0 {
				top = len(out)
				break
			}
			lower = append(lower, hdr.Value())
			changed = true
			continue
		case "Record-Route", "Path", "Service-Route", "Contact":
			nh, ok, err := h.maskField(name, hdr, t)
			if err != nil {
				return nil, false, err
			}
			if ok {
				hdr, changed = nh, true
			}
		case "Call-ID":
			if !h.callID {
				break
			}
			v := hdr.Value()
			if rest, ok := strings.CutPrefix(v, outsidePrefix); ok {
				v = rest
			} else {
				tok, err := h.seal(kindCallID, v)
				if err != nil {
					return nil, false, err
				}
				v = tok
			}
			c := sip.CallIDHeader(v)
			hdr, changed = &c, true
		}
		out = append(out, hdr)
	}
	if len(lower) > 0 {
		tok, err := h.seal(kindVias, strings.Join(lower, viaSep))
		if err != nil {
			return nil, false, err
		}
		if v, ok := out[top].(*sip.ViaHeader); ok {
			c := v.Clone()
			c.Params = append(c.Params, sip.HeaderKV{K: param, V: tok})
			out[top] = c
		} else {
			out[top] = sip.NewHeader("Via", out[top].Value()+";"+param+"="+tok)
		}
	}
	if !changed {
		return msg, false, nil
	}
	c := sip.CopyMessage(msg)
	if c == nil {
		return msg, false, nil
	}
	setHeaders(c, out)
	return c, true, nil
}

func (h *Hider) stripped(name string) bool {
	for _, s := range h.strip {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// maskField replaces the inside entries of a Record-Route, Path,
// Service-Route or Contact field with entries that point at Host and carry
// the original in a token. The route-like ones come back as Route entries
// (RFC 3261 §12.1, RFC 3327 §5.3, RFC 3608 §6).
func (h *Hider) maskField(name string, hdr sip.Header, t transport.Target) (sip.Header, bool, error) {
	list, err := sip.ParseNameAddrList(hdr.Value())
	if err != nil {
		// Unparsable: it cannot be checked, so it does not leave.
		return nil, false, fmt.Errorf("%s: %w", name, err)
	}
	changed := false
	for i := range list {
		na := &list[i]
		if na.URI.Wildcard || !h.internal(na.URI.Host) {
			continue
		}
		if name != "Contact" {
			tok, err := h.seal(kindRoute, na.String())
			if err != nil {
				return nil, false, err
			}
			*na = sip.NameAddr{URI: h.uri(na.URI.Scheme, t, tok, true)}
		} else {
			tok, err := h.seal(kindURI, na.URI.String())
			if err != nil {
				return nil, false, err
			}
			na.URI = h.uri(na.URI.Scheme, t, tok, false)
		}
		changed = true
	}
	if !changed {
		return hdr, false, nil
	}
	var b strings.Builder
	for i := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(list[i].String())
	}
	return sip.NewHeader(name, b.String()), true, nil
}

// uri returns the URI standing in for a hidden entry: this element, on the
// transport the outside peer uses, with the token.
func (h *Hider) uri(scheme string, t transport.Target, tok string, lr bool) sip.Uri {
	if scheme != "sips" {
		scheme = "sip"
	}
	u := sip.Uri{Scheme: scheme, Host: h.host, Port: h.port, UriParams: sip.HeaderParams{}}
	if tp := t.Transport; tp != "" && tp != transport.UDP {
		u.UriParams = append(u.UriParams, sip.HeaderKV{K: "transport", V: strings.ToLower(tp)})
	}
	if lr {
		u.UriParams = append(u.UriParams, sip.HeaderKV{K: "lr", V: ""})
	}
	u.UriParams = append(u.UriParams, sip.HeaderKV{K: param, V: tok})
	return u
}

func (h *Hider) seal(kind byte, s string) (string, error) {
	b := make([]byte, 0, 1+len(s))
	b = append(b, kind)
	b = append(b, s...)
	return h.codec.Seal(b)
}

// open returns the plaintext of tok if it was sealed as kind.
func (h *Hider) open(kind byte, tok string) (string, bool) {
	b, err := h.codec.Open(tok)
	if err != nil || len(b) == 0 || b[0] != kind {
		return "", false
	}
	return string(b[1:]), true
}

// Inbound implements transport.Rewriter: a message from the outside gets
// back what was hidden in the tokens it carries. A token that does not open
// is left as it is (and counted): the message then routes to this element
// or nowhere, never into the inside.
func (h *Hider) Inbound(msg sip.Message, f transport.Flow) bool {
	if !f.Remote.IsValid() || h.isInside(f.Remote.Addr()) {
		return true
	}
	changed := false
	if req, ok := msg.(*sip.Request); ok {
		if tok, ok := req.Recipient.UriParams.Get(param); ok {
			if s, ok := h.open(kindURI, tok); !ok {
				h.bad.Add(1)
			} else if u, err := sip.ParseURI(s); err == nil {
				req.Recipient, changed = u, true
			}
		}
	}
	m, ok := msg.(editable)
	if !ok {
		return true
	}
	src := m.Headers()
	if !changed && !h.needsRestore(src) {
		return true
	}
	out := make([]sip.Header, 0, len(src)+4)
	_, isRes := msg.(*sip.Response)
	firstVia := true
	for _, hdr := range src {
		switch sip.CanonicalName(hdr.Name()) {
		case "Via":
			if !isRes || !firstVia {
				break
			}
			firstVia = false
			v, ok := hdr.(*sip.ViaHeader)
			if !ok {
				break
			}
			tok, ok := v.Params.Get(param)
			if !ok {
				break
			}
			s, ok := h.open(kindVias, tok)
			if !ok {
				h.bad.Add(1)
				break
			}
			c := v.Clone()
			c.Params.Remove(param)
			out = append(out, c)
			for _, line := range strings.Split(s, viaSep) {
				lv, err := sip.ParseVia(line)
				if err != nil {
					h.bad.Add(1)
					return false
				}
				out = append(out, lv)
			}
			changed = true
			continue
		case "Route", "Record-Route", "Path", "Service-Route", "Contact":
			if nh, ok := h.restoreField(hdr); ok {
				hdr, changed = nh, true
			}
		case "Call-ID":
			if !h.callID {
				break
			}
			v := hdr.Value()
			if s, ok := h.open(kindCallID, v); ok {
				v = s
			} else {
				v = outsidePrefix + v
			}
			c := sip.CallIDHeader(v)
			hdr, changed = &c, true
		}
		out = append(out, hdr)
	}
	if changed {
		setHeaders(msg, out)
		h.restored.Add(1)
	}
	return true
}

// needsRestore is the quick test that spares the common message a copy of
// its header list: is there any token, or a Call-ID to mark?
func (h *Hider) needsRestore(src []sip.Header) bool {
	if h.callID {
		return true
	}
	for _, hdr := range src {
		switch sip.CanonicalName(hdr.Name()) {
		case "Via":
			if v, ok := hdr.(*sip.ViaHeader); ok {
				if v.Params.Has(param) {
					return true
				}
				continue
			}
			if strings.Contains(hdr.Value(), param+"=") {
				return true
			}
		case "Route", "Record-Route", "Path", "Service-Route", "Contact":
			if strings.Contains(hdr.Value(), param+"=") {
				return true
			}
		}
	}
	return false
}

// restoreField restores the entries of a Route, Record-Route, Path,
// Service-Route or Contact field that carry a token.
func (h *Hider) restoreField(hdr sip.Header) (sip.Header, bool) {
	v := hdr.Value()
	if !strings.Contains(v, param+"=") {
		return nil, false
	}
	list, err := sip.ParseNameAddrList(v)
	if err != nil {
		return nil, false
	}
	name := sip.CanonicalName(hdr.Name())
	changed := false
	for i := range list {
		na := &list[i]
		tok, ok := na.URI.UriParams.Get(param)
		if !ok {
			continue
		}
		if name == "Contact" {
			s, ok := h.open(kindURI, tok)
			if !ok {
				h.bad.Add(1)
				continue
			}
			u, err := sip.ParseURI(s)
			if err != nil {
				continue
			}
			na.URI = u
		} else {
			s, ok := h.open(kindRoute, tok)
			if !ok {
				h.bad.Add(1)
				continue
			}
			orig, err := sip.ParseNameAddr(s)
			if err != nil {
				continue
			}
			*na = orig
		}
		changed = true
	}
	if !changed {
		return nil, false
	}
	var b strings.Builder
	for i := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(list[i].String())
	}
	return sip.NewHeader(name, b.String()), true
}

// editable is what *sip.Request and *sip.Response offer beyond sip.Message.
type editable interface {
	Headers() []sip.Header
	RemoveHeader(name string) bool
}

// setHeaders replaces the header list of msg, keeping the typed quick
// references (top Via, Call-ID, ...) right.
func setHeaders(msg sip.Message, hs []sip.Header) {
	m := msg.(editable)
	for cur := m.Headers(); len(cur) > 0; cur = m.Headers() {
		m.RemoveHeader(cur[0].Name())
	}
	for _, hdr := range hs {
		msg.AppendHeader(hdr)
	}
}
