package sip

import (
	"errors"
	"strings"
	"sync"

	sipgo "github.com/emiago/sipgo/sip"
)

// NameAddr is one value of a From, To, Contact, Route, Record-Route, Path,
// Service-Route, P-Asserted-Identity or P-Associated-URI header field:
// an optional display name, a URI and header parameters (RFC 3261 §20.10).
//
// Parameters keep their spelling and their values verbatim, quotes included,
// so a value read from the wire is written back unchanged (RFC 3840 feature
// tags such as +sip.instance="<urn:uuid:...>" survive any number of hops).
type NameAddr struct {
	// DisplayName is the display name without its surrounding quotes; escape
	// sequences are kept as written.
	DisplayName string
	// URI is the address. A Contact of "*" has URI.Wildcard set.
	URI Uri
	// Params are the header parameters, in order.
	Params HeaderParams
}

var (
	errEmptyValue   = errors.New("empty value")
	errUnterminated = errors.New("unterminated quoted string")
	errNoLAQuot     = errors.New("expected '<' after quoted display name")
	errNoRAQuot     = errors.New("missing '>'")
	errBadDisplay   = errors.New("invalid character in display name")
	errBadAddrSpec  = errors.New("invalid character in unbracketed URI")
	errBadParam     = errors.New("malformed parameter")
)

// ParseNameAddr parses a single name-addr or addr-spec with parameters.
func ParseNameAddr(s string) (NameAddr, error) {
	var na NameAddr
	if err := parseNameAddr(s, &na); err != nil {
		return NameAddr{}, &ParseError{What: "name-addr", Input: s, Err: err}
	}
	return na, nil
}

// ParseNameAddrList parses a comma-separated list of name-addr values.
func ParseNameAddrList(s string) ([]NameAddr, error) {
	var out []NameAddr
	err := splitList(s, func(part string) error {
		var na NameAddr
		if err := parseNameAddr(part, &na); err != nil {
			return &ParseError{What: "name-addr", Input: part, Err: err}
		}
		out = append(out, na)
		return nil
	})
	return out, err
}

func parseNameAddr(s string, na *NameAddr) error {
	return parseNameAddrInto(s, &na.DisplayName, &na.URI, &na.Params)
}

// parseNameAddrInto parses into the fields of a caller's header, so that the
// URI is not allocated on its own.
func parseNameAddrInto(s string, display *string, u *Uri, params *HeaderParams) error {
	s = trimLWS(s)
	if s == "" {
		return errEmptyValue
	}
	if s == "*" {
		*u = Uri{Host: "*", Wildcard: true}
		return nil
	}
	rest := s
	if rest[0] == '"' {
		end, err := quotedEnd(rest)
		if err != nil {
			return err
		}
		*display = rest[1:end]
		rest = trimLWS(rest[end+1:])
		if rest == "" || rest[0] != '<' {
			return errNoLAQuot
		}
	}
	var uri string
	if i := strings.IndexByte(rest, '<'); i >= 0 && !hasUnquotedBefore(rest, i, ';') {
		if *display == "" {
			dn := trimLWS(rest[:i])
			for j := 0; j < len(dn); j++ {
				if c := dn[j]; !tokenChar(c) && c != ' ' && c != '\t' {
					return errBadDisplay
				}
			}
			*display = dn
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			return errNoRAQuot
		}
		uri = rest[i+1 : i+j]
		rest = rest[i+j+1:]
	} else {
		// addr-spec without brackets: everything after the first ';' is a
		// header parameter, and the URI may not hold ',', '?' or ';' (§20).
		k := strings.IndexByte(rest, ';')
		if k < 0 {
			k = len(rest)
		}
		uri = trimLWS(rest[:k])
		rest = rest[k:]
		if addrSpecForbidden.in(uri) {
			return errBadAddrSpec
		}
	}
	if uri == "" {
		return errEmptyValue
	}
	if lws.in(uri) {
		return errBadAddrSpec
	}
	if err := parseURIInto(uri, u); err != nil {
		return err
	}
	if n := strings.Count(rest, ";"); n > 0 && cap(*params)-len(*params) < n {
		*params = make(HeaderParams, 0, n)
	}
	return parseParams(rest, params)
}

func hasUnquotedBefore(s string, end int, c byte) bool {
	in := false
	for i := 0; i < end; i++ {
		switch s[i] {
		case '"':
			in = !in
		case '\\':
			if in {
				i++
			}
		case c:
			if !in {
				return true
			}
		}
	}
	return false
}

// quotedEnd returns the index of the quote closing the quoted string that
// starts at s[0].
func quotedEnd(s string) (int, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			// quoted-pair never escapes CR or LF (RFC 3261 §25.1).
			if i+1 < len(s) && (s[i+1] == '\r' || s[i+1] == '\n') {
				return 0, errUnterminated
			}
			i++
		case '"':
			return i, nil
		case '\r', '\n':
			return 0, errUnterminated
		}
	}
	return 0, errUnterminated
}

// parseParams parses ";name[=value]" parameters from s, which must be empty
// or start (after LWS) with ';'. Values are kept verbatim.
func parseParams(s string, params *HeaderParams) error {
	for {
		s = trimLWS(s)
		if s == "" {
			return nil
		}
		if s[0] != ';' {
			return errBadParam
		}
		s = trimLWS(s[1:])
		i := 0
		for i < len(s) && tokenChar(s[i]) {
			i++
		}
		if i == 0 {
			if s == "" {
				return nil // a trailing ';' is tolerated
			}
			return errBadParam
		}
		name := s[:i]
		s = trimLWS(s[i:])
		value := ""
		if s != "" && s[0] == '=' {
			s = trimLWS(s[1:])
			if s != "" && s[0] == '"' {
				end, err := quotedEnd(s)
				if err != nil {
					return err
				}
				value = s[:end+1]
				s = s[end+1:]
			} else {
				j := 0
				for j < len(s) && s[j] != ';' && s[j] != ',' && s[j] != ' ' && s[j] != '\t' && s[j] != '"' {
					j++
				}
				if j == 0 {
					return errBadParam
				}
				value = s[:j]
				s = s[j:]
			}
		}
		*params = append(*params, HeaderKV{K: name, V: value})
	}
}

// splitList calls fn for each element of a comma-separated header value,
// honouring quoted strings and <...> (RFC 3261 §7.3.1). Empty elements are
// skipped.
func splitList(s string, fn func(string) error) error {
	start := 0
	inQuote, inAngle := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case c == ',' && !inAngle:
			if part := trimLWS(s[start:i]); part != "" {
				if err := fn(part); err != nil {
					return err
				}
			}
			start = i + 1
		}
	}
	if inQuote {
		return &ParseError{What: "list", Input: s, Err: errUnterminated}
	}
	if part := trimLWS(s[start:]); part != "" {
		return fn(part)
	}
	return nil
}

func trimLWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Param returns the value of the header parameter name, compared without
// regard to case, and whether it is present.
func (na *NameAddr) Param(name string) (string, bool) {
	return paramGet(na.Params, name)
}

// Tag returns the tag parameter, or "".
func (na *NameAddr) Tag() string {
	v, _ := paramGet(na.Params, "tag")
	return v
}

// String formats the value as name-addr with parameters.
func (na NameAddr) String() string {
	var b strings.Builder
	na.writeTo(&b)
	return b.String()
}

func (na *NameAddr) writeTo(b *strings.Builder) {
	if na.URI.Wildcard {
		b.WriteByte('*')
		writeParams(b, na.Params)
		return
	}
	if na.DisplayName != "" {
		b.WriteByte('"')
		b.WriteString(na.DisplayName)
		b.WriteString("\" ")
	}
	b.WriteByte('<')
	na.URI.StringWrite(b)
	b.WriteByte('>')
	writeParams(b, na.Params)
}

func writeParams(b *strings.Builder, params HeaderParams) {
	for _, kv := range params {
		b.WriteByte(';')
		b.WriteString(kv.K)
		if kv.V != "" {
			b.WriteByte('=')
			b.WriteString(kv.V)
		}
	}
}

func paramGet(params HeaderParams, name string) (string, bool) {
	for _, kv := range params {
		if strings.EqualFold(kv.K, name) {
			return kv.V, true
		}
	}
	return "", false
}

// Unquote returns s without surrounding double quotes and with backslash
// escapes resolved; s is returned unchanged if it is not quoted.
func Unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// uriScratch holds cleared Uris for parseURIInto: a cache of scratch
// space, not state (each is zeroed before it goes back), as fmt keeps its
// printers.
var uriScratch = sync.Pool{New: func() any { return new(Uri) }}

func parseURIInto(s string, u *Uri) error {
	if fastSIPURI(s, u) {
		// What it takes is what checkURI and checkSIPURI allow: a sip or
		// sips scheme, none of uriForbidden, a valid host, no ':' or '@'
		// in the user.
		return nil
	}
	if err := checkURI(s); err != nil {
		return err
	}
	// sipgo's parser is a chain of function values, which escape analysis
	// cannot see through: whatever it parses into is moved to the heap. It
	// parses into a pooled scratch Uri instead and the result is copied
	// out, so that a caller's NameAddr or Uri can live on its stack.
	tmp := uriScratch.Get().(*Uri)
	err := sipgo.ParseUri(s, tmp)
	*u = *tmp
	*tmp = Uri{}
	uriScratch.Put(tmp)
	if err != nil {
		return &ParseError{What: "uri", Input: s, Err: err}
	}
	// sipgo keeps the '?' that starts the headers in the name of a valueless
	// last parameter ("sip:h;lr?x" gives parameter "lr?x" and header "x").
	// A uri-parameter cannot hold '?' (RFC 3261 §25.1), so cut it there.
	// Cut, it may repeat an earlier name, which sipgo would have merged
	// (a later value replaces the earlier); merge it the same way, so that
	// the URI formats to text that parses back to it.
	for i := 0; i < len(u.UriParams); i++ {
		k, _, found := strings.Cut(u.UriParams[i].K, "?")
		if !found {
			continue
		}
		u.UriParams[i].K = k
		for j := range i {
			if u.UriParams[j].K == k {
				u.UriParams[j].V = u.UriParams[i].V
				u.UriParams = append(u.UriParams[:i], u.UriParams[i+1:]...)
				i--
				break
			}
		}
	}
	return checkSIPURI(s, u)
}
