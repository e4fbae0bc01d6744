package stir_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/stir"
)

func explicit(t testing.TB, tag int, v any, params string) asn1.RawValue {
	t.Helper()
	inner, err := asn1.MarshalWithParams(v, params)
	require.NoError(t, err)
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: inner}
}

type tnRange struct {
	Start string `asn1:"ia5"`
	Count int
}

func TestParseTNAuthList(t *testing.T) {
	der, err := asn1.Marshal([]asn1.RawValue{
		explicit(t, 0, "1234X", "ia5"),
		explicit(t, 1, tnRange{Start: "12155550000", Count: 100}, ""),
		explicit(t, 2, "12155559999", "ia5"),
	})
	require.NoError(t, err)
	l, err := stir.ParseTNAuthList(der)
	require.NoError(t, err)
	assert.Equal(t, &stir.TNAuthList{
		SPCs:   []string{"1234X"},
		Ranges: []stir.TNRange{{Start: "12155550000", Count: 100}},
		TNs:    []string{"12155559999"},
	}, l)
	assert.True(t, l.Covers("12155550000"))
	assert.True(t, l.Covers("12155550099"))
	assert.False(t, l.Covers("12155550100"))
	assert.True(t, l.Covers("12155559999"))
	assert.False(t, l.Covers("2155550050"), "numbers of another length are outside the range")

	// Implicit tagging, as some CAs encode it.
	implicit, err := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: []byte("709J")},
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("12155551212")},
	})
	require.NoError(t, err)
	l, err = stir.ParseTNAuthList(implicit)
	require.NoError(t, err)
	assert.Equal(t, []string{"709J"}, l.SPCs)
	assert.Equal(t, []string{"12155551212"}, l.TNs)

	for name, bad := range map[string][]byte{
		"empty":      {0x30, 0x00},
		"ia5-url":    mustMarshal(t, "http://example.com/x", "ia5"), // libstirshaken's sp.pem
		"truncated":  der[:len(der)-2],
		"bad-tn":     mustMarshal(t, []asn1.RawValue{explicit(t, 2, "12-34", "ia5")}, ""),
		"bad-tag":    mustMarshal(t, []asn1.RawValue{explicit(t, 7, "1", "ia5")}, ""),
		"universal":  mustMarshal(t, []asn1.RawValue{{Class: asn1.ClassUniversal, Tag: asn1.TagIA5String, Bytes: []byte("1")}}, ""),
		"zero-range": mustMarshal(t, []asn1.RawValue{explicit(t, 1, tnRange{Start: "1", Count: 0}, "")}, ""),
	} {
		_, err := stir.ParseTNAuthList(bad)
		assert.Error(t, err, name)
	}
}

func mustMarshal(t testing.TB, v any, params string) []byte {
	t.Helper()
	b, err := asn1.MarshalWithParams(v, params)
	require.NoError(t, err)
	return b
}

// TestTNAuthListLimitsSigner checks that a certificate listing numbers (not
// an SPC) only authorises those numbers (RFC 8226 §9).
func TestTNAuthListLimitsSigner(t *testing.T) {
	e := newEnv(t)
	list, err := asn1.Marshal([]asn1.RawValue{explicit(t, 1, tnRange{Start: "12155551200", Count: 20}, "")})
	require.NoError(t, err)
	p := newPKI(t, e.now, pkiOptions{tnAuthList: list})
	x5u := e.repo.put("/tn.pem", p.chainPEM, "")
	s, err := stir.NewSigner(p.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	v, err := stir.NewVerifier([]*x509.Certificate{p.root}, stir.VerifierConfig{HTTPClient: e.repo.srv.Client(), Clock: fixedClock(&e.now)})
	require.NoError(t, err)

	req := call(t) // from 12155551212: inside the range
	require.NoError(t, s.SignRequest(t.Context(), req))
	res, err := v.VerifyRequest(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []stir.TNRange{{Start: "12155551200", Count: 20}}, res.TNAuthList.Ranges)

	req = invite(t, "sip:+12155551213@example.com", "<sip:+12155551299@example.com>", "<sip:+12155551213@example.com>")
	require.NoError(t, s.SignRequest(t.Context(), req))
	_, err = v.VerifyRequest(t.Context(), req)
	assert.ErrorIs(t, err, stir.ErrCertificate)
}

// TestCriticalTNAuthListAccepted: a CA may mark the extension critical; the
// verifier handles it, so the chain still validates.
func TestCriticalTNAuthListAccepted(t *testing.T) {
	e := newEnv(t)
	p := newPKI(t, e.now, pkiOptions{noTNAuth: true})
	// Re-issue the leaf with a critical TNAuthList.
	p.leaf = makeCert(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "SHAKEN 5678Y"},
		NotBefore: e.now.Add(-time.Hour),
		NotAfter:  e.now.Add(time.Hour),
		KeyUsage:  x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{
			Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 26}, Critical: true, Value: spcTNAuthList(t, "5678Y"),
		}},
	}, p.inter, &p.leafKey.PublicKey, p.interKey)
	p.chainPEM = append(pemCert(p.leaf), pemCert(p.inter)...)
	require.NotEmpty(t, p.leaf.UnhandledCriticalExtensions)

	x5u := e.repo.put("/crit.pem", p.chainPEM, "")
	s, err := stir.NewSigner(p.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	v, err := stir.NewVerifier([]*x509.Certificate{p.root}, stir.VerifierConfig{HTTPClient: e.repo.srv.Client(), Clock: fixedClock(&e.now), RequireTNAuthList: true})
	require.NoError(t, err)
	req := call(t)
	require.NoError(t, s.SignRequest(t.Context(), req))
	res, err := v.VerifyRequest(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []string{"5678Y"}, res.TNAuthList.SPCs)
}
