package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/guard"
)

// startServer runs the example's server on a random loopback port with the
// users alice, bob and carol (passwords equal to the names) unless edit
// changes the options.
func startServer(t *testing.T, edit func(*options)) *server {
	t.Helper()
	o := options{
		Addr:        "127.0.0.1:0",
		Users:       auth.NewStatic(map[string]string{"alice": "alice", "bob": "bob", "carol": "carol"}),
		Backend:     memory.New(memory.Config{}),
		AuthCalls:   true,
		RecordRoute: true,
		Secret:      []byte("a shared secret for the test nonces"),
		// NAT traversal on, as in production; keepalives only where a
		// test asks for them.
		NAT: &nat.Config{},
		// Guards on as in production; the tests' clients (and SIPp at
		// 500 REGISTERs/s) come from 127.0.0.1, which is trusted here so
		// that load tests are not banned. guard_test.go attacks from other
		// loopback addresses.
		Guard: func() *guard.Config {
			c := defaultGuard()
			c.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			return c
		}(),
	}
	if edit != nil {
		edit(&o)
	}
	s, err := newServer(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// testUA is a small user agent over real sockets: it registers with digest,
// places calls (answering 407), and answers the calls it receives.
type testUA struct {
	t       *testing.T
	user    string
	client  *auth.Client
	l       *transaction.Layer
	tp      string
	contact sip.Uri
	server  transport.Target
	host    string // domain of the AoR: the server's address

	// ring, when true, leaves incoming INVITEs ringing until cancelled;
	// otherwise they are answered 200 at once.
	ring     bool
	invites  chan *sip.Request
	acks     chan *sip.Request
	byes     chan *sip.Request
	canceled chan *sip.Request
	cseq     uint32
	callID   string
}

func newUA(t *testing.T, s *server, user, password, tp string) *testUA {
	t.Helper()
	layer, err := transport.New(transport.Config{})
	require.NoError(t, err)
	ln, err := layer.Listen(context.Background(), tp, "127.0.0.1:0", transport.ListenOptions{})
	require.NoError(t, err)
	ua := &testUA{
		t: t, user: user, tp: tp,
		client:   &auth.Client{Username: user, Password: password},
		server:   transport.Target{Transport: tp, Addr: s.Addr()},
		host:     s.Addr().String(),
		invites:  make(chan *sip.Request, 16),
		acks:     make(chan *sip.Request, 16),
		byes:     make(chan *sip.Request, 16),
		canceled: make(chan *sip.Request, 16),
		callID:   sip.GenerateTag() + "@ua",
	}
	ua.contact = sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: int(ln.Addr().Port())}
	if tp != transport.UDP {
		ua.contact.UriParams = sip.HeaderParams{{K: "transport", V: strings.ToLower(tp)}}
	}
	ua.l = transaction.New(layer, transaction.Config{})
	srv := transaction.NewServer(ua.l, sip.HandlerFunc(ua.serve), transaction.ServerConfig{})
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()); _ = layer.Close() })
	return ua
}

func (ua *testUA) serve(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	switch req.Method {
	case sip.INVITE:
		ua.invites <- req
		_ = sip.Respond(w, req, sip.StatusRinging, "")
		if ua.ring {
			<-ctx.Done() // the server answers 487 when it was a CANCEL
			ua.canceled <- req
			return
		}
		res := sip.NewResponse(req, sip.StatusOK, "")
		res.AppendHeader(sip.NewHeader("Contact", "<"+ua.contact.String()+">"))
		for _, rr := range req.GetHeaders("Record-Route") {
			res.AppendHeader(sip.NewHeader("Record-Route", rr.Value()))
		}
		_ = w.WriteResponse(res)
	case sip.ACK:
		ua.acks <- req
	case sip.BYE:
		ua.byes <- req
		_ = sip.Respond(w, req, sip.StatusOK, "")
	default:
		_ = sip.Respond(w, req, sip.StatusOK, "")
	}
}

func (ua *testUA) aor(user string) sip.Uri {
	u, err := sip.ParseURI("sip:" + user + "@" + ua.host)
	require.NoError(ua.t, err)
	return u
}

// domain is the server's URI, the Request-URI of a REGISTER.
func (ua *testUA) domain() sip.Uri {
	u, err := sip.ParseURI("sip:" + ua.host)
	require.NoError(ua.t, err)
	return u
}

// request builds a request from the UA's user.
func (ua *testUA) request(method sip.RequestMethod, ruri, to sip.Uri, callID string) *sip.Request {
	ua.cseq++
	req := sip.NewRequest(method, ruri)
	req.AppendHeader(&sip.FromHeader{Address: ua.aor(ua.user), Params: sip.HeaderParams{{K: "tag", V: "t-" + ua.user}}})
	req.AppendHeader(&sip.ToHeader{Address: to})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: ua.cseq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("Contact", "<"+ua.contact.String()+">"))
	req.SetBody(nil)
	return req
}

// do sends the request build makes and, on a 401 or 407, once more with
// credentials. It returns the final response.
func (ua *testUA) do(build func() *sip.Request) *sip.Response {
	ua.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := ua.l.Do(ctx, build(), ua.server)
	require.NoError(ua.t, err)
	if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
		req := build()
		require.NoError(ua.t, ua.client.Authorize(req, res))
		res, err = ua.l.Do(ctx, req, ua.server)
		require.NoError(ua.t, err)
	}
	return res
}

// register binds the UA's contact to its own AoR for expires.
func (ua *testUA) register(expires int) *sip.Response {
	return ua.registerAs(ua.user, expires)
}

// registerAs registers the UA's contact to another user's AoR.
func (ua *testUA) registerAs(user string, expires int) *sip.Response {
	return ua.do(func() *sip.Request {
		aor := ua.aor(user)
		req := ua.request(sip.REGISTER, ua.domain(), aor, ua.callID)
		req.From().Address = aor
		req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
		return req
	})
}

// call is one established dialog, seen from the caller.
type call struct {
	ua     *testUA
	ok     *sip.Response
	callID string
}

// invite calls user and returns the final response.
func (ua *testUA) invite(user string) (*sip.Response, *call) {
	callID := sip.GenerateTag() + "@call"
	res := ua.do(func() *sip.Request {
		req := ua.request(sip.INVITE, ua.aor(user), ua.aor(user), callID)
		ct := sip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
		req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"))
		return req
	})
	return res, &call{ua: ua, ok: res, callID: callID}
}

// inDialog builds an in-dialog request of the caller: to the remote target,
// through the route set from the 2xx's Record-Route, reversed (RFC 3261
// §12.1.2).
func (c *call) inDialog(method sip.RequestMethod, cseq uint32) *sip.Request {
	ua := c.ua
	contacts, err := sip.Contacts(c.ok)
	require.NoError(ua.t, err)
	require.NotEmpty(ua.t, contacts)
	req := sip.NewRequest(method, contacts[0].URI)
	req.AppendHeader(sip.HeaderClone(c.ok.From()))
	req.AppendHeader(sip.HeaderClone(c.ok.To()))
	cid := sip.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	rr, err := sip.RecordRoutes(c.ok)
	require.NoError(ua.t, err)
	slices.Reverse(rr)
	require.NoError(ua.t, sip.SetNameAddrs(req, "Route", rr))
	req.SetBody(nil)
	return req
}

// ack sends the ACK for the 2xx (outside any transaction, §13.2.2.4).
func (c *call) ack() {
	req := c.inDialog(sip.ACK, c.ok.CSeq().SeqNo)
	transaction.PrependVia(req, "")
	require.NoError(c.ua.t, c.ua.l.Send(req, c.ua.server))
}

// bye hangs up and returns the response.
func (c *call) bye() *sip.Response {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.ua.l.Do(ctx, c.inDialog(sip.BYE, c.ok.CSeq().SeqNo+1), c.ua.server)
	require.NoError(c.ua.t, err)
	return res
}

func recv(t *testing.T, ch <-chan *sip.Request, what string) *sip.Request {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5 s", what)
		return nil
	}
}

func bindings(t *testing.T, s *server, user string) []registrar.Contact {
	t.Helper()
	u, err := sip.ParseURI("sip:" + user + "@" + s.Addr().String())
	require.NoError(t, err)
	cs, err := s.reg.Lookup(context.Background(), u)
	require.NoError(t, err)
	return cs
}
