package sip

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, dir := range []string{"testdata/rfc4475", "testdata/rfc5118"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.dat"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(inviteMsg))
}

// FuzzParseAndSanity feeds arbitrary bytes through the parser, the sanity
// checker and the response builder: none may panic, and whatever is answered
// must serialise.
func FuzzParseAndSanity(f *testing.F) {
	addSeeds(f)
	p := NewParser(0)
	s := NewSanity(SanityConfig{Checks: DefaultSanityChecks | CheckRequire})
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := p.Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Message != nil {
				_ = NewResponse(pe.Message.(*Request), pe.Status, "").String()
			}
			return
		}
		switch m := msg.(type) {
		case *Request:
			if err := s.Check(m); err != nil {
				var se *StatusError
				if !errors.As(err, &se) {
					t.Fatalf("sanity error %T is not a *StatusError", err)
				}
				_ = NewResponse(m, se.Code, se.Reason).String()
			}
			_, _ = Routes(m)
			_, _ = Contacts(m)
			_ = OptionTags(m, "Supported")
			_ = CloneRequest(m).String()
		case *Response:
			_ = s.CheckResponse(m)
		}
	})
}

// FuzzNameAddr checks that a parsed name-addr formats to text that parses to
// the same value.
func FuzzNameAddr(f *testing.F) {
	for _, s := range []string{
		`"Alice A" <sip:alice@example.com;lr>;tag=1;+sip.instance="<urn:uuid:1>"`,
		`sip:bob@example.com;expires=60`, `<tel:+15551234567;phone-context=x>`, `*`,
		`Bob <sips:bob@[2001:db8::1]:5061;transport=tcp>;q=0.5`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseNameAddrList(s)
		msg := NewRequest(OPTIONS, Uri{Scheme: "sip", Host: "example.com"})
		msg.AppendHeader(NewHeader("Contact", s))
		if valid := validNameAddrs(msg, "Contact"); valid != (err == nil) {
			t.Fatalf("%q: Sanity's check says valid=%v, ParseNameAddrList err=%v", s, valid, err)
		}
		if err != nil {
			return
		}
		for _, na := range list {
			again, err := ParseNameAddr(na.String())
			if err != nil {
				t.Fatalf("%q formatted as %q does not parse: %v", s, na.String(), err)
			}
			if again.String() != na.String() {
				t.Fatalf("round trip changed %q to %q", na.String(), again.String())
			}
		}
	})
}
