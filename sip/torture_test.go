package sip

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Outcomes of feeding a message to the parser and the sanity checker.
const (
	accepted = 0  // parsed and sane (or a well-formed response)
	dropped  = -1 // nothing can be answered
)

// rfc4475 lists every torture message of RFC 4475 (testdata/rfc4475 holds the
// RFC's own files) with what an element built on this package does with it,
// following the RFC's guidance for each. Application-level cases (415, 406,
// 401, 483) are accepted here: they are for the UAS or proxy logic, not for
// the parser.
var rfc4475 = map[string]int{
	// §3.1.1 valid messages.
	"wsinv": accepted, "intmeth": accepted, "esc01": accepted, "escnull": accepted,
	"esc02": accepted, "lwsdisp": accepted, "longreq": accepted, "dblreq": accepted,
	"semiuri": accepted, "transports": accepted, "mpart01": accepted,
	"unreason": accepted, "noreason": accepted,
	// §3.1.2 invalid messages.
	"badinv01": 400, "clerr": 400, "scalar02": 400, "scalarlg": dropped,
	"quotbal": 400, "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400,
	"escruri": 400, "baddate": accepted, "regbadct": 400, "badaspec": 400,
	"baddn": 400, "badvers": 505, "mismatch01": 400, "mismatch02": 400,
	"bigcode": dropped, "ncl": 400,
	// §3.2 transaction layer.
	"badbranch": accepted,
	// §3.3 application layer.
	"insuf": 400, "unkscm": 416, "novelsc": 416, "unksm2": accepted, "bext01": 420,
	"invut": accepted, "regaut01": accepted, "multi01": 400, "mcl01": 400,
	"bcast": accepted, "zeromf": accepted, "cparam01": accepted, "cparam02": accepted,
	"regescrt": accepted, "sdp01": accepted, "inv2543": accepted,
}

func TestRFC4475(t *testing.T) {
	files, err := filepath.Glob("testdata/rfc4475/*.dat")
	require.NoError(t, err)
	require.Len(t, files, len(rfc4475), "every RFC 4475 message has an expectation")
	p := NewParser(0)
	sanity := NewSanity(SanityConfig{})
	for _, f := range files {
		name := filepath.Base(f[:len(f)-4])
		want, ok := rfc4475[name]
		require.True(t, ok, name)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			got, res := judge(p, sanity, data)
			require.Equal(t, want, got)
			if res != nil {
				// The answer carries the request's top Via, so it reaches
				// the sender, who can match it.
				require.Contains(t, res.String(), "\r\nVia: ")
				require.Equal(t, got, res.StatusCode)
			}
		})
	}
}

// judge returns the outcome for data and, for a rejected request, the
// response to send.
func judge(p *Parser, s *Sanity, data []byte) (int, *Response) {
	msg, err := p.Parse(data)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) && pe.Message != nil {
			req := pe.Message.(*Request)
			return pe.Status, NewResponse(req, pe.Status, "")
		}
		return dropped, nil
	}
	req, ok := msg.(*Request)
	if !ok {
		return accepted, nil
	}
	if err := s.Check(req); err != nil {
		var se *StatusError
		if !errors.As(err, &se) {
			panic(err)
		}
		res := NewResponse(req, se.Code, se.Reason)
		for _, h := range se.Headers {
			res.AppendHeader(h)
		}
		return se.Code, res
	}
	return accepted, nil
}

// rfc5118 gives the outcome for each IPv6 case of RFC 5118 §4.
var rfc5118 = map[string]int{
	"ipv6-good":                     accepted,
	"ipv6-bad":                      400, // §4.2: an IPv6 Request-URI without brackets
	"port-ambiguous":                accepted,
	"port-unambiguous":              accepted,
	"via-reference":                 accepted,
	"via-received-param-with-delim": accepted,
	"via-received-param-no-delim":   accepted,
	"mult-ip-in-header":             accepted,
	"ipv4-mapped-ipv6":              accepted,
	"ipv6-correct-abnf":             accepted,
}

func TestRFC5118(t *testing.T) {
	files, err := filepath.Glob("testdata/rfc5118/*.dat")
	require.NoError(t, err)
	require.Len(t, files, len(rfc5118))
	p := NewParser(0)
	sanity := NewSanity(SanityConfig{})
	for _, f := range files {
		name := filepath.Base(f[:len(f)-4])
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			got, _ := judge(p, sanity, data)
			require.Equal(t, rfc5118[name], got)
		})
	}
	msg, err := p.Parse(mustRead(t, "testdata/rfc5118/port-ambiguous.dat"))
	require.NoError(t, err)
	req := msg.(*Request)
	require.Equal(t, "[2001:db8::10:5070]", req.Recipient.Host)
	require.Zero(t, req.Recipient.Port)
	msg, err = p.Parse(mustRead(t, "testdata/rfc5118/port-unambiguous.dat"))
	require.NoError(t, err)
	require.Equal(t, 5070, msg.(*Request).Recipient.Port)
	msg, err = p.Parse(mustRead(t, "testdata/rfc5118/via-reference.dat"))
	require.NoError(t, err)
	v := msg.(*Response).Via()
	require.Equal(t, "2001:db8::9:1", v.Host)
	require.Equal(t, 6050, v.Port)
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return b
}
