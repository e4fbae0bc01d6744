package diameter_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
)

func TestLoopbackRequestAnswer(t *testing.T) {
	mux := diameter.NewMux()
	mux.Handle(diameter.AppCx, 300, answering("hss1"))
	srv, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss.example.com", mux)})
	p := startPeer(t, addr, nodeConfig("icscf.example.com", nil))

	info, ok := p.Info()
	require.True(t, ok)
	assert.Equal(t, "hss.example.com", info.Host)
	assert.True(t, info.Supports(diameter.AppCx))

	req := uar()
	ans, err := p.Do(context.Background(), req)
	require.NoError(t, err)
	code, _, _ := diameter.ResultCode(ans)
	assert.Equal(t, diameter.Success, code)
	assert.Equal(t, "hss1", serverName(ans))
	assert.Equal(t, req.Header.HopByHopID, ans.Header.HopByHopID)
	assert.Equal(t, req.Header.EndToEndID, ans.Header.EndToEndID)
	assert.NotZero(t, req.Header.EndToEndID)
	assert.Equal(t, diameter.SessionID(req), diameter.SessionID(ans))
	assert.Equal(t, "hss.example.com", diameter.OriginHost(ans))
	assert.Equal(t, "icscf.example.com", diameter.OriginHost(req))

	// An unregistered command and an unadvertised application.
	m := diameter.NewSessionRequest(303, diameter.AppCx, "icscf.example.com", nil)
	ans, err = p.Do(context.Background(), m)
	require.NoError(t, err)
	code, _, _ = diameter.ResultCode(ans)
	assert.Equal(t, diameter.CommandUnsupported, code)
	assert.NotZero(t, ans.Header.CommandFlags&diameter.FlagError)
	_, err = p.Do(context.Background(), diameter.NewRequest(306, diameter.AppSh, nil))
	assert.ErrorIs(t, err, diameter.ErrApplicationUnsupported)

	require.Eventually(t, func() bool { return len(srv.Conns()) == 1 }, time.Second, 5*time.Millisecond)
}

func TestWatchdogBothWays(t *testing.T) {
	srv, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss.example.com", nil)})
	p := startPeer(t, addr, nodeConfig("icscf.example.com", nil))
	require.Eventually(t, func() bool {
		cs := srv.Conns()
		if len(cs) != 1 {
			return false
		}
		c, s := p.Conn().Watchdog(), cs[0].Watchdog()
		return c.DWAReceived >= 2 && s.DWAReceived >= 2 && c.DWRReceived >= 2 && s.DWRReceived >= 2
	}, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, diameter.StateOkay, p.State())
}

func TestWatchdogFailoverToSecondPeer(t *testing.T) {
	mux1, mux2 := diameter.NewMux(), diameter.NewMux()
	mux1.Handle(diameter.AppCx, 300, answering("hss1"))
	mux2.Handle(diameter.AppCx, 300, answering("hss2"))
	_, addr1 := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss1.example.com", mux1)})
	_, addr2 := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss2.example.com", mux2)})
	fz := newFreezer(t, addr1)
	cfg := nodeConfig("icscf.example.com", nil)
	cfg.RequestTimeout = 10 * time.Second // longer than the failover: the watchdog, not the timeout, must act
	p1 := startPeer(t, fz.addr(), cfg)
	p2 := startPeer(t, addr2, cfg)
	pool, err := diameter.NewPool([]diameter.Member{{Peer: p1}, {Peer: p2}}, diameter.PoolConfig{Policy: diameter.Failover})
	require.NoError(t, err)

	ans, err := pool.Do(context.Background(), uar())
	require.NoError(t, err)
	assert.Equal(t, "hss1", serverName(ans), "failover policy prefers the first member")

	fz.frozen.Store(true) // hss1 stops answering anything, DWR included
	start := time.Now()
	req := uar()
	ans, err = pool.Do(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "hss2", serverName(ans))
	assert.NotZero(t, req.Header.CommandFlags&diameter.FlagRetransmitted, "a failed-over request carries the T bit")
	assert.Less(t, time.Since(start), 3*time.Second, "failover happens after about 2*Tw")
	assert.NotEqual(t, diameter.StateOkay, p1.State())

	// While hss1 stays silent every request goes to hss2 at once.
	start = time.Now()
	for range 5 {
		ans, err = pool.Do(context.Background(), uar())
		require.NoError(t, err)
		assert.Equal(t, "hss2", serverName(ans))
	}
	assert.Less(t, time.Since(start), time.Second)

	// hss1 comes back: the peer reconnects through REOPEN and takes over again.
	fz.frozen.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.Eventually(t, func() bool {
		return p1.State() == diameter.StateDown || p1.State() == diameter.StateReopen || p1.State() == diameter.StateOkay
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, p1.WaitOpen(ctx))
}

func TestRequestTimeoutDoesNotStallOthers(t *testing.T) {
	mux := diameter.NewMux()
	mux.HandleFunc(diameter.AppCx, 300, func(ctx context.Context, r *diameter.Request) (*diameter.Message, error) {
		if diameter.Body(r.Msg).String(601, diameter.Vendor3GPP) == "sip:slow@example.com" {
			<-ctx.Done() // never answers in time
			return nil, ctx.Err()
		}
		return r.Answer(diameter.Success), nil
	})
	_, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss.example.com", mux)})
	p := startPeer(t, addr, nodeConfig("icscf.example.com", nil))

	slow := diameter.NewSessionRequest(300, diameter.AppCx, "icscf.example.com", nil)
	slow.AddAVP(diameter.NewAVP(601, diameter.Vendor3GPP, datatypeUTF8("sip:slow@example.com")))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := p.Do(ctx, slow)
		done <- err
	}()
	// Other requests on the same connection are answered meanwhile.
	for range 10 {
		ans, err := p.Do(context.Background(), uar())
		require.NoError(t, err)
		code, _, _ := diameter.ResultCode(ans)
		require.Equal(t, diameter.Success, code)
	}
	select {
	case err := <-done:
		assert.ErrorIs(t, err, diameter.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(3 * time.Second):
		t.Fatal("request did not time out")
	}
	assert.Equal(t, diameter.StateOkay, p.State())
}

func TestServerAdmission(t *testing.T) {
	t.Run("source ACL", func(t *testing.T) {
		cfg := diameter.ServerConfig{
			Config:          nodeConfig("hss.example.com", nil),
			AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		}
		_, addr := startServer(t, cfg)
		p, err := diameter.NewPeer(addr, diameter.PeerConfig{Config: nodeConfig("icscf.example.com", nil), ReconnectMin: time.Hour})
		require.NoError(t, err)
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		assert.Error(t, p.WaitOpen(ctx))
		_, err = p.Do(context.Background(), uar())
		assert.ErrorIs(t, err, diameter.ErrNotOpen)
	})
	t.Run("origin host", func(t *testing.T) {
		cfg := diameter.ServerConfig{Config: nodeConfig("hss.example.com", nil), AllowedHosts: []string{"scscf.example.com"}}
		_, addr := startServer(t, cfg)
		p, err := diameter.NewPeer(addr, diameter.PeerConfig{Config: nodeConfig("icscf.example.com", nil), ReconnectMin: time.Hour})
		require.NoError(t, err)
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err = p.WaitOpen(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "3010")
		startPeer(t, addr, nodeConfig("scscf.example.com", nil)) // the allowed host gets in
	})
	t.Run("no common application", func(t *testing.T) {
		_, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss.example.com", nil)})
		cfg := nodeConfig("pcscf.example.com", nil)
		cfg.Apps = []diameter.App{{ID: diameter.AppRx, Vendor: diameter.Vendor3GPP}}
		p, err := diameter.NewPeer(addr, diameter.PeerConfig{Config: cfg, ReconnectMin: time.Hour})
		require.NoError(t, err)
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err = p.WaitOpen(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "5010")
	})
}

func TestServeOnOutbound(t *testing.T) {
	// The HSS dials out; the S-CSCF side (a Server) sends it requests over
	// the connection the HSS initiated, and the HSS's handler serves them.
	scscf, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig("scscf.example.com", nil)})
	mux := diameter.NewMux()
	mux.Handle(diameter.AppCx, 300, answering("dialer"))
	startPeer(t, addr, nodeConfig("hss.example.com", mux))

	var c *diameter.Conn
	require.Eventually(t, func() bool { c = scscf.Conn("hss.example.com"); return c != nil }, time.Second, 5*time.Millisecond)
	ans, err := c.Do(context.Background(), uar())
	require.NoError(t, err)
	assert.Equal(t, "dialer", serverName(ans))
}

func TestRelayAndLoopDetection(t *testing.T) {
	mux := diameter.NewMux()
	mux.Handle(diameter.AppCx, 300, answering("hss"))
	_, hssAddr := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss.example.com", mux)})

	relayCfg := nodeConfig("dra.example.com", nil)
	relayCfg.Apps = []diameter.App{{ID: diameter.AppRelay}}
	up := startPeer(t, hssAddr, relayCfg)
	relayCfg.Handler = &diameter.Relay{Upstream: up}
	_, draAddr := startServer(t, diameter.ServerConfig{Config: relayCfg})

	p := startPeer(t, draAddr, nodeConfig("icscf.example.com", nil))
	assert.True(t, p.Supports(diameter.AppCx), "a relay supports every application")
	req := uar()
	ans, err := p.Do(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "hss", serverName(ans))
	assert.Equal(t, "hss.example.com", diameter.OriginHost(ans))
	assert.Equal(t, req.Header.EndToEndID, ans.Header.EndToEndID)
	assert.Equal(t, req.Header.HopByHopID, ans.Header.HopByHopID)

	looped := uar()
	looped.AddAVP(diameter.NewAVP(diameter.AVPRouteRecord, 0, datatypeIdentity("dra.example.com")))
	ans, err = p.Do(context.Background(), looped)
	require.NoError(t, err)
	code, _, _ := diameter.ResultCode(ans)
	assert.Equal(t, diameter.LoopDetected, code)
	assert.NotZero(t, ans.Header.CommandFlags&diameter.FlagError)
	assert.Equal(t, "dra.example.com", diameter.OriginHost(ans))
}

func TestPoolPolicies(t *testing.T) {
	var peers []*diameter.Peer
	for _, name := range []string{"a", "b", "c"} {
		mux := diameter.NewMux()
		mux.Handle(diameter.AppCx, 300, answering(name))
		_, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig(name+".example.com", mux)})
		peers = append(peers, startPeer(t, addr, nodeConfig("icscf.example.com", nil)))
	}
	count := func(pool *diameter.Pool, n int) map[string]int {
		got := map[string]int{}
		for range n {
			ans, err := pool.Do(context.Background(), uar())
			require.NoError(t, err)
			got[serverName(ans)]++
		}
		return got
	}
	rr, err := diameter.NewPool([]diameter.Member{{Peer: peers[0]}, {Peer: peers[1]}, {Peer: peers[2]}}, diameter.PoolConfig{Policy: diameter.RoundRobin})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 10, "b": 10, "c": 10}, count(rr, 30))

	w, err := diameter.NewPool([]diameter.Member{{Peer: peers[0], Weight: 3}, {Peer: peers[1], Weight: 1}}, diameter.PoolConfig{Policy: diameter.Weighted})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 30, "b": 10}, count(w, 40))

	_ = peers[0].Close()
	assert.Equal(t, map[string]int{"b": 20}, count(w, 20), "a closed peer is skipped")

	_, err = diameter.NewPool(nil, diameter.PoolConfig{})
	assert.True(t, errors.Is(err, diameter.ErrConfig))
}

func TestReconnectAfterServerRestart(t *testing.T) {
	mux := diameter.NewMux()
	mux.Handle(diameter.AppCx, 300, answering("hss"))
	srv, addr := startServer(t, diameter.ServerConfig{Config: nodeConfig("hss.example.com", mux)})
	p := startPeer(t, addr, nodeConfig("icscf.example.com", nil))
	require.NoError(t, srv.Shutdown(context.Background())) // DPR, then close
	require.Eventually(t, func() bool { return p.State() != diameter.StateOkay }, time.Second, time.Millisecond)

	srv2, err := diameter.NewServer(diameter.ServerConfig{Config: nodeConfig("hss.example.com", mux)})
	require.NoError(t, err)
	l, err := listenOn(addr)
	require.NoError(t, err)
	go func() { _ = srv2.Serve(l) }()
	defer srv2.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.WaitOpen(ctx))
	ans, err := p.Do(ctx, uar())
	require.NoError(t, err)
	assert.Equal(t, "hss", serverName(ans))
}
