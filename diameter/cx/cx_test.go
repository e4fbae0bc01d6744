package cx_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/cx"
)

func node(host string, h diameter.Handler) diameter.Config {
	return diameter.Config{
		OriginHost: host, OriginRealm: "ims.example.com",
		Apps:    []diameter.App{cx.App()},
		Handler: h, RequestTimeout: 2 * time.Second, HandshakeTimeout: 2 * time.Second,
	}
}

// pair starts an HSS server serving hss and an S-CSCF peer serving scscf,
// and returns a client each way.
func pair(t *testing.T, hss, scscf *cx.Server) (toHSS, toSCSCF *cx.Client) {
	t.Helper()
	mux := diameter.NewMux()
	hss.Register(mux)
	srv, err := diameter.NewServer(diameter.ServerConfig{Config: node("hss.ims.example.com", mux)})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	smux := diameter.NewMux()
	scscf.Register(smux)
	p, err := diameter.NewPeer(l.Addr().String(), diameter.PeerConfig{Config: node("scscf.ims.example.com", smux)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.WaitOpen(ctx))

	toHSS, err = cx.NewClient(p, cx.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "ims.example.com"})
	require.NoError(t, err)
	var conn *diameter.Conn
	require.Eventually(t, func() bool { conn = srv.Conn("scscf.ims.example.com"); return conn != nil }, time.Second, 5*time.Millisecond)
	toSCSCF, err = cx.NewClient(conn, cx.Config{OriginHost: "hss.ims.example.com", DestinationRealm: "ims.example.com", DestinationHost: "scscf.ims.example.com"})
	require.NoError(t, err)
	return toHSS, toSCSCF
}

func TestCxLoopback(t *testing.T) {
	profile := []byte(`<?xml version="1.0"?><IMSSubscription><PrivateID>alice@ims.example.com</PrivateID></IMSSubscription>`)
	hss := &cx.Server{
		UAR: func(ctx context.Context, q *cx.UAR) (*cx.UAA, error) {
			if q.UserName != "alice@ims.example.com" {
				return &cx.UAA{Result: cx.Experimental(cx.ErrorUserUnknown)}, nil
			}
			return &cx.UAA{Result: cx.Experimental(cx.FirstRegistration), ServerName: "sip:scscf.ims.example.com:5060",
				Capabilities: &cx.ServerCapabilities{Mandatory: []uint32{1}, Optional: []uint32{2, 3}, ServerNames: []string{"sip:scscf2.ims.example.com"}}}, nil
		},
		MAR: func(ctx context.Context, q *cx.MAR) (*cx.MAA, error) {
			return &cx.MAA{Result: cx.Success(), UserName: q.UserName, PublicIdentity: q.PublicIdentity, Items: []cx.AuthItem{{
				ItemNumber: 1, Scheme: cx.SchemeAKAv1MD5,
				Authenticate:       bytes.Repeat([]byte{0xaa}, 32),
				Authorization:      bytes.Repeat([]byte{0xbb}, 8),
				ConfidentialityKey: bytes.Repeat([]byte{0xcc}, 16),
				IntegrityKey:       bytes.Repeat([]byte{0xdd}, 16),
			}}}, nil
		},
		SAR: func(ctx context.Context, q *cx.SAR) (*cx.SAA, error) {
			assert.Equal(t, cx.AssignRegistration, q.AssignmentType)
			assert.Equal(t, []string{"sip:alice@ims.example.com", "tel:+15550100"}, q.PublicIdentities)
			return &cx.SAA{Result: cx.Success(), UserName: q.UserName, UserData: profile,
				Charging:             &cx.ChargingInformation{PrimaryChargingCollectionFunction: "aaa://ccf.ims.example.com"},
				AssociatedIdentities: []string{"alice@ims.example.com"}}, nil
		},
		LIR: func(ctx context.Context, q *cx.LIR) (*cx.LIA, error) {
			assert.True(t, q.Originating)
			return &cx.LIA{Result: cx.Success(), ServerName: "sip:scscf.ims.example.com:5060"}, nil
		},
	}
	gotRTR := make(chan *cx.RTR, 1)
	scscf := &cx.Server{
		RTR: func(ctx context.Context, q *cx.RTR) (*cx.RTA, error) {
			gotRTR <- q
			return &cx.RTA{Result: cx.Success(), AssociatedIdentities: q.AssociatedIdentities}, nil
		},
		PPR: func(ctx context.Context, q *cx.PPR) (*cx.PPA, error) {
			if !bytes.Equal(q.UserData, profile) {
				return &cx.PPA{Result: diameter.Result{Code: diameter.UnableToComply}}, nil
			}
			return &cx.PPA{Result: cx.Success()}, nil
		},
	}
	toHSS, toSCSCF := pair(t, hss, scscf)
	ctx := context.Background()

	uaa, err := toHSS.UAR(ctx, &cx.UAR{UserName: "alice@ims.example.com", PublicIdentity: "sip:alice@ims.example.com", VisitedNetworkID: "ims.example.com"})
	require.NoError(t, err)
	assert.Equal(t, cx.Experimental(cx.FirstRegistration), uaa.Result)
	assert.Equal(t, "sip:scscf.ims.example.com:5060", uaa.ServerName)
	assert.Equal(t, &cx.ServerCapabilities{Mandatory: []uint32{1}, Optional: []uint32{2, 3}, ServerNames: []string{"sip:scscf2.ims.example.com"}}, uaa.Capabilities)

	uaa, err = toHSS.UAR(ctx, &cx.UAR{UserName: "mallory@ims.example.com", PublicIdentity: "sip:mallory@ims.example.com"})
	require.NoError(t, err)
	assert.Equal(t, cx.Experimental(cx.ErrorUserUnknown), uaa.Result)
	assert.False(t, uaa.Result.Success())

	maa, err := toHSS.MAR(ctx, &cx.MAR{UserName: "alice@ims.example.com", PublicIdentity: "sip:alice@ims.example.com", ServerName: "sip:scscf.ims.example.com", Scheme: cx.SchemeAKAv1MD5})
	require.NoError(t, err)
	require.True(t, maa.Result.Success())
	require.Len(t, maa.Items, 1)
	assert.Equal(t, cx.SchemeAKAv1MD5, maa.Items[0].Scheme)
	assert.Len(t, maa.Items[0].Authenticate, 32)
	assert.Len(t, maa.Items[0].IntegrityKey, 16)
	assert.Equal(t, uint32(1), maa.NumberAuthItems)

	saa, err := toHSS.SAR(ctx, &cx.SAR{UserName: "alice@ims.example.com", PublicIdentities: []string{"sip:alice@ims.example.com", "tel:+15550100"},
		ServerName: "sip:scscf.ims.example.com", AssignmentType: cx.AssignRegistration})
	require.NoError(t, err)
	assert.True(t, saa.Result.Success())
	assert.Equal(t, profile, saa.UserData)
	assert.Equal(t, "aaa://ccf.ims.example.com", saa.Charging.PrimaryChargingCollectionFunction)
	assert.Equal(t, []string{"alice@ims.example.com"}, saa.AssociatedIdentities)

	lia, err := toHSS.LIR(ctx, &cx.LIR{PublicIdentity: "sip:alice@ims.example.com", Originating: true})
	require.NoError(t, err)
	assert.Equal(t, "sip:scscf.ims.example.com:5060", lia.ServerName)

	// HSS → S-CSCF over the connection the S-CSCF opened.
	rta, err := toSCSCF.RTR(ctx, &cx.RTR{UserName: "alice@ims.example.com", PublicIdentities: []string{"sip:alice@ims.example.com"},
		AssociatedIdentities: []string{"alice@ims.example.com"}, ReasonCode: cx.PermanentTermination, ReasonInfo: "barred"})
	require.NoError(t, err)
	assert.True(t, rta.Result.Success())
	assert.Equal(t, []string{"alice@ims.example.com"}, rta.AssociatedIdentities)
	q := <-gotRTR
	assert.Equal(t, "barred", q.ReasonInfo)
	assert.Equal(t, "scscf.ims.example.com", q.DestinationHost)

	ppa, err := toSCSCF.PPR(ctx, &cx.PPR{UserName: "alice@ims.example.com", UserData: profile})
	require.NoError(t, err)
	assert.True(t, ppa.Result.Success())
}

func TestCxMissingAVPAndUnsupported(t *testing.T) {
	hss := &cx.Server{UAR: func(ctx context.Context, q *cx.UAR) (*cx.UAA, error) { return &cx.UAA{Result: cx.Success()}, nil }}
	toHSS, _ := pair(t, hss, &cx.Server{})
	uaa, err := toHSS.UAR(context.Background(), &cx.UAR{PublicIdentity: "sip:x@ims.example.com"})
	require.NoError(t, err)
	assert.Equal(t, diameter.MissingAVP, uaa.Result.Code)
	maa, err := toHSS.MAR(context.Background(), &cx.MAR{UserName: "a", PublicIdentity: "sip:a@x"})
	require.NoError(t, err)
	assert.Equal(t, diameter.CommandUnsupported, maa.Result.Code)
}
