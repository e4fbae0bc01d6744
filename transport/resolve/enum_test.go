package resolve_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/internal/dnstest"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport/resolve"
)

// enumZone delegates +1 555 1234 (regexp rules of RFC 3402, written in zone
// file form: "\\" is one backslash on the wire) and +1 888 8 through a
// non-terminal record.
const enumZone = `
e164.arpa.                 300 IN SOA   ns.e164.arpa. host.e164.arpa. 1 3600 600 86400 60
4.3.2.1.5.5.5.1.e164.arpa.  60 IN NAPTR 10 100 "u" "E2U+sip"          "!^\\+1(.*)$!sip:\\1@example.com!" .
4.3.2.1.5.5.5.1.e164.arpa.  60 IN NAPTR 10  50 "U" "E2U+sip:foo"      "!^.*$!sips:info@example.com!" .
4.3.2.1.5.5.5.1.e164.arpa.  60 IN NAPTR  5  10 "u" "E2U+email:mailto" "!^.*$!mailto:info@example.com!" .
4.3.2.1.5.5.5.1.e164.arpa.  60 IN NAPTR 20  10 "u" "E2U+sip"          "!^\\+44(.*)$!sip:\\1@uk.example.com!" .
4.3.2.1.5.5.5.1.e164.arpa.  60 IN NAPTR 30  10 "u" "E2U+sip"          "!^.*$!http://example.com/!" .
4.3.2.1.5.5.5.1.e164.arpa.  60 IN NAPTR 40  10 "u" "E2U+voice:tel+sip" "/^\\+(1)(555)(.*)$/sip:\\3@\\2.example.com;user=phone/i" .
8.8.8.1.e164.arpa.          60 IN NAPTR 10  10 ""  ""                 "" enum.example.net.
enum.example.net.           60 IN NAPTR 10  10 "u" "E2U+sip"          "!^(.*)$!sip:\\1@nt.example.net!" .
9.9.9.1.e164.example.org.   60 IN NAPTR 10  10 "u" "E2U+sip"          "!^.*$!sip:private@example.org!" .
`

func TestENUM(t *testing.T) {
	s := dnstest.New(t, enumZone)
	r := newResolver(t, resolve.Config{}, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	uris, err := r.ENUM(ctx, "+1 (555) 123-4", "")
	require.NoError(t, err)
	// Order 10 (preference 50, then 100); mailto, the non-matching +44
	// rule and the http result are left out.
	require.Equal(t, []string{"sips:info@example.com", "sip:5551234@example.com", "sip:1234@555.example.com;user=phone"}, uriStrings(uris))

	uris, err = r.ENUM(ctx, "+1888", "")
	require.NoError(t, err)
	require.Equal(t, []string{"sip:+1888@nt.example.net"}, uriStrings(uris), "non-terminal rule followed")

	uris, err = r.ENUM(ctx, "+1999", "e164.example.org")
	require.NoError(t, err)
	require.Equal(t, []string{"sip:private@example.org"}, uriStrings(uris), "another tree")

	_, err = r.ENUM(ctx, "+1777", "")
	require.ErrorIs(t, err, resolve.ErrNotFound)

	for _, bad := range []string{"15551234", "+", "+1555x", "+1234567890123456", "", "+1;ext=2"} {
		_, err = r.ENUM(ctx, bad, "")
		require.ErrorIs(t, err, resolve.ErrNumber, bad)
	}
	require.Zero(t, s.Hits("1.e164.arpa", 35), "bad numbers never reach DNS")
}

func uriStrings(us []sip.Uri) []string {
	out := make([]string, len(us))
	for i := range us {
		out[i] = us[i].String()
	}
	return out
}

func TestENUMDomain(t *testing.T) {
	d, err := resolve.ENUMDomain("+44 20 7946 0000", "")
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0.6.4.9.7.0.2.4.4.e164.arpa.", d)
	d, err = resolve.ENUMDomain("+1-555", "E164.Example.ORG.")
	require.NoError(t, err)
	require.Equal(t, "5.5.5.1.e164.example.org.", d)
	_, err = resolve.ENUMDomain("+1", "bad..domain")
	require.Error(t, err)
}
