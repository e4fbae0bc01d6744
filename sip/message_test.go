package sip

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const inviteMsg = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"Route: <sip:p1.example.com;lr>;foo=bar, <sip:p2.example.com;lr>\r\n" +
	"route: <sip:p3.example.com;lr>\r\n" +
	"To: Bob <sip:bob@biloxi.example.com>\r\n" +
	"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
	"CSeq: 314159 INVITE\r\n" +
	"Contact: \"Alice A\" <sip:alice@pc33.atlanta.example.com>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";description=\"my phone\"\r\n" +
	"k: 100rel, timer\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\n" +
	"v=0\n"

func parseReq(t *testing.T, s string) *Request {
	t.Helper()
	msg, err := NewParser(0).Parse([]byte(s))
	require.NoError(t, err)
	req, ok := msg.(*Request)
	require.True(t, ok)
	return req
}

func TestParserKeepsRouteParamsAndCanonicalNames(t *testing.T) {
	req := parseReq(t, inviteMsg)
	routes, err := Routes(req)
	require.NoError(t, err)
	require.Len(t, routes, 3)
	require.Equal(t, "<sip:p1.example.com;lr>;foo=bar", routes[0].String())
	require.Equal(t, "p3.example.com", routes[2].URI.Host)
	require.Equal(t, []string{"100rel", "timer"}, OptionTags(req, "Supported"))
	require.True(t, HasOptionTag(req, "supported", "TIMER"))

	contacts, err := Contacts(req)
	require.NoError(t, err)
	require.Len(t, contacts, 1)
	v, _ := contacts[0].Param("+SIP.INSTANCE")
	require.Equal(t, `"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"`, v)
	// The raw Contact line is relayed byte for byte.
	require.Contains(t, req.String(), `;description="my phone"`+"\r\n")
	require.Equal(t, []byte("v=0\n"), req.Body())
}

func TestPopPushNameAddr(t *testing.T) {
	req := parseReq(t, inviteMsg)
	top, ok, err := PopNameAddr(req, "Route")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "p1.example.com", top.URI.Host)
	routes, err := Routes(req)
	require.NoError(t, err)
	require.Len(t, routes, 2)
	require.Equal(t, "p2.example.com", routes[0].URI.Host)

	rr, err := ParseNameAddr("<sip:proxy.example.com;lr>")
	require.NoError(t, err)
	require.NoError(t, PushNameAddr(req, "Route", rr))
	routes, err = Routes(req)
	require.NoError(t, err)
	require.Equal(t, []string{"proxy.example.com", "p2.example.com", "p3.example.com"},
		[]string{routes[0].URI.Host, routes[1].URI.Host, routes[2].URI.Host})
}

func TestNewResponse(t *testing.T) {
	req := parseReq(t, inviteMsg)
	req.AppendHeader(NewHeader("Record-Route", "<sip:rr.example.com;lr>;x=1"))
	r180 := NewResponse(req, 180, "")
	r200 := NewResponse(req, 200, "")
	r100 := NewResponse(req, 100, "")
	require.Equal(t, "Ringing", r180.Reason)
	tag, ok := r180.To().Params.Get("tag")
	require.True(t, ok)
	tag2, _ := r200.To().Params.Get("tag")
	require.Equal(t, tag, tag2, "every response to one request carries one To tag")
	require.False(t, r100.To().Params.Has("tag"))
	require.Equal(t, "<sip:rr.example.com;lr>;x=1", HeaderValues(r200, "Record-Route")[0])
	require.Empty(t, HeaderValues(r100, "Record-Route"))
	require.False(t, req.To().Params.Has("tag"), "the request is not modified")
}

func TestCloneRequestDoesNotFreezeDestination(t *testing.T) {
	req := parseReq(t, inviteMsg)
	_ = req.Destination() // sipgo computes and, on Clone, freezes it
	u, err := ParseURI("sip:carol@chicago.example.com:5070")
	require.NoError(t, err)
	RemoveHeaders(req, "Route")
	c := Retarget(req, u)
	require.Equal(t, "chicago.example.com:5070", c.Destination())
	c.MaxForwards().Dec()
	require.EqualValues(t, 70, req.MaxForwards().Val())
	require.EqualValues(t, 69, c.MaxForwards().Val())
}

// A valueless last URI parameter ends at the '?' that starts the headers;
// sipgo alone keeps the '?' in the parameter name, and the URI then grows
// on every format and parse.
func TestParseURIValuelessParamBeforeHeaders(t *testing.T) {
	u, err := ParseURI("sip:h.example.com;lr?subject=x")
	require.NoError(t, err)
	require.True(t, u.UriParams.Has("lr"))
	v, _ := u.Headers.Get("subject")
	require.Equal(t, "x", v)
	require.Equal(t, "sip:h.example.com;lr?subject=x", u.String())
}
