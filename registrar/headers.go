package registrar

import (
	"errors"
	"strings"

	"github.com/siphon-go/siphon/sip"
)

// regHeaders holds what a REGISTER's header fields say, read in one pass
// over the header list (each sip.HeaderValues call scans it again and
// allocates the lower-cased name).
type regHeaders struct {
	contact     [2]string // raw values, one per contact: the first two
	nContact    int
	moreContact []string // and the rest
	paths       []string // raw values, one per Path entry
	expires     string
	hasExpires  bool
	manyExpires bool
	userAgent   string
	require     []string
	supPath     bool
	supGRUU     bool
	supOutbound bool
}

var errUnterminated = errors.New("unterminated quoted string")

func scanHeaders(req *sip.Request) (regHeaders, error) {
	var h regHeaders
	addContact := func(s string) {
		if h.nContact < len(h.contact) {
			h.contact[h.nContact] = s
			h.nContact++
		} else {
			h.moreContact = append(h.moreContact, s)
		}
	}
	for _, hd := range req.Headers() {
		// Any case and the compact forms, as sip.Fields matches names; a
		// parsed message's known names are canonical already, which
		// CanonicalName returns at once.
		name := sip.CanonicalName(hd.Name())
		switch {
		case name == "Contact":
			if err := splitList(hd.Value(), addContact); err != nil {
				return h, err
			}
		case name == "Expires":
			if h.hasExpires {
				h.manyExpires = true
			}
			h.expires, h.hasExpires = strings.TrimSpace(hd.Value()), true
		case name == "Path":
			if err := splitList(hd.Value(), func(s string) { h.paths = append(h.paths, s) }); err != nil {
				return h, err
			}
		case name == "Supported":
			_ = splitList(hd.Value(), func(s string) {
				switch {
				case strings.EqualFold(s, "path"):
					h.supPath = true
				case strings.EqualFold(s, "gruu"):
					h.supGRUU = true
				case strings.EqualFold(s, "outbound"):
					h.supOutbound = true
				}
			})
		case name == "Require":
			_ = splitList(hd.Value(), func(s string) { h.require = append(h.require, s) })
		case name == "User-Agent":
			if h.userAgent == "" {
				h.userAgent = hd.Value()
			}
		}
	}
	return h, nil
}

// contacts returns the raw Contact values, appended to buf.
func (h *regHeaders) contacts(buf []string) []string {
	return append(append(buf, h.contact[:h.nContact]...), h.moreContact...)
}

// splitList calls fn for each element of a comma-separated header value,
// honouring quoted strings and <...> (RFC 3261 §7.3.1); empty elements are
// skipped.
func splitList(s string, fn func(string)) error {
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
			if part := strings.TrimSpace(s[start:i]); part != "" {
				fn(part)
			}
			start = i + 1
		}
	}
	if inQuote {
		return errUnterminated
	}
	if part := strings.TrimSpace(s[start:]); part != "" {
		fn(part)
	}
	return nil
}
