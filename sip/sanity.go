package sip

import (
	"context"
	"errors"
	"strings"
)

// SanityCheck selects the checks a Sanity performs; the values can be or'ed.
// They follow Kamailio's sanity module, each answering with the status code
// the RFCs give for the defect.
type SanityCheck uint32

const (
	// CheckVersion: the request line says SIP/2.0, else 505.
	CheckVersion SanityCheck = 1 << iota
	// CheckScheme: the Request-URI scheme is one of SanityConfig.Schemes,
	// else 416 (RFC 3261 §8.2.2.1).
	CheckScheme
	// CheckRequiredHeaders: Via, From, To, Call-ID and CSeq are present,
	// else 400 (RFC 3261 §8.1.1).
	CheckRequiredHeaders
	// CheckSingletons: From, To, Call-ID, CSeq, Max-Forwards, Content-Length
	// and Content-Type appear at most once, else 400 (RFC 4475 multi01, mcl01).
	CheckSingletons
	// CheckVia: the top Via is SIP/2.0 with a transport token, else 400.
	CheckVia
	// CheckCSeq: the CSeq method equals the request method and its number is
	// below 2^31, else 400 (RFC 3261 §8.1.1.5).
	CheckCSeq
	// CheckContentLength: Content-Length equals the body length, else 400.
	CheckContentLength
	// CheckExpires: Expires is a number of seconds, else 400.
	CheckExpires
	// CheckProxyRequire: every Proxy-Require option tag is in
	// SanityConfig.Supported, else 420 with Unsupported (RFC 3261 §16.3).
	CheckProxyRequire
	// CheckURI: the Request-URI of a sip/sips request has a host and no
	// headers (RFC 4475 escruri), and every Contact value parses, else 400.
	CheckURI
	// CheckTags: From and To carry at most one tag each, else 400.
	CheckTags
	// CheckCredentials: Authorization and Proxy-Authorization with the Digest
	// scheme are well formed (RFC 3261 §22.4), else 400.
	CheckCredentials
	// CheckRequire: every Require option tag is in SanityConfig.Supported,
	// else 420 with Unsupported (RFC 3261 §8.2.2.3). A UAS check: proxies
	// must not apply it, so it is not part of DefaultSanityChecks.
	CheckRequire
)

// DefaultSanityChecks is every check but CheckRequire.
const DefaultSanityChecks = CheckVersion | CheckScheme | CheckRequiredHeaders |
	CheckSingletons | CheckVia | CheckCSeq | CheckContentLength | CheckExpires |
	CheckProxyRequire | CheckURI | CheckTags | CheckCredentials

// SanityConfig configures a Sanity. The zero value runs DefaultSanityChecks,
// accepts the sip, sips and tel schemes and supports no extension.
type SanityConfig struct {
	// Checks selects the checks; 0 means DefaultSanityChecks.
	Checks SanityCheck
	// Schemes are the accepted Request-URI schemes; nil means sip, sips, tel.
	Schemes []string
	// Supported lists the option tags this element supports, for the
	// Proxy-Require and Require checks.
	Supported []string
}

// Sanity checks requests for the defects that Kamailio's sanity module looks
// for and maps each to its response code. It is safe for concurrent use.
type Sanity struct {
	checks    SanityCheck
	schemes   []string
	supported []string
}

// NewSanity returns a Sanity for cfg.
func NewSanity(cfg SanityConfig) *Sanity {
	s := &Sanity{checks: cfg.Checks, schemes: cfg.Schemes, supported: cfg.Supported}
	if s.checks == 0 {
		s.checks = DefaultSanityChecks
	}
	if s.schemes == nil {
		s.schemes = []string{"sip", "sips", "tel"}
	}
	return s
}

func bad(reason string) *StatusError {
	return &StatusError{Code: StatusBadRequest, Reason: "Bad Request - " + reason}
}

// Check returns nil for a sane request, or a *StatusError with the response
// to send.
func (s *Sanity) Check(req *Request) error {
	c := s.checks
	if c&CheckVersion != 0 && !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return NewStatusError(StatusVersionNotSupported, "")
	}
	// One pass counts the singletons and notes which of the fields the
	// later checks read are present, so that an absent one costs no scan.
	seen, err := checkHeaderCounts(req, c)
	if err != nil {
		return err
	}
	if c&CheckScheme != 0 {
		scheme := strings.ToLower(req.Recipient.Scheme)
		ok := scheme == "" // left to CheckURI

		for _, sc := range s.schemes {
			if scheme == sc {
				ok = true
				break
			}
		}
		if !ok {
			return NewStatusError(StatusUnsupportedURIScheme, "")
		}
	}
	if c&CheckURI != 0 {
		if err := checkURIs(req, seen&seenContact != 0); err != nil {
			return err
		}
	}
	if c&CheckVia != 0 {
		v := req.Via()
		if v == nil {
			if HasField(req, "Via") {
				return bad("Malformed Via")
			}
		} else if !strings.EqualFold(v.ProtocolName, "SIP") || v.ProtocolVersion != "2.0" ||
			!isToken(v.Transport) || v.Host == "" {
			return bad("Malformed Via")
		}
	}
	if c&CheckCSeq != 0 {
		if cs := req.CSeq(); cs != nil {
			if !strings.EqualFold(string(cs.MethodName), string(req.Method)) {
				return bad("CSeq method does not match")
			}
			if cs.SeqNo >= 1<<31 {
				return bad("CSeq out of range")
			}
		} else if HasField(req, "CSeq") {
			return bad("Malformed CSeq")
		}
	}
	if c&CheckContentLength != 0 {
		if cl := req.ContentLength(); cl != nil && int(*cl) != len(req.Body()) {
			return bad("Content-Length mismatch")
		}
	}
	if c&CheckExpires != 0 && seen&seenExpires != 0 {
		if _, _, err := ExpiresValue(req); err != nil {
			return bad("Malformed Expires")
		}
	}
	if c&CheckTags != 0 {
		if f := req.From(); f != nil && countParam(f.Params, "tag") > 1 {
			return bad("Duplicate From tag")
		}
		if t := req.To(); t != nil && countParam(t.Params, "tag") > 1 {
			return bad("Duplicate To tag")
		}
	}
	if c&CheckCredentials != 0 && seen&seenCredentials != 0 {
		for _, name := range [...]string{"Authorization", "Proxy-Authorization"} {
			for _, v := range HeaderValues(req, name) {
				// Only Digest is checked: other schemes (Basic's token68, IMS
				// AKA's own) have grammars of their own.
				scheme, _, _ := strings.Cut(trimLWS(v), " ")
				if !strings.EqualFold(scheme, "Digest") {
					continue
				}
				cr, err := ParseCredentials(v)
				if err != nil || validDigestCredentials(cr) != nil {
					return bad("Malformed " + name)
				}
			}
		}
	}
	if c&CheckProxyRequire != 0 && seen&seenProxyRequire != 0 {
		if err := s.checkOptionTags(req, "Proxy-Require"); err != nil {
			return err
		}
	}
	if c&CheckRequire != 0 && seen&seenRequire != 0 && req.Method != ACK && req.Method != CANCEL {
		if err := s.checkOptionTags(req, "Require"); err != nil {
			return err
		}
	}
	return nil
}

// The fields checkHeaderCounts notes the presence of.
const (
	seenContact = 1 << iota
	seenExpires
	seenCredentials // Authorization or Proxy-Authorization
	seenRequire
	seenProxyRequire
)

// checkHeaderCounts counts the singleton fields and reports which of the
// seen* fields the request has, matched by name as Fields matches them.
func checkHeaderCounts(req *Request, c SanityCheck) (int, error) {
	var via, from, to, callID, cseq, maxfwd, clen, ctype int
	seen := 0
	for _, h := range req.Headers() {
		switch n := h.Name(); n {
		case "Via":
			via++
		case "From":
			from++
		case "To":
			to++
		case "Call-ID":
			callID++
		case "CSeq":
			cseq++
		case "Max-Forwards":
			maxfwd++
		case "Content-Length":
			clen++
		case "Content-Type":
			ctype++
		default:
			seen |= seenField(n)
		}
	}
	if c&CheckRequiredHeaders != 0 && (via == 0 || from == 0 || to == 0 || callID == 0 || cseq == 0) {
		return 0, bad("Missing Required Header")
	}
	if c&CheckSingletons != 0 && (from > 1 || to > 1 || callID > 1 || cseq > 1 ||
		maxfwd > 1 || clen > 1 || ctype > 1) {
		return 0, bad("Duplicate Header")
	}
	return seen, nil
}

// seenField returns the seen* bit of a field called n, or 0. Each of
// these names is in the canonical table, so any case and compact form map
// to it as Fields matches them.
func seenField(n string) int {
	switch canonicalOf(n) {
	case "Contact":
		return seenContact
	case "Expires":
		return seenExpires
	case "Authorization", "Proxy-Authorization":
		return seenCredentials
	case "Require":
		return seenRequire
	case "Proxy-Require":
		return seenProxyRequire
	}
	return 0
}

func checkURIs(req *Request, hasContact bool) error {
	u := &req.Recipient
	if !validScheme(u.Scheme) {
		return bad("Malformed Request-URI")
	}
	if strings.EqualFold(u.Scheme, "sip") || strings.EqualFold(u.Scheme, "sips") {
		if !validHost(u.Host) || u.Wildcard || len(u.Headers) > 0 {
			return bad("Malformed Request-URI")
		}
	} else if u.Raw() == "" {
		return bad("Malformed Request-URI")
	}
	if hasContact && !validNameAddrs(req, "Contact") {
		return bad("Malformed Contact")
	}
	return nil
}

// validNameAddrs reports whether every name header of msg is a list of
// name-addr values, as NameAddrs would parse them, without keeping them.
func validNameAddrs(msg Message, name string) bool {
	check := func(part string) error {
		var na NameAddr
		return parseNameAddr(part, &na)
	}
	for h := range Fields(msg, name) {
		if splitList(h.Value(), check) != nil {
			return false
		}
	}
	return true
}

func countParam(params HeaderParams, name string) int {
	n := 0
	for _, kv := range params {
		if strings.EqualFold(kv.K, name) {
			n++
		}
	}
	return n
}

func (s *Sanity) checkOptionTags(req *Request, name string) error {
	var unsupported []string
	for _, tag := range OptionTags(req, name) {
		found := false
		for _, sup := range s.supported {
			if strings.EqualFold(tag, sup) {
				found = true
				break
			}
		}
		if !found {
			unsupported = append(unsupported, tag)
		}
	}
	if len(unsupported) == 0 {
		return nil
	}
	return NewStatusError(StatusBadExtension, "", NewHeader("Unsupported", strings.Join(unsupported, ", ")))
}

// CheckResponse returns an error when res lacks what a response must carry to
// be matched to a transaction: one Via and well-formed From, To, Call-ID and
// CSeq, and a status code from 100 to 699.
func (s *Sanity) CheckResponse(res *Response) error {
	if res.StatusCode < 100 || res.StatusCode > 699 {
		return errors.New("sip: status code out of range")
	}
	if res.Via() == nil || res.From() == nil || res.To() == nil || res.CallID() == nil || res.CSeq() == nil {
		return errors.New("sip: response lacks a required header")
	}
	return nil
}

// Middleware answers insane requests with the response Check gives and passes
// the rest on. An insane ACK is dropped, since an ACK has no response.
func (s *Sanity) Middleware(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, w ResponseWriter, req *Request) {
		if err := s.Check(req); err != nil {
			if req.Method != ACK {
				_ = RespondError(w, req, err)
			}
			return
		}
		next.ServeSIP(ctx, w, req)
	})
}
