package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
)

func challengeResponse(code int, name string, values ...string) *sip.Response {
	res := sip.NewResponse(register("alice", 1), code, "")
	for _, v := range values {
		res.AppendHeader(sip.NewHeader(name, v))
	}
	return res
}

func TestClientChoosesTopmostSupportedChallenge(t *testing.T) {
	res := challengeResponse(401, "WWW-Authenticate",
		`Digest realm="example.com", nonce="n1", algorithm=SHA-512-256, qop="auth"`,
		`Digest realm="example.com", nonce="n2", algorithm=MD5, qop="auth", opaque="op"`,
		`Digest realm="example.com", nonce="n3", algorithm=SHA-256, qop="auth"`)
	req := register("alice", 2)
	c := &auth.Client{Username: "alice", Password: "secret"}
	if err := c.Authorize(req, res); err != nil {
		t.Fatal(err)
	}
	got := sip.HeaderValues(req, "Authorization")
	if len(got) != 1 || !strings.Contains(got[0], `nonce="n2"`) || !strings.Contains(got[0], `opaque="op"`) ||
		!strings.Contains(got[0], "algorithm=MD5") || !strings.Contains(got[0], "nc=00000001") {
		t.Fatalf("Authorization = %q", got)
	}
	// Answering again replaces, never accumulates, credentials.
	if err := c.Authorize(req, res); err != nil {
		t.Fatal(err)
	}
	if n := len(sip.HeaderValues(req, "Authorization")); n != 1 {
		t.Fatalf("%d Authorization headers", n)
	}
}

func TestClientAnswersSeveralRealms(t *testing.T) {
	res := challengeResponse(407, "Proxy-Authenticate",
		`Digest realm="a.example", nonce="n1"`,
		`Digest realm="b.example", nonce="n2", qop="auth-int,auth"`)
	req := register("alice", 2)
	c := &auth.Client{Username: "alice", Password: "secret"}
	if err := c.Authorize(req, res); err != nil {
		t.Fatal(err)
	}
	got := sip.HeaderValues(req, "Proxy-Authorization")
	if len(got) != 2 || strings.Contains(got[0], "qop=") || !strings.Contains(got[1], "qop=auth,") {
		t.Fatalf("Proxy-Authorization = %q", got)
	}
	c.Reset()
	if c.Sign(register("alice", 3)) {
		t.Fatal("Sign after Reset")
	}
}

func TestClientWithoutUsableChallenge(t *testing.T) {
	c := &auth.Client{Username: "alice", Password: "secret"}
	for _, res := range []*sip.Response{
		challengeResponse(401, "WWW-Authenticate"),
		challengeResponse(401, "WWW-Authenticate", `Basic realm="x"`),
		challengeResponse(401, "WWW-Authenticate", `Digest realm="x", nonce="n", qop="auth-conf"`),
		challengeResponse(401, "WWW-Authenticate", `Digest realm="x"`),
	} {
		if err := c.Authorize(register("alice", 2), res); !errors.Is(err, auth.ErrNoChallenge) {
			t.Fatalf("err = %v", err)
		}
	}
	if c.Sign(register("alice", 2)) {
		t.Fatal("Sign without a challenge")
	}
}
