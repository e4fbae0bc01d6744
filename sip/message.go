package sip

import (
	"errors"
	"strings"

	sipgo "github.com/emiago/sipgo/sip"
)

// The message model is sipgo's: these aliases let siphon and sipgo code share
// requests, responses and headers without conversion.
type (
	// Message is a SIP request or response.
	Message = sipgo.Message
	// Request is a SIP request (RFC 3261 §7.1).
	Request = sipgo.Request
	// Response is a SIP response (RFC 3261 §7.2).
	Response = sipgo.Response
	// Uri is a SIP, SIPS or other absolute URI. It is spelled Uri, not URI,
	// because that is sipgo's name for it.
	Uri = sipgo.Uri
	// Header is one SIP header field.
	Header = sipgo.Header
	// HeaderParams is an ordered list of ;name=value parameters.
	HeaderParams = sipgo.HeaderParams
	// HeaderKV is one parameter of a HeaderParams list.
	HeaderKV = sipgo.HeaderKV
	// RequestMethod is a SIP method name such as INVITE.
	RequestMethod = sipgo.RequestMethod
	// ViaHeader is a parsed Via header field value.
	ViaHeader = sipgo.ViaHeader
	// FromHeader is a parsed From header field.
	FromHeader = sipgo.FromHeader
	// ToHeader is a parsed To header field.
	ToHeader = sipgo.ToHeader
	// ContactHeader is a parsed Contact header field value.
	ContactHeader = sipgo.ContactHeader
	// CallIDHeader is a Call-ID header field.
	CallIDHeader = sipgo.CallIDHeader
	// CSeqHeader is a parsed CSeq header field.
	CSeqHeader = sipgo.CSeqHeader
	// MaxForwardsHeader is a parsed Max-Forwards header field.
	MaxForwardsHeader = sipgo.MaxForwardsHeader
	// ContentLengthHeader is a parsed Content-Length header field.
	ContentLengthHeader = sipgo.ContentLengthHeader
	// ContentTypeHeader is a Content-Type header field.
	ContentTypeHeader = sipgo.ContentTypeHeader
)

// SIP methods (RFC 3261 and its extensions).
const (
	INVITE    = sipgo.INVITE
	ACK       = sipgo.ACK
	CANCEL    = sipgo.CANCEL
	BYE       = sipgo.BYE
	REGISTER  = sipgo.REGISTER
	OPTIONS   = sipgo.OPTIONS
	SUBSCRIBE = sipgo.SUBSCRIBE
	NOTIFY    = sipgo.NOTIFY
	REFER     = sipgo.REFER
	INFO      = sipgo.INFO
	MESSAGE   = sipgo.MESSAGE
	PRACK     = sipgo.PRACK
	UPDATE    = sipgo.UPDATE
	PUBLISH   = sipgo.PUBLISH
)

// BranchMagicCookie starts every RFC 3261 Via branch (§8.1.1.7).
const BranchMagicCookie = sipgo.RFC3261BranchMagicCookie

// NewRequest returns a request with the given method and Request-URI, version
// SIP/2.0 and no headers.
func NewRequest(method RequestMethod, ruri Uri) *Request {
	return sipgo.NewRequest(method, ruri)
}

// NewHeader returns a header field with the given name and raw value. The
// value is written to the wire exactly as given.
func NewHeader(name, value string) Header {
	return sipgo.NewHeader(name, value)
}

// HeaderClone returns a deep copy of a header field, of the same type: a
// *FromHeader stays a *FromHeader.
func HeaderClone(h Header) Header {
	return sipgo.HeaderClone(h)
}

// ParseURI parses a SIP, SIPS or other absolute URI.
func ParseURI(s string) (Uri, error) {
	var u Uri
	if err := parseURIInto(s, &u); err != nil {
		return Uri{}, err
	}
	return u, nil
}

func checkURI(s string) error {
	if scheme, _, ok := strings.Cut(s, ":"); s != "*" && (!ok || !validScheme(scheme)) {
		return &ParseError{What: "uri", Input: s, Err: errors.New("invalid scheme")}
	}
	// Neither SIP-URI nor absoluteURI allows these unescaped (RFC 3261
	// §25.1); sipgo's parameter parser would misread a quote.
	if uriForbidden.in(s) {
		return &ParseError{What: "uri", Input: s, Err: errors.New("invalid character")}
	}
	return nil
}

// checkSIPURI checks the host and userinfo of a sip or sips URI.
func checkSIPURI(s string, u *Uri) error {
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return nil
	}
	if !validHost(u.Host) {
		return &ParseError{What: "uri", Input: s, Err: errors.New("invalid host")}
	}
	// sipgo takes a '[' anywhere before the host as the start of an IPv6
	// reference and drops what follows its ']' unless that is a port,
	// parameters or headers: "sip:[0]@h" would be host "[0]". A '[' is not
	// allowed in the userinfo (RFC 3261 §25.1), so such a URI is refused.
	if u.Host[0] == '[' {
		if i := strings.Index(s, u.Host); i >= 0 {
			if rest := s[i+len(u.Host):]; rest != "" && rest[0] != ':' && rest[0] != ';' && rest[0] != '?' {
				return &ParseError{What: "uri", Input: s, Err: errors.New("invalid IPv6 reference")}
			}
		}
	}
	// Neither user nor password may hold an unescaped ':' or '@' (RFC 3261
	// §25.1); "sip:a::@h" would otherwise reformat as a different URI.
	if userinfoForbidden.in(u.User) || userinfoForbidden.in(u.Password) {
		return &ParseError{What: "uri", Input: s, Err: errors.New("invalid userinfo")}
	}
	return nil
}

// validHost reports whether h is a hostname, an IPv4 address or a bracketed
// IPv6 reference (RFC 3261 §25.1, RFC 5118 §4.11).
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if h[0] == '[' {
		if len(h) < 3 || h[len(h)-1] != ']' {
			return false
		}
		for i := 1; i < len(h)-1; i++ {
			c := h[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// GenerateBranch returns a new random Via branch beginning with the magic
// cookie (RFC 3261 §8.1.1.7).
func GenerateBranch() string {
	return sipgo.GenerateBranch()
}

// GenerateTag returns a new random From/To tag (RFC 3261 §19.3).
func GenerateTag() string {
	return sipgo.GenerateTagN(16)
}
