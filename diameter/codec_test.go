package diameter_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
)

func mustSerialize(t testing.TB, m *diameter.Message) []byte {
	t.Helper()
	m.Header.MessageLength = uint32(m.Len())
	b, err := m.Serialize()
	require.NoError(t, err)
	return b
}

// marWire is a MAR with a nested SIP-Auth-Data-Item, as bytes.
func marWire(t testing.TB) []byte {
	m := diameter.NewSessionRequest(303, diameter.AppCx, "scscf.example.com", nil)
	m.Header.EndToEndID = 7
	m.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, diameter.AppCx))
	m.AddAVP(diameter.NewAVP(601, diameter.Vendor3GPP, datatype.UTF8String("sip:alice@example.com")))
	m.AddAVP(diameter.NewGroup(612, diameter.Vendor3GPP,
		diameter.NewAVP(608, diameter.Vendor3GPP, datatype.UTF8String("Digest-AKAv1-MD5")),
		diameter.NewAVP(610, diameter.Vendor3GPP, datatype.OctetString(bytes.Repeat([]byte{1}, 30))),
	))
	m.AddAVP(diameter.NewAVP(607, diameter.Vendor3GPP, datatype.Unsigned32(1)))
	return mustSerialize(t, m)
}

func TestDecodeRoundTrip(t *testing.T) {
	b := marWire(t)
	m, err := diameter.Decode(b, diameter.Dictionary())
	require.NoError(t, err)
	item := diameter.Body(m).Group(612, diameter.Vendor3GPP)
	require.NotNil(t, item)
	assert.Equal(t, "Digest-AKAv1-MD5", item.String(608, diameter.Vendor3GPP))
	again, err := m.Serialize()
	require.NoError(t, err)
	assert.Equal(t, b, again)
}

func TestDecodeMalformed(t *testing.T) {
	good := marWire(t)
	// Offset of the SIP-Auth-Data-Item group: find code 612 on the wire.
	grp := bytes.Index(good, []byte{0, 0, 0x02, 0x64, 0xc0})
	require.Positive(t, grp)
	cases := map[string]struct {
		mutate func([]byte) []byte
		code   uint32
		framed bool // the header survives, so the message can be answered
	}{
		"bad version":              {func(b []byte) []byte { b[0] = 2; return b }, diameter.UnsupportedVersion, false},
		"length not multiple of 4": {func(b []byte) []byte { b[3]++; return b }, diameter.InvalidMessageLength, false},
		"length below header":      {func(b []byte) []byte { b[1], b[2], b[3] = 0, 0, 8; return b }, diameter.InvalidMessageLength, false},
		"E bit on request":         {func(b []byte) []byte { b[4] |= 0x20; return b }, diameter.InvalidHdrBits, true},
		"AVP length beyond data": {func(b []byte) []byte {
			b[diameter.HeaderLength+6] = 0xff
			return b
		}, diameter.InvalidAVPLength, true},
		"AVP length below header": {func(b []byte) []byte {
			b[diameter.HeaderLength+5], b[diameter.HeaderLength+6], b[diameter.HeaderLength+7] = 0, 0, 4
			return b
		}, diameter.InvalidAVPLength, true},
		"truncated grouped AVP": {func(b []byte) []byte {
			// The first child of SIP-Auth-Data-Item claims more bytes than its group holds.
			child := grp + 12
			b[child+6] = 0x7f
			return b
		}, diameter.InvalidAVPLength, true},
		"grouped child header cut": {func(b []byte) []byte {
			// Shrink the group so that it ends inside its first child's header.
			b[grp+5], b[grp+6], b[grp+7] = 0, 0, 16
			return b
		}, diameter.InvalidAVPLength, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), good...))
			_, err := diameter.Decode(b, diameter.Dictionary())
			var de *diameter.DecodeError
			require.ErrorAs(t, err, &de)
			assert.ErrorIs(t, err, diameter.ErrMalformed)
			assert.Equal(t, tc.code, de.ResultCode)
			assert.Equal(t, tc.framed, de.Header != nil)
		})
	}
}

func TestDecodeDeepNesting(t *testing.T) {
	// 40 nested Proxy-Info groups (Grouped in the base dictionary).
	a := diameter.NewAVP(280, 0, datatype.DiameterIdentity("x"))
	for range 40 {
		a = diameter.NewGroup(284, 0, a)
	}
	m := diameter.NewRequest(300, diameter.AppCx, nil)
	m.AddAVP(a)
	_, err := diameter.Decode(mustSerialize(t, m), diameter.Dictionary())
	assert.ErrorIs(t, err, diameter.ErrMalformed)
}

// TestMalformedOnTheWire sends broken requests to a server: each is
// answered with an error and the connection carries on; a broken header
// closes it.
func TestMalformedOnTheWire(t *testing.T) {
	_, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss.example.com", nil)})
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	read := func() *diameter.Message {
		t.Helper()
		m, err := diameter.ReadMessage(br, diameter.Dictionary(), 0)
		require.NoError(t, err)
		return m
	}

	cer := diam.NewRequest(diameter.CmdCapabilitiesExchange, 0, diameter.Dictionary())
	cer.NewAVP(264, 0x40, 0, datatype.DiameterIdentity("raw.example.com"))
	cer.NewAVP(296, 0x40, 0, datatype.DiameterIdentity("example.com"))
	cer.NewAVP(257, 0x40, 0, datatype.Address(net.IPv4(127, 0, 0, 1).To4()))
	cer.NewAVP(266, 0x40, 0, datatype.Unsigned32(0))
	cer.NewAVP(269, 0, 0, datatype.UTF8String("raw"))
	cer.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, diameter.AppCx))
	_, err = nc.Write(mustSerialize(t, cer))
	require.NoError(t, err)
	code, _, _ := diameter.ResultCode(read())
	require.Equal(t, diameter.Success, code)

	bad := marWire(t)
	bad[diameter.HeaderLength+6] = 0xff // first AVP overruns the message
	binary.BigEndian.PutUint32(bad[12:16], 0xabcdef)
	_, err = nc.Write(bad)
	require.NoError(t, err)
	ans := read()
	code, _, _ = diameter.ResultCode(ans)
	assert.Equal(t, diameter.InvalidAVPLength, code)
	assert.Equal(t, uint32(0xabcdef), ans.Header.HopByHopID)
	assert.NotEmpty(t, diameter.Body(ans).String(diameter.AVPErrorMessage, 0))

	dwr := diam.NewRequest(diameter.CmdDeviceWatchdog, 0, diameter.Dictionary())
	dwr.NewAVP(264, 0x40, 0, datatype.DiameterIdentity("raw.example.com"))
	dwr.NewAVP(296, 0x40, 0, datatype.DiameterIdentity("example.com"))
	_, err = nc.Write(mustSerialize(t, dwr))
	require.NoError(t, err)
	dwa := read()
	assert.Equal(t, diameter.CmdDeviceWatchdog, dwa.Header.CommandCode)

	_, err = nc.Write([]byte{9, 0, 0, 20, 0x80, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	require.NoError(t, err)
	_, err = br.ReadByte()
	assert.Error(t, err, "a broken header closes the connection")
}

func FuzzDecode(f *testing.F) {
	f.Add(marWire(f))
	m := diameter.NewRequest(diameter.CmdCapabilitiesExchange, 0, nil)
	m.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, diameter.AppCx))
	m.AddAVP(diameter.NewGroup(284, 0, diameter.NewGroup(284, 0)))
	f.Add(mustSerialize(f, m))
	f.Add([]byte{1, 0, 0, 20, 0x80, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	d := diameter.Dictionary()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := diameter.Decode(b, d)
		if err != nil {
			return
		}
		m.Header.MessageLength = uint32(m.Len())
		out, err := m.Serialize()
		if err != nil {
			t.Fatalf("decoded message does not serialize: %v", err)
		}
		if _, err := diameter.Decode(out, d); err != nil {
			// Re-encoding normalizes some values (e.g. padding bytes), but
			// what we produce must itself decode.
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}
