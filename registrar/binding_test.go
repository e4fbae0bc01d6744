package registrar_test

import (
	"testing"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/sip"
)

func TestAoRAndURIKey(t *testing.T) {
	for in, want := range map[string]string{
		"sip:Alice@EXAMPLE.com:5060;transport=tcp": "sip:Alice@example.com",
		"sips:bob@example.com":                     "sip:bob@example.com",
		"sip:example.com":                          "sip:example.com",
	} {
		u, _ := sip.ParseURI(in)
		if got, err := registrar.AoR(u); err != nil || got != want {
			t.Errorf("AoR(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	u, _ := sip.ParseURI("tel:+15551234")
	if _, err := registrar.AoR(u); err == nil {
		t.Error("tel URI accepted as AoR")
	}
	// RFC 3261 §19.1.4: equal URIs give equal keys, others not.
	key := func(s string) string {
		u, err := sip.ParseURI(s)
		if err != nil {
			t.Fatal(err)
		}
		return registrar.URIKey(u)
	}
	equal := [][2]string{
		{"sip:alice@192.0.2.1;transport=TCP", "SIP:alice@192.0.2.1;transport=tcp"},
		{"sip:alice@Host.Example.COM;lr;x=1", "sip:alice@host.example.com"},
		{"sip:a@h;maddr=192.0.2.9;transport=udp", "sip:a@h;transport=udp;maddr=192.0.2.9"},
	}
	for _, p := range equal {
		if key(p[0]) != key(p[1]) {
			t.Errorf("%s and %s should be equal", p[0], p[1])
		}
	}
	differ := [][2]string{
		{"sip:Alice@h", "sip:alice@h"},
		{"sip:a@h", "sip:a@h:5060"},
		{"sip:a@h;transport=tcp", "sip:a@h"},
		{"sip:a@h;user=phone", "sip:a@h"},
	}
	for _, p := range differ {
		if key(p[0]) == key(p[1]) {
			t.Errorf("%s and %s should differ", p[0], p[1])
		}
	}
}

func TestBindingQ(t *testing.T) {
	for contact, want := range map[string]int{
		`<sip:a@h>;q=0.5`: 500,
		`<sip:a@h>;q=1`:   1000,
		`<sip:a@h;q=0.9>`: -1, // a URI parameter, not the q value
		`"x>y" <sip:a@h>;+sip.instance="<urn:uuid:1>";q=0.25`: 250,
		`<sip:a@h>;q=bad`: -1,
	} {
		b := registrar.Binding{Contact: contact}
		if got := b.Q(); got != want {
			t.Errorf("Q(%s) = %d, want %d", contact, got, want)
		}
	}
}
