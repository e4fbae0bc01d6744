package sip

import (
	"errors"
	"fmt"
	"strings"
)

// ErrFinalSent is returned by a ResponseWriter asked to write after the final
// response of its transaction has been sent.
var ErrFinalSent = errors.New("sip: final response already sent")

// ErrNoResponse is returned by a ResponseWriter that cannot answer at all, as
// for an ACK, which has no response (RFC 3261 §17.1.1.3).
var ErrNoResponse = errors.New("sip: request takes no response")

// ParseError reports input that is not valid SIP. For a request whose
// start line, Via, From, To, Call-ID and CSeq could still be read, Message holds
// that partial request so the receiver can answer 400 instead of dropping it
// (RFC 3261 §21.4.1).
type ParseError struct {
	// What names what was being parsed: "message", "uri", a header name.
	What string
	// Input is the offending text, possibly truncated.
	Input string
	// Message is a partial message good enough to build a response, or nil.
	Message Message
	// Status is the response code to answer Message with: 400 Bad Request,
	// or 416 Unsupported URI Scheme for a Request-URI of a scheme this
	// parser cannot read (RFC 4475 §3.3.2).
	Status int
	// Err is the underlying cause.
	Err error
}

// Error describes what failed to parse and why.
func (e *ParseError) Error() string {
	in := e.Input
	if len(in) > 64 {
		in = in[:64] + "..."
	}
	if in == "" {
		return fmt.Sprintf("sip: parse %s: %v", e.What, e.Err)
	}
	return fmt.Sprintf("sip: parse %s %q: %v", e.What, in, e.Err)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// StatusError is an error that should become a SIP response: the code and
// reason phrase to send and any header fields the response must carry (for
// example Unsupported with a 420, Retry-After with a 503, Allow with a 405).
// Servers find it with errors.As, so it can be wrapped.
type StatusError struct {
	Code   int
	Reason string
	// Headers are added to the response as given.
	Headers []Header
	// Err is the cause, kept for errors.Is/As and logs; it is not sent.
	Err error
}

// NewStatusError returns a StatusError for code with the given reason phrase
// (the RFC's phrase when empty) and extra response headers.
func NewStatusError(code int, reason string, headers ...Header) *StatusError {
	if reason == "" {
		reason = StatusText(code)
	}
	return &StatusError{Code: code, Reason: reason, Headers: headers}
}

// Error gives the status and the cause.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sip: %d %s", e.Code, e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *StatusError) Unwrap() error { return e.Err }
