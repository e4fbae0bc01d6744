package stir

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/siphon-go/siphon/sip"
)

// Defaults of VerifierConfig.
const (
	DefaultFetchTimeout = 2 * time.Second
	DefaultMaxCertSize  = 64 << 10
	DefaultCacheSize    = 1000
	DefaultCacheTTL     = time.Hour
	DefaultCacheMaxTTL  = 24 * time.Hour
	DefaultFreshness    = 60 * time.Second
)

// maxIdentities bounds the Identity header fields examined in one request.
const maxIdentities = 8

// maxRedirects bounds the HTTP redirects followed when fetching x5u.
const maxRedirects = 3

// VerifierConfig tunes a Verifier. The zero value gives the behaviour of
// RFC 8224 and ATIS-1000074 with the documented defaults.
type VerifierConfig struct {
	// HTTPClient fetches x5u certificate chains. Its timeout, transport and
	// TLS settings are used as given; redirects are limited to three and, unless
	// AllowHTTP is set, to HTTPS. Default: a client on http.DefaultTransport.
	HTTPClient *http.Client

	// AllowHTTP accepts http:// x5u URLs. Default false: HTTPS only.
	AllowHTTP bool

	// CheckURL, when set, vets each x5u URL, and each redirect target, before
	// it is fetched: the URL comes from the caller, so a deployment may
	// restrict it to known STI certificate repositories or refuse internal
	// addresses. A non-nil error refuses the URL (ErrFetch, 436). Default nil:
	// any https URL.
	CheckURL func(u *url.URL) error

	// FetchTimeout bounds one x5u fetch, connection and body included.
	// Default DefaultFetchTimeout (2 s).
	FetchTimeout time.Duration

	// MaxCertSize is the largest x5u response body accepted, in bytes.
	// Default DefaultMaxCertSize (64 KiB).
	MaxCertSize int64

	// CacheSize is the number of x5u chains kept; the least recently used is
	// evicted first. It also bounds the distinct fetches shared between
	// concurrent verifications. Default DefaultCacheSize (1000).
	CacheSize int

	// CacheTTL is how long a chain is kept when its response has no
	// Cache-Control max-age. Default DefaultCacheTTL (1 h). Responses with
	// no-store or no-cache are not kept.
	CacheTTL time.Duration

	// CacheMaxTTL caps the lifetime a Cache-Control max-age can ask for.
	// Default DefaultCacheMaxTTL (24 h).
	CacheMaxTTL time.Duration

	// Freshness is how far iat may lie from the current time, either way,
	// before the PASSporT is stale (ATIS-1000074 §5.3.2 recommends 60 s).
	// Default DefaultFreshness (60 s).
	Freshness time.Duration

	// RequireTNAuthList rejects certificates without a readable TN
	// Authorization List extension (RFC 8226 §9). Default false: the
	// extension is read where present and ignored when unreadable.
	RequireTNAuthList bool

	// Numbering canonicalises the numbers compared between PASSporT and
	// request. Default: RFC 8224 §8.3 without national-number rules.
	Numbering Numbering

	// Permissive turns infrastructure failures (the x5u cannot be fetched,
	// ErrFetch) into No-TN-Validation instead of TN-Validation-Failed, and
	// keeps Middleware from rejecting for them: for rolling out verification
	// before every peer's repository is reachable.
	Permissive bool

	// RequireIdentity makes Middleware reject INVITEs without an Identity
	// header with 428 Use Identity Header. Default false: they pass with
	// No-TN-Validation.
	RequireIdentity bool

	// RejectFailures makes Middleware reject INVITEs that fail verification
	// with the RFC 8224 code (403 Stale Date, 436, 437 or 438). Default false:
	// as ATIS-1000074 §5.3.2 prefers, the call continues with
	// TN-Validation-Failed and the error is reported in a Reason header.
	RejectFailures bool

	// OmitReason stops Middleware from adding "Reason: SIP;cause=...;text=..."
	// to the first response of a call that continues despite a verification
	// error (ATIS-1000074 §5.3.2, RFC 9410). Default false.
	OmitReason bool

	// Clock returns the current time. Default time.Now.
	Clock func() time.Time

	// Logger receives debug records of verification outcomes. Default: no
	// logging.
	Logger *slog.Logger
}

// Verifier is a STIR/SHAKEN verification service (RFC 8224 §6.2,
// ATIS-1000074 §5.3): it checks Identity header fields against trust anchors
// and the request they arrive in, and maps the outcome to a verstat value.
// Its methods may be called concurrently.
type Verifier struct {
	cfg    VerifierConfig
	roots  *x509.CertPool
	client *http.Client
	cache  *certCache
	log    *slog.Logger
}

// NewVerifier returns a Verifier that accepts certificates chaining to one of
// anchors, the STI-CA roots, which must have EC P-256 keys.
func NewVerifier(anchors []*x509.Certificate, cfg VerifierConfig) (*Verifier, error) {
	if len(anchors) == 0 {
		return nil, errors.New("stir: no trust anchors")
	}
	roots := x509.NewCertPool()
	for _, a := range anchors {
		if a == nil {
			return nil, errors.New("stir: nil trust anchor")
		}
		if k, ok := a.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("stir: trust anchor %q does not have an EC P-256 key", a.Subject.CommonName)
		}
		roots.AddCert(a)
	}
	if cfg.FetchTimeout < 0 || cfg.MaxCertSize < 0 || cfg.CacheSize < 0 || cfg.CacheTTL < 0 ||
		cfg.CacheMaxTTL < 0 || cfg.Freshness < 0 {
		return nil, errors.New("stir: negative VerifierConfig value")
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.MaxCertSize == 0 {
		cfg.MaxCertSize = DefaultMaxCertSize
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheMaxTTL == 0 {
		cfg.CacheMaxTTL = DefaultCacheMaxTTL
	}
	if cfg.Freshness == 0 {
		cfg.Freshness = DefaultFreshness
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	v := &Verifier{cfg: cfg, roots: roots, cache: newCertCache(cfg.CacheSize), log: cfg.Logger}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	client := &http.Client{}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	userRedirect := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stir: more than %d redirects", maxRedirects)
		}
		if req.URL.Scheme != "https" && !(req.URL.Scheme == "http" && cfg.AllowHTTP) {
			return fmt.Errorf("stir: redirect to %s URL refused", req.URL.Scheme)
		}
		if cfg.CheckURL != nil {
			if err := cfg.CheckURL(req.URL); err != nil {
				return fmt.Errorf("stir: redirect refused: %w", err)
			}
		}
		if userRedirect != nil {
			return userRedirect(req, via)
		}
		return nil
	}
	v.client = client
	return v, nil
}

func (v *Verifier) now() time.Time { return v.cfg.Clock() }

// Verstat is the result of verification as 3GPP TS 24.229 §7.2A.20 and
// ATIS-1000074 §5.3.1 convey it in the verstat parameter.
type Verstat string

// Verstat values.
const (
	// VerstatPassed: the PASSporT verified and matches the request.
	VerstatPassed Verstat = "TN-Validation-Passed"
	// VerstatFailed: an Identity header was present but did not verify.
	VerstatFailed Verstat = "TN-Validation-Failed"
	// VerstatNoValidation: there was nothing to verify, or (permissive mode)
	// verification could not be carried out.
	VerstatNoValidation Verstat = "No-TN-Validation"
)

// Result is the outcome of verifying a request or a PASSporT.
type Result struct {
	// Verstat is the value to stamp on the request.
	Verstat Verstat
	// PASSporT is the verified PASSporT (ppt "shaken" or base) or, when
	// verification failed, the first one that parsed; nil if none did.
	PASSporT *PASSporT
	// Attestation is the attest claim of a verified SHAKEN PASSporT, or "".
	Attestation Attestation
	// Chain is the verified certificate chain, leaf first, anchor last.
	Chain []*x509.Certificate
	// TNAuthList is the leaf certificate's TN Authorization List, or nil.
	TNAuthList *TNAuthList
	// Diverted are the verified "div" PASSporTs (RFC 8946) that link the
	// original destination to the current target, in order.
	Diverted []*PASSporT
	// Err is nil when verification passed, else a *VerifyError.
	Err error
}

// candidate is one Identity header field with its PASSporT decoded (nil for
// compact form).
type candidate struct {
	id Identity
	p  *PASSporT
}

// VerifyRequest verifies the Identity header fields of req (RFC 8224 §6.2):
// it picks the SHAKEN (or base) PASSporTs, checks their claims, iat
// freshness, orig against P-Asserted-Identity/From and dest against To or the
// Request-URI (following "div" PASSporTs when the call was retargeted), fetches
// and validates the signer's certificate chain and checks the signature.
//
// The Result is never nil. The error is nil exactly when Result.Verstat is
// VerstatPassed; otherwise it is the *VerifyError also stored in Result.Err,
// wrapping ErrNoIdentity, ErrMalformed, ErrUnsupported, ErrStale,
// ErrMismatch, ErrFetch, ErrCertificate or ErrSignature. req is not modified.
func (v *Verifier) VerifyRequest(ctx context.Context, req *sip.Request) (*Result, error) {
	now := v.now()
	values, lerr := sip.ListValues(req, "Identity")
	if len(values) == 0 {
		if lerr != nil {
			return v.fail(nil, fmt.Errorf("%w: %w", ErrMalformed, lerr))
		}
		return v.fail(nil, ErrNoIdentity)
	}
	if len(values) > maxIdentities {
		values = values[:maxIdentities]
	}
	var primaries, divs []candidate
	var firstErr error
	note := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, val := range values {
		id, err := ParseIdentity(val)
		if err != nil {
			note(err)
			continue
		}
		c := candidate{id: id}
		ppt := id.PPT
		if !id.Compact() {
			if c.p, err = ParsePASSporT(id.Token); err != nil {
				note(err)
				continue
			}
			ppt = c.p.Header.PPT
		}
		switch ppt {
		case PPTShaken, "":
			primaries = append(primaries, c)
		case PPTDiv:
			divs = append(divs, c)
		default:
			// RFC 8225 §8.1: an unsupported ppt is not validated; other
			// Identity header fields may still be.
			note(fmt.Errorf("%w: ppt %q", ErrUnsupported, ppt))
		}
	}
	if len(primaries) == 0 {
		if firstErr == nil {
			firstErr = fmt.Errorf("%w: only \"div\" PASSporTs, no original one", ErrMalformed)
		}
		var p *PASSporT
		if len(divs) > 0 {
			p = divs[0].p
		}
		return v.fail(p, firstErr)
	}
	var failed *PASSporT
	primaryErr := error(nil)
	for _, c := range primaries {
		res, err := v.verifyPrimary(ctx, c, divs, req, now)
		if err == nil {
			return res, nil
		}
		if primaryErr == nil {
			primaryErr, failed = err, c.p
		}
	}
	return v.fail(failed, primaryErr)
}

// fail builds the Result for a failed or impossible verification.
func (v *Verifier) fail(p *PASSporT, err error) (*Result, error) {
	ve := verifyError(err)
	res := &Result{Verstat: VerstatFailed, PASSporT: p, Err: ve}
	if errors.Is(err, ErrNoIdentity) || (v.cfg.Permissive && errors.Is(err, ErrFetch)) {
		res.Verstat = VerstatNoValidation
	}
	return res, ve
}

// VerifyPASSporT verifies a full-form PASSporT outside SIP: header, mandatory
// claims, iat freshness, certificate chain and signature. It does not compare
// orig and dest with anything. Result and error are as for VerifyRequest.
func (v *Verifier) VerifyPASSporT(ctx context.Context, token string) (*Result, error) {
	p, err := ParsePASSporT(token)
	if err != nil {
		return v.fail(nil, err)
	}
	if err := v.checkPASSporT(p, Identity{}, v.now()); err != nil {
		return v.fail(p, err)
	}
	cred, err := v.credential(ctx, p.Header.X5U)
	if err != nil {
		return v.fail(p, err)
	}
	if err := v.checkSignature(p, cred); err != nil {
		return v.fail(p, err)
	}
	return &Result{Verstat: VerstatPassed, PASSporT: p, Attestation: p.Claims.Attest,
		Chain: cred.chain, TNAuthList: cred.tnAuth}, nil
}

// checkPASSporT checks what needs no network: the JOSE header against the
// Identity parameters, the mandatory claims and iat freshness.
func (v *Verifier) checkPASSporT(p *PASSporT, id Identity, now time.Time) error {
	h := &p.Header
	switch {
	case h.Alg != AlgES256:
		return fmt.Errorf("%w: alg %q", ErrUnsupported, h.Alg)
	case id.Alg != "" && id.Alg != AlgES256:
		return fmt.Errorf("%w: alg parameter %q", ErrUnsupported, id.Alg)
	case !strings.EqualFold(h.Typ, TypPASSporT):
		return fmt.Errorf("%w: typ %q", ErrMalformed, h.Typ)
	case id.PPT != "" && id.PPT != h.PPT:
		// RFC 8224 §4: the ppt parameter names the PASSporT's ppt.
		return fmt.Errorf("%w: ppt parameter %q but PASSporT ppt %q", ErrMalformed, id.PPT, h.PPT)
	case h.X5U == "":
		return fmt.Errorf("%w: missing x5u", ErrMalformed)
	case id.Info != "" && id.Info != h.X5U:
		// ATIS-1000074 §5.3.1: info and x5u name the same certificate.
		return fmt.Errorf("%w: info %q differs from x5u %q", ErrMalformed, clip(id.Info), clip(h.X5U))
	}
	if err := p.checkClaims(); err != nil {
		return err
	}
	return v.checkFresh(p.Claims.IAT, now)
}

func (v *Verifier) checkFresh(iat int64, now time.Time) error {
	d := now.Sub(time.Unix(iat, 0))
	if d > v.cfg.Freshness || d < -v.cfg.Freshness {
		return fmt.Errorf("%w: iat %d is %v from now", ErrStale, iat, d.Round(time.Second))
	}
	return nil
}

func (v *Verifier) checkSignature(p *PASSporT, cred *credential) error {
	if !verifyES256(cred.pub, p.input, p.sig) {
		return ErrSignature
	}
	return nil
}

// checkAuthority checks orig against the certificate's TN Authorization List
// when that lists numbers: RFC 8226 §9 limits the signer to them. A list
// with a service provider code defers to records this package cannot see.
func (v *Verifier) checkAuthority(p *PASSporT, cred *credential) error {
	l := cred.tnAuth
	if l == nil || len(l.SPCs) > 0 || (len(l.TNs) == 0 && len(l.Ranges) == 0) {
		return nil
	}
	tn, ok := v.cfg.Numbering.Normalize(p.Claims.Orig.TN)
	if !ok || !l.Covers(tn) {
		return fmt.Errorf("%w: orig %q is outside the certificate's TNAuthList", ErrCertificate, p.Claims.Orig.TN)
	}
	return nil
}

// verifyPrimary verifies one SHAKEN or base PASSporT against req.
func (v *Verifier) verifyPrimary(ctx context.Context, c candidate, divs []candidate, req *sip.Request, now time.Time) (*Result, error) {
	if c.p == nil {
		return v.verifyCompact(ctx, c.id, req, now)
	}
	p := c.p
	if err := v.checkPASSporT(p, c.id, now); err != nil {
		return nil, err
	}
	// ATIS-1000074 §5.3.1: orig is compared with P-Asserted-Identity, or
	// From; any of them matching is accepted.
	if !v.matchesAny(p.Claims.Orig, origCandidates(req)) {
		return nil, fmt.Errorf("%w: orig %s is not the caller", ErrMismatch, p.Claims.Orig)
	}
	targets := destCandidates(req)
	destOK := v.destMatches(p.Claims.Dest, targets)
	if !destOK && len(divs) == 0 {
		return nil, fmt.Errorf("%w: dest %s is not the callee", ErrMismatch, p.Claims.Dest)
	}
	cred, err := v.credential(ctx, p.Header.X5U)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(p, cred); err != nil {
		return nil, err
	}
	if err := v.checkAuthority(p, cred); err != nil {
		return nil, err
	}
	res := &Result{Verstat: VerstatPassed, PASSporT: p, Attestation: p.Claims.Attest,
		Chain: cred.chain, TNAuthList: cred.tnAuth}
	if !destOK {
		chain, err := v.followDiversions(ctx, p, divs, targets, now)
		if err != nil {
			return nil, err
		}
		res.Diverted = chain
	}
	return res, nil
}

// followDiversions links the original PASSporT to the current target through
// "div" PASSporTs (RFC 8946 §3): each one's div names a dest of the previous
// one, its orig is the original caller, and the last one's dest is the target.
func (v *Verifier) followDiversions(ctx context.Context, orig *PASSporT, divs []candidate, targets []sip.Uri, now time.Time) ([]*PASSporT, error) {
	used := make([]bool, len(divs))
	dest := orig.Claims.Dest
	var chain []*PASSporT
	var lastErr error
	for hop := 0; hop < len(divs); hop++ {
		next := -1
		for i, d := range divs {
			if used[i] || d.p == nil || !v.inDest(d.p.Claims.Div, dest) {
				continue
			}
			used[i] = true
			if err := v.verifyDiv(ctx, d, orig, now); err != nil {
				lastErr = err
				continue
			}
			next = i
			break
		}
		if next < 0 {
			break
		}
		p := divs[next].p
		chain = append(chain, p)
		if v.destMatches(p.Claims.Dest, targets) {
			return chain, nil
		}
		dest = p.Claims.Dest
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("%w: dest %s is not the callee and no \"div\" PASSporT leads to it", ErrMismatch, orig.Claims.Dest)
}

func (v *Verifier) verifyDiv(ctx context.Context, d candidate, orig *PASSporT, now time.Time) error {
	p := d.p
	if err := v.checkPASSporT(p, d.id, now); err != nil {
		return err
	}
	if !v.cfg.Numbering.sameParty(p.Claims.Orig, orig.Claims.Orig) {
		return fmt.Errorf("%w: \"div\" PASSporT orig %s differs from %s", ErrMismatch, p.Claims.Orig, orig.Claims.Orig)
	}
	cred, err := v.credential(ctx, p.Header.X5U)
	if err != nil {
		return err
	}
	return v.checkSignature(p, cred)
}

// maxCompactTries bounds the header/claims reconstructions tried for one
// compact-form PASSporT.
const maxCompactTries = 8

// verifyCompact verifies a compact-form base PASSporT (RFC 8225 §7) by
// rebuilding header and claims from the request as RFC 8224 §6.2 describes:
// x5u from info, orig from P-Asserted-Identity or From, dest from To or the
// Request-URI, iat from the Date header. SHAKEN PASSporTs cannot be rebuilt
// (attest and origid are not in the request), so they must be in full form.
func (v *Verifier) verifyCompact(ctx context.Context, id Identity, req *sip.Request, now time.Time) (*Result, error) {
	if id.PPT != "" {
		return nil, fmt.Errorf("%w: compact form with ppt %q", ErrUnsupported, id.PPT)
	}
	if id.Alg != "" && id.Alg != AlgES256 {
		return nil, fmt.Errorf("%w: alg parameter %q", ErrUnsupported, id.Alg)
	}
	if id.Info == "" {
		return nil, fmt.Errorf("%w: compact form without info", ErrMalformed)
	}
	sig, err := decodeSegment(id.Token[2:])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	dates := sip.HeaderValues(req, "Date")
	if len(dates) == 0 {
		return nil, fmt.Errorf("%w: compact form needs a Date header", ErrMalformed)
	}
	date, err := http.ParseTime(strings.TrimSpace(dates[0]))
	if err != nil {
		return nil, fmt.Errorf("%w: Date: %w", ErrMalformed, err)
	}
	iat := date.Unix()
	if err := v.checkFresh(iat, now); err != nil {
		return nil, err
	}
	cred, err := v.credential(ctx, id.Info)
	if err != nil {
		return nil, err
	}
	h := Header{Alg: AlgES256, Typ: TypPASSporT, X5U: id.Info}
	tries := 0
try:
	for _, o := range origCandidates(req) {
		for _, d := range destCandidates(req) {
			if tries++; tries > maxCompactTries {
				break try
			}
			dp := v.cfg.Numbering.partyOf(&d)
			c := Claims{Orig: v.cfg.Numbering.partyOf(&o), IAT: iat}
			if dp.TN != "" {
				c.Dest.TN = []string{dp.TN}
			} else {
				c.Dest.URI = []string{dp.URI}
			}
			p := &PASSporT{Header: h, Claims: c, input: signingInput(&h, &c), sig: sig}
			if v.checkSignature(p, cred) == nil {
				if err := v.checkAuthority(p, cred); err != nil {
					return nil, err
				}
				return &Result{Verstat: VerstatPassed, PASSporT: p, Chain: cred.chain, TNAuthList: cred.tnAuth}, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: compact form matches no orig/dest of the request", ErrSignature)
}

// matchesAny reports whether p names one of uris.
func (v *Verifier) matchesAny(p Party, uris []sip.Uri) bool {
	for i := range uris {
		if v.cfg.Numbering.partyIs(p, &uris[i]) {
			return true
		}
	}
	return false
}

// destMatches reports whether d names one of uris.
func (v *Verifier) destMatches(d Dest, uris []sip.Uri) bool {
	for i := range uris {
		for _, tn := range d.TN {
			if v.cfg.Numbering.partyIs(Party{TN: tn}, &uris[i]) {
				return true
			}
		}
		for _, u := range d.URI {
			if v.cfg.Numbering.partyIs(Party{URI: u}, &uris[i]) {
				return true
			}
		}
	}
	return false
}

// inDest reports whether p is one of d's identities.
func (v *Verifier) inDest(p Party, d Dest) bool {
	for _, tn := range d.TN {
		if v.cfg.Numbering.sameParty(p, Party{TN: tn}) {
			return true
		}
	}
	for _, u := range d.URI {
		if v.cfg.Numbering.sameParty(p, Party{URI: u}) {
			return true
		}
	}
	return false
}

// String formats p as its claim JSON.
func (p Party) String() string { return string(p.appendJSON(nil)) }

// String formats d as its claim JSON.
func (d Dest) String() string { return string(d.appendJSON(nil)) }
