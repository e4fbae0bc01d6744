package sip

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	sipgo "github.com/emiago/sipgo/sip"
)

// DefaultMaxMessageSize is the largest message a Parser accepts by default.
// It is the largest UDP payload, and a sane bound for streams.
const DefaultMaxMessageSize = 65535

// ErrMessageTooLarge is returned for a message larger than the parser's limit.
var ErrMessageTooLarge = errors.New("sip: message too large")

// Parser turns wire bytes into sipgo messages. The whole header section is
// converted to one string and every header value is a substring of it, so a
// message costs a few allocations rather than several per header.
//
// Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length and Content-Type
// are typed; every other header, Route, Record-Route, Contact, Path and the
// IMS headers included, is kept as raw text (sipgo's typed Route drops header
// parameters and its Contact writer re-quotes values) and read through this
// package's helpers. Compact and lower-case names of known headers are stored
// under their canonical spelling; unknown names as written.
//
// A Parser is safe for concurrent use.
type Parser struct {
	max int
}

// NewParser returns a Parser that refuses messages larger than maxSize bytes
// (DefaultMaxMessageSize when maxSize <= 0).
func NewParser(maxSize int) *Parser {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	return &Parser{max: maxSize}
}

// MaxMessageSize returns the parser's size limit in bytes.
func (p *Parser) MaxMessageSize() int { return p.max }

var (
	errNoEmptyLine   = errors.New("no empty line after the headers")
	errStartLine     = errors.New("malformed start line")
	errHeaderLine    = errors.New("malformed header line")
	errBadCSeq       = errors.New("malformed CSeq")
	errBadNumber     = errors.New("malformed number")
	errBodyTruncated = errors.New("body shorter than Content-Length")
	errEmptyCallID   = errors.New("empty Call-ID")
)

// Parse parses one complete message: a datagram, or a frame cut from a stream.
// A body shorter than Content-Length is an error; bytes after Content-Length
// are ignored (RFC 3261 §18.3). Without Content-Length the body is the rest
// of data.
//
// On failure the error is a *ParseError. For a request whose Via, From, To,
// Call-ID and CSeq are still readable, ParseError.Message holds it so that
// the caller can answer it (RFC 3261 §21.4.1).
func (p *Parser) Parse(data []byte) (Message, error) {
	if len(data) > p.max {
		return nil, &ParseError{What: "message", Err: ErrMessageTooLarge}
	}
	var head string
	var body []byte
	if end := bytes.Index(data, []byte("\r\n\r\n")); end >= 0 {
		head, body = string(data[:end+2]), data[end+4:]
	} else if bytes.HasSuffix(data, []byte("\r\n")) {
		head = string(data) // headers only, the empty line missing
	} else {
		return nil, &ParseError{What: "message", Err: errNoEmptyLine}
	}
	msg, err := parseMessage(head, body, false)
	if err == nil {
		return msg, nil
	}
	perr := &ParseError{What: "message", Err: err}
	var pe *ParseError
	if errors.As(err, &pe) {
		perr = pe
	}
	if req, status := salvage(head, body); req != nil {
		perr.Message, perr.Status = req, status
	}
	return nil, perr
}

// salvage re-reads a malformed request with every non-essential header left
// raw, and with a placeholder Request-URI when the request line itself is
// broken, so that an answer can still be addressed to the sender.
func salvage(head string, body []byte) (*Request, int) {
	line, rest, _ := strings.Cut(head, "\r\n")
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) || strings.HasPrefix(line, "SIP/") {
		return nil, 0 // not a request line (a response is never answered)
	}
	if req := lenientRequest(head, body); req != nil {
		return req, StatusBadRequest
	}
	req := lenientRequest(line[:sp]+" sip:invalid.invalid SIP/2.0\r\n"+rest, body)
	if req == nil {
		return nil, 0
	}
	status := StatusBadRequest
	parts := strings.Split(line, " ")
	if len(parts) == 3 && parts[2] == "SIP/2.0" {
		if scheme, _, ok := strings.Cut(parts[1], ":"); ok && validScheme(scheme) &&
			!strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips") {
			status = StatusUnsupportedURIScheme
		}
	}
	return req, status
}

func lenientRequest(head string, body []byte) *Request {
	msg, err := parseMessage(head, body, true)
	if err != nil && !errors.Is(err, errBodyTruncated) {
		return nil
	}
	req, ok := msg.(*Request)
	if !ok || req.CallID() == nil {
		return nil
	}
	var via, from, to, cseq bool
	for _, h := range req.Headers() {
		if _, ok := h.(*ViaHeader); ok {
			via = true
		}
		switch h.Name() {
		case "From":
			from = true
		case "To":
			to = true
		case "CSeq":
			cseq = true
		}
	}
	if !via || !from || !to || !cseq {
		return nil
	}
	return req
}

// parseMessage parses a header section (start line and header lines, each
// ending in CRLF) and the bytes after the empty line. In lenient mode only
// Via and Call-ID are typed and a Via that does not parse is kept raw.
func parseMessage(head string, body []byte, lenient bool) (Message, error) {
	line, rest, _ := strings.Cut(head, "\r\n")
	msg, err := parseStartLine(line)
	if err != nil {
		return nil, err
	}
	cl := -1
	var blk *headerBlock
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			line, rest = unfold(line, rest)
		}
		if line == "" {
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return msg, &ParseError{What: "header", Input: line, Err: errHeaderLine}
		}
		name := trimLWS(line[:colon])
		if !isToken(name) {
			return msg, &ParseError{What: "header", Input: line, Err: errHeaderLine}
		}
		value := trimLWS(line[colon+1:])
		n, err := addHeader(msg, &blk, name, value, lenient)
		if err != nil {
			return msg, &ParseError{What: name, Input: value, Err: err}
		}
		if n >= 0 && cl < 0 {
			cl = n
		}
	}
	if cl >= 0 {
		if cl > len(body) {
			return msg, errBodyTruncated
		}
		body = body[:cl]
	}
	if len(body) > 0 {
		msg.SetBody(bytes.Clone(body))
	}
	return msg, nil
}

// unfold joins a header line with its continuation lines (RFC 3261 §7.3.1),
// each fold becoming one space.
func unfold(line, rest string) (string, string) {
	var b strings.Builder
	b.WriteString(strings.TrimRight(line, " \t"))
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		var cont string
		cont, rest, _ = strings.Cut(rest, "\r\n")
		b.WriteByte(' ')
		b.WriteString(trimLWS(cont))
	}
	return b.String(), rest
}

func parseStartLine(line string) (Message, error) {
	if strings.HasPrefix(line, "SIP/") {
		// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
		version, rest, ok := strings.Cut(line, " ")
		if !ok || len(rest) < 3 {
			return nil, &ParseError{What: "status line", Input: line, Err: errStartLine}
		}
		code := 0
		for i := 0; i < 3; i++ {
			c := rest[i]
			if c < '0' || c > '9' {
				return nil, &ParseError{What: "status line", Input: line, Err: errStartLine}
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 || code > 699 || len(rest) > 3 && rest[3] != ' ' {
			return nil, &ParseError{What: "status line", Input: line, Err: errStartLine}
		}
		reason := ""
		if len(rest) > 4 {
			reason = rest[4:]
		}
		res := sipgo.NewResponse(code, reason)
		res.SipVersion = version
		return res, nil
	}
	// Request-Line = Method SP Request-URI SP SIP-Version
	i := strings.IndexByte(line, ' ')
	j := strings.LastIndexByte(line, ' ')
	if i <= 0 || j <= i+1 || !isToken(line[:i]) || !strings.HasPrefix(line[j+1:], "SIP/") {
		return nil, &ParseError{What: "request line", Input: line, Err: errStartLine}
	}
	uri := line[i+1 : j]
	if lws.in(uri) {
		return nil, &ParseError{What: "request line", Input: line, Err: errStartLine}
	}
	req := sipgo.NewRequest(RequestMethod(line[:i]), Uri{})
	req.SipVersion = line[j+1:]
	if err := parseURIInto(uri, &req.Recipient); err != nil {
		return nil, err
	}
	if req.Recipient.Wildcard {
		return nil, &ParseError{What: "request line", Input: line, Err: errStartLine}
	}
	return req, nil
}

// addHeader appends one header field to msg, typed for the headers siphon
// works with. For Content-Length it returns the length, else -1.
func addHeader(msg Message, blk **headerBlock, name, value string, lenient bool) (int, error) {
	canon := canonicalOf(name)
	switch canon {
	case "Via":
		return -1, splitVia(msg, blk, value, lenient)
	case "Call-ID":
		if value == "" {
			return -1, errEmptyCallID
		}
		b := block(blk)
		h := field(b, usedCallID, &b.id)
		*h = CallIDHeader(value)
		msg.AppendHeader(h)
		return -1, nil
	}
	if lenient {
		if canon == "" {
			canon = name
		}
		msg.AppendHeader(NewHeader(canon, value))
		return -1, nil
	}
	switch canon {
	case "From":
		b := block(blk)
		h := field(b, usedFrom, &b.f)
		if err := parseFromTo(value, &h.DisplayName, &h.Address, &h.Params); err != nil {
			return -1, err
		}
		if len(h.Params) == 0 {
			h.Params = nil
		}
		msg.AppendHeader(h)
	case "To":
		b := block(blk)
		h := field(b, usedTo, &b.t)
		if err := parseFromTo(value, &h.DisplayName, &h.Address, &h.Params); err != nil {
			return -1, err
		}
		if len(h.Params) == 0 {
			h.Params = nil
		}
		msg.AppendHeader(h)
	case "CSeq":
		num, method, ok := strings.Cut(value, " ")
		method = trimLWS(method)
		n, err := strconv.ParseUint(trimLWS(num), 10, 32)
		if !ok || err != nil || n > 1<<31-1 || !isToken(method) {
			return -1, errBadCSeq
		}
		b := block(blk)
		h := field(b, usedCSeq, &b.cs)
		h.SeqNo, h.MethodName = uint32(n), RequestMethod(method)
		msg.AppendHeader(h)
	case "Max-Forwards":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return -1, errBadNumber
		}
		b := block(blk)
		h := field(b, usedMaxForwards, &b.mf)
		*h = MaxForwardsHeader(n)
		msg.AppendHeader(h)
	case "Content-Length":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || n > 1<<30 {
			return -1, errBadNumber
		}
		b := block(blk)
		h := field(b, usedContentLength, &b.cl)
		*h = ContentLengthHeader(n)
		msg.AppendHeader(h)
		return int(n), nil
	case "Content-Type":
		if value == "" {
			return -1, errEmptyValue
		}
		h := ContentTypeHeader(value)
		msg.AppendHeader(&h)
	case "":
		msg.AppendHeader(NewHeader(name, value))
	default:
		msg.AppendHeader(NewHeader(canon, value))
	}
	return -1, nil
}

// splitVia appends each value of a Via line (several may share one line,
// RFC 3261 §7.3.1). In lenient mode a value that does not parse is kept raw.
func splitVia(msg Message, blk **headerBlock, value string, lenient bool) error {
	parse := parseVia
	if lenient {
		parse = parseViaLenient
	}
	add := func(part string) error {
		b := block(blk)
		v := &b.v
		if b.used&usedVia != 0 {
			v = newVia() // a further Via: it needs its own params storage
		}
		b.used |= usedVia
		if err := parse(part, v); err != nil {
			if lenient {
				msg.AppendHeader(NewHeader("Via", part))
				return nil
			}
			return err
		}
		msg.AppendHeader(v)
		return nil
	}
	if strings.IndexByte(value, ',') < 0 {
		return add(value)
	}
	return splitList(value, add)
}

// headerBlock holds the typed headers a message usually has one of each,
// so that parsing them costs one allocation rather than one each. A second
// of a kind (or a further Via) is allocated on its own.
type headerBlock struct {
	used uint8 // bits: which of the fields below are taken
	v    ViaHeader
	vp   [4]HeaderKV
	f    FromHeader
	fp   [2]HeaderKV
	t    ToHeader
	tp   [2]HeaderKV
	cs   CSeqHeader
	id   CallIDHeader
	mf   MaxForwardsHeader
	cl   ContentLengthHeader
}

const (
	usedVia = 1 << iota
	usedFrom
	usedTo
	usedCSeq
	usedCallID
	usedMaxForwards
	usedContentLength
)

// block returns *blk, allocated on first use.
func block(blk **headerBlock) *headerBlock {
	if *blk == nil {
		b := new(headerBlock)
		b.v.Params, b.f.Params, b.t.Params = b.vp[:0:len(b.vp)], b.fp[:0:len(b.fp)], b.tp[:0:len(b.tp)]
		*blk = b
	}
	return *blk
}

// field returns p, the block's field marked by bit, the first time it is
// asked for, and a new T after that (a further Via; a second From, CSeq
// and the like, which Sanity refuses).
func field[T any](b *headerBlock, bit uint8, p *T) *T {
	if b.used&bit != 0 {
		return new(T)
	}
	b.used |= bit
	return p
}

// canonicalOf returns the canonical spelling of a known header name, or ""
// for an unknown one. It does not allocate.
func canonicalOf(name string) string {
	switch name {
	case "Via", "v", "via":
		return "Via"
	case "From", "f", "from":
		return "From"
	case "To", "t", "to":
		return "To"
	case "Call-ID", "i", "call-id":
		return "Call-ID"
	case "CSeq", "cseq":
		return "CSeq"
	case "Max-Forwards", "max-forwards":
		return "Max-Forwards"
	case "Content-Length", "l", "content-length":
		return "Content-Length"
	case "Content-Type", "c", "content-type":
		return "Content-Type"
	case "Contact", "m", "contact":
		return "Contact"
	case "Route":
		return "Route"
	case "Record-Route":
		return "Record-Route"
	// Common fields written canonically need no lower-casing and table
	// lookup (TestCanonicalOfCanonical: each is its own canonical name).
	case "Expires", "User-Agent", "Allow", "Supported", "Require", "Proxy-Require", "Path", "Authorization",
		"Proxy-Authorization", "Server", "Date", "Accept", "Allow-Events", "Event", "Service-Route", "Min-Expires",
		"Session-Expires", "P-Asserted-Identity", "Privacy", "Content-Disposition", "Subject":
		return name
	}
	var buf [40]byte
	if len(name) > len(buf) {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	low := buf[:len(name)]
	switch string(low) {
	case "via", "v":
		return "Via"
	case "from", "f":
		return "From"
	case "to", "t":
		return "To"
	case "call-id", "i":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	case "max-forwards":
		return "Max-Forwards"
	case "content-length", "l":
		return "Content-Length"
	case "content-type", "c":
		return "Content-Type"
	}
	return canonicalNames[string(low)]
}

func parseFromTo(value string, display *string, u *Uri, params *HeaderParams) error {
	if err := parseNameAddrInto(value, display, u, params); err != nil {
		return err
	}
	if u.Wildcard {
		return errors.New("wildcard URI in From/To")
	}
	// Parameter names are case-insensitive (RFC 3261 §7.3.1); sipgo looks
	// the tag up as "tag".
	for i := range *params {
		(*params)[i].K = lower((*params)[i].K)
	}
	return nil
}

var errBadVia = errors.New("malformed Via")

// parseVia parses "SIP / 2.0 / UDP host[:port] *(;param)" (RFC 3261 §20.42),
// allowing LWS around the slashes (RFC 4475 wsinv).
func parseVia(s string, v *ViaHeader) error {
	next := func(stop byte) (string, bool) {
		i := strings.IndexByte(s, stop)
		if i < 0 {
			return "", false
		}
		tok := trimLWS(s[:i])
		s = s[i+1:]
		return tok, tok != ""
	}
	var ok bool
	if v.ProtocolName, ok = next('/'); !ok {
		return errBadVia
	}
	if v.ProtocolVersion, ok = next('/'); !ok {
		return errBadVia
	}
	s = trimLWS(s)
	i := 0
	for i < len(s) && tokenChar(s[i]) {
		i++
	}
	if i == 0 || i == len(s) {
		return errBadVia
	}
	v.Transport = s[:i]
	s = trimLWS(s[i:])
	// sent-by: host or [IPv6], then an optional port.
	end := sentByEnd.index(s)
	if end < 0 {
		end = len(s)
	}
	hostport := s[:end]
	s = s[end:]
	if hostport == "" {
		return errBadVia
	}
	if hostport[0] == '[' {
		j := strings.IndexByte(hostport, ']')
		if j < 0 {
			return errBadVia
		}
		v.Host = hostport[1:j]
		hostport = hostport[j+1:]
		if hostport != "" && hostport[0] != ':' {
			return errBadVia
		}
	} else if j := strings.IndexByte(hostport, ':'); j >= 0 {
		v.Host = hostport[:j]
		hostport = hostport[j:]
	} else {
		v.Host, hostport = hostport, ""
	}
	if hostport != "" {
		port := 0
		for _, c := range []byte(hostport[1:]) {
			if c < '0' || c > '9' || port > 65535 {
				return errBadVia
			}
			port = port*10 + int(c-'0')
		}
		if port == 0 || port > 65535 {
			return errBadVia
		}
		v.Port = port
	}
	if v.Host == "" {
		return errBadVia
	}
	if n := strings.Count(s, ";"); n > 0 && n+1 > cap(v.Params) {
		v.Params = make(HeaderParams, 0, n+1) // room for received or rport
	}
	return parseParams(s, &v.Params)
}

// newVia allocates a Via with room for four parameters in the same block.
func newVia() *ViaHeader {
	b := &struct {
		h ViaHeader
		p [4]HeaderKV
	}{}
	b.h.Params = b.p[:0:4]
	return &b.h
}

// parseViaLenient keeps the sent-by of a Via whose parameters are broken, so
// that a 400 can still reach the sender (RFC 4475 badinv01).
func parseViaLenient(s string, v *ViaHeader) error {
	if err := parseVia(s, v); err == nil || v.Host == "" || v.Transport == "" {
		return err
	}
	return nil
}

// validScheme reports whether s is an RFC 3986 §3.1 scheme.
func validScheme[T string | []byte](s T) bool {
	if len(s) == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isToken[T string | []byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !tokenChar(b[i]) {
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
// not know it. It does not allocate.
func CanonicalName(name string) string {
	if c := canonicalOf(name); c != "" {
		return c
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

// ParseVia parses a single Via field value, "SIP/2.0/UDP host:port;params"
// (RFC 3261 §20.42).
func ParseVia(s string) (*ViaHeader, error) {
	v := newVia()
	if err := parseVia(s, v); err != nil {
		return nil, &ParseError{What: "Via", Input: s, Err: err}
	}
	return v, nil
}
