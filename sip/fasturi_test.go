package sip

import (
	"reflect"
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
)

// FuzzFastSIPURI holds fastSIPURI to sipgo's parser: whatever the fast
// path parses passes checkURI and checkSIPURI, and sipgo.ParseUri parses
// it without error to the same Uri.
func FuzzFastSIPURI(f *testing.F) {
	for _, s := range []string{
		"sip:alice@example.com", "sip:u0000001@127.0.0.1:5070;transport=UDP", "sips:bob@Example.COM:5061;lr",
		"sip:127.0.0.1:5060", "sip:h;maddr=239.1.1.1;ttl=15;transport=udp;lr", "sip:a;b=c@h", "sip:@h",
		"sip:h;x=1;x=2", "sip:h;k=", "sip:h;=v", "sip:h;", "sip:h:", "sip:h:123456", "sip:a:b@h", "SIP:h",
		"sip:h;a=b=c", "sip:+1-212-555-1212;user=phone@gw.example.com", "sip:h;x=@y", "sip:a@b@c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast Uri
		if !fastSIPURI(s, &fast) {
			return
		}
		// parseURIInto skips its checks for what the fast path takes.
		if err := checkURI(s); err != nil {
			t.Fatalf("%q: fast path parsed it, checkURI says %v", s, err)
		}
		if err := checkSIPURI(s, &fast); err != nil {
			t.Fatalf("%q: fast path parsed it, checkSIPURI says %v", s, err)
		}
		var slow Uri
		if err := sipgo.ParseUri(s, &slow); err != nil {
			t.Fatalf("%q: fast path parsed it, sipgo says %v", s, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %#v\nslow %#v", s, fast, slow)
		}
	})
}

// TestFastSIPURIShapes pins which shapes take the fast path.
func TestFastSIPURIShapes(t *testing.T) {
	for s, want := range map[string]bool{
		"sip:u0000001@127.0.0.1:5070;transport=UDP": true,
		"sip:alice@example.com":                     true,
		"sip:h;lr":                                  true,
		"sip:a:pw@h":                                false, // password
		"sip:[::1]:5060":                            false, // IPv6
		"sip:h?subject=x":                           false, // headers
		"SIP:h":                                     false, // upper-case scheme
		"sip:h;":                                    false,
		"sip:h;;lr":                                 false,
		"tel:+1234":                                 false,
	} {
		var u Uri
		if got := fastSIPURI(s, &u); got != want {
			t.Errorf("fastSIPURI(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestCanonicalOfCanonical: every canonical name maps to itself, through
// the table or the switch in front of it.
func TestCanonicalOfCanonical(t *testing.T) {
	for _, c := range canonicalNames {
		if got := canonicalOf(c); got != c {
			t.Errorf("canonicalOf(%q) = %q", c, got)
		}
	}
}

// TestIPv6ReferenceOnlyAsHost: sipgo reads a '[' before the host as an
// IPv6 reference and drops what follows it; such a URI is refused, an
// IPv6 host itself parses (FuzzFixContact found "<sip:[0]@0>").
func TestIPv6ReferenceOnlyAsHost(t *testing.T) {
	for _, s := range []string{"sip:[0]@0", "sip:a[::1]@h", "sip:[::1]x"} {
		if u, err := ParseURI(s); err == nil {
			t.Errorf("ParseURI(%q) = host %q, want an error", s, u.Host)
		}
	}
	for _, s := range []string{"sip:[::1]", "sip:[::1]:5060;lr", "sip:alice@[2001:db8::1];transport=tcp", "sip:[::1]?x=y"} {
		if _, err := ParseURI(s); err != nil {
			t.Errorf("ParseURI(%q): %v", s, err)
		}
	}
}
