package stir_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/stir"
)

// pki is an STI-CA root, an intermediate and a service provider leaf, all EC
// P-256, generated at test time.
type pki struct {
	root, inter, leaf          *x509.Certificate
	rootKey, interKey, leafKey *ecdsa.PrivateKey
	// chainPEM is what the x5u URL serves: leaf, then intermediate.
	chainPEM []byte
}

type pkiOptions struct {
	leafNotBefore, leafNotAfter time.Time
	// tnAuthList is the DER value of the leaf's TNAuthList extension; nil
	// uses SPC "1234X".
	tnAuthList []byte
	noTNAuth   bool
}

var serial atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func makeCert(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

// spcTNAuthList encodes a TNAuthList holding one service provider code, with
// the explicit tagging of RFC 8226's module.
func spcTNAuthList(t testing.TB, spc string) []byte {
	t.Helper()
	inner, err := asn1.MarshalWithParams(spc, "ia5")
	require.NoError(t, err)
	der, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
	require.NoError(t, err)
	return der
}

func newPKI(t testing.TB, now time.Time, opt pkiOptions) *pki {
	t.Helper()
	p := &pki{rootKey: newKey(t), interKey: newKey(t), leafKey: newKey(t)}
	p.root = makeCert(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Test STI-CA Root"},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, &p.rootKey.PublicKey, p.rootKey)
	p.inter = makeCert(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Test STI-CA Intermediate"},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, p.root, &p.interKey.PublicKey, p.rootKey)
	nb, na := opt.leafNotBefore, opt.leafNotAfter
	if nb.IsZero() {
		nb = now.Add(-time.Hour)
	}
	if na.IsZero() {
		na = now.Add(365 * 24 * time.Hour)
	}
	leafTmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "SHAKEN 1234X"},
		NotBefore: nb,
		NotAfter:  na,
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
	if !opt.noTNAuth {
		val := opt.tnAuthList
		if val == nil {
			val = spcTNAuthList(t, "1234X")
		}
		leafTmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 26}, Value: val}}
	}
	p.leaf = makeCert(t, leafTmpl, p.inter, &p.leafKey.PublicKey, p.interKey)
	p.chainPEM = append(pemCert(p.leaf), pemCert(p.inter)...)
	return p
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// repo is an STI certificate repository: an httptest TLS server serving
// chains by path, counting fetches.
type repo struct {
	srv *httptest.Server

	mu     sync.Mutex
	files  map[string][]byte
	cc     map[string]string // Cache-Control per path
	status map[string]int
	hits   map[string]int
}

func newRepo(t testing.TB) *repo {
	t.Helper()
	r := &repo{files: map[string][]byte{}, cc: map[string]string{}, status: map[string]int{}, hits: map[string]int{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits[req.URL.Path]++
		body, ok := r.files[req.URL.Path]
		cc := r.cc[req.URL.Path]
		code := r.status[req.URL.Path]
		r.mu.Unlock()
		if code != 0 {
			w.WriteHeader(code)
			return
		}
		if !ok {
			http.NotFound(w, req)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		_, _ = w.Write(body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// put serves body at path and returns its URL.
func (r *repo) put(path string, body []byte, cacheControl string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[path] = body
	r.cc[path] = cacheControl
	return r.srv.URL + path
}

func (r *repo) fail(path string, code int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[path] = code
	return r.srv.URL + path
}

func (r *repo) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

// fixedClock returns a clock reading *now.
// Tests move *now only between calls, never during one.
func fixedClock(now *time.Time) func() time.Time {
	return func() time.Time { return *now }
}

// parseRequest parses a request written with \n line ends.
func parseRequest(t testing.TB, text string) *sip.Request {
	t.Helper()
	text = strings.ReplaceAll(text, "\n", "\r\n")
	msg, err := sip.NewParser(0).Parse([]byte(text))
	require.NoError(t, err)
	req, ok := msg.(*sip.Request)
	require.True(t, ok)
	return req
}

// invite builds an INVITE from caller to callee; extra header lines may be
// given.
func invite(t testing.TB, ruri, from, to string, extra ...string) *sip.Request {
	t.Helper()
	var b strings.Builder
	b.WriteString("INVITE " + ruri + " SIP/2.0\n")
	b.WriteString("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9\n")
	b.WriteString("Max-Forwards: 70\n")
	b.WriteString("From: " + from + ";tag=9fxced76sl\n")
	b.WriteString("To: " + to + "\n")
	b.WriteString("Call-ID: 3848276298220188511@192.0.2.10\n")
	b.WriteString("CSeq: 1 INVITE\n")
	b.WriteString("Contact: <sip:alice@192.0.2.10>\n")
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("Content-Length: 0\n\n")
	return parseRequest(t, b.String())
}

// call is the INVITE most tests sign and verify: +1 215 555 1212 calls
// +1 215 555 1213.
func call(t testing.TB) *sip.Request {
	return invite(t, "sip:+12155551213@example.com;user=phone",
		"<sip:+12155551212@example.com;user=phone>", "<sip:+12155551213@example.com;user=phone>",
		"P-Asserted-Identity: <tel:+12155551212>")
}

// recorder is a sip.ResponseWriter that keeps what it is given.
type recorder struct {
	mu        sync.Mutex
	responses []*sip.Response
}

func (r *recorder) WriteResponse(res *sip.Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, prev := range r.responses {
		if prev.StatusCode >= 200 {
			return sip.ErrFinalSent
		}
	}
	r.responses = append(r.responses, res)
	return nil
}

func (r *recorder) last() *sip.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.responses) == 0 {
		return nil
	}
	return r.responses[len(r.responses)-1]
}

// env is a signer and a verifier sharing one PKI and repository.
type env struct {
	now    time.Time
	pki    *pki
	repo   *repo
	x5u    string
	signer *stir.Signer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{now: time.Now().Truncate(time.Second)}
	e.pki = newPKI(t, e.now, pkiOptions{})
	e.repo = newRepo(t)
	e.x5u = e.repo.put("/sp.pem", e.pki.chainPEM, "max-age=3600")
	s, err := stir.NewSigner(e.pki.leafKey, e.x5u, stir.SignerConfig{
		DefaultAttestation: stir.AttestationFull,
		OrigID:             "a1b2c3d4-0000-4000-8000-000000000001",
		Clock:              fixedClock(&e.now),
	})
	require.NoError(t, err)
	e.signer = s
	return e
}

// verifier returns a Verifier trusting the env's root and fetching from its
// repository; mod adjusts the config.
func (e *env) verifier(t testing.TB, mod func(*stir.VerifierConfig)) *stir.Verifier {
	t.Helper()
	cfg := stir.VerifierConfig{HTTPClient: e.repo.srv.Client(), Clock: fixedClock(&e.now)}
	if mod != nil {
		mod(&cfg)
	}
	v, err := stir.NewVerifier([]*x509.Certificate{e.pki.root}, cfg)
	require.NoError(t, err)
	return v
}

// signed returns the standard call signed by the env's signer.
func (e *env) signed(t testing.TB) *sip.Request {
	t.Helper()
	req := call(t)
	require.NoError(t, e.signer.SignRequest(t.Context(), req))
	return req
}
