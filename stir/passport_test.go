package stir_test

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/stir"
)

// TestCanonicalJSONMatchesRFC8225 signs the RFC 8225 Appendix A example with
// the Appendix's key: header and claims must serialize to exactly the
// Appendix's bytes (deterministic JSON, RFC 8225 §9).
func TestCanonicalJSONMatchesRFC8225(t *testing.T) {
	block, _ := pem.Decode(readTestdata(t, "rfc8225/key.pem"))
	require.NotNil(t, block)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	s, err := stir.NewSigner(key.(crypto.Signer), "https://cert.example.org/passport.cer", stir.SignerConfig{})
	require.NoError(t, err)
	p, err := s.Sign("", stir.Claims{
		Dest: stir.Dest{URI: []string{"sip:alice@example.com"}},
		IAT:  1471375418,
		Orig: stir.Party{TN: "12155551212"},
	})
	require.NoError(t, err)
	const appendixA = "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9j" +
		"ZXJ0LmV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9" +
		"." +
		"eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY2VAZXhhbXBsZS5jb20iXX0sImlhdCI" +
		"6MTQ3MTM3NTQxOCwib3JpZyI6eyJ0biI6IjEyMTU1NTUxMjEyIn19"
	token := p.Token()
	assert.Equal(t, appendixA, token[:strings.LastIndexByte(token, '.')])

	// And the signature verifies over those bytes.
	q, err := stir.ParsePASSporT(token)
	require.NoError(t, err)
	assert.Equal(t, p.Claims, q.Claims)
}

func TestClaimsSerialization(t *testing.T) {
	e := newEnv(t)
	p, err := e.signer.Sign(stir.PPTDiv, stir.Claims{
		Orig: stir.Party{TN: "+1-215-555-1212"},
		Dest: stir.Dest{TN: []string{"12155551214"}, URI: []string{"sip:bob@example.com"}},
		Div:  stir.Party{TN: "12155551213"},
		Opt:  `a<b>&"c"`,
		IAT:  1443208345,
	})
	require.NoError(t, err)
	parts := strings.Split(p.Token(), ".")
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	cl, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	assert.Equal(t, `{"alg":"ES256","ppt":"div","typ":"passport","x5u":"`+e.x5u+`"}`, string(hdr))
	assert.Equal(t, `{"dest":{"tn":["12155551214"],"uri":["sip:bob@example.com"]},"div":{"tn":"12155551213"},`+
		`"iat":1443208345,"opt":"a<b>&\"c\"","orig":{"tn":"12155551212"}}`, string(cl))
	assert.Equal(t, `{"tn":"12155551212"}`, p.Claims.Orig.String())
	assert.Equal(t, `{"tn":["12155551214"],"uri":["sip:bob@example.com"]}`, p.Claims.Dest.String())
}

func TestSignRejectsIncompleteClaims(t *testing.T) {
	e := newEnv(t)
	_, err := e.signer.Sign(stir.PPTShaken, stir.Claims{Dest: stir.Dest{TN: []string{"1"}}})
	assert.ErrorIs(t, err, stir.ErrMalformed)
	_, err = e.signer.Sign(stir.PPTShaken, stir.Claims{Orig: stir.Party{TN: "1"}})
	assert.ErrorIs(t, err, stir.ErrMalformed)
	_, err = e.signer.Sign(stir.PPTDiv, stir.Claims{Orig: stir.Party{TN: "1"}, Dest: stir.Dest{TN: []string{"2"}}})
	assert.ErrorIs(t, err, stir.ErrMalformed)
	_, err = e.signer.Sign(stir.PPTShaken, stir.Claims{Orig: stir.Party{TN: "1"}, Dest: stir.Dest{TN: []string{"2"}}, Attest: "D"})
	assert.ErrorIs(t, err, stir.ErrMalformed)
}

func encodeToken(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc(make([]byte, 64))
}

// TestParsePASSporTLenient reads the claim shapes that real signers send
// besides the RFC's.
func TestParsePASSporTLenient(t *testing.T) {
	const hdr = `{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://x.example/a.pem"}`
	cases := []struct {
		name, claims string
		want         stir.Claims
	}{
		{"rfc", `{"attest":"A","dest":{"tn":["2"]},"iat":5,"orig":{"tn":"1"},"origid":"u"}`,
			stir.Claims{Attest: "A", Dest: stir.Dest{TN: []string{"2"}}, IAT: 5, Orig: stir.Party{TN: "1"}, OrigID: "u"}},
		{"dest-tn-string", `{"dest":{"tn":"2"},"iat":5,"orig":{"tn":"1"}}`,
			stir.Claims{Dest: stir.Dest{TN: []string{"2"}}, IAT: 5, Orig: stir.Party{TN: "1"}}},
		{"orig-tn-array", `{"dest":{"tn":["2","3"]},"iat":5,"orig":{"tn":["1"]}}`,
			stir.Claims{Dest: stir.Dest{TN: []string{"2", "3"}}, IAT: 5, Orig: stir.Party{TN: "1"}}},
		{"json-in-strings", `{"dest":"{\"tn\":\"2\"}","iat":5,"orig":"{\"tn\":\"1\"}"}`,
			stir.Claims{Dest: stir.Dest{TN: []string{"2"}}, IAT: 5, Orig: stir.Party{TN: "1"}}},
		{"bare-strings", `{"dest":"sip:b@example.com","iat":"5","orig":"1"}`,
			stir.Claims{Dest: stir.Dest{URI: []string{"sip:b@example.com"}}, IAT: 5, Orig: stir.Party{TN: "1"}}},
		{"uri", `{"dest":{"uri":["sip:b@example.com"]},"iat":5.0,"orig":{"uri":"sip:a@example.com"}}`,
			stir.Claims{Dest: stir.Dest{URI: []string{"sip:b@example.com"}}, IAT: 5, Orig: stir.Party{URI: "sip:a@example.com"}}},
		{"unknown-claims-kept-out", `{"dest":{"tn":["2"]},"iat":5,"orig":{"tn":"1"},"rcd":{"nam":"x"}}`,
			stir.Claims{Dest: stir.Dest{TN: []string{"2"}}, IAT: 5, Orig: stir.Party{TN: "1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := stir.ParsePASSporT(encodeToken(hdr, c.claims))
			require.NoError(t, err)
			assert.Equal(t, c.want, p.Claims)
			assert.Equal(t, "https://x.example/a.pem", p.Header.X5U)
		})
	}
}

func TestParsePASSporTRejects(t *testing.T) {
	const hdr = `{"alg":"ES256","typ":"passport","x5u":"https://x.example/a.pem"}`
	for name, token := range map[string]string{
		"empty":          "",
		"two-parts":      "a.b",
		"no-signature":   "a.b.",
		"bad-base64":     "a!.b.c",
		"not-json":       encodeToken("{", `{}`),
		"orig-number":    encodeToken(hdr, `{"orig":5}`),
		"iat-fraction":   encodeToken(hdr, `{"iat":5.5}`),
		"iat-object":     encodeToken(hdr, `{"iat":{}}`),
		"dest-numbers":   encodeToken(hdr, `{"dest":{"tn":[1,2]}}`),
		"attest-number":  encodeToken(hdr, `{"attest":1}`),
		"header-x5u-num": encodeToken(`{"x5u":1}`, `{}`),
		"too-long":       strings.Repeat("a", 9000) + ".b.c",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := stir.ParsePASSporT(token)
			assert.ErrorIs(t, err, stir.ErrMalformed)
		})
	}
}

func TestIdentityHeader(t *testing.T) {
	cases := []struct {
		in   string
		want stir.Identity
		out  string
	}{
		{"a.b.c;info=<https://x.example/c.pem>;alg=ES256;ppt=shaken",
			stir.Identity{Token: "a.b.c", Info: "https://x.example/c.pem", Alg: "ES256", PPT: "shaken"},
			"a.b.c;info=<https://x.example/c.pem>;alg=ES256;ppt=shaken"},
		{` a.b.c ; INFO = <https://x.example/c.pem> ;PPT="shaken";foo=bar;baz `,
			stir.Identity{Token: "a.b.c", Info: "https://x.example/c.pem", PPT: "shaken",
				Params: sip.HeaderParams{{K: "foo", V: "bar"}, {K: "baz"}}},
			"a.b.c;info=<https://x.example/c.pem>;ppt=shaken;foo=bar;baz"},
		{"..c2ln;info=<https://x.example/c.pem>;alg=ES256",
			stir.Identity{Token: "..c2ln", Info: "https://x.example/c.pem", Alg: "ES256"},
			"..c2ln;info=<https://x.example/c.pem>;alg=ES256"},
		{`a.b.c;info="https://x.example/c.pem"`,
			stir.Identity{Token: "a.b.c", Info: "https://x.example/c.pem"},
			"a.b.c;info=<https://x.example/c.pem>"},
	}
	for _, c := range cases {
		id, err := stir.ParseIdentity(c.in)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, id, c.in)
		assert.Equal(t, c.out, id.String())
		assert.Equal(t, "Identity", id.Header().Name())
	}
	for _, bad := range []string{"", ";info=<x>", "a.b;info=<x>", "a..c", ".b.c", "a.b.", "a.b.c.d",
		"a.b.c;info=<https://x", "a.b.c info", "a.b.c;=x", `a.b.c;ppt="shaken`, "a.b.c;info="} {
		_, err := stir.ParseIdentity(bad)
		assert.ErrorIs(t, err, stir.ErrMalformed, bad)
	}
}

func TestNormalizeTN(t *testing.T) {
	for in, want := range map[string]string{
		"+1 (215) 555-1212":   "12155551212",
		"1.215.555.1212":      "12155551212",
		"+12155551212;ext=12": "12155551212",
		"%2B12155551212":      "12155551212",
		"*67":                 "*67",
	} {
		got, ok := stir.NormalizeTN(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "+", "alice", "12a4", "--", strings.Repeat("1", 33)} {
		_, ok := stir.NormalizeTN(in)
		assert.False(t, ok, in)
	}
	nanp := stir.Numbering{CountryCode: "1", NationalLength: 10}
	got, _ := nanp.Normalize("215-555-1212")
	assert.Equal(t, "12155551212", got)
	got, _ = nanp.Normalize("+2155551212")
	assert.Equal(t, "2155551212", got, "an international number is left as written")
	got, _ = nanp.Normalize("5551212")
	assert.Equal(t, "5551212", got)
}

func TestAttestationValid(t *testing.T) {
	for _, a := range []stir.Attestation{stir.AttestationFull, stir.AttestationPartial, stir.AttestationGateway} {
		assert.True(t, a.Valid())
	}
	for _, a := range []stir.Attestation{"", "a", "D", "AB"} {
		assert.False(t, a.Valid())
	}
}

func TestNewSignerValidates(t *testing.T) {
	e := newEnv(t)
	_, err := stir.NewSigner(nil, e.x5u, stir.SignerConfig{})
	assert.Error(t, err)
	_, err = stir.NewSigner(e.pki.leafKey, "ftp://x.example/a.pem", stir.SignerConfig{})
	assert.Error(t, err)
	_, err = stir.NewSigner(e.pki.leafKey, e.x5u, stir.SignerConfig{DefaultAttestation: "Z"})
	assert.Error(t, err)
	s, err := stir.NewSigner(e.pki.leafKey, e.x5u, stir.SignerConfig{})
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, s.OrigID())
	assert.Equal(t, e.x5u, s.X5U())
	p, err := s.Sign(stir.PPTShaken, stir.Claims{Orig: stir.Party{TN: "1"}, Dest: stir.Dest{TN: []string{"2"}}})
	require.NoError(t, err)
	assert.Equal(t, stir.AttestationGateway, p.Claims.Attest, "default attestation is C")
	assert.InDelta(t, time.Now().Unix(), p.Claims.IAT, 5)
}
