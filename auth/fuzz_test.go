package auth_test

import (
	"context"
	"testing"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
)

// FuzzAuthorization feeds arbitrary Authorization values to an
// Authenticator: it must answer 400 or a challenge, never panic, and never
// let a request through.
func FuzzAuthorization(f *testing.F) {
	a, err := auth.New(auth.NewStatic(map[string]string{"alice": "secret"}), auth.Config{Realm: "example.com", Secret: testSecret, AuthInt: true,
		Algorithms: []auth.Algorithm{auth.SHA256, auth.MD5}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="00"`,
		`Digest username="alice", realm="example.com", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", qop=auth, nc=00000001, cnonce="x"`,
		`Digest username="a\"b", realm="example.com", algorithm=SHA-256-sess, qop=auth-int, nc=ffffffff, cnonce="", uri="x", response="zz"`,
		`Digest realm="example.com",,,username=alice`,
		`Basic abc==`, `Digest`, `Digest ` + "\x00", `digest realm="example.com", nonce=, uri=`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		req := register("alice", 2)
		req.AppendHeader(sip.NewHeader("Authorization", value))
		_, err := a.Authenticate(context.Background(), req)
		if err == nil {
			t.Fatalf("authenticated with %q", value)
		}
		var se *sip.StatusError
		if !errorsAs(err, &se) || (se.Code != 400 && se.Code != 401) {
			t.Fatalf("%q: %v", value, err)
		}
	})
}

// FuzzChallenge feeds arbitrary challenges to a Client.
func FuzzChallenge(f *testing.F) {
	for _, s := range []string{
		`Digest realm="example.com", nonce="n", algorithm=MD5, qop="auth"`,
		`Digest realm="x", nonce="n", qop="auth-int,auth", opaque="o", stale=true`,
		`Digest realm=x,nonce=`, `Digest algorithm=SHA-256-sess, nonce="\"", realm="\\"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		res := challengeResponse(401, "WWW-Authenticate", value)
		c := &auth.Client{Username: "alice", Password: "secret"}
		req := register("alice", 2)
		if c.Authorize(req, res) == nil {
			// What we wrote must parse as credentials.
			for _, v := range sip.HeaderValues(req, "Authorization") {
				if _, err := sip.ParseCredentials(v); err != nil {
					t.Fatalf("challenge %q gave unparsable credentials %q: %v", value, v, err)
				}
			}
		}
	})
}
