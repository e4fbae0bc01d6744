package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/siphon-go/siphon/sip"
)

// Defaults for Config fields left zero.
const (
	DefaultNonceTTL   = 5 * time.Minute
	DefaultMaxNonces  = 100000
	DefaultRetryAfter = 5
)

// Errors an Authenticator reports, found with errors.Is in the error that
// Authenticate returns and in Config.OnFailure's argument. The error returned
// to callers is always a *sip.StatusError carrying the response to send.
var (
	// ErrNoCredentials: the request has no credentials for the realm.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrMalformed: the credentials do not parse (answered 400).
	ErrMalformed = errors.New("auth: malformed credentials")
	// ErrInvalidCredentials: wrong password or unknown user (the two are
	// answered alike; the cause wraps ErrUnknownUser for logs), or a nonce
	// that was never issued here, or a mismatched digest-uri.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrStaleNonce: the response was right but the nonce has expired;
	// answered with a challenge carrying stale=true (RFC 7616 §3.3).
	ErrStaleNonce = errors.New("auth: stale nonce")
	// ErrReplay: a nonce-count was used twice (RFC 7616 §3.4); answered
	// with a challenge carrying stale=true.
	ErrReplay = errors.New("auth: replayed nonce-count")
	// ErrBackend: the Backend failed (answered 503 with Retry-After).
	ErrBackend = errors.New("auth: backend failure")
	// ErrFromMismatch: with Config.MatchFrom, the From user is not the
	// authenticated user (answered 403).
	ErrFromMismatch = errors.New("auth: From is not the authenticated user")
)

// Config tunes an Authenticator. The zero value gives the defaults documented
// per field.
type Config struct {
	// Realm is the protection domain put into challenges and required in
	// credentials (RFC 3261 §22.1). Empty means the host of the To URI for
	// REGISTER (the domain registered to) and of the From URI for other
	// requests.
	Realm string
	// Secret keys the HMAC that makes nonces stateless (at least 16 bytes).
	// Every instance behind one DNS name must share it, so that a nonce
	// issued by one verifies on another. Nil means a random secret made by
	// New: nonces then verify on this instance only.
	Secret []byte
	// NonceTTL is how long a nonce is accepted; default 5 min. A request
	// with a correct response but an older nonce is challenged again with
	// stale=true, so a captured Authorization header stops working after it.
	NonceTTL time.Duration
	// MaxNonces bounds the table of nonce-counts kept against replays;
	// default 100000 nonces (about 100 bytes each). See Authenticate.
	MaxNonces int
	// Algorithms are offered in challenges in this order, one challenge
	// each; nil means MD5 only, which every SIP UA implements. RFC 8760
	// §2.4 asks a server offering SHA-256 to put it first:
	// []Algorithm{SHA256, MD5}.
	Algorithms []Algorithm
	// AuthInt offers qop="auth,auth-int" instead of qop="auth".
	AuthInt bool
	// Proxy selects proxy authentication: 407 Proxy Authentication Required
	// with Proxy-Authenticate, reading Proxy-Authorization (RFC 3261 §22.3).
	// By default the Authenticator is a UAS or registrar: 401 with
	// WWW-Authenticate, reading Authorization.
	Proxy bool
	// Forbid answers invalid credentials with 403 Forbidden. By default
	// they are challenged again (RFC 3261 §22.2), with a fresh nonce.
	Forbid bool
	// MatchFrom refuses, with 403, an authenticated request whose From
	// user part is not the authenticated username: a caller cannot present
	// another user's identity with its own credentials. (A registrar checks
	// the To AoR instead: registrar.Config.AuthUser.)
	MatchFrom bool
	// IgnoreURI skips checking that the digest-uri names the Request-URI.
	// By default a mismatch is answered 400 (RFC 2617 §3.2.2.5).
	IgnoreURI bool
	// RetryAfter is the Retry-After of the 503 sent when the Backend fails,
	// in seconds; default 5.
	RetryAfter int
	// Now returns the current time; nil means time.Now. siptest.Clock's Now
	// fits.
	Now func() time.Time
	// Logger receives the middleware's logs of backend failures; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnFailure, when set, is called for every request whose credentials
	// were present but refused, with the reason (ErrInvalidCredentials,
	// ErrStaleNonce, ErrReplay, ErrMalformed, ErrFromMismatch), for logs
	// and ban lists. It
	// runs on the request's goroutine and should not block.
	OnFailure func(ctx context.Context, req *sip.Request, reason error)
	// OnSuccess, when set, is called for every request that authenticates.
	OnSuccess func(ctx context.Context, req *sip.Request, id Identity)
}

// Identity is the user a request authenticated as.
type Identity struct {
	// Username is the digest username.
	Username string
	// Realm is the realm the credentials were for.
	Realm string
	// Algorithm is the digest algorithm used.
	Algorithm Algorithm
}

// Authenticator checks digest credentials on requests and builds the
// challenges that ask for them (RFC 3261 §22, RFC 7616, RFC 8760).
// Nonces are stateless: a timestamp and an HMAC (see Config.Secret).
// It is safe for concurrent use.
type Authenticator struct {
	backend  Backend
	cfg      Config
	minter   *nonceMinter
	counts   *counter
	offers   []Algorithm
	qop      string
	dummy    string // password used for unknown users, so they cost the same
	reqHdr   string
	chalHdr  string
	chalCode int
	log      *slog.Logger
}

// New returns an Authenticator that looks credentials up in b.
func New(b Backend, cfg Config) (*Authenticator, error) {
	if b == nil {
		return nil, errors.New("auth: nil Backend")
	}
	if cfg.Secret == nil {
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	} else if len(cfg.Secret) < 16 {
		return nil, errors.New("auth: Secret shorter than 16 bytes")
	}
	if cfg.NonceTTL == 0 {
		cfg.NonceTTL = DefaultNonceTTL
	}
	if cfg.NonceTTL < 0 {
		return nil, errors.New("auth: negative NonceTTL")
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = DefaultMaxNonces
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{
		backend: b,
		cfg:     cfg,
		minter:  newNonceMinter(cfg.Secret, cfg.NonceTTL),
		counts:  newCounter(cfg.MaxNonces),
		log:     cfg.Logger,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.offers = cfg.Algorithms
	if len(a.offers) == 0 {
		a.offers = []Algorithm{MD5}
	}
	for _, alg := range a.offers {
		if p, ok := ParseAlgorithm(string(alg)); !ok || p != alg {
			return nil, fmt.Errorf("auth: unsupported algorithm %q", alg)
		}
	}
	a.qop = "auth"
	if cfg.AuthInt {
		a.qop = "auth,auth-int"
	}
	d := sha256.Sum256(append([]byte("siphon-unknown-user\x00"), cfg.Secret...))
	a.dummy = hex.EncodeToString(d[:12])
	if cfg.Proxy {
		a.reqHdr, a.chalHdr, a.chalCode = "Proxy-Authorization", "Proxy-Authenticate", sip.StatusProxyAuthRequired
	} else {
		a.reqHdr, a.chalHdr, a.chalCode = "Authorization", "WWW-Authenticate", sip.StatusUnauthorized
	}
	return a, nil
}

// Realm returns the realm used for req.
func (a *Authenticator) Realm(req *sip.Request) string {
	if a.cfg.Realm != "" {
		return a.cfg.Realm
	}
	if req.Method == sip.REGISTER {
		if to := req.To(); to != nil {
			return strings.ToLower(to.Address.Host)
		}
	}
	if from := req.From(); from != nil {
		return strings.ToLower(from.Address.Host)
	}
	return strings.ToLower(req.Recipient.Host)
}

// Challenge returns the error that answers req with a challenge: 401 with
// one WWW-Authenticate per offered algorithm (407 and Proxy-Authenticate for
// a proxy), each with a fresh nonce, and stale=true when stale is set.
// cause becomes the error's Err.
func (a *Authenticator) Challenge(req *sip.Request, stale bool, cause error) *sip.StatusError {
	realm := a.Realm(req)
	nonce := a.minter.issue(a.cfg.Now(), realm)
	hs := make([]sip.Header, 0, len(a.offers))
	for _, alg := range a.offers {
		var b strings.Builder
		b.Grow(128)
		b.WriteString(`Digest realm="`)
		b.WriteString(quoteEscape(realm))
		b.WriteString(`", nonce="`)
		b.WriteString(nonce)
		b.WriteString(`", algorithm=`)
		b.WriteString(string(alg))
		b.WriteString(`, qop="`)
		b.WriteString(a.qop)
		b.WriteByte('"')
		if stale {
			b.WriteString(", stale=true")
		}
		hs = append(hs, sip.NewHeader(a.chalHdr, b.String()))
	}
	se := sip.NewStatusError(a.chalCode, "", hs...)
	se.Err = cause
	return se
}

func quoteEscape(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return r.Replace(s)
}

// Authenticate checks the credentials req carries for the realm. On success
// it returns who the request authenticated as. Otherwise the error is a
// *sip.StatusError holding the response to send (sip.RespondError sends it):
//
//   - no credentials for the realm: a challenge (ErrNoCredentials);
//   - credentials that do not parse or lack a required parameter: 400
//     (ErrMalformed);
//   - a wrong response, an unknown user, a nonce not issued with this
//     secret or for this realm: a new challenge, or 403 with Config.Forbid
//     (ErrInvalidCredentials). An unknown user costs the same hashing as a
//     known one and gets the same answer, so responses do not reveal which
//     users exist;
//   - a right response with an expired nonce, or a nonce-count already used:
//     a challenge with stale=true (ErrStaleNonce, ErrReplay);
//   - a Backend failure: 503 with Retry-After (ErrBackend).
//
// Replays are caught by remembering, per nonce, the nonce-counts used (a
// window of 64 below the highest, so requests sent concurrently may arrive
// out of order). Credentials without qop (RFC 2069 style) have no
// nonce-count, so their nonce is accepted once. The table is per instance;
// across instances a replay is bounded by the nonce's lifetime.
func (a *Authenticator) Authenticate(ctx context.Context, req *sip.Request) (Identity, error) {
	id, err := a.authenticate(ctx, req)
	if err != nil {
		if a.cfg.OnFailure != nil && !errors.Is(err, ErrNoCredentials) && !errors.Is(err, ErrBackend) {
			var se *sip.StatusError
			reason := err
			if errors.As(err, &se) && se.Err != nil {
				reason = se.Err
			}
			a.cfg.OnFailure(ctx, req, reason)
		}
		return Identity{}, err
	}
	if a.cfg.OnSuccess != nil {
		a.cfg.OnSuccess(ctx, req, id)
	}
	return id, nil
}

func (a *Authenticator) authenticate(ctx context.Context, req *sip.Request) (Identity, error) {
	realm := a.Realm(req)
	cred, found, err := a.credentials(req, realm)
	if err != nil {
		return Identity{}, badRequest(err)
	}
	if !found {
		return Identity{}, a.Challenge(req, false, ErrNoCredentials)
	}
	p := func(name string) string { v, _ := cred.Param(name); return v }
	user, nonce, uri, resp := p("username"), p("nonce"), p("uri"), p("response")
	if user == "" || nonce == "" || uri == "" || resp == "" {
		return Identity{}, badRequest(errors.New("missing username, nonce, uri or response"))
	}
	alg, ok := ParseAlgorithm(p("algorithm"))
	if !ok || !a.offered(alg.Base()) {
		return Identity{}, a.invalid(req, fmt.Errorf("%w: algorithm %q not offered", ErrInvalidCredentials, p("algorithm")))
	}
	if len(resp) != alg.hexLen() {
		return Identity{}, a.invalid(req, fmt.Errorf("%w: response length", ErrInvalidCredentials))
	}
	qop := p("qop")
	var nc uint32
	switch {
	case qop == "":
	case strings.EqualFold(qop, "auth"), strings.EqualFold(qop, "auth-int") && a.cfg.AuthInt:
		qop = strings.ToLower(qop)
		n, err := strconv.ParseUint(p("nc"), 16, 32)
		if err != nil || len(p("nc")) != 8 || p("cnonce") == "" || n == 0 {
			return Identity{}, badRequest(errors.New("qop without a valid nc and cnonce"))
		}
		nc = uint32(n)
	default:
		return Identity{}, a.invalid(req, fmt.Errorf("%w: qop %q not offered", ErrInvalidCredentials, qop))
	}
	if !a.cfg.IgnoreURI && !sameURI(uri, req.Recipient) {
		return Identity{}, badRequest(fmt.Errorf("digest uri %q is not the Request-URI", uri))
	}
	now := a.cfg.Now()
	issued, nerr := a.minter.check(nonce, now, realm)
	if errors.Is(nerr, errBadNonce) {
		return Identity{}, a.invalid(req, fmt.Errorf("%w: %w", ErrInvalidCredentials, nerr))
	}

	ha1, err := a.backend.HA1(ctx, user, realm, alg.Base())
	unknown := errors.Is(err, ErrUnknownUser)
	switch {
	case unknown:
		ha1 = HA1(alg, user, realm, a.dummy)
	case err != nil:
		return Identity{}, a.backendFailure(err)
	case len(ha1) != alg.hexLen():
		return Identity{}, a.backendFailure(fmt.Errorf("HA1 for %q has length %d", user, len(ha1)))
	}
	in := digestInput{alg: alg, ha1: strings.ToLower(ha1), nonce: nonce, cnonce: p("cnonce"), nc: p("nc"),
		qop: qop, method: string(req.Method), uri: uri}
	if qop == "auth-int" {
		in.body = req.Body()
	}
	var wantBuf [64]byte
	want := in.appendResponse(wantBuf[:0])
	match := subtle.ConstantTimeCompare(want, []byte(strings.ToLower(resp))) == 1
	if unknown || !match {
		cause := ErrInvalidCredentials
		if unknown {
			cause = fmt.Errorf("%w: %w", ErrInvalidCredentials, ErrUnknownUser)
		}
		return Identity{}, a.invalid(req, cause)
	}
	if nerr != nil { // right answer, old nonce: RFC 7616 §3.3 stale
		return Identity{}, a.Challenge(req, true, ErrStaleNonce)
	}
	switch err := a.counts.use(nonce, issued, issued+int64(a.cfg.NonceTTL+time.Second), nc, now.UnixNano()); {
	case errors.Is(err, errReplay):
		return Identity{}, a.Challenge(req, true, ErrReplay)
	case err != nil:
		return Identity{}, a.Challenge(req, true, fmt.Errorf("%w: %w", ErrStaleNonce, err))
	}
	if a.cfg.MatchFrom {
		if from := req.From(); from == nil || from.Address.User != user {
			se := sip.NewStatusError(sip.StatusForbidden, "From Does Not Match Credentials")
			se.Err = ErrFromMismatch
			return Identity{}, se
		}
	}
	return Identity{Username: user, Realm: realm, Algorithm: alg}, nil
}

// credentials returns the first Digest credentials for realm.
func (a *Authenticator) credentials(req *sip.Request, realm string) (sip.Credentials, bool, error) {
	for _, v := range sip.HeaderValues(req, a.reqHdr) {
		if !isDigest(v) {
			continue // another scheme is not ours to judge
		}
		c, err := sip.ParseCredentials(v)
		if err != nil {
			return sip.Credentials{}, false, err
		}
		if r, _ := c.Param("realm"); r == realm {
			return c, true, nil
		}
	}
	return sip.Credentials{}, false, nil
}

func isDigest(v string) bool {
	v = strings.TrimLeft(v, " \t")
	return len(v) > 6 && strings.EqualFold(v[:6], "Digest") && (v[6] == ' ' || v[6] == '\t')
}

func (a *Authenticator) offered(alg Algorithm) bool {
	for _, o := range a.offers {
		if o.Base() == alg {
			return true
		}
	}
	return false
}

func (a *Authenticator) invalid(req *sip.Request, cause error) error {
	if a.cfg.Forbid {
		se := sip.NewStatusError(sip.StatusForbidden, "")
		se.Err = cause
		return se
	}
	return a.Challenge(req, false, cause)
}

func (a *Authenticator) backendFailure(err error) error {
	se := sip.NewStatusError(sip.StatusServiceUnavailable, "",
		sip.NewHeader("Retry-After", strconv.Itoa(a.cfg.RetryAfter)))
	se.Err = fmt.Errorf("%w: %w", ErrBackend, err)
	return se
}

func badRequest(err error) error {
	se := sip.NewStatusError(sip.StatusBadRequest, "Malformed Credentials")
	se.Err = fmt.Errorf("%w: %w", ErrMalformed, err)
	return se
}

// sameURI reports whether the digest-uri s names ruri: same scheme, user,
// host (without regard to case) and port. A digest-uri that does not parse
// must equal the Request-URI's text.
func sameURI(s string, ruri sip.Uri) bool {
	u, err := sip.ParseURI(s)
	if err != nil {
		return s == ruri.String()
	}
	return strings.EqualFold(u.Scheme, ruri.Scheme) && u.User == ruri.User &&
		strings.EqualFold(u.Host, ruri.Host) && u.Port == ruri.Port
}

// Middleware authenticates every request but ACK and CANCEL, which cannot
// be challenged (RFC 3261 §22.1), before passing it to next with the
// Identity in its context (see IdentityFromContext). Requests that do not
// authenticate are answered as Authenticate describes; backend failures are
// logged.
func (a *Authenticator) Middleware(next sip.Handler) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method == sip.ACK || req.Method == sip.CANCEL {
			next.ServeSIP(ctx, w, req)
			return
		}
		id, err := a.Authenticate(ctx, req)
		if err != nil {
			if errors.Is(err, ErrBackend) {
				a.log.Warn("auth: backend failed", "err", err, "call-id", callID(req))
			}
			_ = sip.RespondError(w, req, err)
			return
		}
		next.ServeSIP(NewContext(ctx, id), w, req)
	})
}

func callID(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

type identityKey struct{}

// NewContext returns a context carrying id, as the middleware passes it on.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFromContext returns the Identity the middleware authenticated the
// request as, if any.
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// UsernameFromContext returns the authenticated username, if any. It fits
// registrar.Config.AuthUser.
func UsernameFromContext(ctx context.Context) (string, bool) {
	id, ok := IdentityFromContext(ctx)
	return id.Username, ok
}
