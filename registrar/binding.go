package registrar

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Binding is one contact address registered for an address-of-record (RFC
// 3261 §10): what a Backend stores. The Registrar fills every field; a
// Backend must give each back as it was stored.
type Binding struct {
	// AoR is the address-of-record in canonical form (see AoR).
	AoR string
	// Key identifies the binding within its AoR: "<instance>;reg-id=N"
	// for an RFC 5626 outbound registration, "<instance>" for a contact
	// with +sip.instance (RFC 5627 §4.1), else URIKey (RFC 3261 §10.3
	// step 7 compares contact URIs).
	Key string
	// URIKey is the contact URI in comparable form (see URIKey), for
	// lookups by contact address.
	URIKey string
	// Contact is the Contact header value as the UA sent it: display name,
	// URI and every parameter verbatim and in order (RFC 3840 feature tags
	// included), without the expires, pub-gruu and temp-gruu parameters,
	// which the registrar writes itself.
	Contact string
	// Instance is the +sip.instance value without quotes and angle
	// brackets ("urn:uuid:..."), or "".
	Instance string
	// RegID is the reg-id of an outbound registration (RFC 5626 §4.2), or 0.
	RegID uint32
	// CallID and CSeq are those of the REGISTER that last wrote the binding
	// (RFC 3261 §10.3 step 7 orders updates by them).
	CallID string
	CSeq   uint32
	// Expires is when the binding lapses.
	Expires time.Time
	// Updated is when a REGISTER last created or refreshed the binding.
	Updated time.Time
	// Path holds the Path header values of the REGISTER (RFC 3327),
	// topmost first: the route set toward the UA.
	Path []string
	// ServiceRoute holds the Service-Route values an upstream registrar
	// returned, for bindings cached by a proxy (see Registrar.Cache).
	ServiceRoute []string
	// Flow is the transport flow the REGISTER arrived on (RFC 5626 §5.3):
	// requests for the UA go back on it.
	Flow transport.Flow
	// Node identifies the Registrar instance that received Flow; a
	// connection ID means nothing to another instance or after a restart.
	Node string
	// UserAgent is the User-Agent header of the REGISTER, for admin views.
	UserAgent string
}

// Live reports whether the binding has not expired at now.
func (b *Binding) Live(now time.Time) bool { return b.Expires.After(now) }

// NameAddr parses Contact.
func (b *Binding) NameAddr() (sip.NameAddr, error) { return sip.ParseNameAddr(b.Contact) }

// Q returns the q parameter of the contact in thousandths (RFC 3261 §20.10),
// or -1 when it has none.
func (b *Binding) Q() int {
	q, ok := paramOf(b.Contact, "q")
	if !ok {
		return -1
	}
	v, err := parseQ(q)
	if err != nil {
		return -1
	}
	return v
}

// paramOf returns the header parameter name of a Contact value.
func paramOf(contact, name string) (string, bool) {
	na, err := sip.ParseNameAddr(contact)
	if err != nil {
		return "", false
	}
	return na.Param(name)
}

// parseQ parses a qvalue ("0" to "1" with up to three decimals, RFC 3261
// §25.1) into thousandths.
func parseQ(s string) (int, error) {
	bad := fmt.Errorf("registrar: bad q value %q", s)
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 3 {
		return 0, bad
	}
	if whole != "0" && whole != "1" {
		return 0, bad
	}
	v := 0
	if whole == "1" {
		v = 1000
	}
	mul := 100
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, bad
		}
		v += int(c-'0') * mul
		mul /= 10
	}
	if v > 1000 {
		return 0, bad
	}
	return v, nil
}

// AoR returns the canonical address-of-record of uri, the form bindings are
// stored under (RFC 3261 §10.3 step 5): "sip:user@host" with the host in
// lower case, the sips scheme folded into sip, and no port, parameters or
// headers. Only sip and sips URIs have one.
func AoR(uri sip.Uri) (string, error) {
	if !strings.EqualFold(uri.Scheme, "sip") && !strings.EqualFold(uri.Scheme, "sips") {
		return "", fmt.Errorf("registrar: %w: scheme %q", ErrNotAoR, uri.Scheme)
	}
	if uri.Host == "" {
		return "", fmt.Errorf("registrar: %w: no host", ErrNotAoR)
	}
	if uri.User == "" {
		return "sip:" + strings.ToLower(uri.Host), nil
	}
	return "sip:" + uri.User + "@" + strings.ToLower(uri.Host), nil
}

// ErrNotAoR is returned for a URI that cannot be an address-of-record.
var ErrNotAoR = errors.New("not an address-of-record")

// URIKey returns uri in the form two contact URIs compare equal in when RFC
// 3261 §19.1.4 says they are equal: scheme and host without regard to case,
// user and password exactly, the port as written (an absent port is not
// 5060), and the transport, user, ttl, method and maddr parameters, which
// must match when present in either; other parameters do not count.
func URIKey(uri sip.Uri) string {
	// Built in a buffer on the stack: one allocation, the result.
	var arr [192]byte
	b := appendLower(arr[:0], uri.Scheme)
	b = append(b, ':')
	if uri.User != "" {
		b = append(b, uri.User...)
		if uri.Password != "" {
			b = append(b, ':')
			b = append(b, uri.Password...)
		}
		b = append(b, '@')
	}
	b = appendLower(b, uri.Host)
	if uri.Port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(uri.Port), 10)
	}
	// The parameters that count, sorted by their lower-cased k=v form.
	var kept [5]int
	n := 0
	for i, kv := range uri.UriParams {
		if keyParam(kv.K) && n < len(kept) {
			kept[n] = i
			n++
		}
	}
	if n == 1 { // the usual: transport alone
		kv := uri.UriParams[kept[0]]
		b = append(b, ';')
		b = appendLower(b, kv.K)
		b = append(b, '=')
		b = appendLower(b, kv.V)
	} else if n > 1 {
		var ps [len(kept)]string
		for j, i := range kept[:n] {
			ps[j] = strings.ToLower(uri.UriParams[i].K + "=" + uri.UriParams[i].V)
		}
		slices.Sort(ps[:n])
		for _, p := range ps[:n] {
			b = append(b, ';')
			b = append(b, p...)
		}
	}
	return string(b)
}

// keyParam reports whether a URI parameter named k takes part in URI
// comparison (RFC 3261 §19.1.4).
func keyParam(k string) bool {
	for _, name := range [...]string{"transport", "user", "ttl", "method", "maddr"} {
		if len(k) == len(name) && equalLowerASCII(k, name) {
			return true
		}
	}
	return false
}

// equalLowerASCII reports whether s lower-cased (ASCII) is lower, which is
// lower case and as long as s.
func equalLowerASCII(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// appendLower appends s to b in lower case, as strings.ToLower has it.
func appendLower(b []byte, s string) []byte {
	if !isASCII(s) {
		return append(b, strings.ToLower(s)...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// instanceOf returns the +sip.instance value of na without quotes and angle
// brackets, or "".
func instanceOf(na *sip.NameAddr) string {
	v, ok := na.Param("+sip.instance")
	if !ok {
		return ""
	}
	v = sip.Unquote(v)
	v = strings.TrimPrefix(v, "<")
	v = strings.TrimSuffix(v, ">")
	return v
}

// bindingKey returns the Key of a binding (see Binding.Key).
func bindingKey(instance string, regID uint32, uriKey string) string {
	if instance == "" {
		return uriKey
	}
	k := "<" + strings.ToLower(instance) + ">"
	if regID != 0 {
		k += ";reg-id=" + strconv.FormatUint(uint64(regID), 10)
	}
	return k
}

// Contact is a binding ready for routing a request to the UA.
type Contact struct {
	Binding
	// NameAddr is the parsed Contact; NameAddr.URI is the target.
	NameAddr sip.NameAddr
	// Route is the parsed Path: the Route header a request to the contact
	// carries (RFC 3327 §5.3), empty when the UA registered directly.
	Route []sip.NameAddr
	// Local reports whether Flow was captured by this Registrar instance,
	// so that its connection ID is meaningful here.
	Local bool
}

// Target returns where a request to the contact goes when it should not be
// resolved from the contact URI: back on the flow the REGISTER arrived on
// (RFC 5626 §5.3, and how a UA behind NAT is reached at all). It reports
// false when the request must follow Route instead, or when the flow is a
// connection of another instance (or of an earlier run), which cannot be
// reused. A UDP flow survives restarts: it names addresses, not a socket.
func (c *Contact) Target() (transport.Target, bool) {
	if len(c.Route) > 0 || c.Flow.Transport == "" || !c.Flow.Remote.IsValid() {
		return transport.Target{}, false
	}
	if c.Local {
		return c.Flow.Target(), true
	}
	if c.Flow.Transport == transport.UDP {
		t := c.Flow.Target()
		t.ConnID = 0
		return t, true
	}
	return transport.Target{}, false
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
