package auth_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
)

func TestRegisterChallengeThenSuccess(t *testing.T) {
	for _, alg := range []auth.Algorithm{auth.MD5, auth.SHA256, auth.MD5Sess, auth.SHA256Sess} {
		t.Run(string(alg), func(t *testing.T) {
			a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Algorithms: []auth.Algorithm{alg}})
			next := &okHandler{}
			h := a.Middleware(next)

			res := serve(t, h, register("alice", 1))
			if res.StatusCode != sip.StatusUnauthorized {
				t.Fatalf("first REGISTER got %d, want 401", res.StatusCode)
			}
			if got := challengeParam(t, res, "WWW-Authenticate", "algorithm"); got != string(alg) {
				t.Fatalf("algorithm = %q", got)
			}
			if got := challengeParam(t, res, "WWW-Authenticate", "qop"); got != "auth" {
				t.Fatalf("qop = %q", got)
			}
			c := &auth.Client{Username: "alice", Password: "secret"}
			retry := register("alice", 2)
			if err := c.Authorize(retry, res); err != nil {
				t.Fatal(err)
			}
			if res := serve(t, h, retry); res.StatusCode != sip.StatusOK {
				t.Fatalf("authorized REGISTER got %d", res.StatusCode)
			}
			if next.last.Username != "alice" || next.last.Realm != "example.com" || next.last.Algorithm != alg {
				t.Fatalf("identity = %+v", next.last)
			}
			// Pre-emptive credentials with the next nonce-count.
			again := register("alice", 3)
			if !c.Sign(again) {
				t.Fatal("Sign found no challenge")
			}
			if !strings.Contains(authorization(again), "nc=00000002") {
				t.Fatalf("second use: %s", authorization(again))
			}
			if res := serve(t, h, again); res.StatusCode != sip.StatusOK {
				t.Fatalf("pre-emptive REGISTER got %d", res.StatusCode)
			}
		})
	}
}

func TestProxyChallenge407(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Proxy: true})
	h := a.Middleware(&okHandler{})
	invite := func() *sip.Request {
		return siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com", siptest.WithCallID("c1"))
	}
	res := serve(t, h, invite())
	if res.StatusCode != sip.StatusProxyAuthRequired || len(sip.HeaderValues(res, "Proxy-Authenticate")) != 1 {
		t.Fatalf("got %d with %v", res.StatusCode, sip.HeaderValues(res, "Proxy-Authenticate"))
	}
	if len(sip.HeaderValues(res, "WWW-Authenticate")) != 0 {
		t.Fatal("proxy challenge carries WWW-Authenticate")
	}
	retry := invite()
	c := &auth.Client{Username: "alice", Password: "secret"}
	if err := c.Authorize(retry, res); err != nil {
		t.Fatal(err)
	}
	if len(sip.HeaderValues(retry, "Proxy-Authorization")) != 1 {
		t.Fatal("client did not answer with Proxy-Authorization")
	}
	if res := serve(t, h, retry); res.StatusCode != sip.StatusOK {
		t.Fatalf("authorized INVITE got %d", res.StatusCode)
	}
	// A UAS's Authorization is not a proxy's credential.
	wrongHeader := invite()
	wrongHeader.AppendHeader(sip.NewHeader("Authorization", sip.HeaderValues(retry, "Proxy-Authorization")[0]))
	if res := serve(t, h, wrongHeader); res.StatusCode != sip.StatusProxyAuthRequired {
		t.Fatalf("Authorization to a proxy got %d", res.StatusCode)
	}
}

func TestAckAndCancelAreNotChallenged(t *testing.T) {
	a := newAuth(t, nil, auth.Config{Realm: "example.com", Proxy: true})
	for _, m := range []sip.RequestMethod{sip.ACK, sip.CANCEL} {
		called := false
		h := a.Middleware(sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) { called = true }))
		h.ServeSIP(context.Background(), siptest.NewRecorder(), siptest.NewIncomingRequest(m, "sip:bob@example.com"))
		if !called {
			t.Errorf("%s was not passed through", m)
		}
	}
}

func TestSHA256OfferedFirst(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com",
		Algorithms: []auth.Algorithm{auth.SHA256, auth.MD5}})
	res := serve(t, a.Middleware(&okHandler{}), register("alice", 1))
	vals := sip.HeaderValues(res, "WWW-Authenticate")
	if len(vals) != 2 || !strings.Contains(vals[0], "algorithm=SHA-256") || !strings.Contains(vals[1], "algorithm=MD5") {
		t.Fatalf("challenges = %q", vals)
	}
	c := &auth.Client{Username: "alice", Password: "secret"}
	retry := register("alice", 2)
	if err := c.Authorize(retry, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(authorization(retry), "algorithm=SHA-256") {
		t.Fatalf("client did not take the topmost challenge: %s", authorization(retry))
	}
	next := &okHandler{}
	if res := serve(t, a.Middleware(next), retry); res.StatusCode != 200 || next.last.Algorithm != auth.SHA256 {
		t.Fatalf("got %d, identity %+v", res.StatusCode, next.last)
	}
}

// An unknown user and a wrong password must be indistinguishable on the wire:
// same status, same headers apart from the nonce.
func TestUnknownUserAndWrongPasswordLookAlike(t *testing.T) {
	for _, forbid := range []bool{false, true} {
		t.Run(fmt.Sprintf("forbid=%v", forbid), func(t *testing.T) {
			var reasons []error
			a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Forbid: forbid,
				OnFailure: func(_ context.Context, _ *sip.Request, err error) { reasons = append(reasons, err) }})
			h := a.Middleware(&okHandler{})
			attempt := func(user, pass string) *sip.Response {
				first := serve(t, h, register(user, 1))
				retry := register(user, 2)
				if err := (&auth.Client{Username: user, Password: pass}).Authorize(retry, first); err != nil {
					t.Fatal(err)
				}
				return serve(t, h, retry)
			}
			wrong := attempt("alice", "guess")
			unknown := attempt("mallory", "guess")
			if wrong.StatusCode != unknown.StatusCode {
				t.Fatalf("wrong password %d, unknown user %d", wrong.StatusCode, unknown.StatusCode)
			}
			want := sip.StatusUnauthorized
			if forbid {
				want = sip.StatusForbidden
			}
			if wrong.StatusCode != want {
				t.Fatalf("got %d, want %d", wrong.StatusCode, want)
			}
			if shape(wrong) != shape(unknown) {
				t.Fatalf("responses differ:\n%s\n%s", shape(wrong), shape(unknown))
			}
			if len(reasons) != 2 || !errors.Is(reasons[0], auth.ErrInvalidCredentials) ||
				!errors.Is(reasons[1], auth.ErrInvalidCredentials) || !errors.Is(reasons[1], auth.ErrUnknownUser) ||
				errors.Is(reasons[0], auth.ErrUnknownUser) {
				t.Fatalf("OnFailure reasons = %v", reasons)
			}
		})
	}
}

// shape renders a response with nonces and tags masked.
func shape(res *sip.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", res.StatusCode, res.Reason)
	for _, h := range res.Headers() {
		switch h.Name() {
		case "Via", "From", "To", "Call-ID", "CSeq":
			continue
		}
		v := h.Value()
		if i := strings.Index(v, `nonce="`); i >= 0 {
			j := strings.IndexByte(v[i+7:], '"')
			v = v[:i+7] + "N" + v[i+7+j:]
		}
		fmt.Fprintf(&b, "%s: %s\n", h.Name(), v)
	}
	return b.String()
}

// Checking an unknown user costs what checking a wrong password costs.
func TestUnknownUserTiming(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com"})
	prepare := func(user string) *sip.Request {
		first, err := a.Authenticate(context.Background(), register(user, 1))
		_ = first
		var se *sip.StatusError
		errors.As(err, &se)
		res := sip.NewResponse(register(user, 1), se.Code, "")
		for _, h := range se.Headers {
			res.AppendHeader(h)
		}
		req := register(user, 2)
		_ = (&auth.Client{Username: user, Password: "guess"}).Authorize(req, res)
		return req
	}
	measure := func(user string) time.Duration {
		reqs := make([]*sip.Request, 301)
		for i := range reqs {
			reqs[i] = prepare(user)
		}
		d := make([]time.Duration, len(reqs))
		for i, r := range reqs {
			start := time.Now()
			_, _ = a.Authenticate(context.Background(), r)
			d[i] = time.Since(start)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	measure("alice") // warm up
	known, unknown := measure("alice"), measure("nobody")
	if ratio := float64(unknown) / float64(known); ratio < 0.33 || ratio > 3 {
		t.Fatalf("median check: known user %v, unknown user %v", known, unknown)
	}
}

func TestStaleNonce(t *testing.T) {
	clock := siptest.NewClock()
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Now: clock.Now, NonceTTL: time.Minute})
	h := a.Middleware(&okHandler{})
	first := serve(t, h, register("alice", 1))
	good := register("alice", 2)
	c := &auth.Client{Username: "alice", Password: "secret"}
	_ = c.Authorize(good, first)
	bad := register("alice", 2)
	_ = (&auth.Client{Username: "alice", Password: "wrong"}).Authorize(bad, first)

	clock.Advance(time.Minute + time.Second)
	res := serve(t, h, good)
	if res.StatusCode != 401 || challengeParam(t, res, "WWW-Authenticate", "stale") != "true" {
		t.Fatalf("expired nonce with the right response: %d stale=%q", res.StatusCode, challengeParam(t, res, "WWW-Authenticate", "stale"))
	}
	// RFC 7616 §3.3: stale only when the digest was right.
	res = serve(t, h, bad)
	if res.StatusCode != 401 || challengeParam(t, res, "WWW-Authenticate", "stale") != "" {
		t.Fatalf("expired nonce with a wrong response: %d stale=%q", res.StatusCode, challengeParam(t, res, "WWW-Authenticate", "stale"))
	}
	// The client answers the stale challenge without asking the user again.
	again := register("alice", 3)
	if err := c.Authorize(again, serve(t, h, register("alice", 3))); err != nil {
		t.Fatal(err)
	}
	if res := serve(t, h, again); res.StatusCode != 200 {
		t.Fatalf("after re-challenge %d", res.StatusCode)
	}
}

func TestReplayedAuthorizationRefused(t *testing.T) {
	clock := siptest.NewClock()
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Now: clock.Now})
	next := &okHandler{}
	h := a.Middleware(next)
	first := serve(t, h, register("alice", 1))
	req := register("alice", 2)
	_ = (&auth.Client{Username: "alice", Password: "secret"}).Authorize(req, first)
	captured := authorization(req)
	if res := serve(t, h, req); res.StatusCode != 200 {
		t.Fatalf("original got %d", res.StatusCode)
	}
	replay := func() *sip.Response {
		r := register("alice", 9)
		r.AppendHeader(sip.NewHeader("Authorization", captured))
		return serve(t, h, r)
	}
	// Within the nonce's lifetime: the nonce-count was used.
	if res := replay(); res.StatusCode != 401 || challengeParam(t, res, "WWW-Authenticate", "stale") != "true" {
		t.Fatalf("replay within lifetime got %d", res.StatusCode)
	}
	// After the lifetime, on a fresh instance that never saw the nonce-count.
	a2 := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Now: clock.Now})
	clock.Advance(auth.DefaultNonceTTL + time.Second)
	r := register("alice", 9)
	r.AppendHeader(sip.NewHeader("Authorization", captured))
	if res := serve(t, a2.Middleware(next), r); res.StatusCode != 401 {
		t.Fatalf("replay after lifetime got %d", res.StatusCode)
	}
}

func TestNoQOPNonceIsSingleUse(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com"})
	h := a.Middleware(&okHandler{})
	first := serve(t, h, register("alice", 1))
	nonce := challengeParam(t, first, "WWW-Authenticate", "nonce")
	resp := md5hex(md5hex("alice:example.com:secret") + ":" + nonce + ":" + md5hex("REGISTER:sip:example.com"))
	cred := fmt.Sprintf(`Digest username="alice", realm="example.com", nonce="%s", uri="sip:example.com", response="%s"`, nonce, resp)
	for i, want := range []int{200, 401} {
		r := register("alice", uint32(2+i))
		r.AppendHeader(sip.NewHeader("Authorization", cred))
		if res := serve(t, h, r); res.StatusCode != want {
			t.Fatalf("use %d: got %d, want %d", i+1, res.StatusCode, want)
		}
	}
}

func TestNoncesWorkAcrossInstances(t *testing.T) {
	users := map[string]string{"alice": "secret"}
	a1 := newAuth(t, users, auth.Config{Realm: "example.com"})
	a2 := newAuth(t, users, auth.Config{Realm: "example.com"})                                          // same secret
	a3 := newAuth(t, users, auth.Config{Realm: "example.com", Secret: []byte("another-secret-of-16+")}) // not
	first := serve(t, a1.Middleware(&okHandler{}), register("alice", 1))
	mk := func() *sip.Request {
		r := register("alice", 2)
		_ = (&auth.Client{Username: "alice", Password: "secret"}).Authorize(r, first)
		return r
	}
	if res := serve(t, a2.Middleware(&okHandler{}), mk()); res.StatusCode != 200 {
		t.Fatalf("other instance with the shared secret: %d", res.StatusCode)
	}
	if res := serve(t, a3.Middleware(&okHandler{}), mk()); res.StatusCode != 401 ||
		challengeParam(t, res, "WWW-Authenticate", "stale") != "" {
		t.Fatalf("instance with another secret: %d", res.StatusCode)
	}
	// A nonce is bound to its realm.
	a4 := newAuth(t, users, auth.Config{Realm: "example.org"})
	r := register("alice", 2)
	h := strings.ReplaceAll(authorization(mk()), `realm="example.com"`, `realm="example.org"`)
	r.AppendHeader(sip.NewHeader("Authorization", h))
	if res := serve(t, a4.Middleware(&okHandler{}), r); res.StatusCode != 401 {
		t.Fatalf("nonce from another realm: %d", res.StatusCode)
	}
}

func TestMalformedAndMismatchedCredentials(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com"})
	h := a.Middleware(&okHandler{})
	first := serve(t, h, register("alice", 1))
	nonce := challengeParam(t, first, "WWW-Authenticate", "nonce")
	cases := map[string]struct {
		value string
		want  int
	}{
		"unparsable":        {`Digest username="alice`, 400},
		"missing response":  {`Digest username="alice", realm="example.com", nonce="` + nonce + `", uri="sip:example.com"`, 400},
		"qop without nc":    {`Digest username="alice", realm="example.com", nonce="` + nonce + `", uri="sip:example.com", response="00000000000000000000000000000000", qop=auth, cnonce="x"`, 400},
		"uri mismatch":      {`Digest username="alice", realm="example.com", nonce="` + nonce + `", uri="sip:evil.example", response="00000000000000000000000000000000"`, 400},
		"forged nonce":      {`Digest username="alice", realm="example.com", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:example.com", response="00000000000000000000000000000000"`, 401},
		"unknown algorithm": {`Digest username="alice", realm="example.com", nonce="` + nonce + `", uri="sip:example.com", response="00", algorithm=SHA-512-256`, 401},
		"other realm only":  {`Digest username="alice", realm="elsewhere", nonce="x", uri="sip:example.com", response="00"`, 401},
		"basic scheme":      {`Basic YWxpY2U6c2VjcmV0`, 401},
		"short response":    {`Digest username="alice", realm="example.com", nonce="` + nonce + `", uri="sip:example.com", response="abcd"`, 401},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := register("alice", 2)
			r.AppendHeader(sip.NewHeader("Authorization", c.value))
			if res := serve(t, h, r); res.StatusCode != c.want {
				t.Fatalf("got %d, want %d", res.StatusCode, c.want)
			}
		})
	}
}

func TestBackendFailureIs503(t *testing.T) {
	a, err := auth.New(auth.BackendFunc(func(context.Context, string, string, auth.Algorithm) (string, error) {
		return "", errors.New("database down")
	}), auth.Config{Realm: "example.com", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(&okHandler{})
	first := serve(t, h, register("alice", 1))
	r := register("alice", 2)
	_ = (&auth.Client{Username: "alice", Password: "x"}).Authorize(r, first)
	res := serve(t, h, r)
	if res.StatusCode != 503 || len(sip.HeaderValues(res, "Retry-After")) != 1 {
		t.Fatalf("got %d %v", res.StatusCode, sip.HeaderValues(res, "Retry-After"))
	}
}

func TestAuthIntCoversTheBody(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", AuthInt: true, Proxy: true})
	h := a.Middleware(&okHandler{})
	msg := func(body string) *sip.Request {
		return siptest.NewIncomingRequest(sip.MESSAGE, "sip:bob@example.com", siptest.WithBody("text/plain", []byte(body)))
	}
	first := serve(t, h, msg("hi"))
	if q := challengeParam(t, first, "Proxy-Authenticate", "qop"); q != "auth,auth-int" {
		t.Fatalf("qop offer %q", q)
	}
	// Force the client onto auth-int by offering only it.
	vals := sip.HeaderValues(first, "Proxy-Authenticate")
	sip.RemoveHeaders(first, "Proxy-Authenticate")
	first.AppendHeader(sip.NewHeader("Proxy-Authenticate", strings.Replace(vals[0], `qop="auth,auth-int"`, `qop="auth-int"`, 1)))
	r := msg("hi")
	_ = (&auth.Client{Username: "alice", Password: "secret"}).Authorize(r, first)
	if !strings.Contains(sip.HeaderValues(r, "Proxy-Authorization")[0], "qop=auth-int") {
		t.Fatal("client did not use auth-int")
	}
	tampered := msg("ho")
	tampered.AppendHeader(sip.NewHeader("Proxy-Authorization", sip.HeaderValues(r, "Proxy-Authorization")[0]))
	if res := serve(t, h, tampered); res.StatusCode != 407 {
		t.Fatalf("tampered body got %d", res.StatusCode)
	}
	if res := serve(t, h, r); res.StatusCode != 200 {
		t.Fatalf("auth-int got %d", res.StatusCode)
	}
}

func TestHooks(t *testing.T) {
	var ok []string
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com",
		OnSuccess: func(_ context.Context, _ *sip.Request, id auth.Identity) { ok = append(ok, id.Username) },
		OnFailure: func(context.Context, *sip.Request, error) { t.Error("OnFailure for a missing credential") }})
	h := a.Middleware(&okHandler{})
	first := serve(t, h, register("alice", 1))
	r := register("alice", 2)
	_ = (&auth.Client{Username: "alice", Password: "secret"}).Authorize(r, first)
	serve(t, h, r)
	if !slices.Equal(ok, []string{"alice"}) {
		t.Fatalf("OnSuccess saw %v", ok)
	}
}

func TestDefaultRealmFollowsTheDomain(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{})
	res := serve(t, a.Middleware(&okHandler{}), register("alice", 1))
	if r := challengeParam(t, res, "WWW-Authenticate", "realm"); r != "example.com" {
		t.Fatalf("realm %q", r)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := auth.New(nil, auth.Config{}); err == nil {
		t.Error("nil backend accepted")
	}
	if _, err := auth.New(auth.NewStatic(nil), auth.Config{Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := auth.New(auth.NewStatic(nil), auth.Config{Algorithms: []auth.Algorithm{"SHA-1"}}); err == nil {
		t.Error("unknown algorithm accepted")
	}
}

func TestReadStatic(t *testing.T) {
	s, err := auth.ReadStatic(strings.NewReader("# users\nalice:se:cret\n\nbob:pw\n"))
	if err != nil || s.Len() != 2 {
		t.Fatalf("%v, %d users", err, s.Len())
	}
	ha1, err := s.HA1(context.Background(), "alice", "r", auth.MD5)
	if err != nil || ha1 != auth.HA1(auth.MD5, "alice", "r", "se:cret") {
		t.Fatalf("HA1 = %q, %v", ha1, err)
	}
	if _, err := auth.ReadStatic(strings.NewReader("nocolon\n")); err == nil {
		t.Fatal("bad line accepted")
	}
	s.Delete("bob")
	if _, err := s.HA1(context.Background(), "bob", "r", auth.MD5); !errors.Is(err, auth.ErrUnknownUser) {
		t.Fatalf("deleted user: %v", err)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestMatchFrom(t *testing.T) {
	a := newAuth(t, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Proxy: true, MatchFrom: true})
	h := a.Middleware(&okHandler{})
	invite := func(from string) *sip.Request {
		r := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com", siptest.WithCallID("c1"))
		r.From().Address.User = from
		return r
	}
	for from, want := range map[string]int{"alice": 200, "bob": 403} {
		first := serve(t, h, invite(from))
		r := invite(from)
		_ = (&auth.Client{Username: "alice", Password: "secret"}).Authorize(r, first)
		if res := serve(t, h, r); res.StatusCode != want {
			t.Errorf("From %s with alice's credentials: %d, want %d", from, res.StatusCode, want)
		}
	}
}
