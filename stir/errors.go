package stir

import (
	"errors"
	"strconv"

	"github.com/siphon-go/siphon/sip"
)

// Sentinel errors. Verification errors arrive wrapped in a *VerifyError that
// carries the SIP response code; branch on them with errors.Is.
var (
	// ErrNoIdentity means the request carries no Identity header field
	// (428 Use Identity Header when identity is required, RFC 8224 §6.2).
	ErrNoIdentity = errors.New("stir: no Identity header")

	// ErrMalformed means an Identity header field or PASSporT could not be
	// parsed, or lacks a mandatory claim (438, ATIS-1000074 §5.3.2).
	ErrMalformed = errors.New("stir: malformed Identity header or PASSporT")

	// ErrUnsupported means a PASSporT uses an algorithm, type or extension
	// ("ppt") this package does not implement (438).
	ErrUnsupported = errors.New("stir: unsupported PASSporT")

	// ErrStale means the PASSporT's iat lies outside the freshness window
	// (403 Stale Date, ATIS-1000074 §5.3.2).
	ErrStale = errors.New("stir: stale PASSporT")

	// ErrMismatch means the PASSporT's orig or dest does not match the
	// request's From/P-Asserted-Identity or To/Request-URI (438).
	ErrMismatch = errors.New("stir: PASSporT does not match the request")

	// ErrFetch means the certificate named by x5u/info could not be
	// retrieved: a refused URL, a network error, a timeout, an HTTP error
	// status, an oversized or unparseable body (436 Bad Identity Info). It is
	// the infrastructure failure that permissive mode forgives.
	ErrFetch = errors.New("stir: cannot fetch certificate")

	// ErrCertificate means the certificate was retrieved but is not
	// acceptable: expired, not chaining to a trust anchor, not EC P-256, or
	// not covering the originating number (437 Unsupported Credential).
	ErrCertificate = errors.New("stir: certificate not acceptable")

	// ErrSignature means the PASSporT signature does not verify (438).
	ErrSignature = errors.New("stir: signature verification failed")

	// ErrNoTN means a request cannot be signed because its originating
	// identity is not a telephone number, as SHAKEN requires
	// (ATIS-1000074 §5.2.3).
	ErrNoTN = errors.New("stir: no telephone number to attest")

	// ErrNotDiverted means SignDiverted was asked to sign a request whose
	// target was not changed: RFC 8946 §3 forbids a "div" PASSporT then.
	ErrNotDiverted = errors.New("stir: request was not retargeted")
)

// Reason phrases of the RFC 8224 §13 response codes, as ATIS-1000074 §5.3.2
// spells them.
const (
	reasonStaleDate       = "Stale Date"
	reasonUseIdentity     = "Use Identity Header"
	reasonBadInfo         = "Bad Identity Info"
	reasonUnsupportedCred = "Unsupported Credential"
	reasonInvalidIdentity = "Invalid Identity Header"
)

// VerifyError is a verification failure with the SIP response it maps to
// (RFC 8224 §13, ATIS-1000074 §5.3.2): 403 Stale Date, 428 Use Identity
// Header, 436 Bad Identity Info, 437 Unsupported Credential or 438 Invalid
// Identity Header.
//
// Its chain holds the cause (one of the ErrX sentinels, for errors.Is) and a
// *sip.StatusError, so sip.RespondError answers with Code and Reason.
type VerifyError struct {
	// Code is the SIP status code for rejecting the request.
	Code int
	// Reason is the reason phrase to send with Code.
	Reason string
	// Err is the cause; it wraps one of the package's sentinel errors.
	Err error
}

// Error describes the cause and the response code.
func (e *VerifyError) Error() string {
	msg := "stir: verification failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return msg + " (" + strconv.Itoa(e.Code) + " " + e.Reason + ")"
}

// Unwrap returns the cause and a *sip.StatusError for Code and Reason.
func (e *VerifyError) Unwrap() []error {
	return []error{e.Err, sip.NewStatusError(e.Code, e.Reason)}
}

// verifyError classifies err by its sentinel and wraps it in a *VerifyError.
// An error that already is a *VerifyError is returned unchanged.
func verifyError(err error) *VerifyError {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve
	}
	code, reason := sip.StatusInvalidIdentityHeader, reasonInvalidIdentity
	switch {
	case errors.Is(err, ErrNoIdentity):
		code, reason = sip.StatusUseIdentityHeader, reasonUseIdentity
	case errors.Is(err, ErrStale):
		code, reason = sip.StatusForbidden, reasonStaleDate
	case errors.Is(err, ErrFetch):
		code, reason = sip.StatusBadIdentityInfo, reasonBadInfo
	case errors.Is(err, ErrCertificate):
		code, reason = sip.StatusUnsupportedCredential, reasonUnsupportedCred
	}
	return &VerifyError{Code: code, Reason: reason, Err: err}
}
