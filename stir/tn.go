package stir

import (
	"strconv"
	"strings"

	"github.com/siphon-go/siphon/sip"
)

// maxTNLen bounds a canonical telephone number. E.164 allows 15 digits; the
// margin admits '*' and '#' service codes and odd national plans.
const maxTNLen = 32

// Numbering turns the telephone numbers of SIP requests into the canonical
// form PASSporT carries (RFC 8224 §8.3, ATIS-1000074 §5.2.3): visual
// separators, parameters and a leading '+' removed, leaving digits, '*' and
// '#'.
//
// The zero value performs exactly that. Setting CountryCode and
// NationalLength also turns national numbers into international ones, as
// §8.3 asks when the national format is known: for the North American
// Numbering Plan, {CountryCode: "1", NationalLength: 10} turns "2155551212"
// into "12155551212".
type Numbering struct {
	// CountryCode is prefixed to national numbers. Default: none.
	CountryCode string
	// NationalLength is the number of digits of a national number: a number
	// written without '+' that has exactly this many digits gets CountryCode
	// prefixed. Default 0: no national numbers are recognised.
	NationalLength int
}

// NormalizeTN returns the canonical form of a telephone number (RFC 8224 §8.3)
// with no national-number rule; see Numbering.Normalize.
func NormalizeTN(s string) (string, bool) { return Numbering{}.Normalize(s) }

// Normalize returns the canonical form of the telephone number s, which may be
// written "+1 (215) 555-1212", "1.215.555.1212;ext=1" or as the user part of a
// SIP URI; ok is false when s is not a telephone number.
func (n Numbering) Normalize(s string) (string, bool) {
	if k := strings.IndexByte(s, ';'); k >= 0 {
		s = s[:k]
	}
	s = strings.TrimSpace(s)
	global := false
	switch {
	case strings.HasPrefix(s, "+"):
		global, s = true, s[1:]
	case len(s) >= 3 && s[0] == '%' && s[1] == '2' && (s[2] == 'B' || s[2] == 'b'):
		global, s = true, s[3:]
	}
	var buf [maxTNLen]byte
	out := buf[:0]
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '*' || c == '#':
		case c == '-' || c == '.' || c == '(' || c == ')' || c == ' ':
			continue // RFC 3966 visual separators
		default:
			return "", false
		}
		if len(out) == maxTNLen {
			return "", false
		}
		out = append(out, c)
	}
	if digits == 0 {
		return "", false
	}
	if !global && n.NationalLength > 0 && n.CountryCode != "" && len(out) == digits && digits == n.NationalLength {
		return n.CountryCode + string(out), true
	}
	return string(out), true
}

// uriTN returns the canonical telephone number of a tel URI or of a SIP URI
// whose user part is a telephone number (with or without user=phone).
func (n Numbering) uriTN(u *sip.Uri) (string, bool) {
	switch strings.ToLower(u.Scheme) {
	case "tel":
		raw := u.Raw()
		num, params, _ := strings.Cut(raw, ";")
		if !strings.HasPrefix(num, "+") {
			// A local number is qualified by a global phone-context
			// (RFC 3966 §5.1.5): tel:5551212;phone-context=+1-215.
			if ctx, ok := telParam(params, "phone-context"); ok && strings.HasPrefix(ctx, "+") {
				num = ctx + num
			}
		}
		return n.Normalize(num)
	case "sip", "sips", "":
		if u.User == "" {
			return "", false
		}
		return n.Normalize(u.User)
	}
	return "", false
}

func telParam(params, name string) (string, bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// uriKey returns the form in which URIs are compared and placed in a PASSporT
// "uri" claim: scheme:user@host[:port], without parameters or headers, with
// scheme and host in lower case.
func uriKey(u *sip.Uri) string {
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		scheme = "sip"
	}
	if raw := u.Raw(); raw != "" {
		raw, _, _ = strings.Cut(raw, ";")
		return scheme + ":" + raw
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteByte(':')
	if u.User != "" {
		user, _, _ := strings.Cut(u.User, ";")
		b.WriteString(user)
		b.WriteByte('@')
	}
	b.WriteString(strings.ToLower(u.Host))
	if u.Port > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(u.Port))
	}
	return b.String()
}

// normalizeURIString parses s and returns its uriKey, or s unchanged when it
// does not parse.
func normalizeURIString(s string) string {
	u, err := sip.ParseURI(strings.TrimSpace(s))
	if err != nil {
		return s
	}
	return uriKey(&u)
}

// partyOf returns the PASSporT identity for u: its telephone number when it
// has one, else its URI.
func (n Numbering) partyOf(u *sip.Uri) Party {
	if tn, ok := n.uriTN(u); ok {
		return Party{TN: tn}
	}
	return Party{URI: uriKey(u)}
}

// origCandidates returns the request's calling identities in preference
// order: every P-Asserted-Identity (tel first, as RFC 3325 orders them), then
// From (ATIS-1000074 §5.2.3 uses P-Asserted-Identity when present).
func origCandidates(req *sip.Request) []sip.Uri {
	var out []sip.Uri
	if pai, err := sip.AssertedIdentities(req); err == nil {
		for i := range pai {
			out = append(out, pai[i].URI)
		}
	}
	if f := req.From(); f != nil {
		out = append(out, f.Address)
	}
	return out
}

// destCandidates returns the called identities: To, then the Request-URI,
// which differs from To after retargeting.
func destCandidates(req *sip.Request) []sip.Uri {
	var out []sip.Uri
	if t := req.To(); t != nil {
		out = append(out, t.Address)
	}
	return append(out, req.Recipient)
}

// partyIs reports whether p names u: the same canonical number, or the same
// URI.
func (n Numbering) partyIs(p Party, u *sip.Uri) bool {
	if p.TN != "" {
		a, ok1 := n.Normalize(p.TN)
		b, ok2 := n.uriTN(u)
		if ok1 && ok2 && a == b {
			return true
		}
	}
	return p.URI != "" && normalizeURIString(p.URI) == uriKey(u)
}

// sameParty reports whether a and b name the same number or URI.
func (n Numbering) sameParty(a, b Party) bool {
	if a.TN != "" && b.TN != "" {
		x, ok1 := n.Normalize(a.TN)
		y, ok2 := n.Normalize(b.TN)
		return ok1 && ok2 && x == y
	}
	if a.URI != "" && b.URI != "" {
		return normalizeURIString(a.URI) == normalizeURIString(b.URI)
	}
	return false
}
