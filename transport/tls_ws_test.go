package transport

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/siphon-go/siphon/internal/testcert"
	"github.com/siphon-go/siphon/sip"
	"github.com/stretchr/testify/require"
)

// secureServer returns a layer with a TLS or WSS listener and its address.
func secureServer(t *testing.T, tp string, conf *tls.Config, opts ListenOptions, guard ...Guard) (*Layer, *sink, *Listener) {
	t.Helper()
	cfg := Config{HandshakeTimeout: 300 * time.Millisecond}
	if len(guard) > 0 {
		cfg.Guard = guard[0]
	}
	l, err := New(cfg)
	require.NoError(t, err)
	opts.TLS = conf
	ln, err := l.Listen(context.Background(), tp, "127.0.0.1:0", opts)
	require.NoError(t, err)
	s := newSink()
	require.NoError(t, l.Start(s))
	t.Cleanup(func() { l.Close() })
	return l, s, ln
}

func TestTLSVersionsAndEcho(t *testing.T) {
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, "127.0.0.1", "sip.example.com")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srv, ss, ln := secureServer(t, TLS, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: v, MaxVersion: v}, ListenOptions{})
		ss.handle(func(m sip.Message, f Flow) {
			req := m.(*sip.Request)
			_ = srv.SendMessage(sip.NewResponse(req, 200, ""), ResponseTarget(req, f), nil)
		})
		cli, cs := newLayer(t, Config{ClientTLS: &tls.Config{RootCAs: ca.Pool()}}, TCP)
		require.NoError(t, cli.SendMessage(request(t, "OPTIONS", 1, "tls"), Target{Transport: TLS, Addr: ln.Addr(), ServerName: "sip.example.com"}, nil))
		got := ss.next(t)
		require.Equal(t, TLS, got.flow.Transport)
		require.Equal(t, 200, cs.next(t).msg.(*sip.Response).StatusCode)
	}
}

func TestTLSClientVerificationFailsClosed(t *testing.T) {
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, "127.0.0.1")
	l, err := New(Config{})
	require.NoError(t, err)
	defer l.Close()
	_, err = l.Listen(context.Background(), TLS, "127.0.0.1:0", ListenOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, RequireClientCert: true})
	require.ErrorIs(t, err, ErrNoClientCA)

	g := &recordingGuard{}
	_, ss, ln := secureServer(t, TLS, &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool()}, ListenOptions{RequireClientCert: true}, g)

	// No client certificate: the handshake fails and nothing is delivered.
	anon, _ := newLayer(t, Config{ClientTLS: &tls.Config{RootCAs: ca.Pool()}}, TCP)
	errc := make(chan error, 1)
	require.NoError(t, anon.SendMessage(request(t, "OPTIONS", 1, "mtls-anon"), Target{Transport: TLS, Addr: ln.Addr()}, func(err error) { errc <- err }))
	select {
	case <-errc:
	case <-time.After(500 * time.Millisecond):
		// TLS 1.3 clients learn of the rejection only on their first read;
		// the server must still not deliver anything.
	}
	ss.none(t, 200*time.Millisecond)

	// With a certificate from the CA the request gets through.
	client := ca.Issue(t, "client.example.com")
	ok, _ := newLayer(t, Config{ClientTLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}}}, TCP)
	require.NoError(t, ok.SendMessage(request(t, "OPTIONS", 2, "mtls-ok"), Target{Transport: TLS, Addr: ln.Addr()}, nil))
	require.Equal(t, "mtls-ok", ss.next(t).msg.CallID().Value())
	require.Contains(t, g.seen(), ViolationHandshake)
}

func TestSlowHandshakeDoesNotBlockAccept(t *testing.T) {
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, "127.0.0.1")
	for _, tp := range []string{TLS, WS, WSS} {
		t.Run(tp, func(t *testing.T) {
			var conf *tls.Config
			if IsSecure(tp) {
				conf = &tls.Config{Certificates: []tls.Certificate{cert}}
			}
			_, ss, ln := secureServer(t, tp, conf, ListenOptions{})
			// Ten clients connect and say nothing.
			for i := 0; i < 10; i++ {
				c, err := net.Dial("tcp", ln.Addr().String())
				require.NoError(t, err)
				defer c.Close()
			}
			cli, _ := newLayer(t, Config{ClientTLS: &tls.Config{RootCAs: ca.Pool()}}, TCP)
			start := time.Now()
			require.NoError(t, cli.SendMessage(request(t, "OPTIONS", 1, "fast"), Target{Transport: tp, Addr: ln.Addr()}, nil))
			require.Equal(t, "fast", ss.next(t).msg.CallID().Value())
			require.Less(t, time.Since(start), 250*time.Millisecond, "served before the silent clients' handshakes time out")
		})
	}
}

func TestWebSocketBothWaysOnOneConnection(t *testing.T) {
	for _, tp := range []string{WS, WSS} {
		t.Run(tp, func(t *testing.T) {
			ca := testcert.NewCA(t)
			var conf *tls.Config
			if tp == WSS {
				conf = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "127.0.0.1")}}
			}
			_, ss, ln := secureServer(t, tp, conf, ListenOptions{WSPath: "/sip"})
			cli, _ := newLayer(t, Config{ClientTLS: &tls.Config{RootCAs: ca.Pool()}}, TCP)
			// Our dialer asks for "/", which the listener refuses.
			errc := make(chan error, 1)
			require.NoError(t, cli.SendMessage(request(t, "OPTIONS", 1, "ws-path"), Target{Transport: tp, Addr: ln.Addr()}, func(err error) { errc <- err }))
			select {
			case err := <-errc:
				require.Error(t, err)
			case <-time.After(3 * time.Second):
				t.Fatal("upgrade on a wrong path not refused")
			}
			ss.none(t, 50*time.Millisecond)
		})
	}
	for _, tp := range []string{WS, WSS} {
		t.Run(tp+"/exchange", func(t *testing.T) {
			ca := testcert.NewCA(t)
			var conf *tls.Config
			if tp == WSS {
				conf = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "127.0.0.1")}}
			}
			srv, ss, ln := secureServer(t, tp, conf, ListenOptions{})
			cli, cs := newLayer(t, Config{ClientTLS: &tls.Config{RootCAs: ca.Pool()}}, TCP)
			require.NoError(t, cli.SendMessage(request(t, "REGISTER", 1, "ws"), Target{Transport: tp, Addr: ln.Addr()}, nil))
			in := ss.next(t)
			require.Equal(t, tp, in.flow.Transport)
			// The server reaches the browser-like client only on its flow.
			require.NoError(t, srv.SendMessage(request(t, "MESSAGE", 2, "ws-mt"), in.flow.Target(), nil))
			require.Equal(t, "ws-mt", cs.next(t).msg.CallID().Value())
			res := sip.NewResponse(in.msg.(*sip.Request), 200, "")
			require.NoError(t, srv.SendMessage(res, ResponseTarget(in.msg.(*sip.Request), in.flow), nil))
			require.Equal(t, 200, cs.next(t).msg.(*sip.Response).StatusCode)
		})
	}
}
