package resolve

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/miekg/dns"

	"github.com/siphon-go/siphon/sip"
)

// DefaultENUMDomain is the ENUM tree of RFC 6116 §4.
const DefaultENUMDomain = "e164.arpa"

// ENUMDomain returns the domain ENUM looks up for an E.164 number (RFC 6116
// §2.4): its digits reversed, dot-separated, under domain (DefaultENUMDomain
// when empty), as an FQDN: "+44 20 7946 0000" gives
// "0.0.0.0.6.4.9.7.0.2.4.4.e164.arpa.". The number must start with "+" and
// have 1 to 15 digits; spaces and the visual separators "-", ".", "(" and
// ")" are ignored. Anything else fails with ErrNumber.
func ENUMDomain(number, domain string) (string, error) {
	digits, err := e164Digits(number)
	if err != nil {
		return "", err
	}
	return enumDomain(digits, domain)
}

func enumDomain(digits, domain string) (string, error) {
	if domain == "" {
		domain = DefaultENUMDomain
	}
	domain = strings.ToLower(dns.Fqdn(domain))
	if _, ok := dns.IsDomainName(domain); !ok || domain == "." {
		return "", fmt.Errorf("resolve: ENUM domain %q is not a domain name", domain)
	}
	var b strings.Builder
	b.Grow(2*len(digits) + len(domain))
	for i := len(digits) - 1; i >= 0; i-- {
		b.WriteByte(digits[i])
		b.WriteByte('.')
	}
	b.WriteString(domain)
	return b.String(), nil
}

// e164Digits returns the digits of an E.164 number written with a leading
// "+" and optional visual separators.
func e164Digits(number string) (string, error) {
	s := strings.TrimSpace(number)
	if !strings.HasPrefix(s, "+") {
		return "", fmt.Errorf("%w: %q does not start with +", ErrNumber, number)
	}
	digits := make([]byte, 0, 15)
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if len(digits) == 15 {
				return "", fmt.Errorf("%w: %q has more than 15 digits", ErrNumber, number)
			}
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", fmt.Errorf("%w: %q has %q", ErrNumber, number, c)
		}
	}
	if len(digits) == 0 {
		return "", fmt.Errorf("%w: %q has no digits", ErrNumber, number)
	}
	return string(digits), nil
}

// maxENUMDepth bounds the chain of non-terminal NAPTR records followed.
const maxENUMDepth = 4

// ENUM looks up the SIP URIs an E.164 number is delegated to (RFC 6116):
// the NAPTR records of ENUMDomain(number, domain) with the "u" flag and the
// E2U+sip enumservice (RFC 3764), whose regular expression (RFC 3402 §3.2)
// is applied to the number ("+" and digits). Non-terminal records (no
// flags, a replacement) are followed a few levels deep. The URIs come in
// record order and preference, the order to try them. It fails with
// ErrNumber for a malformed number, ErrNotFound when there is no SIP URI,
// or a lookup error.
func (r *Resolver) ENUM(ctx context.Context, number, domain string) ([]sip.Uri, error) {
	digits, err := e164Digits(number)
	if err != nil {
		return nil, err
	}
	name, err := enumDomain(digits, domain)
	if err != nil {
		return nil, err
	}
	aus := "+" + digits // the Application Unique String, RFC 6116 §2.4
	var out []sip.Uri
	var first error
	r.enum(ctx, name, aus, 0, &out, &first)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("resolve: ENUM %s: %w", aus, err)
	}
	if len(out) > 0 {
		return out, nil
	}
	if first != nil {
		return nil, fmt.Errorf("resolve: ENUM %s: %w", aus, first)
	}
	return nil, fmt.Errorf("%w: no E2U+sip record for %s", ErrNotFound, aus)
}

func (r *Resolver) enum(ctx context.Context, name, aus string, depth int, out *[]sip.Uri, first *error) {
	fail := func(err error) {
		if *first == nil {
			*first = err
		}
	}
	rs, err := r.lookup(ctx, name, dns.TypeNAPTR)
	if err != nil {
		fail(err)
		return
	}
	if rs.nxdomain {
		fail(fmt.Errorf("%w: %s", ErrNotFound, strings.TrimSuffix(name, ".")))
		return
	}
	for _, n := range rs.naptrs { // sorted when cached
		switch {
		case n.flags == "" && n.regexp == "" && n.replacement != ".":
			// RFC 6116 §3.4.1: a non-terminal rule names the next key.
			if depth < maxENUMDepth {
				r.enum(ctx, n.replacement, aus, depth+1, out, first)
			}
		case n.flags == "u" && isE2USIP(n.service):
			sub, err := parseSubst(n.regexp)
			if err != nil {
				fail(err)
				continue
			}
			s, ok := sub.apply(aus)
			if !ok {
				continue // the rule does not match this number
			}
			u, err := sip.ParseURI(s)
			if err != nil || (!strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips")) {
				fail(fmt.Errorf("resolve: ENUM result %q is not a SIP URI", s))
				continue
			}
			*out = append(*out, u)
		}
	}
}

// isE2USIP reports whether a NAPTR service field (upper case) is ENUM's
// and lists the sip enumservice: "E2U+SIP", "E2U+SIP:subtype" or one among
// several ("E2U+SIP+VOICE:TEL"), RFC 6116 §3.4.3.
func isE2USIP(service string) bool {
	parts := strings.Split(service, "+")
	if len(parts) < 2 || parts[0] != "E2U" {
		return false
	}
	for _, p := range parts[1:] {
		typ, _, _ := strings.Cut(p, ":")
		if typ == "SIP" {
			return true
		}
	}
	return false
}

// subst is a parsed NAPTR substitution expression (RFC 3402 §3.2):
// delim ere delim repl delim flags.
type subst struct {
	re   *regexp.Regexp
	repl string // with its escapes (\1..\9, \c for c) still in
}

var errSubst = errors.New("resolve: bad NAPTR regexp")

// parseSubst parses a substitution expression such as
// "!^\+(.*)$!sip:\1@example.com!" (already unescaped from the DNS
// presentation form). The ERE is matched with POSIX leftmost-longest
// semantics; the only flag is "i" (case-insensitive).
func parseSubst(s string) (*subst, error) {
	if len(s) < 3 || len(s) > 255 {
		return nil, fmt.Errorf("%w: %q: length", errSubst, s)
	}
	delim := s[0]
	if delim == '\\' || delim == 'i' || delim >= '1' && delim <= '9' {
		return nil, fmt.Errorf("%w: %q: delimiter %q", errSubst, s, delim)
	}
	ere, i, err := scanField(s, 1, delim, true)
	if err != nil {
		return nil, err
	}
	repl, i, err := scanField(s, i, delim, false)
	if err != nil {
		return nil, err
	}
	flags := s[i:]
	if flags != "" && flags != "i" {
		return nil, fmt.Errorf("%w: %q: flags %q", errSubst, s, flags)
	}
	sf := syntax.POSIX | syntax.OneLine
	if flags == "i" {
		sf |= syntax.FoldCase
	}
	tree, err := syntax.Parse(ere, sf)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", errSubst, s, err)
	}
	re, err := regexp.Compile(tree.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", errSubst, s, err)
	}
	re.Longest()
	for j := 0; j+1 < len(repl); j++ {
		if repl[j] != '\\' {
			continue
		}
		if d := repl[j+1]; d >= '1' && d <= '9' && int(d-'0') > re.NumSubexp() {
			return nil, fmt.Errorf("%w: %q: back-reference \\%c without a group", errSubst, s, d)
		}
		j++
	}
	return &subst{re: re, repl: repl}, nil
}

// scanField reads from s[i] up to the next unescaped delim and returns the
// field and the index after the delim. In the ERE an escaped delim stands
// for the delim character itself (kept escaped if it is a regexp
// metacharacter); other escapes are kept for the regexp. In the
// replacement every escape is kept for apply.
func scanField(s string, i int, delim byte, ere bool) (string, int, error) {
	var b strings.Builder
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == delim:
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("%w: %q: trailing backslash", errSubst, s)
			}
			i++
			if ere && s[i] == delim {
				if q := regexp.QuoteMeta(string(delim)); q != string(delim) {
					b.WriteString(q)
				} else {
					b.WriteByte(delim)
				}
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("%w: %q: unterminated", errSubst, s)
}

// apply runs the substitution on aus as sed would: the leftmost-longest
// match is replaced, back-references \1..\9 inserting groups (empty for a
// group that did not take part) and \c standing for c. It reports false if
// the ERE does not match.
func (x *subst) apply(aus string) (string, bool) {
	m := x.re.FindStringSubmatchIndex(aus)
	if m == nil {
		return "", false
	}
	var b strings.Builder
	b.WriteString(aus[:m[0]])
	for i := 0; i < len(x.repl); i++ {
		c := x.repl[i]
		if c != '\\' || i+1 >= len(x.repl) {
			b.WriteByte(c)
			continue
		}
		i++
		d := x.repl[i]
		if d >= '1' && d <= '9' {
			if n := int(d - '0'); 2*n+1 < len(m) && m[2*n] >= 0 {
				b.WriteString(aus[m[2*n]:m[2*n+1]])
			}
			continue
		}
		b.WriteByte(d)
	}
	b.WriteString(aus[m[1]:])
	return b.String(), true
}
