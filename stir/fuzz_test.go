package stir_test

import (
	"encoding/asn1"
	"strings"
	"testing"

	"github.com/siphon-go/siphon/stir"
)

// FuzzParseIdentity feeds arbitrary Identity header values through the
// header parser and, for full-form tokens, the PASSporT decoder: neither may
// panic, and whatever parses must format to something that parses again.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cDovL3NoYWtlbi5zaWduYWx3aXJlLmNsb3VkL3NwLnBlbSJ9." +
			"eyJhdHRlc3QiOiJBIiwiZGVzdCI6IntcInRuXCI6XCIwMTI1NjUwMDYwMFwifSIsImlhdCI6MTYwMzQ1ODEzMSwib3JpZyI6IntcInRuXCI6XCIwMTI1Njc4OTk5OVwifSIsIm9yaWdpZCI6InJlZiJ9." +
			"cNI-uIirMOiT19OcQag2UYjHWTgTqtr5jhSk3KxflqSC7FbrrYDr51zCEvzDMoETpge7eQeQ6ASVzb1dhVVhKQ;info=<http://shaken.signalwire.cloud/sp.pem>;alg=ES256;ppt=shaken",
		"..c2ln;info=<https://x.example/c.pem>;alg=ES256",
		`a.b.c ; INFO = <https://x.example/c.pem> ;PPT="shaken";foo="a;b";baz`,
		encodeToken(`{"alg":"ES256","typ":"passport","x5u":"https://x"}`, `{"dest":"{\"tn\":[\"1\"]}","iat":"7","orig":{"tn":["1"]},"div":"x"}`),
		encodeToken(`{"alg":"ES256"}`, `{"iat":1e300,"dest":{"uri":null},"orig":null}`),
		"a.b.c;info=<",
		";;;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := stir.ParseIdentity(s)
		if err != nil {
			return
		}
		if !id.Compact() {
			if p, err := stir.ParsePASSporT(id.Token); err == nil {
				_ = p.Claims.Orig.String()
				_ = p.Claims.Dest.String()
				_ = p.Token()
			}
		}
		again, err := stir.ParseIdentity(id.String())
		if err != nil && !strings.ContainsAny(id.Info+id.PPT+id.Alg, "<>;\" \t,") {
			t.Fatalf("%q formats as %q, which does not parse: %v", s, id.String(), err)
		}
		if err == nil && again.Token != id.Token {
			t.Fatalf("token changed: %q -> %q", id.Token, again.Token)
		}
	})
}

// FuzzParseTNAuthList checks that certificate extension values from the
// network never panic the ASN.1 reader.
func FuzzParseTNAuthList(f *testing.F) {
	seed, _ := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: []byte{0x16, 0x02, '1', '2'}},
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("12155551212")},
	})
	f.Add(seed)
	f.Add([]byte{0x16, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, der []byte) {
		l, err := stir.ParseTNAuthList(der)
		if err == nil {
			_ = l.Covers("12155551212")
		}
	})
}
