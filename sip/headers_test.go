package sip

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const registerIMS = "REGISTER sip:ims.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKnashds7\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:user1@ims.example.com>;tag=4fa3\r\n" +
	"To: <sip:user1@ims.example.com>\r\n" +
	"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
	"CSeq: 1 REGISTER\r\n" +
	"Contact: <sip:[2001:db8::1]:5060>;expires=600000;+sip.instance=\"<urn:gsma:imei:35362607-226604-0>\";+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\"\r\n" +
	"Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=23456789;spi-s=12345678;port-c=2468;port-s=1357, tls;q=0.2\r\n" +
	"Require: sec-agree\r\nProxy-Require: sec-agree\r\n" +
	"Path: <sip:term@pcscf1.visited.example.net;lr>\r\n" +
	"P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=2344512340001\r\n" +
	"P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=023551024\";orig-ioi=home1.net\r\n" +
	"Session-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\n" +
	"RSeq: 988789\r\nRAck: 776656 1 INVITE\r\n" +
	"Expires: 600000\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestIMSHeaderHelpers(t *testing.T) {
	req := parseReq(t, registerIMS)

	sec, err := SecurityMechanisms(req, "Security-Client")
	require.NoError(t, err)
	require.Len(t, sec, 2)
	require.Equal(t, "ipsec-3gpp", sec[0].Mechanism)
	spi, _ := sec[0].Param("spi-c")
	require.Equal(t, "23456789", spi)
	require.Equal(t, 0.2, sec[1].Q())
	require.Equal(t, "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=23456789;spi-s=12345678;port-c=2468;port-s=1357", sec[0].String())

	paths, err := Paths(req)
	require.NoError(t, err)
	require.Equal(t, "term", paths[0].URI.User)

	ani, err := AccessNetworkInfos(req)
	require.NoError(t, err)
	require.Equal(t, "3GPP-E-UTRAN-FDD", ani[0].AccessType)
	cell, _ := ani[0].Param("utran-cell-id-3gpp")
	require.Equal(t, "2344512340001", cell)

	cv, ok, err := ChargingVectorOf(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "AyretyU0dm+6O2IrT5tAFrbHLso=023551024", cv.ICID)
	require.Equal(t, "home1.net", cv.OrigIOI)
	again, err := ParseChargingVector(cv.String())
	require.NoError(t, err)
	require.Equal(t, cv, again)

	se, ok, err := SessionExpiresOf(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, SessionExpires{Delta: 1800, Refresher: "uac"}, se)
	min, ok, err := MinSEOf(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 90, min.Delta)

	rseq, ok, err := RSeqValue(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 988789, rseq)
	rack, ok, err := RAckOf(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, RAck{RSeq: 776656, CSeq: 1, Method: INVITE}, rack)
	require.Equal(t, "776656 1 INVITE", rack.String())

	exp, ok, err := ExpiresValue(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 600000, exp)

	require.Equal(t, []string{"sec-agree"}, OptionTags(req, "Require"))

	contacts, err := Contacts(req)
	require.NoError(t, err)
	icsi, _ := contacts[0].Param("+g.3gpp.icsi-ref")
	require.Equal(t, `"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"`, icsi)
	require.Equal(t, "[2001:db8::1]", contacts[0].URI.Host)
}

func TestParseErrorsAreTyped(t *testing.T) {
	for _, s := range []string{"", `"unterminated <sip:a@b>`, "<sip:a@b", "sip:a@b;=x", "Bell, A <sip:a@b>"} {
		_, err := ParseNameAddr(s)
		var pe *ParseError
		require.ErrorAs(t, err, &pe, s)
	}
	_, err := ParseRAck("1 2")
	require.Error(t, err)
	_, err = ParseSessionExpires("abc")
	require.Error(t, err)
	_, err = ParseURI("sip:")
	require.Error(t, err)
}

func TestCredentials(t *testing.T) {
	c, err := ParseCredentials(`Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
	require.NoError(t, err)
	require.True(t, c.IsDigest())
	u, _ := c.Param("USERNAME")
	require.Equal(t, "bob", u)
	require.NoError(t, validDigestCredentials(c))
	c, err = ParseCredentials(`Digest username="bob", realm="x", nonce="n", uri="sip:a@b", response="zz"`)
	require.NoError(t, err)
	require.Error(t, validDigestCredentials(c))
	_, err = ParseCredentials(`Digest username="bob`)
	require.Error(t, err)
}

// TestParseCredentialsRefusesControlCharacters: an unquoted value is a
// token, and a quoted-pair never escapes CR or LF (RFC 3261 §25.1); either
// would corrupt a header that echoes the value (a digest client's nonce).
func TestParseCredentialsRefusesControlCharacters(t *testing.T) {
	for _, s := range []string{
		"Digest nonce=\r",
		"Digest nonce=a\x01b",
		"Digest nonce=\"\\\r\"",
		"Digest nonce=\"\\\n\", realm=x",
	} {
		if _, err := ParseCredentials(s); err == nil {
			t.Errorf("ParseCredentials(%q) accepted it", s)
		}
	}
	if _, err := ParseCredentials(`Digest nonce="a\"b", realm=x`); err != nil {
		t.Errorf("an escaped quote: %v", err)
	}
}
