package sip

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const optionsMsg = "OPTIONS sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:alice@example.com>;tag=1\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: c1\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestSanityChecks(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(string) string
		cfg    SanityConfig
		code   int
		header string
	}{
		{name: "sane", edit: func(s string) string { return s }},
		{name: "version", edit: func(s string) string {
			return strings.Replace(s, "sip:bob@example.com SIP/2.0", "sip:bob@example.com SIP/3.0", 1)
		}, code: 505},
		{name: "scheme", edit: func(s string) string {
			return strings.Replace(s, "sip:bob@example.com SIP", "mailto:bob@example.com SIP", 1)
		}, code: 416},
		{name: "missing call-id", edit: func(s string) string { return strings.Replace(s, "Call-ID: c1\r\n", "", 1) }, code: 400},
		{name: "duplicate cseq", edit: func(s string) string {
			return strings.Replace(s, "CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS\r\n", 1)
		}, code: 400},
		{name: "cseq method", edit: func(s string) string { return strings.Replace(s, "1 OPTIONS", "1 INVITE", 1) }, code: 400},
		{name: "content-length", edit: func(s string) string {
			return strings.Replace(s, "Content-Length: 0\r\n\r\n", "Content-Length: 3\r\n\r\nabcdef", 1)
		}},
		{name: "expires", edit: func(s string) string { return strings.Replace(s, "CSeq", "Expires: soon\r\nCSeq", 1) }, code: 400},
		{name: "proxy-require", edit: func(s string) string { return strings.Replace(s, "CSeq", "Proxy-Require: foo, sec-agree\r\nCSeq", 1) },
			cfg: SanityConfig{Supported: []string{"sec-agree"}}, code: 420, header: "foo"},
		{name: "require ignored by default", edit: func(s string) string { return strings.Replace(s, "CSeq", "Require: foo\r\nCSeq", 1) }},
		{name: "require checked for a UAS", edit: func(s string) string { return strings.Replace(s, "CSeq", "Require: foo\r\nCSeq", 1) },
			cfg: SanityConfig{Checks: DefaultSanityChecks | CheckRequire}, code: 420, header: "foo"},
		{name: "duplicate tag", edit: func(s string) string { return strings.Replace(s, "tag=1", "tag=1;tag=2", 1) }, code: 400},
		{name: "bad contact", edit: func(s string) string { return strings.Replace(s, "CSeq", "Contact: <sip:a@b\r\nCSeq", 1) }, code: 400},
		{name: "ruri headers", edit: func(s string) string {
			return strings.Replace(s, "sip:bob@example.com SIP", "sip:bob@example.com?Route=x SIP", 1)
		}, code: 400},
		{name: "digest syntax", edit: func(s string) string {
			return strings.Replace(s, "CSeq", `Authorization: Digest username="a", realm="r"`+"\r\nCSeq", 1)
		}, code: 400},
		{name: "other auth scheme", edit: func(s string) string {
			return strings.Replace(s, "CSeq", "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\nCSeq", 1)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := parseReq(t, tc.edit(optionsMsg))
			err := NewSanity(tc.cfg).Check(req)
			if tc.code == 0 {
				require.NoError(t, err)
				return
			}
			var se *StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.code, se.Code)
			if tc.header != "" {
				require.Equal(t, "Unsupported", se.Headers[0].Name())
				require.Equal(t, tc.header, se.Headers[0].Value())
			}
		})
	}
}

func TestSanityMiddleware(t *testing.T) {
	called := false
	h := NewSanity(SanityConfig{}).Middleware(HandlerFunc(func(context.Context, ResponseWriter, *Request) { called = true }))
	rec := &recorder{}
	req := parseReq(t, strings.Replace(optionsMsg, "1 OPTIONS", "1 BYE", 1))
	h.ServeSIP(context.Background(), rec, req)
	require.False(t, called)
	require.Equal(t, 400, rec.res[0].StatusCode)
	require.Equal(t, "Bad Request - CSeq method does not match", rec.res[0].Reason)
}

// TestSanityFieldNamesAnyCase: a field added by code under a name in
// another case (or its compact form) is checked as the parsed one is; the
// single pass that notes which fields are present matches names as Fields
// does.
func TestSanityFieldNamesAnyCase(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		code        int
	}{
		{"contact", "<sip:a@b", 400},
		{"m", "<sip:a@b", 400},
		{"EXPIRES", "soon", 400},
		{"authorization", `Digest username="a", realm="r"`, 400},
		{"proxy-authorization", `Digest username="a", realm="r"`, 400},
		{"proxy-require", "foo", 420},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := parseReq(t, optionsMsg)
			req.AppendHeader(NewHeader(tc.name, tc.value))
			var se *StatusError
			require.ErrorAs(t, NewSanity(SanityConfig{}).Check(req), &se)
			require.Equal(t, tc.code, se.Code)
		})
	}
}
