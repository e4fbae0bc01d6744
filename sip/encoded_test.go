package sip

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// AppendResponseHead plus Content-Length is, byte for byte, what
// AppendMessage makes of NewResponse: several Vias in order, compact names,
// a To with or without a tag, the reason phrase defaulted or given.
func TestAppendResponseHeadEncodesNewResponse(t *testing.T) {
	reqs := map[string]string{
		"register": "REGISTER sip:example.com SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-1;rport\r\n" +
			"v: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK-2;received=198.51.100.1\r\n" +
			"f: <sip:alice@example.com>;tag=abc\r\n" +
			"t: \"Alice\" <sip:alice@example.com>;x=y\r\n" +
			"i: call-1@192.0.2.1\r\n" +
			"CSeq: 7 REGISTER\r\n" +
			"m: <sip:alice@192.0.2.1:5070>;expires=60\r\n" +
			"Max-Forwards: 70\r\n" +
			"Content-Length: 0\r\n\r\n",
		"tagged bye": "BYE sip:bob@192.0.2.2 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-3\r\n" +
			"From: <sip:alice@example.com>;tag=abc\r\n" +
			"To: <sip:bob@example.com>;tag=def\r\n" +
			"Call-ID: call-2\r\n" +
			"CSeq: 2 BYE\r\n" +
			"Content-Length: 0\r\n\r\n",
	}
	for name, raw := range reqs {
		req := parseReq(t, raw)
		for _, c := range []struct {
			code   int
			reason string
		}{{200, ""}, {423, ""}, {400, "CSeq Out Of Order"}} {
			want := AppendMessage(nil, NewResponse(req, c.code, c.reason))
			got, ok := AppendResponseHead(nil, req, c.code, c.reason)
			require.True(t, ok, name)
			got = append(got, "Content-Length: 0\r\n\r\n"...)
			require.Equal(t, string(want), string(got), "%s %d", name, c.code)
		}
	}
}

// What NewResponse adds beyond the copied fields (Timestamp in a 100,
// Record-Route in a dialog-creating 2xx) is left to it.
func TestAppendResponseHeadDeclinesWhatItDoesNotCopy(t *testing.T) {
	invite := parseReq(t, inviteMsg)
	_, ok := AppendResponseHead(nil, invite, StatusOK, "")
	require.False(t, ok, "a 2xx to INVITE copies Record-Route")
	_, ok = AppendResponseHead(nil, invite, StatusTrying, "")
	require.False(t, ok, "a 100 copies Timestamp")
	_, ok = AppendResponseHead(nil, invite, StatusBusyHere, "")
	require.True(t, ok)
}

func BenchmarkAppendResponseHead(b *testing.B) {
	msg, err := NewParser(0).Parse([]byte("REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK-1;rport\r\n" +
		"From: <sip:alice@example.com>;tag=abc\r\n" +
		"To: <sip:alice@example.com>\r\n" +
		"Call-ID: call-1@192.0.2.1\r\n" +
		"CSeq: 7 REGISTER\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*Request)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendResponseHead(buf[:0], req, StatusOK, "")
	}
}
