package sip

import "strings"

// uriFast holds the bytes a URI may have for fastSIPURI to parse it: the
// unreserved and most reserved characters of RFC 3261 §25.1, without '?',
// '/', '[' and ']' (headers, hierarchical slashes and IPv6 references are
// sipgo's to parse).
var uriFast = makeByteSet("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()%+$,&=;:@")

// fastSIPURI parses the usual shape of a sip or sips URI, as a UA sends it
// in From, To, Contact and the Request-URI, into u as sipgo.ParseUri would:
// sip:[user@]host[:port][;param[=value]]..., written plainly. It reports
// false, having set nothing, for anything else (a password, an IPv6
// reference, headers, an upper-case scheme, an empty parameter, a
// character outside uriFast), which the caller gives to sipgo's parser.
// FuzzFastSIPURI holds it to sipgo's result.
func fastSIPURI(s string, u *Uri) bool {
	var scheme, rest string
	switch {
	case strings.HasPrefix(s, "sip:"):
		scheme, rest = "sip", s[4:]
	case strings.HasPrefix(s, "sips:"):
		scheme, rest = "sips", s[5:]
	default:
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !uriFast.has(rest[i]) {
			return false
		}
	}
	user := ""
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		user = rest[:at]
		if strings.IndexByte(user, ':') >= 0 {
			return false // a password
		}
		rest = rest[at+1:]
	}
	end := 0
	for end < len(rest) && rest[end] != ':' && rest[end] != ';' {
		end++
	}
	host := rest[:end]
	if !validHost(host) {
		return false
	}
	rest = rest[end:]
	port := 0
	if rest != "" && rest[0] == ':' {
		rest = rest[1:]
		n := 0
		for n < len(rest) && rest[n] != ';' {
			c := rest[n]
			if c < '0' || c > '9' || n == 5 {
				return false
			}
			port = port*10 + int(c-'0')
			n++
		}
		if n == 0 {
			return false
		}
		rest = rest[n:]
	}
	var params HeaderParams
	if rest != "" { // ";param..."
		rest = rest[1:]
		if rest == "" {
			return false
		}
		params = make(HeaderParams, 0, strings.Count(rest, ";")+1)
		for rest != "" {
			p := rest
			if i := strings.IndexByte(rest, ';'); i >= 0 {
				p, rest = rest[:i], rest[i+1:]
				if rest == "" {
					return false // a trailing ';'
				}
			} else {
				rest = ""
			}
			k, v, _ := strings.Cut(p, "=")
			if k == "" || strings.IndexByte(k, '@') >= 0 {
				return false
			}
			params.Add(k, v)
		}
	}
	*u = Uri{Scheme: scheme, User: user, Host: host, Port: port, UriParams: params}
	return true
}
