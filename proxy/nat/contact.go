package nat

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// contactSpan locates, in the raw text of a Contact header field, the parts
// of its first value a NAT fix touches, so that everything else (display
// name, user part, URI and header parameters, later values) is kept byte
// for byte.
type contactSpan struct {
	uriStart, uriEnd   int  // the URI: inside <...>, or the addr-spec
	bracketed          bool // the URI is in angle brackets
	secure             bool // sips
	hostStart, hostEnd int  // the host, brackets of an IPv6 reference included
	portEnd            int  // end of ":port"; hostEnd when there is none
	paramsEnd          int  // end of the URI parameters (a '?' or uriEnd)
	tpStart, tpEnd     int  // value of the transport parameter; tpStart < 0 without one
}

// scanContact finds the parts of the first value of a Contact field. It
// reports false for "*", a URI that is not sip or sips, and text that is
// not a name-addr or addr-spec it can edit safely.
func scanContact(raw string) (contactSpan, bool) {
	sp := contactSpan{tpStart: -1}
	i := skipLWS(raw, 0)
	if i >= len(raw) || raw[i] == '*' {
		return sp, false
	}
	if raw[i] == '"' {
		end, ok := closeQuote(raw, i)
		if !ok {
			return sp, false
		}
		i = skipLWS(raw, end+1)
		if i >= len(raw) || raw[i] != '<' {
			return sp, false
		}
	}
	// A '<' before any ';' or ',' opens a bracketed URI (after an optional
	// token display name); otherwise the value is an addr-spec, which ends
	// at the first ';' (header parameters), ',' or white space (RFC 3261
	// §20: an addr-spec holds no ';', ',' or '?').
	lt := -1
	for j := i; j < len(raw); j++ {
		c := raw[j]
		if c == '<' {
			lt = j
			break
		}
		if c == ';' || c == ',' || c == '"' {
			break
		}
	}
	if lt >= 0 {
		gt := strings.IndexByte(raw[lt:], '>')
		if gt < 0 {
			return sp, false
		}
		sp.uriStart, sp.uriEnd, sp.bracketed = lt+1, lt+gt, true
	} else {
		j := i
		for j < len(raw) && raw[j] != ';' && raw[j] != ',' && raw[j] != ' ' && raw[j] != '\t' {
			j++
		}
		sp.uriStart, sp.uriEnd = i, j
	}
	uri := raw[sp.uriStart:sp.uriEnd]
	colon := strings.IndexByte(uri, ':')
	if colon < 0 {
		return sp, false
	}
	switch {
	case strings.EqualFold(uri[:colon], "sip"):
	case strings.EqualFold(uri[:colon], "sips"):
		sp.secure = true
	default:
		return sp, false
	}
	// The user part may hold ';', '?' and '/', but never '@', which URI
	// parameters and headers cannot hold unescaped either: the last '@' ends
	// the userinfo (RFC 3261 §25.1).
	// More than one '@', or an empty user before it, is not a SIP URI
	// (RFC 3261 §25.1: user = 1*( unreserved / escaped / user-unreserved ))
	// and parsers disagree on where its host is: leave it alone.
	h := colon + 1
	if at := strings.LastIndexByte(uri, '@'); at >= h {
		if at == h || strings.IndexByte(uri[h:at], '@') >= 0 {
			return sp, false
		}
		h = at + 1
	}
	e := h
	if e < len(uri) && uri[e] == '[' {
		rb := strings.IndexByte(uri[e:], ']')
		if rb < 0 {
			return sp, false
		}
		e += rb + 1
	} else {
		for e < len(uri) && uri[e] != ':' && uri[e] != ';' && uri[e] != '?' {
			e++
		}
	}
	if e == h {
		return sp, false
	}
	p := e
	if p < len(uri) && uri[p] == ':' {
		p++
		for p < len(uri) && uri[p] >= '0' && uri[p] <= '9' {
			p++
		}
		if p == e+1 {
			return sp, false
		}
	}
	if p < len(uri) && uri[p] != ';' && uri[p] != '?' {
		return sp, false
	}
	q := strings.IndexByte(uri[p:], '?')
	if q < 0 {
		q = len(uri)
	} else {
		q += p
	}
	// URI parameters: ;name[=value] up to the headers.
	for k := p; k < q; {
		k++ // the ';'
		ns := k
		for k < q && uri[k] != '=' && uri[k] != ';' {
			k++
		}
		name := uri[ns:k]
		vs, ve := k, k
		if k < q && uri[k] == '=' {
			vs = k + 1
			k = vs
			for k < q && uri[k] != ';' {
				k++
			}
			ve = k
		}
		if strings.EqualFold(name, "transport") && sp.tpStart < 0 {
			sp.tpStart, sp.tpEnd = sp.uriStart+vs, sp.uriStart+ve
		}
	}
	sp.hostStart, sp.hostEnd = sp.uriStart+h, sp.uriStart+e
	sp.portEnd, sp.paramsEnd = sp.uriStart+p, sp.uriStart+q
	return sp, true
}

// host returns the host without the brackets of an IPv6 reference.
func (sp *contactSpan) host(raw string) string {
	return strings.TrimSuffix(strings.TrimPrefix(raw[sp.hostStart:sp.hostEnd], "["), "]")
}

// port returns the port, or 0 when there is none.
func (sp *contactSpan) port(raw string) int {
	if sp.portEnd == sp.hostEnd {
		return 0
	}
	n, err := strconv.Atoi(raw[sp.hostEnd+1 : sp.portEnd])
	if err != nil || n > 65535 {
		return -1
	}
	return n
}

// transport returns the transport the URI implies (RFC 3261 §19.1.2,
// §26.2: sips means TLS), upper case; unknown transport names come back
// as they are, upper case.
func (sp *contactSpan) transport(raw string) string {
	tp := transport.UDP
	if sp.tpStart >= 0 {
		tp = strings.ToUpper(raw[sp.tpStart:sp.tpEnd])
	}
	if sp.secure {
		switch tp {
		case transport.UDP, transport.TCP:
			tp = transport.TLS
		case transport.WS:
			tp = transport.WSS
		}
	}
	return tp
}

// rewrite returns raw with the first Contact's host and port replaced by
// src and, when the flow's transport is not the one the URI implies, its
// transport parameter set to it (added when absent). Nothing else changes.
func rewrite(raw string, sp *contactSpan, src netip.AddrPort, flowTransport string) string {
	var hp [64]byte
	hostport := hp[:0]
	if src.Addr().Is6() {
		hostport = append(hostport, '[')
		hostport = src.Addr().AppendTo(hostport)
		hostport = append(hostport, ']')
	} else {
		hostport = src.Addr().AppendTo(hostport)
	}
	hostport = append(hostport, ':')
	hostport = strconv.AppendUint(hostport, uint64(src.Port()), 10)

	setTP := ""
	if flowTransport != "" && sp.transport(raw) != flowTransport {
		// A sips URI cannot name a transport that is not secure; leave it.
		if !sp.secure || transport.IsSecure(flowTransport) {
			setTP = strings.ToLower(flowTransport)
		}
	}
	addParam := setTP != "" && sp.tpStart < 0
	wrap := addParam && !sp.bracketed

	var b strings.Builder
	b.Grow(len(raw) + len(hostport) + 16)
	if wrap {
		b.WriteString(raw[:sp.uriStart])
		b.WriteByte('<')
		b.WriteString(raw[sp.uriStart:sp.hostStart])
	} else {
		b.WriteString(raw[:sp.hostStart])
	}
	b.Write(hostport)
	switch {
	case setTP != "" && sp.tpStart >= 0:
		b.WriteString(raw[sp.portEnd:sp.tpStart])
		b.WriteString(setTP)
		b.WriteString(raw[sp.tpEnd:])
	case addParam:
		b.WriteString(raw[sp.portEnd:sp.paramsEnd])
		b.WriteString(";transport=")
		b.WriteString(setTP)
		if wrap {
			b.WriteString(raw[sp.paramsEnd:sp.uriEnd])
			b.WriteByte('>')
			b.WriteString(raw[sp.uriEnd:])
		} else {
			b.WriteString(raw[sp.paramsEnd:])
		}
	default:
		b.WriteString(raw[sp.portEnd:])
	}
	return b.String()
}

// firstContact returns the index of the first Contact field of msg among
// its headers, or -1.
func firstContact(hs []sip.Header) int {
	for i, h := range hs {
		if n := h.Name(); n == "Contact" || strings.EqualFold(n, "contact") || n == "m" {
			return i
		}
	}
	return -1
}

// editable is what requests and responses offer for editing headers.
type editable interface {
	Headers() []sip.Header
	ReplaceHeader(sip.Header)
}

// FixContact rewrites the first Contact of msg so that its URI points at
// the source of flow f, the address a NAT put on the message: the host and
// port become f.Remote and, when the URI implies another transport than
// f's, its transport parameter is set to f's. The display name, the user
// part and every other URI and header parameter (+sip.instance, reg-id,
// expires, ob, feature tags) stay exactly as they were, as do further
// Contact values. It is Kamailio's fix_nated_contact, for handlers that
// decide themselves (see Detect); the Fixer calls it by policy.
//
// FixContact reports whether it changed msg. It does nothing to a message
// without a sip or sips Contact, to "Contact: *", or when f has no remote
// address. It edits msg's header list in place (the Contact field is
// replaced, not modified), so call it before the message is shared.
func FixContact(msg sip.Message, f transport.Flow) bool {
	if !f.Remote.IsValid() {
		return false
	}
	m, ok := msg.(editable)
	if !ok {
		return false
	}
	hs := m.Headers()
	i := firstContact(hs)
	if i < 0 {
		return false
	}
	return fixAt(m, hs, i, f)
}

// fixAt rewrites the Contact at hs[i].
func fixAt(m editable, hs []sip.Header, i int, f transport.Flow) bool {
	if ch, ok := hs[i].(*sip.ContactHeader); ok {
		return fixTyped(m, ch, f)
	}
	raw := hs[i].Value()
	sp, ok := scanContact(raw)
	if !ok {
		return false
	}
	out := rewrite(raw, &sp, f.Remote, f.Transport)
	if out == raw {
		return false
	}
	// Replaced in the list, never edited: a copied request (sip.CopyRequest)
	// shares header values with its original.
	hs[i] = sip.NewHeader(hs[i].Name(), out)
	return true
}

// fixTyped rewrites a parsed Contact (one a program built rather than one
// read from the wire), through sipgo's own reference so that
// msg.Contact() sees the change.
func fixTyped(m editable, ch *sip.ContactHeader, f transport.Flow) bool {
	u := &ch.Address
	if u.Wildcard || (!strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips")) {
		return false
	}
	c := ch.Clone()
	c.Address.Host = f.Remote.Addr().String()
	if f.Remote.Addr().Is6() {
		c.Address.Host = "[" + c.Address.Host + "]"
	}
	c.Address.Port = int(f.Remote.Port())
	secure := strings.EqualFold(u.Scheme, "sips")
	if tp := f.Transport; tp != "" && uriTransport(u) != tp && (!secure || transport.IsSecure(tp)) {
		c.Address.UriParams = c.Address.UriParams.Clone()
		set := false
		for j := range c.Address.UriParams {
			if strings.EqualFold(c.Address.UriParams[j].K, "transport") {
				c.Address.UriParams[j].V = strings.ToLower(tp)
				set = true
				break
			}
		}
		if !set {
			c.Address.UriParams = append(c.Address.UriParams, sip.HeaderKV{K: "transport", V: strings.ToLower(tp)})
		}
	}
	if c.Value() == ch.Value() {
		return false
	}
	m.ReplaceHeader(c)
	return true
}

// uriTransport is the transport a parsed URI implies.
func uriTransport(u *sip.Uri) string {
	tp := transport.UDP
	for _, kv := range u.UriParams {
		if strings.EqualFold(kv.K, "transport") {
			tp = strings.ToUpper(kv.V)
			break
		}
	}
	if strings.EqualFold(u.Scheme, "sips") {
		switch tp {
		case transport.UDP, transport.TCP:
			tp = transport.TLS
		case transport.WS:
			tp = transport.WSS
		}
	}
	return tp
}

func skipLWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// closeQuote returns the index of the quote closing the quoted string that
// starts at s[i].
func closeQuote(s string, i int) (int, bool) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j, true
		}
	}
	return 0, false
}
