package stir

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/siphon-go/siphon/sip"
)

// SignerConfig tunes a Signer. The zero value signs with gateway attestation
// (C), a random origid and the clock of the machine.
type SignerConfig struct {
	// DefaultAttestation is the attest claim used when Attest is nil or
	// returns "". Default AttestationGateway (C), the level that claims the
	// least, so that a signer without a policy never over-attests
	// (ATIS-1000074 §5.2.3).
	DefaultAttestation Attestation

	// Attest decides the attestation of each request SignRequest signs: A
	// when the caller is authenticated and owns the number, B when only the
	// caller is known, C for a gateway. Returning "" selects
	// DefaultAttestation; returning an error aborts signing with it.
	// Default nil: always DefaultAttestation.
	Attest func(ctx context.Context, req *sip.Request) (Attestation, error)

	// OrigID is the origid claim: a UUID naming this entry point into the
	// network, kept stable so that calls can be traced back (RFC 8588).
	// Default: a random version 4 UUID chosen by NewSigner.
	OrigID string

	// Numbering canonicalises the numbers put in orig, dest and div.
	// Default: RFC 8224 §8.3 without national-number rules.
	Numbering Numbering

	// Clock returns the current time, which becomes iat. Default time.Now.
	Clock func() time.Time

	// Logger receives Middleware's record of requests it could not sign.
	// Default: no logging.
	Logger *slog.Logger
}

// Signer is a STIR/SHAKEN authentication service (RFC 8224 §5,
// ATIS-1000074 §5.2): it signs PASSporTs with an STI certificate's private key
// and attaches them to requests as Identity header fields. Its methods may be
// called concurrently.
type Signer struct {
	key crypto.Signer
	x5u string
	cfg SignerConfig
	log *slog.Logger
}

// NewSigner returns a Signer that signs with key, the private key of the STI
// certificate published at x5u (an absolute http or https URL; verifiers
// insist on https by default). key must be an EC P-256 key; it may live in an
// HSM behind the crypto.Signer interface.
func NewSigner(key crypto.Signer, x5u string, cfg SignerConfig) (*Signer, error) {
	if key == nil {
		return nil, errors.New("stir: nil signing key")
	}
	if pub, ok := key.Public().(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("stir: signing key is not EC P-256 (ES256)")
	}
	u, err := url.Parse(x5u)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(x5u) > maxURLLen {
		return nil, fmt.Errorf("stir: x5u %q is not an absolute http(s) URL", clip(x5u))
	}
	if cfg.DefaultAttestation == "" {
		cfg.DefaultAttestation = AttestationGateway
	}
	if !cfg.DefaultAttestation.Valid() {
		return nil, fmt.Errorf("stir: default attestation %q is not A, B or C", cfg.DefaultAttestation)
	}
	if cfg.OrigID == "" {
		cfg.OrigID = newUUID()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	s := &Signer{key: key, x5u: x5u, cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// X5U returns the certificate URL put in every PASSporT.
func (s *Signer) X5U() string { return s.x5u }

// OrigID returns the origid claim of the SHAKEN PASSporTs the Signer makes.
func (s *Signer) OrigID() string { return s.cfg.OrigID }

// newUUID returns a random version 4 UUID (RFC 9562 §5.4).
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Sign signs claims as a PASSporT of type ppt: PPTShaken, PPTDiv or "" for a
// base PASSporT. Telephone numbers are canonicalised; a zero IAT becomes the
// current time; for PPTShaken an empty Attest becomes DefaultAttestation and
// an empty OrigID the Signer's. Mandatory claims must be present: orig and
// dest, and div for PPTDiv.
func (s *Signer) Sign(ppt string, claims Claims) (*PASSporT, error) {
	switch ppt {
	case "", PPTShaken, PPTDiv:
	default:
		return nil, fmt.Errorf("%w: ppt %q", ErrUnsupported, ppt)
	}
	c := claims
	c.Orig = s.canonParty(c.Orig)
	c.Div = s.canonParty(c.Div)
	if len(c.Dest.TN) > 0 {
		tns := make([]string, len(c.Dest.TN))
		for i, tn := range c.Dest.TN {
			tns[i] = s.canonTN(tn)
		}
		c.Dest.TN = tns
	}
	if c.IAT == 0 {
		c.IAT = s.cfg.Clock().Unix()
	}
	if ppt == PPTShaken {
		if c.Attest == "" {
			c.Attest = s.cfg.DefaultAttestation
		}
		if c.OrigID == "" {
			c.OrigID = s.cfg.OrigID
		}
	}
	p := &PASSporT{Header: Header{Alg: AlgES256, PPT: ppt, Typ: TypPASSporT, X5U: s.x5u}, Claims: c}
	if err := p.checkClaims(); err != nil {
		return nil, err
	}
	p.input = signingInput(&p.Header, &p.Claims)
	sig, err := signES256(s.key, p.input)
	if err != nil {
		return nil, err
	}
	p.sig = sig
	return p, nil
}

func (s *Signer) canonTN(tn string) string {
	if n, ok := s.cfg.Numbering.Normalize(tn); ok {
		return n
	}
	return tn
}

func (s *Signer) canonParty(p Party) Party {
	if p.TN != "" {
		p.TN = s.canonTN(p.TN)
	}
	return p
}

// SignRequest signs req in place as an originating authentication service
// (RFC 8224 §5, ATIS-1000074 §5.2): it builds a SHAKEN PASSporT with orig
// from the first P-Asserted-Identity or From that is a telephone number, dest
// from To (the Request-URI when To holds no number), the attestation from
// SignerConfig.Attest, adds a Date header if there is none (RFC 8224 §5) and
// appends the Identity header field.
//
// A proxy calls it on the copy of a request it is about to relay. It returns
// ErrNoTN, wrapped, when the caller is not a telephone number, and leaves req
// unchanged on any error.
func (s *Signer) SignRequest(ctx context.Context, req *sip.Request) error {
	orig, ok := s.callerTN(req)
	if !ok {
		return fmt.Errorf("%w: no telephone number in P-Asserted-Identity or From", ErrNoTN)
	}
	attest := s.cfg.DefaultAttestation
	if s.cfg.Attest != nil {
		a, err := s.cfg.Attest(ctx, req)
		if err != nil {
			return fmt.Errorf("stir: attestation policy: %w", err)
		}
		if a != "" {
			attest = a
		}
	}
	if !attest.Valid() {
		return fmt.Errorf("stir: attestation policy returned %q", attest)
	}
	now := s.cfg.Clock()
	p, err := s.Sign(PPTShaken, Claims{
		Attest: attest,
		Dest:   s.calledDest(req),
		IAT:    now.Unix(),
		Orig:   Party{TN: orig},
	})
	if err != nil {
		return err
	}
	addDate(req, now)
	req.AppendHeader(NewIdentity(p).Header())
	return nil
}

// SignDiverted adds a "div" PASSporT (RFC 8946 §3) to a request that this
// element retargeted: its div claim is the former destination, its dest the
// new Request-URI and its orig the original caller, both taken from the
// request's SHAKEN (or base) PASSporT when it has a full-form one, else from
// To and P-Asserted-Identity/From. It returns ErrNotDiverted when the
// Request-URI names the same number as the former destination, since RFC 8946
// forbids a "div" PASSporT then.
func (s *Signer) SignDiverted(ctx context.Context, req *sip.Request) error {
	n := s.cfg.Numbering
	var orig, div Party
	if p := originalPASSporT(req); p != nil {
		orig = p.Claims.Orig
		// RFC 8946 §3: exactly one of the original dest values becomes div;
		// prefer the one the To header still names.
		to := req.To()
		for _, tn := range p.Claims.Dest.TN {
			if to != nil && n.partyIs(Party{TN: tn}, &to.Address) {
				div = Party{TN: tn}
				break
			}
		}
		if div.IsZero() {
			switch {
			case len(p.Claims.Dest.TN) > 0:
				div = Party{TN: p.Claims.Dest.TN[0]}
			case len(p.Claims.Dest.URI) > 0:
				div = Party{URI: p.Claims.Dest.URI[0]}
			}
		}
	}
	if orig.IsZero() {
		tn, ok := s.callerTN(req)
		if !ok {
			return fmt.Errorf("%w: no telephone number in P-Asserted-Identity or From", ErrNoTN)
		}
		orig = Party{TN: tn}
	}
	if div.IsZero() {
		to := req.To()
		if to == nil {
			return fmt.Errorf("%w: no To header", ErrMalformed)
		}
		div = n.partyOf(&to.Address)
	}
	target := n.partyOf(&req.Recipient)
	if n.sameParty(target, div) {
		return ErrNotDiverted
	}
	var dest Dest
	if target.TN != "" {
		dest.TN = []string{target.TN}
	} else {
		dest.URI = []string{target.URI}
	}
	now := s.cfg.Clock()
	p, err := s.Sign(PPTDiv, Claims{Dest: dest, Div: div, IAT: now.Unix(), Orig: orig})
	if err != nil {
		return err
	}
	addDate(req, now)
	req.AppendHeader(NewIdentity(p).Header())
	return nil
}

// originalPASSporT returns the first full-form PASSporT in req that is not a
// "div" one, without verifying it.
func originalPASSporT(req *sip.Request) *PASSporT {
	values, _ := sip.ListValues(req, "Identity")
	for i, val := range values {
		if i == maxIdentities {
			break
		}
		id, err := ParseIdentity(val)
		if err != nil || id.Compact() {
			continue
		}
		p, err := ParsePASSporT(id.Token)
		if err == nil && p.Header.PPT != PPTDiv {
			return p
		}
	}
	return nil
}

func (s *Signer) callerTN(req *sip.Request) (string, bool) {
	for _, u := range origCandidates(req) {
		if tn, ok := s.cfg.Numbering.uriTN(&u); ok {
			return tn, true
		}
	}
	return "", false
}

// calledDest returns dest for a new PASSporT: the number in To (RFC 8224
// §5), else the number in the Request-URI, else To's URI.
func (s *Signer) calledDest(req *sip.Request) Dest {
	n := s.cfg.Numbering
	var to *sip.Uri
	if t := req.To(); t != nil {
		to = &t.Address
		if tn, ok := n.uriTN(to); ok {
			return Dest{TN: []string{tn}}
		}
	}
	if tn, ok := n.uriTN(&req.Recipient); ok {
		return Dest{TN: []string{tn}}
	}
	if to == nil {
		to = &req.Recipient
	}
	return Dest{URI: []string{uriKey(to)}}
}

// addDate adds a Date header for now unless req has one.
func addDate(req *sip.Request, now time.Time) {
	if len(sip.HeaderValues(req, "Date")) == 0 {
		req.AppendHeader(sip.NewHeader("Date", now.UTC().Format(http.TimeFormat)))
	}
}

// Middleware returns a sip.Middleware for an originating element: each
// initial INVITE (no To tag) that carries no Identity header is copied,
// signed with SignRequest and passed on; other requests pass unchanged. A
// request that cannot be signed (its caller is no telephone number, the
// policy fails) is logged at debug level and passed on unsigned, as
// ATIS-1000074 lets unsigned calls proceed.
func (s *Signer) Middleware(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method != sip.INVITE || hasToTag(req) || len(sip.HeaderValues(req, "Identity")) > 0 {
			next.ServeSIP(ctx, w, req)
			return
		}
		signed := sip.CloneRequest(req)
		if err := s.SignRequest(ctx, signed); err != nil {
			s.log.DebugContext(ctx, "stir: INVITE not signed", "call-id", callID(req), "error", err)
			next.ServeSIP(ctx, w, req)
			return
		}
		next.ServeSIP(ctx, w, signed)
	})
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil || to.Params == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}

func callID(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return c.Value()
	}
	return ""
}
