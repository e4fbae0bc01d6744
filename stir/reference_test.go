package stir_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/stir"
)

// The reference PASSporT is libstirshaken's published test token (see
// testdata/libstirshaken/README.md for the source paths and commits). Its x5u
// is http://shaken.signalwire.cloud/sp.pem, which this test serves from
// testdata through the http.Client seam instead of the network.
const (
	refX5U = "http://shaken.signalwire.cloud/sp.pem"
	refIAT = 1603458131
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

func loadCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(readTestdata(t, name))
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// staticRoundTripper answers every request for url with body and counts them.
type staticRoundTripper struct {
	url  string
	body []byte
	hits int
}

func (s *staticRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	s.hits++
	if req.URL.String() != s.url {
		return &http.Response{StatusCode: http.StatusNotFound, Body: http.NoBody, Request: req}, nil
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/pem-certificate-chain"}},
		Body:       io.NopCloser(bytes.NewReader(s.body)),
		Request:    req,
	}, nil
}

func referenceVerifier(t testing.TB, mod func(*stir.VerifierConfig)) *stir.Verifier {
	t.Helper()
	cfg := stir.VerifierConfig{
		// The reference x5u is http://, which a verifier refuses by default.
		AllowHTTP:  true,
		HTTPClient: &http.Client{Transport: &staticRoundTripper{url: refX5U, body: readTestdata(t, "libstirshaken/sp.pem")}},
		Clock:      func() time.Time { return time.Unix(refIAT, 0) },
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := stir.NewVerifier([]*x509.Certificate{loadCert(t, "libstirshaken/ca.pem")}, cfg)
	require.NoError(t, err)
	return v
}

// TestReferencePASSporT verifies libstirshaken's published PASSporT: the
// signature with the key of its sp.pem certificate, and that certificate's
// chain to the "SignalWire STI-CA" root at the token's iat.
func TestReferencePASSporT(t *testing.T) {
	identity := strings.TrimSpace(string(readTestdata(t, "libstirshaken/identity.txt")))
	id, err := stir.ParseIdentity(identity)
	require.NoError(t, err)
	assert.Equal(t, refX5U, id.Info)
	assert.Equal(t, stir.AlgES256, id.Alg)
	assert.Equal(t, stir.PPTShaken, id.PPT)
	assert.False(t, id.Compact())

	p, err := stir.ParsePASSporT(id.Token)
	require.NoError(t, err)
	assert.Equal(t, stir.Header{Alg: "ES256", PPT: "shaken", Typ: "passport", X5U: refX5U}, p.Header)
	// orig and dest are JSON strings holding objects in this token.
	assert.Equal(t, stir.Claims{
		Attest: stir.AttestationFull,
		Dest:   stir.Dest{TN: []string{"01256500600"}},
		IAT:    refIAT,
		Orig:   stir.Party{TN: "01256789999"},
		OrigID: "ref",
	}, p.Claims)
	assert.Equal(t, id.Token, p.Token(), "the received bytes are kept")

	t.Run("request", func(t *testing.T) {
		req := invite(t, "sip:01256500600@example.com", "<sip:01256789999@example.com>",
			"<sip:01256500600@example.com>", "Identity: "+identity)
		res, err := referenceVerifier(t, nil).VerifyRequest(t.Context(), req)
		require.NoError(t, err)
		assert.Equal(t, stir.VerstatPassed, res.Verstat)
		assert.Equal(t, stir.AttestationFull, res.Attestation)
		assert.Equal(t, "ref", res.PASSporT.Claims.OrigID)
		require.Len(t, res.Chain, 2)
		assert.Equal(t, "New STI-SP", res.Chain[0].Subject.CommonName)
		assert.Equal(t, "SignalWire STI-CA", res.Chain[1].Subject.CommonName)
		assert.Nil(t, res.TNAuthList, "the certificate's TNAuthList is not RFC 8226 DER and is ignored")
	})
	t.Run("jws", func(t *testing.T) {
		token := strings.TrimSpace(string(readTestdata(t, "libstirshaken/passport.txt")))
		res, err := referenceVerifier(t, nil).VerifyPASSporT(t.Context(), token)
		require.NoError(t, err)
		assert.Equal(t, stir.VerstatPassed, res.Verstat)
	})
	t.Run("strict-tnauthlist", func(t *testing.T) {
		v := referenceVerifier(t, func(c *stir.VerifierConfig) { c.RequireTNAuthList = true })
		_, err := v.VerifyPASSporT(t.Context(), id.Token)
		assert.ErrorIs(t, err, stir.ErrCertificate)
	})
	t.Run("stale-today", func(t *testing.T) {
		v := referenceVerifier(t, func(c *stir.VerifierConfig) { c.Clock = time.Now })
		_, err := v.VerifyPASSporT(t.Context(), id.Token)
		assert.ErrorIs(t, err, stir.ErrStale)
	})
	t.Run("https-only-by-default", func(t *testing.T) {
		v := referenceVerifier(t, func(c *stir.VerifierConfig) { c.AllowHTTP = false })
		_, err := v.VerifyPASSporT(t.Context(), id.Token)
		assert.ErrorIs(t, err, stir.ErrFetch)
	})
}
