package sip

import (
	"bytes"
	"errors"

	sipgo "github.com/emiago/sipgo/sip"
)

// DefaultMaxMessageSize is the largest message a Parser accepts by default.
// It is the largest UDP payload, and a sane bound for streams.
const DefaultMaxMessageSize = 65535

// ErrMessageTooLarge is returned for a message larger than the parser's limit.
var ErrMessageTooLarge = errors.New("sip: message too large")

// Parser turns wire bytes into messages. It is sipgo's parser configured so that
// header fields siphon relays are kept verbatim: Route, Record-Route, Contact,
// Path and the other name-addr lists stay raw text (sipgo's typed Route loses
// header parameters, and its Contact writer re-quotes values), read and edited
// through this package's helpers. Via, From, To, Call-ID, CSeq, Max-Forwards,
// Content-Length and Content-Type are typed. Compact and lower-case names of
// known headers are stored under their canonical name.
//
// A Parser is safe for concurrent use.
type Parser struct {
	full    *sipgo.Parser
	lenient *sipgo.Parser
	max     int
}

// NewParser returns a Parser that refuses messages larger than maxSize bytes
// (DefaultMaxMessageSize when maxSize <= 0).
func NewParser(maxSize int) *Parser {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	def := sipgo.DefaultHeadersParser()
	full := make(map[string]sipgo.HeaderParser, 2*len(canonicalNames)+16)
	lenient := make(map[string]sipgo.HeaderParser, 2*len(canonicalNames)+16)
	for lower, name := range canonicalNames {
		full[lower] = genericParser(name)
		lenient[lower] = genericParser(name)
	}
	for _, n := range []string{"via", "v", "call-id", "i", "cseq", "max-forwards",
		"content-length", "l", "content-type", "c"} {
		full[n] = def[n]
	}
	// From and To are parsed by NameAddr's grammar, which handles LWS around
	// parameters (RFC 4475 wsinv) and rejects what sipgo lets through
	// (unquoted display names with separators, LWS inside <>).
	full["from"], full["f"] = parseFrom, parseFrom
	full["to"], full["t"] = parseTo, parseTo
	// The lenient parser reads only what a 400 needs and keeps the rest raw.
	lenient["call-id"], lenient["i"] = def["call-id"], def["i"]
	lenient["via"], lenient["v"] = lenientVia(def["via"]), lenientVia(def["via"])
	for _, n := range [][2]string{{"from", "From"}, {"f", "From"}, {"to", "To"}, {"t", "To"}, {"cseq", "CSeq"}} {
		lenient[n[0]] = genericParser(n[1])
	}
	p := &Parser{
		full:    sipgo.NewParser(sipgo.WithHeadersParsers(full)),
		lenient: sipgo.NewParser(sipgo.WithHeadersParsers(lenient)),
		max:     maxSize,
	}
	p.full.MaxMessageLength = maxSize
	p.lenient.MaxMessageLength = maxSize
	return p
}

// MaxMessageSize returns the parser's size limit in bytes.
func (p *Parser) MaxMessageSize() int { return p.max }

func parseFrom(_ []byte, value string) (sipgo.Header, error) {
	var na NameAddr
	if err := parseFromTo(value, &na); err != nil {
		return nil, err
	}
	return &FromHeader{DisplayName: na.DisplayName, Address: na.URI, Params: na.Params}, nil
}

func parseTo(_ []byte, value string) (sipgo.Header, error) {
	var na NameAddr
	if err := parseFromTo(value, &na); err != nil {
		return nil, err
	}
	return &ToHeader{DisplayName: na.DisplayName, Address: na.URI, Params: na.Params}, nil
}

func parseFromTo(value string, na *NameAddr) error {
	if err := parseNameAddr(value, na); err != nil {
		return err
	}
	if na.URI.Wildcard {
		return errors.New("wildcard URI in From/To")
	}
	// Parameter names are case-insensitive (RFC 3261 §7.3.1); sipgo looks
	// the tag up as "tag".
	for i := range na.Params {
		na.Params[i].K = lower(na.Params[i].K)
	}
	return nil
}

// lenientVia keeps a Via value that does not parse as raw text, so a request
// with one good Via and garbage after it can still be answered.
func lenientVia(parse sipgo.HeaderParser) sipgo.HeaderParser {
	return func(name []byte, value string) (sipgo.Header, error) {
		h, err := parse(name, value)
		// sipgo signals "more values follow" with an unexported error type.
		if err != nil && err.Error() != "comma detected" {
			return sipgo.NewHeader("Via", value), nil
		}
		return h, err
	}
}

func genericParser(name string) sipgo.HeaderParser {
	return func(_ []byte, value string) (sipgo.Header, error) {
		return sipgo.NewHeader(name, value), nil
	}
}

// Parse parses one complete message: a datagram, or a frame cut from a stream.
// A body shorter than Content-Length is an error; bytes after Content-Length
// are ignored (RFC 3261 §18.3). Without Content-Length the body is the rest
// of data.
//
// On failure the error is a *ParseError. For a request whose essential
// headers are readable, ParseError.Message holds it so that the caller can
// answer 400 Bad Request.
func (p *Parser) Parse(data []byte) (Message, error) {
	if len(data) > p.max {
		return nil, &ParseError{What: "message", Err: ErrMessageTooLarge}
	}
	msg, _, err := p.full.Parse(data, false)
	if err == nil {
		return msg, nil
	}
	if errors.Is(err, sipgo.ErrMessageTooLarge) {
		err = ErrMessageTooLarge
	}
	perr := &ParseError{What: "message", Err: err}
	if req, status := p.salvage(data); req != nil {
		perr.Message, perr.Status = req, status
	}
	return nil, perr
}

// salvage re-reads a malformed request with every non-essential header left
// raw, and with a placeholder Request-URI when the request line itself is
// broken, so that a 400 can still be addressed to the sender.
func (p *Parser) salvage(data []byte) (*Request, int) {
	eol := bytes.Index(data, []byte("\r\n"))
	if eol <= 0 {
		return nil, 0
	}
	line := data[:eol]
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) || bytes.HasPrefix(line, []byte("SIP/")) {
		return nil, 0 // not a request line (a response is never answered)
	}
	if req := p.lenientRequest(data); req != nil {
		return req, StatusBadRequest
	}
	fixed := make([]byte, 0, len(data)+32)
	fixed = append(fixed, line[:sp]...)
	fixed = append(fixed, " sip:invalid.invalid SIP/2.0"...)
	fixed = append(fixed, data[eol:]...)
	req := p.lenientRequest(fixed)
	if req == nil {
		return nil, 0
	}
	status := StatusBadRequest
	parts := bytes.Split(line, []byte(" "))
	if len(parts) == 3 && bytes.Equal(parts[2], []byte("SIP/2.0")) {
		if scheme, _, ok := bytes.Cut(parts[1], []byte(":")); ok && validScheme(scheme) &&
			!bytes.EqualFold(scheme, []byte("sip")) && !bytes.EqualFold(scheme, []byte("sips")) {
			status = StatusUnsupportedURIScheme
		}
	}
	return req, status
}

// validScheme reports whether s is an RFC 3986 §3.1 scheme.
func validScheme(s []byte) bool {
	if len(s) == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (p *Parser) lenientRequest(data []byte) *Request {
	msg, _, err := p.lenient.Parse(data, false)
	if err != nil && !errors.Is(err, sipgo.ErrParseReadBodyIncomplete) {
		return nil
	}
	req, ok := msg.(*Request)
	if !ok || req.Via() == nil || req.CallID() == nil {
		return nil
	}
	var from, to, cseq bool
	for _, h := range req.Headers() {
		switch h.Name() {
		case "From":
			from = true
		case "To":
			to = true
		case "CSeq":
			cseq = true
		}
	}
	if !from || !to || !cseq {
		return nil
	}
	return req
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar(c) {
			return false
		}
	}
	return true
}

// tokenChar reports whether c may appear in an RFC 3261 §25.1 token.
func tokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

// canonicalNames is a read-only table mapping the lower-case and compact names of the header fields
// siphon works with to their canonical spelling. They are kept as raw text.
var canonicalNames = map[string]string{
	"contact": "Contact", "m": "Contact",
	"route": "Route", "record-route": "Record-Route",
	"path": "Path", "service-route": "Service-Route",
	"refer-to": "Refer-To", "r": "Refer-To",
	"referred-by": "Referred-By", "b": "Referred-By",
	"supported": "Supported", "k": "Supported",
	"require": "Require", "proxy-require": "Proxy-Require",
	"unsupported": "Unsupported", "allow": "Allow",
	"allow-events": "Allow-Events", "u": "Allow-Events",
	"event": "Event", "o": "Event",
	"expires": "Expires", "min-expires": "Min-Expires",
	"retry-after": "Retry-After", "timestamp": "Timestamp",
	"user-agent": "User-Agent", "server": "Server",
	"accept": "Accept", "accept-encoding": "Accept-Encoding",
	"accept-language":  "Accept-Language",
	"content-encoding": "Content-Encoding", "e": "Content-Encoding",
	"content-disposition": "Content-Disposition",
	"subject":             "Subject", "s": "Subject",
	"date": "Date", "reason": "Reason", "warning": "Warning",
	"authorization": "Authorization", "proxy-authorization": "Proxy-Authorization",
	"www-authenticate": "WWW-Authenticate", "proxy-authenticate": "Proxy-Authenticate",
	"authentication-info": "Authentication-Info",
	"p-asserted-identity": "P-Asserted-Identity", "p-preferred-identity": "P-Preferred-Identity",
	"p-associated-uri": "P-Associated-URI", "p-called-party-id": "P-Called-Party-ID",
	"p-charging-vector": "P-Charging-Vector", "p-charging-function-addresses": "P-Charging-Function-Addresses",
	"p-access-network-info": "P-Access-Network-Info", "p-visited-network-id": "P-Visited-Network-ID",
	"p-early-media": "P-Early-Media", "privacy": "Privacy",
	"security-client": "Security-Client", "security-server": "Security-Server",
	"security-verify": "Security-Verify",
	"rseq":            "RSeq", "rack": "RAck",
	"session-expires": "Session-Expires", "x": "Session-Expires", "min-se": "Min-SE",
	"subscription-state": "Subscription-State",
	"identity":           "Identity", "y": "Identity",
	"accept-contact": "Accept-Contact", "a": "Accept-Contact",
	"reject-contact": "Reject-Contact", "j": "Reject-Contact",
	"request-disposition": "Request-Disposition", "d": "Request-Disposition",
	"mime-version": "MIME-Version", "organization": "Organization",
	"priority": "Priority", "call-info": "Call-Info", "alert-info": "Alert-Info",
	"error-info": "Error-Info", "in-reply-to": "In-Reply-To", "reply-to": "Reply-To",
	"max-breadth": "Max-Breadth", "history-info": "History-Info",
	"diversion": "Diversion", "gruu": "GRUU",
}

// CanonicalName returns the canonical spelling of a header name given in any
// case or in compact form ("k" → "Supported"), or name unchanged if siphon does
// not know it.
func CanonicalName(name string) string {
	switch name {
	case "Via", "v", "V", "via":
		return "Via"
	case "From", "f", "F", "from":
		return "From"
	case "To", "t", "T", "to":
		return "To"
	case "Call-ID", "i", "I", "call-id":
		return "Call-ID"
	case "CSeq", "cseq":
		return "CSeq"
	case "Content-Length", "l", "L", "content-length":
		return "Content-Length"
	case "Content-Type", "c", "C", "content-type":
		return "Content-Type"
	case "Max-Forwards", "max-forwards":
		return "Max-Forwards"
	}
	if c, ok := canonicalNames[name]; ok {
		return c
	}
	if c, ok := canonicalNames[lower(name)]; ok {
		return c
	}
	switch lower(name) {
	case "via":
		return "Via"
	case "from":
		return "From"
	case "to":
		return "To"
	case "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	case "content-length":
		return "Content-Length"
	case "content-type":
		return "Content-Type"
	case "max-forwards":
		return "Max-Forwards"
	}
	return name
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
