package stir_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/stir"
)

// BenchmarkSign signs one SHAKEN PASSporT: canonical JSON, base64url and an
// ES256 signature.
func BenchmarkSign(b *testing.B) {
	e := newEnv(b)
	claims := stir.Claims{Orig: stir.Party{TN: "12155551212"}, Dest: stir.Dest{TN: []string{"12155551213"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.signer.Sign(stir.PPTShaken, claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRequest signs an INVITE in place: identities read from the
// request, PASSporT signed, Date and Identity headers added.
func BenchmarkSignRequest(b *testing.B) {
	e := newEnv(b)
	base := call(b)
	base.AppendHeader(sip.NewHeader("Date", "Sat, 13 Nov 2010 23:29:00 GMT"))
	b.ReportAllocs()
	for b.Loop() {
		req := base.Clone()
		if err := e.signer.SignRequest(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRequest verifies a signed INVITE with the x5u chain cached
// (the steady state of a verification service): header parsing, PASSporT
// decoding, orig/dest matching and one ES256 verification.
func BenchmarkVerifyRequest(b *testing.B) {
	e := newEnv(b)
	v := e.verifier(b, nil)
	req := e.signed(b)
	_, err := v.VerifyRequest(context.Background(), req) // warm the cache
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyRequest(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPASSporT verifies a bare token with the chain cached.
func BenchmarkVerifyPASSporT(b *testing.B) {
	e := newEnv(b)
	v := e.verifier(b, nil)
	p, err := e.signer.Sign(stir.PPTShaken, stir.Claims{Orig: stir.Party{TN: "12155551212"}, Dest: stir.Dest{TN: []string{"12155551213"}}})
	require.NoError(b, err)
	token := p.Token()
	_, err = v.VerifyPASSporT(context.Background(), token)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyPASSporT(context.Background(), token); err != nil {
			b.Fatal(err)
		}
	}
}
