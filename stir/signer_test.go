package stir_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/stir"
)

func TestSignRequest(t *testing.T) {
	e := newEnv(t)
	req := call(t)
	require.NoError(t, e.signer.SignRequest(t.Context(), req))

	dates := sip.HeaderValues(req, "Date")
	require.Len(t, dates, 1, "RFC 8224 §5: a Date header is added")
	d, err := http.ParseTime(dates[0])
	require.NoError(t, err)
	assert.Equal(t, e.now.Unix(), d.Unix())

	id, err := stir.ParseIdentity(identityOf(t, req))
	require.NoError(t, err)
	assert.Equal(t, e.x5u, id.Info)
	assert.Equal(t, "ES256", id.Alg)
	assert.Equal(t, "shaken", id.PPT)
	p, err := stir.ParsePASSporT(id.Token)
	require.NoError(t, err)
	assert.Equal(t, stir.Claims{
		Attest: stir.AttestationFull,
		Dest:   stir.Dest{TN: []string{"12155551213"}},
		IAT:    e.now.Unix(),
		Orig:   stir.Party{TN: "12155551212"},
		OrigID: "a1b2c3d4-0000-4000-8000-000000000001",
	}, p.Claims)

	// An existing Date header is kept.
	req = call(t)
	req.AppendHeader(sip.NewHeader("Date", "Sat, 13 Nov 2010 23:29:00 GMT"))
	require.NoError(t, e.signer.SignRequest(t.Context(), req))
	assert.Equal(t, []string{"Sat, 13 Nov 2010 23:29:00 GMT"}, sip.HeaderValues(req, "Date"))
}

func TestSignRequestIdentities(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name       string
		req        *sip.Request
		orig, dest string
		destURI    string
	}{
		{"pai-before-from", invite(t, "sip:bob@example.com", "<sip:alice@example.com>", "<tel:+1-215-555-1213>",
			"P-Asserted-Identity: \"Alice\" <sip:alice@example.com>, <tel:+12155551212;cpc=ordinary>"), "12155551212", "12155551213", ""},
		{"from-when-no-pai", invite(t, "sip:+12155551213@example.com;user=phone", "<sip:+1-215-555-1212@example.com;user=phone>",
			"<sip:bob@example.com>"), "12155551212", "12155551213", ""},
		{"local-tel-with-context", invite(t, "sip:bob@example.com", "<tel:555-1212;phone-context=+1-215>",
			"<sip:bob@example.com>"), "12155551212", "", "sip:bob@example.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, e.signer.SignRequest(t.Context(), c.req))
			p, err := stir.ParsePASSporT(mustIdentity(t, c.req).Token)
			require.NoError(t, err)
			assert.Equal(t, c.orig, p.Claims.Orig.TN)
			if c.dest != "" {
				assert.Equal(t, []string{c.dest}, p.Claims.Dest.TN)
			} else {
				assert.Equal(t, []string{c.destURI}, p.Claims.Dest.URI)
			}
		})
	}
}

func mustIdentity(t testing.TB, req *sip.Request) stir.Identity {
	t.Helper()
	id, err := stir.ParseIdentity(identityOf(t, req))
	require.NoError(t, err)
	return id
}

func TestSignRequestNoTN(t *testing.T) {
	e := newEnv(t)
	req := invite(t, "sip:bob@example.com", "<sip:alice@example.com>", "<sip:bob@example.com>")
	before := req.String()
	err := e.signer.SignRequest(t.Context(), req)
	assert.ErrorIs(t, err, stir.ErrNoTN)
	assert.Equal(t, before, req.String(), "an unsigned request is left unchanged")
}

func TestAttestationPolicy(t *testing.T) {
	e := newEnv(t)
	boom := errors.New("subscriber database down")
	s, err := stir.NewSigner(e.pki.leafKey, e.x5u, stir.SignerConfig{
		Clock: fixedClock(&e.now),
		Attest: func(ctx context.Context, req *sip.Request) (stir.Attestation, error) {
			switch req.From().Address.User {
			case "+12155551212":
				return stir.AttestationFull, nil
			case "+12155550001":
				return "", boom
			case "+12155550002":
				return "X", nil
			}
			return "", nil // default
		},
	})
	require.NoError(t, err)
	sign := func(from string) (stir.Attestation, error) {
		req := invite(t, "sip:+12155551213@example.com", "<sip:"+from+"@example.com>", "<sip:+12155551213@example.com>")
		if err := s.SignRequest(t.Context(), req); err != nil {
			return "", err
		}
		p, err := stir.ParsePASSporT(mustIdentity(t, req).Token)
		require.NoError(t, err)
		return p.Claims.Attest, nil
	}
	a, err := sign("+12155551212")
	require.NoError(t, err)
	assert.Equal(t, stir.AttestationFull, a)
	a, err = sign("+12155559999")
	require.NoError(t, err)
	assert.Equal(t, stir.AttestationGateway, a)
	_, err = sign("+12155550001")
	assert.ErrorIs(t, err, boom)
	_, err = sign("+12155550002")
	assert.Error(t, err)
}

func TestSignerMiddleware(t *testing.T) {
	e := newEnv(t)
	var got *sip.Request
	next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		got = req
		_ = sip.Respond(w, req, sip.StatusOK, "")
	})
	h := sip.Chain(next, e.signer.Middleware)

	req := call(t)
	before := req.String()
	h.ServeSIP(t.Context(), &recorder{}, req)
	require.NotNil(t, got)
	assert.NotSame(t, req, got, "the middleware signs a copy")
	assert.Equal(t, before, req.String())
	res, err := e.verifier(t, nil).VerifyRequest(t.Context(), got)
	require.NoError(t, err)
	assert.Equal(t, stir.VerstatPassed, res.Verstat)

	// Already signed, not an INVITE, in-dialog, or not a number: passed on as is.
	signed := e.signed(t)
	bye := parseRequest(t, "BYE sip:bob@192.0.2.20 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\n"+
		"From: <sip:+12155551212@example.com>;tag=a\nTo: <sip:+12155551213@example.com>;tag=b\nCall-ID: c1\nCSeq: 2 BYE\nContent-Length: 0\n\n")
	reinvite := invite(t, "sip:bob@192.0.2.20", "<sip:+12155551212@example.com>", "<sip:+12155551213@example.com>;tag=b")
	anon := invite(t, "sip:+12155551213@example.com", "<sip:anonymous@anonymous.invalid>", "<sip:+12155551213@example.com>")
	for _, r := range []*sip.Request{signed, bye, reinvite, anon} {
		got = nil
		h.ServeSIP(t.Context(), &recorder{}, r)
		assert.Same(t, r, got)
	}
	assert.Len(t, sip.HeaderValues(signed, "Identity"), 1)
}

// TestDivertedCall: the originating network signs, a forwarding network
// retargets the call and adds a "div" PASSporT (RFC 8946), the terminating
// network verifies the chain.
func TestDivertedCall(t *testing.T) {
	e := newEnv(t)
	fwd := newPKIUnder(t, e) // the forwarding provider's certificate under the same root
	fwdX5U := e.repo.put("/fwd.pem", fwd.chainPEM, "")
	forwarder, err := stir.NewSigner(fwd.leafKey, fwdX5U, stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	v := e.verifier(t, nil)

	orig := e.signed(t) // 12155551212 -> 12155551213
	retarget := func(t *testing.T, to string) *sip.Request {
		r := sip.Retarget(orig, mustURI(t, "sip:+12155551214@example.com;user=phone"))
		if to != "" {
			sip.RemoveHeaders(r, "To")
			r.AppendHeader(&sip.ToHeader{Address: mustURI(t, to)})
		}
		return r
	}

	t.Run("to-unchanged", func(t *testing.T) {
		r := retarget(t, "")
		require.NoError(t, forwarder.SignDiverted(t.Context(), r))
		res, err := v.VerifyRequest(t.Context(), r)
		require.NoError(t, err)
		assert.Equal(t, stir.VerstatPassed, res.Verstat)
	})
	t.Run("to-changed", func(t *testing.T) {
		r := retarget(t, "sip:+12155551214@example.com;user=phone")
		_, err := v.VerifyRequest(t.Context(), r)
		assert.ErrorIs(t, err, stir.ErrMismatch, "without a div PASSporT the new target is not signed for")

		require.NoError(t, forwarder.SignDiverted(t.Context(), r))
		ids := sip.HeaderValues(r, "Identity")
		require.Len(t, ids, 2)
		div, err := stir.ParsePASSporT(mustParseIdentity(t, ids[1]).Token)
		require.NoError(t, err)
		assert.Equal(t, stir.PPTDiv, div.Header.PPT)
		assert.Equal(t, stir.Party{TN: "12155551213"}, div.Claims.Div)
		assert.Equal(t, stir.Party{TN: "12155551212"}, div.Claims.Orig)
		assert.Equal(t, stir.Dest{TN: []string{"12155551214"}}, div.Claims.Dest)

		res, err := v.VerifyRequest(t.Context(), r)
		require.NoError(t, err)
		assert.Equal(t, stir.VerstatPassed, res.Verstat)
		require.Len(t, res.Diverted, 1)
		assert.Equal(t, fwdX5U, res.Diverted[0].Header.X5U)
		assert.Equal(t, stir.AttestationFull, res.Attestation, "the result is the original attestation")
	})
	t.Run("div-with-other-orig", func(t *testing.T) {
		r := retarget(t, "sip:+12155551214@example.com;user=phone")
		p, err := forwarder.Sign(stir.PPTDiv, stir.Claims{
			Orig: stir.Party{TN: "12155550000"}, Div: stir.Party{TN: "12155551213"},
			Dest: stir.Dest{TN: []string{"12155551214"}},
		})
		require.NoError(t, err)
		r.AppendHeader(stir.NewIdentity(p).Header())
		_, err = v.VerifyRequest(t.Context(), r)
		assert.ErrorIs(t, err, stir.ErrMismatch)
	})
	t.Run("not-retargeted", func(t *testing.T) {
		r := sip.CloneRequest(orig)
		assert.ErrorIs(t, forwarder.SignDiverted(t.Context(), r), stir.ErrNotDiverted)
	})
	t.Run("only-div", func(t *testing.T) {
		r := invite(t, "sip:+12155551214@example.com", "<sip:+12155551212@example.com>", "<sip:+12155551213@example.com>")
		require.NoError(t, forwarder.SignDiverted(t.Context(), r))
		_, err := v.VerifyRequest(t.Context(), r)
		assert.ErrorIs(t, err, stir.ErrMalformed)
	})
}

func mustParseIdentity(t testing.TB, s string) stir.Identity {
	t.Helper()
	id, err := stir.ParseIdentity(s)
	require.NoError(t, err)
	return id
}

func mustURI(t testing.TB, s string) sip.Uri {
	t.Helper()
	u, err := sip.ParseURI(s)
	require.NoError(t, err)
	return u
}

// newPKIUnder issues another leaf under e's intermediate.
func newPKIUnder(t testing.TB, e *env) *pki {
	t.Helper()
	p := *e.pki
	p.leafKey = newKey(t)
	p.leaf = makeCert(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "SHAKEN 9999Z"},
		NotBefore: e.now.Add(-time.Hour),
		NotAfter:  e.now.Add(time.Hour),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}, e.pki.inter, &p.leafKey.PublicKey, e.pki.interKey)
	p.chainPEM = append(pemCert(p.leaf), pemCert(e.pki.inter)...)
	return &p
}
