package stir_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/stir"
)

func identityOf(t testing.TB, req *sip.Request) string {
	t.Helper()
	vals := sip.HeaderValues(req, "Identity")
	require.NotEmpty(t, vals)
	return vals[len(vals)-1]
}

// withIdentity returns the standard call with caller number from and the
// given Identity value.
func withIdentity(t testing.TB, from, identity string) *sip.Request {
	return invite(t, "sip:+12155551213@example.com;user=phone",
		"<sip:"+from+"@example.com;user=phone>", "<sip:+12155551213@example.com;user=phone>",
		"P-Asserted-Identity: <tel:"+from+">", "Identity: "+identity)
}

// tamper replaces the claims of the token in identity with claims edited by
// edit, keeping header and signature.
func tamper(t testing.TB, identity string, edit func(string) string) string {
	t.Helper()
	token, params, _ := strings.Cut(identity, ";")
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	changed := edit(string(claims))
	require.NotEqual(t, string(claims), changed)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".") + ";" + params
}

// TestVerifyAcceptance covers the acceptance cases of issue 7 with a CA,
// intermediate and leaf generated here and x5u served over HTTPS by httptest.
func TestVerifyAcceptance(t *testing.T) {
	type tc struct {
		name    string
		setup   func(t *testing.T, e *env) (*stir.Verifier, *sip.Request)
		verstat stir.Verstat
		err     error
		code    int
	}
	cases := []tc{{
		name: "valid",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			return e.verifier(t, nil), e.signed(t)
		},
		verstat: stir.VerstatPassed,
	}, {
		name: "expired",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			expired := newPKI(t, e.now, pkiOptions{leafNotBefore: e.now.Add(-48 * time.Hour), leafNotAfter: e.now.Add(-time.Hour)})
			x5u := e.repo.put("/expired.pem", expired.chainPEM, "")
			s, err := stir.NewSigner(expired.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			req := call(t)
			require.NoError(t, s.SignRequest(t.Context(), req))
			v, err := stir.NewVerifier([]*x509.Certificate{expired.root}, stir.VerifierConfig{HTTPClient: e.repo.srv.Client(), Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			return v, req
		},
		verstat: stir.VerstatFailed, err: stir.ErrCertificate, code: 437,
	}, {
		name: "wrong-chain",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			other := newPKI(t, e.now, pkiOptions{})
			v, err := stir.NewVerifier([]*x509.Certificate{other.root}, stir.VerifierConfig{HTTPClient: e.repo.srv.Client(), Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			return v, e.signed(t)
		},
		verstat: stir.VerstatFailed, err: stir.ErrCertificate, code: 437,
	}, {
		name: "tampered",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			id := tamper(t, identityOf(t, e.signed(t)), func(s string) string {
				return strings.Replace(s, `"orig":{"tn":"12155551212"}`, `"orig":{"tn":"12155559999"}`, 1)
			})
			return e.verifier(t, nil), withIdentity(t, "+12155559999", id)
		},
		verstat: stir.VerstatFailed, err: stir.ErrSignature, code: 438,
	}, {
		name: "tampered-attestation",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			s, err := stir.NewSigner(e.pki.leafKey, e.x5u, stir.SignerConfig{Clock: fixedClock(&e.now)}) // C
			require.NoError(t, err)
			req := call(t)
			require.NoError(t, s.SignRequest(t.Context(), req))
			id := tamper(t, identityOf(t, req), func(s string) string {
				return strings.Replace(s, `"attest":"C"`, `"attest":"A"`, 1)
			})
			return e.verifier(t, nil), withIdentity(t, "+12155551212", id)
		},
		verstat: stir.VerstatFailed, err: stir.ErrSignature, code: 438,
	}, {
		name: "stale-iat",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			req := e.signed(t)
			e.now = e.now.Add(61 * time.Second)
			return e.verifier(t, nil), req
		},
		verstat: stir.VerstatFailed, err: stir.ErrStale, code: 403,
	}, {
		name: "future-iat",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			req := e.signed(t)
			e.now = e.now.Add(-2 * time.Minute)
			return e.verifier(t, nil), req
		},
		verstat: stir.VerstatFailed, err: stir.ErrStale, code: 403,
	}, {
		name: "mismatched-orig",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			return e.verifier(t, nil), withIdentity(t, "+12155550000", identityOf(t, e.signed(t)))
		},
		verstat: stir.VerstatFailed, err: stir.ErrMismatch, code: 438,
	}, {
		name: "mismatched-dest",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			id := identityOf(t, e.signed(t))
			req := invite(t, "sip:+12155557777@example.com;user=phone",
				"<sip:+12155551212@example.com;user=phone>", "<sip:+12155557777@example.com;user=phone>",
				"Identity: "+id)
			return e.verifier(t, nil), req
		},
		verstat: stir.VerstatFailed, err: stir.ErrMismatch, code: 438,
	}, {
		name: "no-identity",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			return e.verifier(t, nil), call(t)
		},
		verstat: stir.VerstatNoValidation, err: stir.ErrNoIdentity, code: 428,
	}, {
		name: "x5u-unreachable",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			x5u := e.repo.fail("/gone.pem", http.StatusNotFound)
			s, err := stir.NewSigner(e.pki.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			req := call(t)
			require.NoError(t, s.SignRequest(t.Context(), req))
			return e.verifier(t, nil), req
		},
		verstat: stir.VerstatFailed, err: stir.ErrFetch, code: 436,
	}, {
		name: "x5u-unreachable-permissive",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			x5u := e.repo.fail("/down.pem", http.StatusServiceUnavailable)
			s, err := stir.NewSigner(e.pki.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			req := call(t)
			require.NoError(t, s.SignRequest(t.Context(), req))
			return e.verifier(t, func(c *stir.VerifierConfig) { c.Permissive = true }), req
		},
		verstat: stir.VerstatNoValidation, err: stir.ErrFetch, code: 436,
	}, {
		name: "permissive-still-fails-bad-signature",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			id := tamper(t, identityOf(t, e.signed(t)), func(s string) string {
				return strings.Replace(s, `"origid":"a1b2`, `"origid":"ffff`, 1)
			})
			return e.verifier(t, func(c *stir.VerifierConfig) { c.Permissive = true }), withIdentity(t, "+12155551212", id)
		},
		verstat: stir.VerstatFailed, err: stir.ErrSignature, code: 438,
	}, {
		name: "http-x5u-refused",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			s, err := stir.NewSigner(e.pki.leafKey, "http://sti.example.com/sp.pem", stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			req := call(t)
			require.NoError(t, s.SignRequest(t.Context(), req))
			return e.verifier(t, nil), req
		},
		verstat: stir.VerstatFailed, err: stir.ErrFetch, code: 436,
	}, {
		name: "oversized-x5u",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			big := append(append([]byte{}, e.pki.chainPEM...), make([]byte, 4096)...)
			x5u := e.repo.put("/big.pem", big, "")
			s, err := stir.NewSigner(e.pki.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			req := call(t)
			require.NoError(t, s.SignRequest(t.Context(), req))
			return e.verifier(t, func(c *stir.VerifierConfig) { c.MaxCertSize = 2048 }), req
		},
		verstat: stir.VerstatFailed, err: stir.ErrFetch, code: 436,
	}, {
		name: "info-differs-from-x5u",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			id := strings.Replace(identityOf(t, e.signed(t)), "info=<"+e.x5u+">", "info=<"+e.x5u+"x>", 1)
			return e.verifier(t, nil), withIdentity(t, "+12155551212", id)
		},
		verstat: stir.VerstatFailed, err: stir.ErrMalformed, code: 438,
	}, {
		name: "garbage-identity",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			return e.verifier(t, nil), withIdentity(t, "+12155551212", "not-a-passport;info=<https://x.example/>")
		},
		verstat: stir.VerstatFailed, err: stir.ErrMalformed, code: 438,
	}, {
		name: "unsupported-ppt",
		setup: func(t *testing.T, e *env) (*stir.Verifier, *sip.Request) {
			s, err := stir.NewSigner(e.pki.leafKey, e.x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
			require.NoError(t, err)
			_, err = s.Sign("rph", stir.Claims{Orig: stir.Party{TN: "12155551212"}, Dest: stir.Dest{TN: []string{"12155551213"}}})
			require.ErrorIs(t, err, stir.ErrUnsupported)
			// Hand-made header with an unknown ppt.
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","ppt":"foo","typ":"passport","x5u":"` + e.x5u + `"}`))
			cl := base64.RawURLEncoding.EncodeToString([]byte(`{"dest":{"tn":["12155551213"]},"iat":1,"orig":{"tn":"12155551212"}}`))
			return e.verifier(t, nil), withIdentity(t, "+12155551212", hdr+"."+cl+".c2ln;info=<"+e.x5u+">;ppt=foo")
		},
		verstat: stir.VerstatFailed, err: stir.ErrUnsupported, code: 438,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			v, req := c.setup(t, e)
			before := req.String()
			res, err := v.VerifyRequest(t.Context(), req)
			require.NotNil(t, res)
			assert.Equal(t, before, req.String(), "VerifyRequest must not modify the request")
			assert.Equal(t, c.verstat, res.Verstat)
			if c.err == nil {
				require.NoError(t, err)
				assert.Nil(t, res.Err)
				require.NotNil(t, res.PASSporT)
				assert.Equal(t, stir.AttestationFull, res.Attestation)
				assert.Equal(t, "12155551212", res.PASSporT.Claims.Orig.TN)
				require.Len(t, res.Chain, 3)
				assert.True(t, res.Chain[0].Equal(e.pki.leaf))
				assert.True(t, res.Chain[2].Equal(e.pki.root))
				require.NotNil(t, res.TNAuthList)
				assert.Equal(t, []string{"1234X"}, res.TNAuthList.SPCs)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, c.err)
			assert.Equal(t, err, res.Err)
			var ve *stir.VerifyError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, c.code, ve.Code)
			var se *sip.StatusError
			require.ErrorAs(t, err, &se, "sip.RespondError must find the status")
			assert.Equal(t, c.code, se.Code)
			assert.True(t, strings.HasPrefix(err.Error(), "stir: "), err.Error())
		})
	}
}

func TestVerifyPASSporT(t *testing.T) {
	e := newEnv(t)
	p, err := e.signer.Sign(stir.PPTShaken, stir.Claims{Orig: stir.Party{TN: "+1 215 555 1212"}, Dest: stir.Dest{TN: []string{"12155551213"}}})
	require.NoError(t, err)
	assert.Equal(t, "12155551212", p.Claims.Orig.TN, "numbers are canonicalised")
	v := e.verifier(t, nil)
	res, err := v.VerifyPASSporT(t.Context(), p.Token())
	require.NoError(t, err)
	assert.Equal(t, stir.VerstatPassed, res.Verstat)
	assert.Equal(t, stir.AttestationFull, res.Attestation)
	assert.Equal(t, "a1b2c3d4-0000-4000-8000-000000000001", res.PASSporT.Claims.OrigID)

	bad := p.Token()
	bad = bad[:len(bad)-4] + "AAAA"
	_, err = v.VerifyPASSporT(t.Context(), bad)
	assert.ErrorIs(t, err, stir.ErrSignature)
	_, err = v.VerifyPASSporT(t.Context(), "a.b")
	assert.ErrorIs(t, err, stir.ErrMalformed)
}

func TestCacheHonoursMaxAge(t *testing.T) {
	e := newEnv(t)
	x5u := e.repo.put("/short.pem", e.pki.chainPEM, "public, max-age=30")
	s, err := stir.NewSigner(e.pki.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	v := e.verifier(t, nil)
	verify := func() {
		t.Helper()
		req := call(t)
		require.NoError(t, s.SignRequest(t.Context(), req))
		_, err := v.VerifyRequest(t.Context(), req)
		require.NoError(t, err)
	}
	verify()
	verify()
	assert.Equal(t, 1, e.repo.count("/short.pem"), "second verification uses the cache")
	e.now = e.now.Add(29 * time.Second)
	verify()
	assert.Equal(t, 1, e.repo.count("/short.pem"))
	e.now = e.now.Add(2 * time.Second)
	verify()
	assert.Equal(t, 2, e.repo.count("/short.pem"), "max-age=30 expired")
}

func TestCacheNoStoreAndDefaultTTL(t *testing.T) {
	e := newEnv(t)
	noStore := e.repo.put("/nostore.pem", e.pki.chainPEM, "no-store")
	plain := e.repo.put("/plain.pem", e.pki.chainPEM, "")
	v := e.verifier(t, func(c *stir.VerifierConfig) { c.CacheTTL = 10 * time.Minute })
	for _, x5u := range []string{noStore, plain} {
		s, err := stir.NewSigner(e.pki.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
		require.NoError(t, err)
		for i := 0; i < 3; i++ {
			req := call(t)
			require.NoError(t, s.SignRequest(t.Context(), req))
			_, err = v.VerifyRequest(t.Context(), req)
			require.NoError(t, err)
		}
	}
	assert.Equal(t, 3, e.repo.count("/nostore.pem"))
	assert.Equal(t, 1, e.repo.count("/plain.pem"))
	e.now = e.now.Add(11 * time.Minute)
	s, err := stir.NewSigner(e.pki.leafKey, plain, stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	req := call(t)
	require.NoError(t, s.SignRequest(t.Context(), req))
	_, err = v.VerifyRequest(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, 2, e.repo.count("/plain.pem"), "CacheTTL applies without max-age")
}

func TestCacheBoundedInEntries(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t, func(c *stir.VerifierConfig) { c.CacheSize = 2 })
	paths := []string{"/a.pem", "/b.pem", "/c.pem"}
	signers := make([]*stir.Signer, len(paths))
	for i, p := range paths {
		s, err := stir.NewSigner(e.pki.leafKey, e.repo.put(p, e.pki.chainPEM, ""), stir.SignerConfig{Clock: fixedClock(&e.now)})
		require.NoError(t, err)
		signers[i] = s
	}
	verify := func(i int) {
		req := call(t)
		require.NoError(t, signers[i].SignRequest(t.Context(), req))
		_, err := v.VerifyRequest(t.Context(), req)
		require.NoError(t, err)
	}
	verify(0)
	verify(1)
	verify(2) // evicts a (least recently used)
	verify(1)
	assert.Equal(t, 1, e.repo.count("/b.pem"))
	verify(0)
	assert.Equal(t, 2, e.repo.count("/a.pem"), "a was evicted by the bound of 2 entries")
}

func TestConcurrentVerificationsShareOneFetch(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t, nil)
	req := e.signed(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.VerifyRequest(context.Background(), req)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, e.repo.count("/sp.pem"))
}

func TestFetchHonoursContext(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	slow := newRepo(t)
	slow.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	s, err := stir.NewSigner(e.pki.leafKey, slow.srv.URL+"/slow.pem", stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	req := call(t)
	require.NoError(t, s.SignRequest(t.Context(), req))
	v, err := stir.NewVerifier([]*x509.Certificate{e.pki.root}, stir.VerifierConfig{
		HTTPClient: slow.srv.Client(), Clock: fixedClock(&e.now), FetchTimeout: 5 * time.Second,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = v.VerifyRequest(ctx, req)
	assert.ErrorIs(t, err, stir.ErrFetch)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	assert.Less(t, time.Since(start), 2*time.Second)

	// FetchTimeout bounds the fetch even when the caller waits forever.
	v2, err := stir.NewVerifier([]*x509.Certificate{e.pki.root}, stir.VerifierConfig{
		HTTPClient: slow.srv.Client(), Clock: fixedClock(&e.now), FetchTimeout: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	_, err = v2.VerifyRequest(t.Context(), req)
	assert.ErrorIs(t, err, stir.ErrFetch)
}

func TestRedirectToHTTPRefused(t *testing.T) {
	e := newEnv(t)
	r := newRepo(t)
	r.srv.Config.Handler = http.RedirectHandler("http://127.0.0.1:1/sp.pem", http.StatusFound)
	s, err := stir.NewSigner(e.pki.leafKey, r.srv.URL+"/sp.pem", stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	req := call(t)
	require.NoError(t, s.SignRequest(t.Context(), req))
	v, err := stir.NewVerifier([]*x509.Certificate{e.pki.root}, stir.VerifierConfig{HTTPClient: r.srv.Client(), Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	_, err = v.VerifyRequest(t.Context(), req)
	assert.ErrorIs(t, err, stir.ErrFetch)
	assert.Contains(t, err.Error(), "redirect")
}

func TestMultipleIdentitiesFirstValidWins(t *testing.T) {
	e := newEnv(t)
	good := identityOf(t, e.signed(t))
	bad := tamper(t, good, func(s string) string { return strings.Replace(s, `"attest":"A"`, `"attest":"B"`, 1) })
	req := withIdentity(t, "+12155551212", bad)
	req.AppendHeader(sip.NewHeader("Identity", "garbage"))
	req.AppendHeader(sip.NewHeader("Identity", good))
	res, err := e.verifier(t, nil).VerifyRequest(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, stir.AttestationFull, res.Attestation)
}

func TestCompactForm(t *testing.T) {
	e := newEnv(t)
	p, err := e.signer.Sign("", stir.Claims{
		Orig: stir.Party{TN: "12155551212"},
		Dest: stir.Dest{TN: []string{"12155551213"}},
	})
	require.NoError(t, err)
	id := stir.Identity{Token: p.Compact(), Info: e.x5u, Alg: stir.AlgES256}
	assert.True(t, id.Compact())
	date := "Date: " + e.now.UTC().Format(http.TimeFormat)
	req := invite(t, "sip:+12155551213@example.com;user=phone",
		"<sip:+12155551212@example.com;user=phone>", "<tel:+1-215-555-1213>", date, "Identity: "+id.String())
	v := e.verifier(t, nil)
	res, err := v.VerifyRequest(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, stir.VerstatPassed, res.Verstat)
	assert.Equal(t, "12155551212", res.PASSporT.Claims.Orig.TN)

	// A different caller cannot reuse the signature.
	req = invite(t, "sip:+12155551213@example.com;user=phone",
		"<sip:+12155550000@example.com;user=phone>", "<tel:+1-215-555-1213>", date, "Identity: "+id.String())
	_, err = v.VerifyRequest(t.Context(), req)
	assert.ErrorIs(t, err, stir.ErrSignature)

	// Compact SHAKEN PASSporTs cannot be rebuilt.
	id.PPT = stir.PPTShaken
	req = invite(t, "sip:+12155551213@example.com", "<sip:+12155551212@example.com>", "<sip:+12155551213@example.com>", date, "Identity: "+id.String())
	_, err = v.VerifyRequest(t.Context(), req)
	assert.ErrorIs(t, err, stir.ErrUnsupported)
}

func TestNewVerifierValidates(t *testing.T) {
	_, err := stir.NewVerifier(nil, stir.VerifierConfig{})
	assert.Error(t, err)
	e := newEnv(t)
	_, err = stir.NewVerifier([]*x509.Certificate{e.pki.root}, stir.VerifierConfig{Freshness: -1})
	assert.Error(t, err)
}

func TestCheckURLHook(t *testing.T) {
	e := newEnv(t)
	refused := errors.New("not an approved repository")
	var seen []string
	v := e.verifier(t, func(c *stir.VerifierConfig) {
		c.CheckURL = func(u *url.URL) error {
			seen = append(seen, u.Path)
			if u.Path != "/sp.pem" {
				return refused
			}
			return nil
		}
	})
	_, err := v.VerifyRequest(t.Context(), e.signed(t))
	require.NoError(t, err)

	s, err := stir.NewSigner(e.pki.leafKey, e.repo.put("/elsewhere.pem", e.pki.chainPEM, ""), stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	req := call(t)
	require.NoError(t, s.SignRequest(t.Context(), req))
	_, err = v.VerifyRequest(t.Context(), req)
	assert.ErrorIs(t, err, stir.ErrFetch)
	assert.ErrorIs(t, err, refused)
	assert.Zero(t, e.repo.count("/elsewhere.pem"), "a refused URL is not fetched")
	assert.Equal(t, []string{"/sp.pem", "/elsewhere.pem"}, seen)
}

// TestCachedChainRevalidated: a chain stays cached for its HTTP lifetime, but
// the certificates' own validity is checked at every verification.
func TestCachedChainRevalidated(t *testing.T) {
	e := newEnv(t)
	short := newPKI(t, e.now, pkiOptions{leafNotAfter: e.now.Add(time.Minute)})
	x5u := e.repo.put("/short-lived.pem", short.chainPEM, "max-age=86400")
	s, err := stir.NewSigner(short.leafKey, x5u, stir.SignerConfig{Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	v, err := stir.NewVerifier([]*x509.Certificate{short.root}, stir.VerifierConfig{HTTPClient: e.repo.srv.Client(), Clock: fixedClock(&e.now)})
	require.NoError(t, err)
	verify := func() error {
		req := call(t)
		require.NoError(t, s.SignRequest(t.Context(), req))
		_, err := v.VerifyRequest(t.Context(), req)
		return err
	}
	require.NoError(t, verify())
	e.now = e.now.Add(time.Minute)
	require.NoError(t, verify(), "valid up to and including NotAfter")
	e.now = e.now.Add(time.Second)
	assert.ErrorIs(t, verify(), stir.ErrCertificate)
	assert.Equal(t, 1, e.repo.count("/short-lived.pem"))
}
