package stir_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/stir"
)

// TestTokenVerifiesWithIndependentJOSE checks siphon's PASSporT with
// golang-jwt, an independent JWS implementation: signature (ES256, R||S
// encoding), header and claims.
func TestTokenVerifiesWithIndependentJOSE(t *testing.T) {
	e := newEnv(t)
	req := e.signed(t)
	id, err := stir.ParseIdentity(identityOf(t, req))
	require.NoError(t, err)

	var header map[string]any
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(id.Token, claims, func(tok *jwt.Token) (any, error) {
		header = tok.Header
		return &e.pki.leafKey.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return e.now }))
	require.NoError(t, err)
	require.True(t, tok.Valid)
	assert.Equal(t, map[string]any{"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": e.x5u}, header)
	assert.Equal(t, "A", claims["attest"])
	assert.Equal(t, map[string]any{"tn": []any{"12155551213"}}, claims["dest"])
	assert.Equal(t, map[string]any{"tn": "12155551212"}, claims["orig"])
	assert.Equal(t, "a1b2c3d4-0000-4000-8000-000000000001", claims["origid"])
	assert.EqualValues(t, e.now.Unix(), claims["iat"])

	// A key other than the signer's must not verify it.
	other := newKey(t)
	_, err = jwt.Parse(id.Token, func(*jwt.Token) (any, error) { return &other.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}))
	assert.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)
}

// TestIndependentJOSETokenVerifies goes the other way: a PASSporT signed by
// golang-jwt verifies with siphon.
func TestIndependentJOSETokenVerifies(t *testing.T) {
	e := newEnv(t)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"attest": "B",
		"dest":   map[string]any{"tn": []string{"12155551213"}},
		"iat":    e.now.Unix(),
		"orig":   map[string]any{"tn": "12155551212"},
		"origid": "123e4567-e89b-12d3-a456-426655440000",
	})
	tok.Header["ppt"] = "shaken"
	tok.Header["typ"] = "passport"
	tok.Header["x5u"] = e.x5u
	signed, err := tok.SignedString(e.pki.leafKey)
	require.NoError(t, err)

	v, err := stir.NewVerifier([]*x509.Certificate{e.pki.root}, stir.VerifierConfig{HTTPClient: e.repo.srv.Client(), Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	res, err := v.VerifyPASSporT(t.Context(), signed)
	require.NoError(t, err)
	assert.Equal(t, stir.AttestationPartial, res.Attestation)

	req := withIdentity(t, "+12155551212", signed+";info=<"+e.x5u+">;alg=ES256;ppt=shaken")
	res, err = v.VerifyRequest(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, stir.VerstatPassed, res.Verstat)
}
