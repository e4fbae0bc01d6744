package sip

import (
	"errors"
	"strings"
)

// Credentials is the value of an Authorization or Proxy-Authorization header,
// or of a WWW-Authenticate or Proxy-Authenticate challenge (RFC 3261 §25.1,
// RFC 7616 §3.4): a scheme and comma-separated auth-params.
type Credentials struct {
	// Scheme is the authentication scheme, e.g. "Digest".
	Scheme string
	// Params holds the auth-params in order, values with quotes removed.
	Params HeaderParams
}

// ParseCredentials parses credentials or a challenge.
func ParseCredentials(s string) (Credentials, error) {
	s = trimLWS(s)
	i := 0
	for i < len(s) && tokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return Credentials{}, &ParseError{What: "credentials", Input: s, Err: errors.New("missing scheme")}
	}
	c := Credentials{Scheme: s[:i]}
	rest := s[i:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return Credentials{}, &ParseError{What: "credentials", Input: s, Err: errors.New("no space after scheme")}
	}
	err := splitList(rest, func(p string) error {
		eq := strings.IndexByte(p, '=')
		if eq <= 0 {
			return errBadParam
		}
		name := trimLWS(p[:eq])
		val := trimLWS(p[eq+1:])
		if !isToken(name) || val == "" {
			return errBadParam
		}
		if val[0] == '"' {
			end, err := quotedEnd(val)
			if err != nil {
				return err
			}
			if trimLWS(val[end+1:]) != "" {
				return errBadParam
			}
			val = Unquote(val[:end+1])
		} else if strings.ContainsAny(val, " \t\"") || hasCTL(val) {
			// An unquoted value is a token (RFC 3261 §25.1); no control
			// characters, which would also corrupt a header echoing it.
			return errBadParam
		}
		c.Params = append(c.Params, HeaderKV{K: name, V: val})
		return nil
	})
	if err != nil {
		return Credentials{}, &ParseError{What: "credentials", Input: s, Err: err}
	}
	return c, nil
}

// Param returns the value of auth-param name (case-insensitive) and whether it
// is present.
func (c Credentials) Param(name string) (string, bool) { return paramGet(c.Params, name) }

// IsDigest reports whether the scheme is Digest.
func (c Credentials) IsDigest() bool { return strings.EqualFold(c.Scheme, "Digest") }

// validDigestCredentials checks the syntax RFC 3261 §22.4 and RFC 7616 §3.4
// require of Digest credentials: the mandatory parameters, and cnonce and nc
// when qop is present.
func validDigestCredentials(c Credentials) error {
	for _, p := range []string{"username", "realm", "nonce", "uri", "response"} {
		if _, ok := c.Param(p); !ok {
			return errors.New("missing " + p)
		}
	}
	if _, ok := c.Param("qop"); ok {
		if _, ok := c.Param("cnonce"); !ok {
			return errors.New("qop without cnonce")
		}
		nc, ok := c.Param("nc")
		if !ok || len(nc) != 8 || !isHex(nc) {
			return errors.New("qop without a valid nc")
		}
	}
	if r, _ := c.Param("response"); !isHex(r) {
		return errors.New("response is not hex")
	}
	return nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// hasCTL reports whether s holds an ASCII control character.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
