package proxy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// relayTo puts a proxy at 192.0.2.2 that relays every request to the
// world's UASes i..., in parallel.
func relayTo(t *testing.T, w *world, opts *proxy.Options, uas ...int) *siptest.Stack {
	t.Helper()
	return siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			targets := make([]proxy.Target, len(uas))
			for j, i := range uas {
				targets[j] = w.target(i, 1)
			}
			_ = w.proxy.Relay(ctx, rw, req, opts, targets...)
		})
	}})
}

// challenge answers with code and one challenge header of realm.
func challenge(code int, header, realm string) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		res := sip.NewResponse(req, code, "")
		res.AppendHeader(sip.NewHeader(header, `Digest realm="`+realm+`", nonce="n-`+realm+`"`))
		_ = w.WriteResponse(res)
	})
}

// TestSixHundredEndsTheSearch: a 6xx from one branch cancels the branches
// still ringing and is the response relayed (RFC 3261 §16.7 step 5 and
// step 6: 6xx beats every other final).
func TestSixHundredEndsTheSearch(t *testing.T) {
	started := make(chan struct{}, 1)
	declineAfterRing := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		<-started
		_ = sip.Respond(w, req, 603, "")
	})
	w := newWorld(t, proxy.Config{}, ringing(started), declineAfterRing)
	px := relayTo(t, w, nil, 0, 1)
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 603, res.StatusCode, "the 6xx, not the ringing branch's 487")
	require.Eventually(t, func() bool { return len(w.inbound(0, "CANCEL ")) == 1 }, 3*time.Second, 5*time.Millisecond,
		"the ringing branch is cancelled")
}

// TestChallengesAreAggregated: when 401s and 407s are the best answers,
// the relayed one carries every branch's challenge (RFC 3261 §16.7 step 7),
// so the UAC can answer all of them in one retry.
func TestChallengesAreAggregated(t *testing.T) {
	w := newWorld(t, proxy.Config{},
		challenge(407, "Proxy-Authenticate", "a.example.com"),
		challenge(401, "WWW-Authenticate", "b.example.com"),
		challenge(407, "Proxy-Authenticate", "c.example.com"))
	px := relayTo(t, w, nil, 0, 1, 2)
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
	require.NoError(t, err)
	require.Contains(t, []int{401, 407}, res.StatusCode)
	text := res.String()
	for _, realm := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		require.Contains(t, text, `realm="`+realm+`"`, "every challenge is relayed")
	}
	require.Equal(t, 2, strings.Count(text, "\r\nProxy-Authenticate: "))
	require.Equal(t, 1, strings.Count(text, "\r\nWWW-Authenticate: "))
}

// TestStrictRouterInterop: a next hop that is a strict router (its Route
// has no lr) gets the request with its own URI as Request-URI and the
// original Request-URI at the end of the Route set (RFC 3261 §16.6 step 7);
// a request from a strict router upstream, whose Request-URI is our
// Record-Route, gets the last Route as its Request-URI back (§16.4).
func TestStrictRouterInterop(t *testing.T) {
	w := newWorld(t, proxy.Config{RecordRoute: true}, answer(200))
	ctx := context.Background()

	toStrict := siptest.NewRequest(sip.MESSAGE, "sip:bob@example.com", siptest.WithHeader("Route", "<sip:192.0.2.20:5060>"))
	res, err := w.uac.Do(ctx, toStrict, w.px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	got := w.inbound(0, "MESSAGE ")
	require.Len(t, got, 1)
	require.True(t, strings.HasPrefix(got[0].Data, "MESSAGE sip:192.0.2.20:5060 SIP/2.0\r\n"), got[0].Data)
	require.Contains(t, got[0].Data, "\r\nRoute: <sip:bob@example.com>\r\n")

	// The strict router copied our Record-Route URI, lr and all, into the
	// Request-URI.
	fromStrict := siptest.NewRequest(sip.MESSAGE, "sip:192.0.2.1:5060;lr", siptest.WithHeader("Route", "<sip:bob@192.0.2.20:5060>"))
	res, err = w.uac.Do(ctx, fromStrict, w.px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	got = w.inbound(0, "MESSAGE ")
	require.Len(t, got, 1)
	require.True(t, strings.HasPrefix(got[0].Data, "MESSAGE sip:bob@192.0.2.20:5060 SIP/2.0\r\n"), got[0].Data)
	require.NotContains(t, got[0].Data, "\r\nRoute: ", "the last Route became the Request-URI")
}
