package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
)

// BenchmarkVerify measures checking one authorized REGISTER: nonce MAC,
// backend lookup, digest, replay table. Each iteration uses the next
// nonce-count of one nonce, as a refreshing client does.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []auth.Algorithm{auth.MD5, auth.SHA256} {
		b.Run(string(alg), func(b *testing.B) {
			a := newAuth(b, map[string]string{"alice": "secret"}, auth.Config{Realm: "example.com", Algorithms: []auth.Algorithm{alg}})
			_, err := a.Authenticate(context.Background(), register("alice", 1))
			var se *sip.StatusError
			errors.As(err, &se)
			res := sip.NewResponse(register("alice", 1), se.Code, "")
			res.AppendHeader(se.Headers[0])
			c := &auth.Client{Username: "alice", Password: "secret"}
			creds := make([]string, b.N)
			req := register("alice", 2)
			for i := range creds {
				if i == 0 {
					_ = c.Authorize(req, res)
				} else {
					c.Sign(req)
				}
				creds[i] = sip.HeaderValues(req, "Authorization")[0]
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				sip.RemoveHeaders(req, "Authorization")
				req.AppendHeader(sip.NewHeader("Authorization", creds[i]))
				if _, err := a.Authenticate(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChallenge measures building a 401 challenge.
func BenchmarkChallenge(b *testing.B) {
	a := newAuth(b, nil, auth.Config{Realm: "example.com"})
	req := register("alice", 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Challenge(req, false, nil)
	}
}
