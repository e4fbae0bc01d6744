package stir

import (
	"fmt"
	"strings"

	"github.com/siphon-go/siphon/sip"
)

// Identity is one RFC 8224 Identity header field value:
//
//	Identity: eyJhbGciOi...<signature>;info=<https://cert.example.org/a.pem>;alg=ES256;ppt=shaken
//
// The token is a full-form PASSporT, or "..signature" in compact form
// (RFC 8225 §7), in which case the verifier rebuilds header and claims from the
// request.
type Identity struct {
	// Token is the signed-identity-digest: "header.claims.signature" or
	// "..signature".
	Token string
	// Info is the URI of the signer's certificate from the info parameter,
	// without its angle brackets. RFC 8224 §4 makes it mandatory; ATIS-1000074
	// requires it to equal the PASSporT's x5u.
	Info string
	// Alg is the alg parameter, or "" when absent (ES256 is then implied).
	Alg string
	// PPT is the ppt parameter without quotes, or "" for a base PASSporT.
	PPT string
	// Params holds any other parameters, verbatim and in order.
	Params sip.HeaderParams
}

// maxIdentityLen bounds one Identity header value accepted from the wire.
const maxIdentityLen = maxTokenLen + 2048

// ParseIdentity parses one Identity header field value. Parameter names are
// matched without regard to case; a quoted ppt ("shaken") is unquoted.
// Errors wrap ErrMalformed.
func ParseIdentity(s string) (Identity, error) {
	var id Identity
	if len(s) > maxIdentityLen {
		return id, fmt.Errorf("%w: Identity longer than %d bytes", ErrMalformed, maxIdentityLen)
	}
	s = strings.Trim(s, " \t")
	i := 0
	for i < len(s) && tokenByte(s[i]) {
		i++
	}
	id.Token = s[:i]
	if err := checkTokenShape(id.Token); err != nil {
		return Identity{}, err
	}
	rest := s[i:]
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return id, nil
		}
		if rest[0] != ';' {
			return Identity{}, fmt.Errorf("%w: Identity: unexpected %q", ErrMalformed, clip(rest))
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		j := 0
		for j < len(rest) && paramNameByte(rest[j]) {
			j++
		}
		if j == 0 {
			if rest == "" {
				return id, nil // a trailing ';' is tolerated
			}
			return Identity{}, fmt.Errorf("%w: Identity: bad parameter at %q", ErrMalformed, clip(rest))
		}
		name := rest[:j]
		rest = strings.TrimLeft(rest[j:], " \t")
		value := ""
		if rest != "" && rest[0] == '=' {
			rest = strings.TrimLeft(rest[1:], " \t")
			var err error
			if value, rest, err = paramValue(rest); err != nil {
				return Identity{}, fmt.Errorf("%w: Identity parameter %s: %w", ErrMalformed, name, err)
			}
		}
		switch strings.ToLower(name) {
		case "info":
			if len(value) < 2 || value[0] != '<' || value[len(value)-1] != '>' {
				// RFC 8224 §4: ident-info-uri = LAQUOT absoluteURI RAQUOT.
				// A bare or quoted URI is accepted, as some signers send it.
				value = sip.Unquote(value)
			} else {
				value = value[1 : len(value)-1]
			}
			id.Info = strings.TrimSpace(value)
		case "alg":
			id.Alg = sip.Unquote(value)
		case "ppt":
			id.PPT = sip.Unquote(value)
		default:
			id.Params = append(id.Params, sip.HeaderKV{K: name, V: value})
		}
	}
}

// paramValue reads "<uri>", a quoted string or a token from the start of s.
func paramValue(s string) (value, rest string, err error) {
	switch {
	case s == "":
		return "", "", fmt.Errorf("empty value")
	case s[0] == '<':
		k := strings.IndexByte(s, '>')
		if k < 0 {
			return "", "", fmt.Errorf("missing '>'")
		}
		return s[:k+1], s[k+1:], nil
	case s[0] == '"':
		for k := 1; k < len(s); k++ {
			switch s[k] {
			case '\\':
				k++
			case '"':
				return s[:k+1], s[k+1:], nil
			}
		}
		return "", "", fmt.Errorf("unterminated quoted string")
	}
	k := 0
	for k < len(s) && s[k] != ';' && s[k] != ' ' && s[k] != '\t' && s[k] != ',' {
		k++
	}
	if k == 0 {
		return "", "", fmt.Errorf("empty value")
	}
	return s[:k], s[k:], nil
}

// checkTokenShape accepts "a.b.c" with non-empty parts (full form) or "..c"
// (compact form).
func checkTokenShape(t string) error {
	if t == "" {
		return fmt.Errorf("%w: Identity without a PASSporT", ErrMalformed)
	}
	if strings.Count(t, ".") != 2 {
		return fmt.Errorf("%w: PASSporT does not have three parts", ErrMalformed)
	}
	i := strings.IndexByte(t, '.')
	j := strings.LastIndexByte(t, '.')
	switch {
	case j == len(t)-1:
		return fmt.Errorf("%w: PASSporT without a signature", ErrMalformed)
	case i == 0 && j == 1:
		return nil // compact form
	case i == 0 || j == i+1:
		return fmt.Errorf("%w: PASSporT with an empty header or claims", ErrMalformed)
	}
	return nil
}

// Compact reports whether the token is in compact form (RFC 8225 §7).
func (id Identity) Compact() bool { return strings.HasPrefix(id.Token, "..") }

// String formats the value: token, then info, alg and ppt, then the other
// parameters.
func (id Identity) String() string {
	var b strings.Builder
	b.Grow(len(id.Token) + len(id.Info) + 40)
	b.WriteString(id.Token)
	if id.Info != "" {
		b.WriteString(";info=<")
		b.WriteString(id.Info)
		b.WriteByte('>')
	}
	if id.Alg != "" {
		b.WriteString(";alg=")
		b.WriteString(id.Alg)
	}
	if id.PPT != "" {
		b.WriteString(";ppt=")
		b.WriteString(id.PPT)
	}
	for _, kv := range id.Params {
		b.WriteByte(';')
		b.WriteString(kv.K)
		if kv.V != "" {
			b.WriteByte('=')
			b.WriteString(kv.V)
		}
	}
	return b.String()
}

// Header returns the value as an Identity header field.
func (id Identity) Header() sip.Header { return sip.NewHeader("Identity", id.String()) }

// NewIdentity returns the Identity value carrying p in full form, with info
// set to the PASSporT's x5u and alg and ppt taken from its header.
func NewIdentity(p *PASSporT) Identity {
	return Identity{Token: p.Token(), Info: p.Header.X5U, Alg: p.Header.Alg, PPT: p.Header.PPT}
}

// tokenByte reports whether c may appear in a signed-identity-digest: base64
// and base64url characters and '.' (RFC 8224 §4).
func tokenByte(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '+', '/', '=':
		return true
	}
	return false
}

func paramNameByte(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
