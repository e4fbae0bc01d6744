package cx_test

import (
	"bytes"
	"testing"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/cx"
)

type nopDoer struct{ diameter.Doer }

// BenchmarkMARMAAEncodeDecode encodes a MAR, decodes and parses it as an
// HSS would, encodes the MAA with one AKA vector, and decodes and parses
// that as the S-CSCF would.
func BenchmarkMARMAAEncodeDecode(b *testing.B) {
	d := diameter.Dictionary()
	client, _ := cx.NewClient(nopDoer{}, cx.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "ims.example.com"})
	maa := &cx.MAA{Result: cx.Success(), UserName: "alice@ims.example.com", PublicIdentity: "sip:alice@ims.example.com",
		Items: []cx.AuthItem{{ItemNumber: 1, Scheme: cx.SchemeAKAv1MD5, Authenticate: bytes.Repeat([]byte{1}, 32),
			Authorization: bytes.Repeat([]byte{2}, 8), ConfidentialityKey: bytes.Repeat([]byte{3}, 16), IntegrityKey: bytes.Repeat([]byte{4}, 16)}}}
	b.ReportAllocs()
	for b.Loop() {
		req := client.MARMessage(&cx.MAR{UserName: "alice@ims.example.com", PublicIdentity: "sip:alice@ims.example.com", ServerName: "sip:scscf.ims.example.com", Scheme: cx.SchemeAKAv1MD5})
		req.Header.MessageLength = uint32(req.Len())
		wire, err := req.Serialize()
		if err != nil {
			b.Fatal(err)
		}
		got, err := diameter.Decode(wire, d)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cx.ParseMAR(got); err != nil {
			b.Fatal(err)
		}
		ans := maa.Message(&diameter.Request{Msg: got})
		ans.Header.MessageLength = uint32(ans.Len())
		wire, err = ans.Serialize()
		if err != nil {
			b.Fatal(err)
		}
		back, err := diameter.Decode(wire, d)
		if err != nil {
			b.Fatal(err)
		}
		if a, _ := cx.ParseMAA(back); len(a.Items) != 1 {
			b.Fatal("lost the vector")
		}
	}
}
