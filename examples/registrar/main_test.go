package main

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// TestCallForksToEveryContact: alice (UDP) calls bob, who is registered
// from two devices (UDP and TCP). Both ring; the first to answer gets the
// call, the other is cancelled; ACK and BYE reach the answering device
// through the record-routing proxy.
func TestCallForksToEveryContact(t *testing.T) {
	s := startServer(t, nil)
	alice := newUA(t, s, "alice", "alice", transport.UDP)
	bob1 := newUA(t, s, "bob", "bob", transport.UDP)
	bob2 := newUA(t, s, "bob", "bob", transport.TCP)
	bob2.ring = true

	require.Equal(t, sip.StatusOK, alice.register(300).StatusCode)
	require.Equal(t, sip.StatusOK, bob1.register(300).StatusCode)
	require.Equal(t, sip.StatusOK, bob2.register(300).StatusCode)
	require.Len(t, bindings(t, s, "bob"), 2)

	res, c := alice.invite("bob")
	require.Equal(t, sip.StatusOK, res.StatusCode)
	in1 := recv(t, bob1.invites, "INVITE at bob's UDP device")
	in2 := recv(t, bob2.invites, "INVITE at bob's TCP device")
	require.Empty(t, in1.GetHeaders("Proxy-Authorization"), "credentials for our realm are consumed")
	require.Len(t, in1.GetHeaders("Record-Route"), 1)
	require.Len(t, in2.GetHeaders("Record-Route"), 2, "UDP in, TCP out: double Record-Route")
	recv(t, bob2.canceled, "CANCEL of the losing branch")

	c.ack()
	ack := recv(t, bob1.acks, "ACK for the 2xx")
	require.Equal(t, c.callID, ack.CallID().Value())

	require.Equal(t, sip.StatusOK, c.bye().StatusCode)
	recv(t, bob1.byes, "BYE")
}

func TestCallNeedsCredentials(t *testing.T) {
	s := startServer(t, nil)
	alice := newUA(t, s, "alice", "alice", transport.UDP)
	alice.client.Password = "wrong"
	res, _ := alice.invite("bob")
	require.Equal(t, sip.StatusProxyAuthRequired, res.StatusCode)
}

func TestCallToUnknownAndUnregisteredUsers(t *testing.T) {
	s := startServer(t, nil)
	alice := newUA(t, s, "alice", "alice", transport.TCP)
	res, _ := alice.invite("nobody")
	require.Equal(t, sip.StatusNotFound, res.StatusCode)
	res, _ = alice.invite("carol")
	require.Equal(t, sip.StatusTemporarilyUnavailable, res.StatusCode)
}

// TestCallerCannotUseAnotherIdentity: carol's credentials with alice's From
// are refused (auth.Config.MatchFrom).
func TestCallerCannotUseAnotherIdentity(t *testing.T) {
	s := startServer(t, nil)
	bob := newUA(t, s, "bob", "bob", transport.UDP)
	require.Equal(t, sip.StatusOK, bob.register(300).StatusCode)
	mallory := newUA(t, s, "alice", "carol", transport.UDP)
	mallory.client.Username = "carol"
	res, _ := mallory.invite("bob")
	require.Equal(t, sip.StatusForbidden, res.StatusCode)
	select {
	case <-bob.invites:
		t.Fatal("a spoofed call reached bob")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestWrongPasswordNeverBinds: the registrar challenges again and stores
// nothing.
func TestWrongPasswordNeverBinds(t *testing.T) {
	s := startServer(t, nil)
	alice := newUA(t, s, "alice", "not-alice", transport.UDP)
	res := alice.register(300)
	require.Contains(t, []int{sip.StatusUnauthorized, sip.StatusForbidden}, res.StatusCode)
	require.Empty(t, bindings(t, s, "alice"))
}

// TestAoRMustBeTheAuthenticatedUser: carol, with her own valid credentials,
// tries to bind her device to alice's AoR (hijacking alice's calls). She is
// refused with 403 and alice's binding is untouched.
func TestAoRMustBeTheAuthenticatedUser(t *testing.T) {
	s := startServer(t, nil)
	alice := newUA(t, s, "alice", "alice", transport.UDP)
	require.Equal(t, sip.StatusOK, alice.register(300).StatusCode)
	before := bindings(t, s, "alice")
	require.Len(t, before, 1)

	carol := newUA(t, s, "carol", "carol", transport.TCP)
	require.Equal(t, sip.StatusForbidden, carol.registerAs("alice", 300).StatusCode)
	// Nor may she remove alice's bindings with Expires 0.
	require.Equal(t, sip.StatusForbidden, carol.registerAs("alice", 0).StatusCode)

	after := bindings(t, s, "alice")
	require.Len(t, after, 1)
	require.Equal(t, before[0].Contact, after[0].Contact)
}

// TestReplayedAuthorizationRefusedAfterNonceLifetime: a captured REGISTER
// with valid credentials is refused once its nonce has expired (stale=true),
// and within the lifetime its nonce-count cannot be reused.
func TestReplayedAuthorizationRefusedAfterNonceLifetime(t *testing.T) {
	s := startServer(t, func(o *options) { o.Auth = auth.Config{NonceTTL: 500 * time.Millisecond} })
	alice := newUA(t, s, "alice", "alice", transport.UDP)
	var signed *sip.Request
	res := alice.do(func() *sip.Request {
		req := alice.request(sip.REGISTER, alice.domain(), alice.aor("alice"), alice.callID)
		req.From().Address = alice.aor("alice")
		signed = req
		return req
	})
	require.Equal(t, sip.StatusOK, res.StatusCode)
	authz := signed.GetHeader("Authorization")
	require.NotNil(t, authz)

	replay := func() *sip.Response {
		req := alice.request(sip.REGISTER, alice.domain(), alice.aor("alice"), alice.callID)
		req.From().Address = alice.aor("alice")
		req.AppendHeader(sip.NewHeader("Authorization", authz.Value()))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := alice.l.Do(ctx, req, alice.server)
		require.NoError(t, err)
		return r
	}
	// Same nonce and nonce-count: a replay.
	require.Equal(t, sip.StatusUnauthorized, replay().StatusCode)
	time.Sleep(700 * time.Millisecond)
	r := replay()
	require.Equal(t, sip.StatusUnauthorized, r.StatusCode)
	require.Contains(t, r.GetHeader("WWW-Authenticate").Value(), "stale=true")
}

func TestRegistrationsDisappearWhenTheyExpire(t *testing.T) {
	s := startServer(t, func(o *options) { o.Registrar.MinExpires = time.Second })
	alice := newUA(t, s, "alice", "alice", transport.UDP)
	require.Equal(t, sip.StatusOK, alice.register(1).StatusCode)
	require.Len(t, bindings(t, s, "alice"), 1)
	require.Eventually(t, func() bool { return len(bindings(t, s, "alice")) == 0 }, 3*time.Second, 50*time.Millisecond)
}

func TestOptionsToTheServer(t *testing.T) {
	s := startServer(t, nil)
	alice := newUA(t, s, "alice", "alice", transport.TCP)
	res := alice.do(func() *sip.Request {
		return alice.request(sip.OPTIONS, alice.domain(), alice.domain(), "options")
	})
	require.Equal(t, sip.StatusOK, res.StatusCode)
	require.NotNil(t, res.GetHeader("Allow"))
}

// TestRunFlags starts the command as main does and stops it.
func TestRunFlags(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan netip.AddrPort, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-log-level", "warn"}, io.Discard, ready) }()
	select {
	case a := <-ready:
		require.NotZero(t, a.Port())
	case err := <-done:
		t.Fatal(err)
	}
	cancel()
	require.NoError(t, <-done)

	require.Error(t, run(context.Background(), []string{"-backend", "nosuch"}, io.Discard, nil))
}
