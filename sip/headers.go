package sip

import (
	"errors"
	"iter"
	"strconv"
	"strings"
)

// editable is what Request and Response offer beyond Message for editing
// their header list in place.
type editable interface {
	Message
	Headers() []Header
	RemoveHeader(name string) bool
}

var errNotEditable = errors.New("sip: message does not support header editing")

// Fields yields every header field of msg called name (any case, compact
// forms included), in order. Unlike msg.GetHeaders it allocates nothing:
// sipgo's GetHeaders lower-cases the name of every other header field it
// passes over, one allocation each, and returns a new slice.
func Fields(msg Message, name string) iter.Seq[Header] {
	return func(yield func(Header) bool) {
		e, ok := msg.(interface{ Headers() []Header })
		if !ok {
			for _, h := range msg.GetHeaders(CanonicalName(name)) {
				if !yield(h) {
					return
				}
			}
			return
		}
		name = CanonicalName(name)
		for _, h := range e.Headers() {
			if n := h.Name(); n == name || (len(n) == len(name) && strings.EqualFold(n, name)) || (len(n) == 1 && canonicalOf(n) == name) {
				if !yield(h) {
					return
				}
			}
		}
	}
}

// Field returns the first header field of msg called name (any case), or
// nil. It allocates nothing, unlike msg.GetHeader (see Fields).
func Field(msg Message, name string) Header {
	for h := range Fields(msg, name) {
		return h
	}
	return nil
}

// HasField reports whether msg has a header field called name (any case).
func HasField(msg Message, name string) bool { return Field(msg, name) != nil }

// HeaderValues returns the raw value of every header field called name (any
// case), one entry per field line, in order.
func HeaderValues(msg Message, name string) []string {
	var out []string
	for h := range Fields(msg, name) {
		out = append(out, h.Value())
	}
	return out
}

// ListValues returns the comma-separated elements of every header field called
// name, in order: "Supported: a, b" and "Supported: c" give [a b c].
func ListValues(msg Message, name string) ([]string, error) {
	var out []string
	for h := range Fields(msg, name) {
		err := splitList(h.Value(), func(p string) error {
			out = append(out, p)
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// NameAddrs parses every value of the name-addr header fields called name, in
// order, across field lines and commas.
func NameAddrs(msg Message, name string) ([]NameAddr, error) {
	var out []NameAddr
	for h := range Fields(msg, name) {
		list, err := ParseNameAddrList(h.Value())
		if err != nil {
			return out, err
		}
		out = append(out, list...)
	}
	return out, nil
}

// Contacts returns the Contact values of msg (RFC 3261 §20.10), parameters
// kept verbatim. A "Contact: *" gives one value with URI.Wildcard set.
func Contacts(msg Message) ([]NameAddr, error) { return NameAddrs(msg, "Contact") }

// Routes returns the Route set of msg, topmost first.
func Routes(msg Message) ([]NameAddr, error) { return NameAddrs(msg, "Route") }

// RecordRoutes returns the Record-Route values of msg, topmost first.
func RecordRoutes(msg Message) ([]NameAddr, error) { return NameAddrs(msg, "Record-Route") }

// Paths returns the Path values of msg (RFC 3327), topmost first.
func Paths(msg Message) ([]NameAddr, error) { return NameAddrs(msg, "Path") }

// ServiceRoutes returns the Service-Route values of msg (RFC 3608).
func ServiceRoutes(msg Message) ([]NameAddr, error) { return NameAddrs(msg, "Service-Route") }

// AssertedIdentities returns the P-Asserted-Identity values (RFC 3325).
func AssertedIdentities(msg Message) ([]NameAddr, error) {
	return NameAddrs(msg, "P-Asserted-Identity")
}

// PreferredIdentities returns the P-Preferred-Identity values (RFC 3325).
func PreferredIdentities(msg Message) ([]NameAddr, error) {
	return NameAddrs(msg, "P-Preferred-Identity")
}

// AssociatedURIs returns the P-Associated-URI values (RFC 7315 §4.1).
func AssociatedURIs(msg Message) ([]NameAddr, error) {
	return NameAddrs(msg, "P-Associated-URI")
}

// RemoveHeaders removes every header field called name (any case) and returns
// how many were removed.
func RemoveHeaders(msg Message, name string) int {
	m, ok := msg.(editable)
	if !ok {
		return 0
	}
	name = CanonicalName(name)
	n := 0
	for {
		found := ""
		for _, h := range m.Headers() {
			if strings.EqualFold(h.Name(), name) {
				found = h.Name()
				break
			}
		}
		if found == "" || !m.RemoveHeader(found) {
			return n
		}
		n++
	}
}

// SetNameAddrs replaces every header field called name with one field per
// value of list, in order. An empty list removes the header.
func SetNameAddrs(msg Message, name string, list []NameAddr) error {
	if _, ok := msg.(editable); !ok {
		return errNotEditable
	}
	name = CanonicalName(name)
	RemoveHeaders(msg, name)
	for i := range list {
		msg.AppendHeader(NewHeader(name, list[i].String()))
	}
	return nil
}

// PushNameAddr adds na as the topmost value of the header called name, above
// any existing fields of that name (as a proxy adds Record-Route or Path).
func PushNameAddr(msg Message, name string, na NameAddr) error {
	return InsertHeader(msg, NewHeader(CanonicalName(name), na.String()))
}

// InsertHeader adds h above the first existing field with the same name, or at
// the end when there is none, keeping the relative order of same-name fields
// meaningful (RFC 3261 §7.3.1).
func InsertHeader(msg Message, h Header) error {
	m, ok := msg.(editable)
	if !ok {
		return errNotEditable
	}
	first := -1
	for i, x := range m.Headers() {
		if strings.EqualFold(x.Name(), h.Name()) {
			first = i
			break
		}
	}
	if strings.EqualFold(h.Name(), "Via") {
		m.PrependHeader(h) // keeps sipgo's cached top Via right
		return nil
	}
	m.AppendHeader(h)
	if first < 0 {
		return nil
	}
	hs := m.Headers()
	copy(hs[first+1:], hs[first:len(hs)-1])
	hs[first] = h
	return nil
}

// PopNameAddr removes and returns the topmost value of the header called name,
// as loose routing removes the Route entry that names this hop (RFC 3261
// §16.4). A field holding several comma-separated values keeps the rest.
func PopNameAddr(msg Message, name string) (NameAddr, bool, error) {
	m, ok := msg.(editable)
	if !ok {
		return NameAddr{}, false, errNotEditable
	}
	name = CanonicalName(name)
	idx := -1
	var field Header
	for i, h := range m.Headers() {
		if strings.EqualFold(h.Name(), name) {
			idx, field = i, h
			break
		}
	}
	if idx < 0 {
		return NameAddr{}, false, nil
	}
	value := field.Value()
	var first NameAddr
	rest := ""
	done := false
	err := splitList(value, func(part string) error {
		if done {
			if rest != "" {
				rest += ", "
			}
			rest += part
			return nil
		}
		done = true
		return parseNameAddr(part, &first)
	})
	if err != nil {
		return NameAddr{}, false, &ParseError{What: name, Input: value, Err: err}
	}
	if rest == "" {
		m.RemoveHeader(field.Name())
		// RemoveHeader drops the first exact match; names are canonical here.
		return first, true, nil
	}
	m.Headers()[idx] = NewHeader(name, rest)
	return first, true, nil
}

// OptionTags returns the option tags listed in the Require, Supported,
// Proxy-Require or Unsupported header fields called name (RFC 3261 §19.2).
func OptionTags(msg Message, name string) []string {
	tags, _ := ListValues(msg, name)
	return tags
}

// HasOptionTag reports whether the header called name lists tag (compared
// without regard to case).
func HasOptionTag(msg Message, name, tag string) bool {
	for _, t := range OptionTags(msg, name) {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

// Allow returns the methods listed in the Allow header fields.
func Allow(msg Message) []RequestMethod {
	vals, _ := ListValues(msg, "Allow")
	out := make([]RequestMethod, 0, len(vals))
	for _, v := range vals {
		out = append(out, RequestMethod(strings.ToUpper(v)))
	}
	return out
}

// ExpiresValue returns the value of the Expires header field in seconds and
// whether it is present. A present but malformed value is an error.
func ExpiresValue(msg Message) (uint32, bool, error) {
	return deltaHeader(msg, "Expires")
}

func deltaHeader(msg Message, name string) (uint32, bool, error) {
	var first Header
	for h := range Fields(msg, name) {
		if first != nil {
			return 0, true, &ParseError{What: name, Err: errors.New("more than one value")}
		}
		first = h
	}
	if first == nil {
		return 0, false, nil
	}
	v, err := parseDelta(trimLWS(first.Value()))
	if err != nil {
		return 0, true, &ParseError{What: name, Input: first.Value(), Err: err}
	}
	return v, true, nil
}

// parseDelta parses delta-seconds; values beyond 2^32-1 saturate (RFC 3261
// §25.1 allows any number of digits).
func parseDelta(s string) (uint32, error) {
	if s == "" {
		return 0, errEmptyValue
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		if v < 1<<32 {
			v = v*10 + uint64(c-'0')
		}
	}
	if v > 1<<32-1 {
		v = 1<<32 - 1
	}
	return uint32(v), nil
}

// SecurityMechanism is one value of Security-Client, Security-Server or
// Security-Verify (RFC 3329 §2.2), such as
// ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1111;spi-s=2222;port-c=5062;port-s=5064.
type SecurityMechanism struct {
	// Mechanism is the mechanism name: "ipsec-3gpp", "tls", "digest", ...
	Mechanism string
	// Params are the mechanism parameters, verbatim and in order.
	Params HeaderParams
}

// SecurityMechanisms parses the header fields called name: "Security-Client",
// "Security-Server" or "Security-Verify".
func SecurityMechanisms(msg Message, name string) ([]SecurityMechanism, error) {
	vals, err := ListValues(msg, name)
	if err != nil {
		return nil, err
	}
	out := make([]SecurityMechanism, 0, len(vals))
	for _, v := range vals {
		m, err := ParseSecurityMechanism(v)
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ParseSecurityMechanism parses one mechanism with its parameters.
func ParseSecurityMechanism(s string) (SecurityMechanism, error) {
	s = trimLWS(s)
	i := 0
	for i < len(s) && tokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return SecurityMechanism{}, &ParseError{What: "security mechanism", Input: s, Err: errEmptyValue}
	}
	m := SecurityMechanism{Mechanism: s[:i]}
	if err := parseParams(s[i:], &m.Params); err != nil {
		return SecurityMechanism{}, &ParseError{What: "security mechanism", Input: s, Err: err}
	}
	return m, nil
}

// Param returns the value of parameter name, compared without regard to case.
func (m SecurityMechanism) Param(name string) (string, bool) { return paramGet(m.Params, name) }

// Q returns the q parameter (preference), or 0 when absent or malformed.
func (m SecurityMechanism) Q() float64 {
	v, ok := m.Param("q")
	if !ok {
		return 0
	}
	q, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return q
}

// String formats the mechanism as it appears in the header.
func (m SecurityMechanism) String() string {
	var b strings.Builder
	b.WriteString(m.Mechanism)
	writeParams(&b, m.Params)
	return b.String()
}

// ChargingVector is the P-Charging-Vector header (RFC 7315 §4.6, 3GPP TS
// 24.229 §7.2A.5).
type ChargingVector struct {
	ICID            string
	ICIDGeneratedAt string
	OrigIOI         string
	TermIOI         string
	// Params holds every other parameter (e.g. access-network-charging-info).
	Params HeaderParams
}

// ChargingVectorOf parses the P-Charging-Vector header of msg; ok is false when
// the header is absent.
func ChargingVectorOf(msg Message) (cv ChargingVector, ok bool, err error) {
	vals := HeaderValues(msg, "P-Charging-Vector")
	if len(vals) == 0 {
		return ChargingVector{}, false, nil
	}
	cv, err = ParseChargingVector(vals[0])
	return cv, true, err
}

// ParseChargingVector parses a P-Charging-Vector value.
func ParseChargingVector(s string) (ChargingVector, error) {
	var params HeaderParams
	if err := parseParams(";"+trimLWS(s), &params); err != nil {
		return ChargingVector{}, &ParseError{What: "P-Charging-Vector", Input: s, Err: err}
	}
	var cv ChargingVector
	for _, kv := range params {
		switch strings.ToLower(kv.K) {
		case "icid-value":
			cv.ICID = Unquote(kv.V)
		case "icid-generated-at":
			cv.ICIDGeneratedAt = kv.V
		case "orig-ioi":
			cv.OrigIOI = Unquote(kv.V)
		case "term-ioi":
			cv.TermIOI = Unquote(kv.V)
		default:
			cv.Params = append(cv.Params, kv)
		}
	}
	if cv.ICID == "" {
		return cv, &ParseError{What: "P-Charging-Vector", Input: s, Err: errors.New("missing icid-value")}
	}
	return cv, nil
}

// String formats the charging vector as a header value.
func (cv ChargingVector) String() string {
	var b strings.Builder
	b.WriteString("icid-value=")
	b.WriteString(quoteIfNeeded(cv.ICID))
	if cv.ICIDGeneratedAt != "" {
		b.WriteString(";icid-generated-at=")
		b.WriteString(cv.ICIDGeneratedAt)
	}
	if cv.OrigIOI != "" {
		b.WriteString(";orig-ioi=")
		b.WriteString(quoteIfNeeded(cv.OrigIOI))
	}
	if cv.TermIOI != "" {
		b.WriteString(";term-ioi=")
		b.WriteString(quoteIfNeeded(cv.TermIOI))
	}
	writeParams(&b, cv.Params)
	return b.String()
}

func quoteIfNeeded(s string) string {
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) && s[i] != ':' {
			return strconv.Quote(s)
		}
	}
	return s
}

// AccessNetworkInfo is one value of P-Access-Network-Info (RFC 7315 §4.4), such
// as 3GPP-E-UTRAN-FDD;utran-cell-id-3gpp=2344512340001.
type AccessNetworkInfo struct {
	AccessType string
	Params     HeaderParams
}

// AccessNetworkInfos parses the P-Access-Network-Info header fields of msg.
func AccessNetworkInfos(msg Message) ([]AccessNetworkInfo, error) {
	vals, err := ListValues(msg, "P-Access-Network-Info")
	if err != nil {
		return nil, err
	}
	out := make([]AccessNetworkInfo, 0, len(vals))
	for _, v := range vals {
		m, err := ParseSecurityMechanism(v) // same grammar: token *(;param)
		if err != nil {
			return out, &ParseError{What: "P-Access-Network-Info", Input: v, Err: err}
		}
		out = append(out, AccessNetworkInfo{AccessType: m.Mechanism, Params: m.Params})
	}
	return out, nil
}

// Param returns the value of parameter name, compared without regard to case.
func (a AccessNetworkInfo) Param(name string) (string, bool) { return paramGet(a.Params, name) }

// String formats the value as it appears in the header.
func (a AccessNetworkInfo) String() string {
	return SecurityMechanism{Mechanism: a.AccessType, Params: a.Params}.String()
}

// RSeqValue returns the RSeq header value of a reliable provisional response
// (RFC 3262 §7.1) and whether it is present.
func RSeqValue(msg Message) (uint32, bool, error) { return deltaHeader(msg, "RSeq") }

// RAck is the value of the RAck header of a PRACK (RFC 3262 §7.2).
type RAck struct {
	RSeq   uint32
	CSeq   uint32
	Method RequestMethod
}

// RAckOf parses the RAck header of msg; ok is false when it is absent.
func RAckOf(msg Message) (r RAck, ok bool, err error) {
	vals := HeaderValues(msg, "RAck")
	if len(vals) == 0 {
		return RAck{}, false, nil
	}
	r, err = ParseRAck(vals[0])
	return r, true, err
}

// ParseRAck parses "response-num CSeq-num Method".
func ParseRAck(s string) (RAck, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return RAck{}, &ParseError{What: "RAck", Input: s, Err: errors.New("want three fields")}
	}
	rseq, err1 := parseDelta(f[0])
	cseq, err2 := parseDelta(f[1])
	if err := errors.Join(err1, err2); err != nil || !isToken(f[2]) {
		if err == nil {
			err = errors.New("bad method")
		}
		return RAck{}, &ParseError{What: "RAck", Input: s, Err: err}
	}
	return RAck{RSeq: rseq, CSeq: cseq, Method: RequestMethod(f[2])}, nil
}

// String formats the RAck value.
func (r RAck) String() string {
	return strconv.FormatUint(uint64(r.RSeq), 10) + " " + strconv.FormatUint(uint64(r.CSeq), 10) + " " + string(r.Method)
}

// SessionExpires is the value of Session-Expires (RFC 4028 §4) or, without a
// refresher, of Min-SE (§5).
type SessionExpires struct {
	// Delta is the session interval in seconds.
	Delta uint32
	// Refresher is "uac", "uas" or "" when absent.
	Refresher string
	// Params holds other parameters, verbatim.
	Params HeaderParams
}

// SessionExpiresOf parses the Session-Expires header (compact form x).
func SessionExpiresOf(msg Message) (SessionExpires, bool, error) {
	return sessionTimerHeader(msg, "Session-Expires")
}

// MinSEOf parses the Min-SE header.
func MinSEOf(msg Message) (SessionExpires, bool, error) {
	return sessionTimerHeader(msg, "Min-SE")
}

func sessionTimerHeader(msg Message, name string) (SessionExpires, bool, error) {
	vals := HeaderValues(msg, name)
	if len(vals) == 0 {
		return SessionExpires{}, false, nil
	}
	se, err := ParseSessionExpires(vals[0])
	if err != nil {
		return se, true, &ParseError{What: name, Input: vals[0], Err: err}
	}
	return se, true, nil
}

// ParseSessionExpires parses "delta-seconds *(;param)".
func ParseSessionExpires(s string) (SessionExpires, error) {
	s = trimLWS(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	d, err := parseDelta(s[:i])
	if err != nil {
		return SessionExpires{}, err
	}
	se := SessionExpires{Delta: d}
	var params HeaderParams
	if err := parseParams(s[i:], &params); err != nil {
		return SessionExpires{}, err
	}
	for _, kv := range params {
		if strings.EqualFold(kv.K, "refresher") {
			se.Refresher = strings.ToLower(kv.V)
			continue
		}
		se.Params = append(se.Params, kv)
	}
	return se, nil
}

// String formats the value.
func (se SessionExpires) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(uint64(se.Delta), 10))
	if se.Refresher != "" {
		b.WriteString(";refresher=")
		b.WriteString(se.Refresher)
	}
	writeParams(&b, se.Params)
	return b.String()
}
