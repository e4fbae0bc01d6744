package registrar_test

import (
	"context"
	"testing"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// FuzzRegister sends REGISTERs with arbitrary Contact, Expires, Path,
// Supported and Require values: the registrar must answer every one, never
// with 500, never panic, and what it stored must parse again.
func FuzzRegister(f *testing.F) {
	for _, s := range [][5]string{
		{`<sip:a@192.0.2.1>;expires=60`, "", "", "", ""},
		{`*`, "0", "", "", ""},
		{`"A" <sip:a@192.0.2.1;ob>;+sip.instance="<urn:uuid:1>";reg-id=1;q=0.5`, "3600", "<sip:p@edge.example.com;lr;ob>", "outbound, path, gruu", ""},
		{`sip:a@192.0.2.1;expires=99999999999999999999`, "", "", "", "gruu"},
		{`<sip:a@192.0.2.1>, <sip:b@192.0.2.1>;q=1.000, *`, "10", "", "", "foo"},
		{`<sip:alice@example.com;gr=urn:uuid:1>`, "", "", "gruu", ""},
		{`<tel:+1555>;expires=0`, "x", "garbage<", "path", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	reg, err := registrar.New(memory.New(memory.Config{}), registrar.Config{MaxContacts: 3})
	if err != nil {
		f.Fatal(err)
	}
	defer reg.Close()
	ctx := transport.NewContext(context.Background(), udpFlow)
	f.Fuzz(func(t *testing.T, contact, expires, path, supported, require string) {
		req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com")
		req.To().Address.User = "alice"
		for _, h := range [][2]string{{"Contact", contact}, {"Expires", expires}, {"Path", path}, {"Supported", supported}, {"Require", require}} {
			if h[1] != "" {
				req.AppendHeader(sip.NewHeader(h[0], h[1]))
			}
		}
		rec := siptest.NewRecorder()
		reg.ServeSIP(ctx, rec, req)
		res := rec.Final()
		if res == nil || res.StatusCode == 500 {
			t.Fatalf("Contact %q Expires %q Path %q: %v", contact, expires, path, res)
		}
		bs, _ := reg.Bindings(context.Background(), "sip:alice@example.com")
		for _, b := range bs {
			if _, err := b.NameAddr(); err != nil {
				t.Fatalf("stored contact %q from %q does not parse: %v", b.Contact, contact, err)
			}
		}
		_, _ = reg.Remove(context.Background(), "sip:alice@example.com", "")
	})
}
