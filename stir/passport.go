package stir

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PASSporT header values (RFC 8225 §4, RFC 8588, RFC 8946).
const (
	// AlgES256 is the only signature algorithm SHAKEN allows
	// (ATIS-1000074 §5.2.1).
	AlgES256 = "ES256"
	// TypPASSporT is the "typ" of every PASSporT (RFC 8225 §4.1).
	TypPASSporT = "passport"
	// PPTShaken marks a SHAKEN PASSporT carrying attest and origid
	// (RFC 8588).
	PPTShaken = "shaken"
	// PPTDiv marks a diverted-call PASSporT carrying the div claim
	// (RFC 8946 §3).
	PPTDiv = "div"
)

// Attestation is the SHAKEN attestation level in the "attest" claim
// (RFC 8588 §4, ATIS-1000074 §5.2.3).
type Attestation string

const (
	// AttestationFull (A): the signer authenticated the caller and the caller
	// is authorised to use the calling number.
	AttestationFull Attestation = "A"
	// AttestationPartial (B): the signer authenticated the caller but cannot
	// vouch for the calling number.
	AttestationPartial Attestation = "B"
	// AttestationGateway (C): the signer only knows where the call entered
	// its network.
	AttestationGateway Attestation = "C"
)

// Valid reports whether a is A, B or C.
func (a Attestation) Valid() bool {
	return a == AttestationFull || a == AttestationPartial || a == AttestationGateway
}

// Header is the JOSE header of a PASSporT (RFC 8225 §4).
type Header struct {
	// Alg is the JWS algorithm; always ES256 here.
	Alg string
	// PPT is the PASSporT extension: "shaken", "div" or "" for a base
	// PASSporT.
	PPT string
	// Typ is "passport".
	Typ string
	// X5U is the HTTPS URL of the signer's certificate chain.
	X5U string
}

// Party is a single identity in the "orig" and "div" claims: a telephone
// number in canonical form (RFC 8224 §8.3) or a URI (RFC 8225 §5.2.1).
// Exactly one of the fields is normally set.
type Party struct {
	// TN is a telephone number in canonical form: digits, no '+'.
	TN string
	// URI is a URI such as sip:alice@example.com.
	URI string
}

// IsZero reports whether p names nobody.
func (p Party) IsZero() bool { return p.TN == "" && p.URI == "" }

// Dest is the "dest" claim: the called telephone numbers and URIs
// (RFC 8225 §5.2.1).
type Dest struct {
	// TN are telephone numbers in canonical form.
	TN []string
	// URI are URIs.
	URI []string
}

// IsZero reports whether d names nobody.
func (d Dest) IsZero() bool { return len(d.TN) == 0 && len(d.URI) == 0 }

// Claims is the PASSporT payload: the base claims of RFC 8225 §5, the SHAKEN
// claims of RFC 8588 and the diversion claims of RFC 8946.
type Claims struct {
	// Attest is the SHAKEN attestation level (ppt "shaken").
	Attest Attestation
	// Dest names the called party.
	Dest Dest
	// Div is the previous destination of a diverted call (ppt "div").
	Div Party
	// IAT is the issue time in seconds since the Unix epoch.
	IAT int64
	// Opt is an encapsulated PASSporT ("div-o", RFC 8946 §5), kept verbatim.
	Opt string
	// Orig names the calling party.
	Orig Party
	// OrigID is the SHAKEN origination identifier, a UUID (ppt "shaken").
	OrigID string
}

// PASSporT is a signed Personal Assertion Token (RFC 8225): header, claims and
// the JWS signature. A PASSporT returned by Sign, ParsePASSporT or a Verifier
// is not modified afterwards and may be shared between goroutines.
type PASSporT struct {
	// Header is the decoded JOSE header.
	Header Header
	// Claims are the decoded claims.
	Claims Claims

	// input is "BASE64URL(header).BASE64URL(claims)", the JWS signing input
	// exactly as signed or received; sig is the raw 64-byte R||S signature.
	input string
	sig   []byte
}

// Token returns the full form of the PASSporT, "header.claims.signature"
// (RFC 8225 §6, JWS compact serialization).
func (p *PASSporT) Token() string {
	return p.input + "." + b64.EncodeToString(p.sig)
}

// Compact returns the compact form "..signature" (RFC 8225 §7): header and
// claims are left out and the receiver rebuilds them from the SIP request
// (RFC 8224 §6.2). Only base PASSporTs (empty PPT) can be verified that way.
func (p *PASSporT) Compact() string {
	return ".." + b64.EncodeToString(p.sig)
}

var b64 = base64.RawURLEncoding

// appendJSON appends the header in the deterministic serialization of RFC 8225
// §9: keys in lexicographic order, no white space.
func (h *Header) appendJSON(b []byte) []byte {
	b = append(b, `{"alg":`...)
	b = appendString(b, h.Alg)
	if h.PPT != "" {
		b = append(b, `,"ppt":`...)
		b = appendString(b, h.PPT)
	}
	b = append(b, `,"typ":`...)
	b = appendString(b, h.Typ)
	if h.X5U != "" {
		b = append(b, `,"x5u":`...)
		b = appendString(b, h.X5U)
	}
	return append(b, '}')
}

// appendJSON appends the claims in the RFC 8225 §9 deterministic form. The
// member order below is the lexicographic order of the claim names: attest,
// dest, div, iat, opt, orig, origid.
func (c *Claims) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if c.Attest != "" {
		b = append(b, `"attest":`...)
		b = appendString(b, string(c.Attest))
		b = append(b, ',')
	}
	b = append(b, `"dest":`...)
	b = c.Dest.appendJSON(b)
	b = append(b, ',')
	if !c.Div.IsZero() {
		b = append(b, `"div":`...)
		b = c.Div.appendJSON(b)
		b = append(b, ',')
	}
	b = append(b, `"iat":`...)
	b = strconv.AppendInt(b, c.IAT, 10)
	if c.Opt != "" {
		b = append(b, `,"opt":`...)
		b = appendString(b, c.Opt)
	}
	b = append(b, `,"orig":`...)
	b = c.Orig.appendJSON(b)
	if c.OrigID != "" {
		b = append(b, `,"origid":`...)
		b = appendString(b, c.OrigID)
	}
	return append(b, '}')
}

// appendJSON appends {"tn":"..."} or {"uri":"..."}: orig and div hold one
// identity as a string, not an array (RFC 8225 §5.2.1, RFC 8946 §3).
func (p *Party) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if p.TN != "" {
		b = append(b, `"tn":`...)
		b = appendString(b, p.TN)
	}
	if p.URI != "" {
		if p.TN != "" {
			b = append(b, ',')
		}
		b = append(b, `"uri":`...)
		b = appendString(b, p.URI)
	}
	return append(b, '}')
}

// appendJSON appends {"tn":[...],"uri":[...]}: dest values are arrays, even
// for a single identity (RFC 8225 §5.2.1).
func (d *Dest) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if len(d.TN) > 0 {
		b = append(b, `"tn":`...)
		b = appendStrings(b, d.TN)
	}
	if len(d.URI) > 0 {
		if len(d.TN) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"uri":`...)
		b = appendStrings(b, d.URI)
	}
	return append(b, '}')
}

func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string with the minimal escaping RFC 8259
// requires: quote, backslash and control characters. Unlike encoding/json it
// leaves '<', '>' and '&' alone, so a verifier rebuilding a compact-form
// PASSporT with any JSON library gets the same bytes.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// signingInput builds BASE64URL(header) "." BASE64URL(claims).
func signingInput(h *Header, c *Claims) string {
	var buf [512]byte
	hj := h.appendJSON(buf[:0])
	cj := c.appendJSON(hj[len(hj):])
	out := make([]byte, b64.EncodedLen(len(hj))+1+b64.EncodedLen(len(cj)))
	b64.Encode(out, hj)
	n := b64.EncodedLen(len(hj))
	out[n] = '.'
	b64.Encode(out[n+1:], cj)
	return string(out)
}

// signES256 signs input with key and returns the JWS ES256 signature: R and S
// as two 32-byte big-endian integers (RFC 7518 §3.4), converted from the
// ASN.1 form crypto.Signer returns.
func signES256(key crypto.Signer, input string) ([]byte, error) {
	digest := sha256.Sum256([]byte(input))
	der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("stir: sign: %w", err)
	}
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, fmt.Errorf("stir: sign: signer returned a malformed ECDSA signature")
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return sig, nil
}

// verifyES256 checks an ES256 JWS signature over input.
func verifyES256(pub *ecdsa.PublicKey, input string, sig []byte) bool {
	if len(sig) != 64 || pub == nil || pub.Curve != elliptic.P256() {
		return false
	}
	digest := sha256.Sum256([]byte(input))
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest[:], r, s)
}

// maxTokenLen bounds the PASSporT text accepted from the wire. Real SHAKEN
// tokens are about 500 bytes; RCD ones stay well under 4 KiB.
const maxTokenLen = 8192

// ParsePASSporT decodes a full-form PASSporT ("header.claims.signature")
// without verifying it. It accepts the shapes real-world signers produce
// besides the RFC's: orig/dest/div given as strings (sometimes holding
// JSON-encoded objects) instead of objects, and single numbers instead of
// arrays in dest. Errors wrap ErrMalformed.
func ParsePASSporT(token string) (*PASSporT, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: PASSporT longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	i := strings.IndexByte(token, '.')
	j := strings.LastIndexByte(token, '.')
	if i <= 0 || j <= i+1 || j == len(token)-1 {
		return nil, fmt.Errorf("%w: PASSporT is not header.claims.signature", ErrMalformed)
	}
	p := &PASSporT{input: token[:j]}
	hj, err := decodeSegment(token[:i])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	cj, err := decodeSegment(token[i+1 : j])
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	if p.sig, err = decodeSegment(token[j+1:]); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	if err := decodeHeader(hj, &p.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if err := decodeClaims(cj, &p.Claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	return p, nil
}

// decodeSegment decodes base64url without padding; trailing '=' padding,
// which some signers add, is tolerated.
func decodeSegment(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.IndexByte(s, '.') >= 0 {
		return nil, fmt.Errorf("unexpected '.'")
	}
	return b64.DecodeString(s)
}

func decodeHeader(data []byte, h *Header) error {
	var w struct {
		Alg string `json:"alg"`
		PPT string `json:"ppt"`
		Typ string `json:"typ"`
		X5U string `json:"x5u"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*h = Header{Alg: w.Alg, PPT: w.PPT, Typ: w.Typ, X5U: w.X5U}
	return nil
}

// rfcClaims is the claims object exactly as RFC 8225, RFC 8588 and RFC 8946
// shape it. Decoding into it is the fast path; anything else falls back to the
// lenient decoder.
type rfcClaims struct {
	Attest string `json:"attest"`
	Dest   struct {
		TN  []string `json:"tn"`
		URI []string `json:"uri"`
	} `json:"dest"`
	Div struct {
		TN  string `json:"tn"`
		URI string `json:"uri"`
	} `json:"div"`
	IAT  int64  `json:"iat"`
	Opt  string `json:"opt"`
	Orig struct {
		TN  string `json:"tn"`
		URI string `json:"uri"`
	} `json:"orig"`
	OrigID string `json:"origid"`
}

func decodeClaims(data []byte, c *Claims) error {
	var r rfcClaims
	if json.Unmarshal(data, &r) == nil {
		*c = Claims{
			Attest: Attestation(r.Attest),
			Dest:   Dest{TN: r.Dest.TN, URI: r.Dest.URI},
			Div:    Party{TN: r.Div.TN, URI: r.Div.URI},
			IAT:    r.IAT,
			Opt:    r.Opt,
			Orig:   Party{TN: r.Orig.TN, URI: r.Orig.URI},
			OrigID: r.OrigID,
		}
		return nil
	}
	return decodeClaimsLenient(data, c)
}

// decodeClaimsLenient decodes claims member by member, accepting the
// non-RFC shapes described at ParsePASSporT.
func decodeClaimsLenient(data []byte, c *Claims) error {
	*c = Claims{}
	var w struct {
		Attest json.RawMessage `json:"attest"`
		Dest   json.RawMessage `json:"dest"`
		Div    json.RawMessage `json:"div"`
		IAT    json.RawMessage `json:"iat"`
		Opt    json.RawMessage `json:"opt"`
		Orig   json.RawMessage `json:"orig"`
		OrigID json.RawMessage `json:"origid"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	var err error
	var s string
	if s, err = optString(w.Attest, "attest"); err != nil {
		return err
	}
	c.Attest = Attestation(s)
	if c.OrigID, err = optString(w.OrigID, "origid"); err != nil {
		return err
	}
	if c.Opt, err = optString(w.Opt, "opt"); err != nil {
		return err
	}
	if len(w.IAT) > 0 {
		if c.IAT, err = decodeIAT(w.IAT); err != nil {
			return err
		}
	}
	if len(w.Orig) > 0 {
		if c.Orig, err = decodeParty(w.Orig, true); err != nil {
			return fmt.Errorf("orig: %w", err)
		}
	}
	if len(w.Div) > 0 {
		if c.Div, err = decodeParty(w.Div, true); err != nil {
			return fmt.Errorf("div: %w", err)
		}
	}
	if len(w.Dest) > 0 {
		if c.Dest, err = decodeDest(w.Dest, true); err != nil {
			return fmt.Errorf("dest: %w", err)
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func optString(raw json.RawMessage, name string) (string, error) {
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", name)
	}
	return s, nil
}

// decodeIAT accepts an integer, an integral number in exponent form, or a
// string of digits.
func decodeIAT(raw json.RawMessage) (int64, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, err
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, fmt.Errorf("iat is not a number")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) || f < 0 || f > 1<<40 {
		return 0, fmt.Errorf("iat is not an integer")
	}
	return int64(f), nil
}

// stringOrList decodes a JSON string or an array of strings.
func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("want a string or an array of strings")
	}
	return list, nil
}

type identityObject struct {
	TN  json.RawMessage `json:"tn"`
	URI json.RawMessage `json:"uri"`
}

// decodeParty reads orig or div. The RFC form is {"tn":"..."} or
// {"uri":"..."}; an array holding one value, a bare string, and (with
// nested) a string holding such an object's JSON are accepted too.
func decodeParty(raw json.RawMessage, nested bool) (Party, error) {
	var p Party
	if isNull(raw) {
		return p, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t := strings.TrimSpace(s); nested && strings.HasPrefix(t, "{") {
			return decodeParty(json.RawMessage(t), false)
		}
		if strings.IndexByte(s, ':') > 0 {
			p.URI = s
		} else {
			p.TN = s
		}
		return p, nil
	}
	var obj identityObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		return p, fmt.Errorf("want an object with tn or uri")
	}
	if len(obj.TN) > 0 && !isNull(obj.TN) {
		list, err := stringOrList(obj.TN)
		if err != nil {
			return p, fmt.Errorf("tn: %w", err)
		}
		if len(list) > 0 {
			p.TN = list[0]
		}
	}
	if len(obj.URI) > 0 && !isNull(obj.URI) {
		list, err := stringOrList(obj.URI)
		if err != nil {
			return p, fmt.Errorf("uri: %w", err)
		}
		if len(list) > 0 {
			p.URI = list[0]
		}
	}
	return p, nil
}

// decodeDest reads dest: {"tn":[...],"uri":[...]} per the RFC; single strings
// in place of arrays, a bare string, and a string holding the object's JSON
// are accepted too.
func decodeDest(raw json.RawMessage, nested bool) (Dest, error) {
	var d Dest
	if isNull(raw) {
		return d, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t := strings.TrimSpace(s); nested && strings.HasPrefix(t, "{") {
			return decodeDest(json.RawMessage(t), false)
		}
		if strings.IndexByte(s, ':') > 0 {
			d.URI = []string{s}
		} else {
			d.TN = []string{s}
		}
		return d, nil
	}
	var obj identityObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		return d, fmt.Errorf("want an object with tn or uri")
	}
	var err error
	if len(obj.TN) > 0 && !isNull(obj.TN) {
		if d.TN, err = stringOrList(obj.TN); err != nil {
			return d, fmt.Errorf("tn: %w", err)
		}
	}
	if len(obj.URI) > 0 && !isNull(obj.URI) {
		if d.URI, err = stringOrList(obj.URI); err != nil {
			return d, fmt.Errorf("uri: %w", err)
		}
	}
	return d, nil
}

// checkClaims reports a missing or invalid mandatory claim for the
// PASSporT's type (RFC 8225 §5, RFC 8588, RFC 8946 §3); ATIS-1000074 §5.3.2
// maps that to 438.
func (p *PASSporT) checkClaims() error {
	c := &p.Claims
	switch {
	case c.IAT <= 0:
		return fmt.Errorf("%w: missing iat", ErrMalformed)
	case c.Orig.IsZero():
		return fmt.Errorf("%w: missing orig", ErrMalformed)
	case c.Dest.IsZero():
		return fmt.Errorf("%w: missing dest", ErrMalformed)
	}
	switch p.Header.PPT {
	case PPTShaken:
		if !c.Attest.Valid() {
			return fmt.Errorf("%w: attest %q is not A, B or C", ErrMalformed, c.Attest)
		}
		if c.OrigID == "" {
			return fmt.Errorf("%w: missing origid", ErrMalformed)
		}
	case PPTDiv:
		if c.Div.IsZero() {
			return fmt.Errorf("%w: missing div", ErrMalformed)
		}
	}
	return nil
}
