package diameter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/cx"
	"github.com/siphon-go/siphon/internal/testpeer"
)

// rtDefault is the realm-routing extension and aclWL admits peers by
// name; both come from Debian's freediameter-extensions package. admits peers by name.
const (
	rtDefault = "/usr/lib/freeDiameter/rt_default.fdx"
	aclWL     = "/usr/lib/freeDiameter/acl_wl.fdx"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	dir  string
}

func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "siphon test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, pool: pool, dir: dir}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// issue makes a certificate whose CN is the Diameter identity (freeDiameter
// checks the peer's certificate against its Origin-Host) and writes
// name.pem and name.key.
func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	writePEM(t, filepath.Join(ca.dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(ca.dir, name+".key"), "EC PRIVATE KEY", kder)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestThroughFreeDiameter runs client → freeDiameterd (relay, realm
// routing by rt_default) → our server: the client speaks TLS to the relay,
// verifying its certificate, and the relay speaks TCP to the server. It
// checks UAR/UAA are routed by Destination-Realm and that DWR/DWA run on
// both connections, each side originating.
func TestThroughFreeDiameter(t *testing.T) {
	bin := testpeer.Binary(t, "freediameter", "freeDiameterd")
	for _, ext := range []string{rtDefault, aclWL} {
		if _, err := os.Stat(ext); err != nil {
			if testpeer.Required("freediameter-extensions") {
				t.Fatalf("%s is listed in %s but %s is missing: %v", "freediameter-extensions", testpeer.EnvPeers, ext, err)
			}
			t.Skipf("%s missing; run `make test` to install freediameter-extensions", ext)
		}
	}
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	ca.issue(t, "relay.example.net")
	clientCert := ca.issue(t, "icscf.example.net")

	// The HSS, in realm ims.example.com, behind the relay. Its Tw is long so
	// that the relay's watchdog (Tw 6 s) is the one that fires on this leg.
	mux := diameter.NewMux()
	(&cx.Server{UAR: func(ctx context.Context, q *cx.UAR) (*cx.UAA, error) {
		return &cx.UAA{Result: cx.Experimental(cx.FirstRegistration), ServerName: "sip:scscf.ims.example.com"}, nil
	}}).Register(mux)
	hss, err := diameter.NewServer(diameter.ServerConfig{Config: diameter.Config{
		OriginHost: "hss.ims.example.com", OriginRealm: "ims.example.com", Apps: []diameter.App{cx.App()},
		Handler: mux, WatchdogInterval: time.Minute,
	}, AllowedHosts: []string{"relay.example.net"}})
	require.NoError(t, err)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = hss.Serve(hl) }()
	t.Cleanup(func() { _ = hss.Close() })

	port, secPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`Identity = "relay.example.net";
Realm = "example.net";
Port = %d;
SecPort = %d;
ListenOn = "127.0.0.1";
No_SCTP;
No_IPv6;
TwTimer = 6;
TcTimer = 1;
AppServThreads = 2;
TLS_Cred = "%[3]s/relay.example.net.pem", "%[3]s/relay.example.net.key";
TLS_CA = "%[3]s/ca.pem";
LoadExtension = "%[4]s" : "%[3]s/rt.conf";
LoadExtension = "%[6]s" : "%[3]s/acl.conf";
ConnectPeer = "hss.ims.example.com" { ConnectTo = "127.0.0.1"; Port = %[5]d; No_TLS; };
`, port, secPort, dir, rtDefault, hl.Addr().(*net.TCPAddr).Port, aclWL)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fd.conf"), []byte(conf), 0o600))
	// acl_wl lets the relay accept the client, which it has no ConnectPeer for.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acl.conf"), []byte("ALLOW_OLD_TLS icscf.example.net\n"), 0o600))
	rt := `dr="ims.example.com" : "hss.ims.example.com" += 100 ;` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rt.conf"), []byte(rt), 0o600))

	logf, err := os.Create(filepath.Join(dir, "fd.log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "fd.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("freeDiameterd log tail:\n%s", b)
		}
	})

	// The relay dials the HSS.
	var leg *diameter.Conn
	deadline := time.After(20 * time.Second)
	for leg == nil {
		select {
		case <-exited:
			t.Fatal("freeDiameterd exited")
		case <-deadline:
			t.Fatal("freeDiameterd never connected to the HSS")
		case <-time.After(50 * time.Millisecond):
			leg = hss.Conn("relay.example.net")
		}
	}
	assert.True(t, leg.Peer().Relay, "freeDiameterd advertises the relay application")

	// The I-CSCF dials the relay over TLS (RFC 6733 TLS/TCP on SecPort).
	peer, err := diameter.NewPeer(fmt.Sprintf("127.0.0.1:%d", secPort), diameter.PeerConfig{
		Config: diameter.Config{
			OriginHost: "icscf.example.net", OriginRealm: "example.net", Apps: []diameter.App{cx.App()},
			WatchdogInterval: time.Second, RequestTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
			TLS: &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{clientCert}, ServerName: "relay.example.net", MinVersion: tls.VersionTLS12},
		},
		ExpectedHost: "relay.example.net",
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = peer.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, peer.WaitOpen(ctx))

	client, err := cx.NewClient(peer, cx.Config{OriginHost: "icscf.example.net", DestinationRealm: "ims.example.com"})
	require.NoError(t, err)
	uaa, err := client.UAR(ctx, &cx.UAR{UserName: "alice@ims.example.com", PublicIdentity: "sip:alice@ims.example.com", VisitedNetworkID: "example.net"})
	require.NoError(t, err)
	assert.Equal(t, cx.Experimental(cx.FirstRegistration), uaa.Result)
	assert.Equal(t, "sip:scscf.ims.example.com", uaa.ServerName)

	// A realm nobody serves is refused by the relay, not by us.
	other, err := cx.NewClient(peer, cx.Config{OriginHost: "icscf.example.net", DestinationRealm: "nowhere.example.org"})
	require.NoError(t, err)
	uaa, err = other.UAR(ctx, &cx.UAR{UserName: "bob@nowhere.example.org", PublicIdentity: "sip:bob@nowhere.example.org"})
	require.NoError(t, err)
	assert.False(t, uaa.Result.Success())

	// Watchdog: we send DWR to the relay on the client leg; the relay sends
	// DWR to us on the HSS leg (after its Tw of 6 s ± 2 s of silence).
	require.Eventually(t, func() bool {
		return peer.Conn() != nil && peer.Conn().Watchdog().DWAReceived >= 2 && leg.Watchdog().DWRReceived >= 1
	}, 15*time.Second, 100*time.Millisecond, "client leg %+v, HSS leg %+v", peer.Conn().Watchdog(), leg.Watchdog())
	assert.Equal(t, diameter.StateOkay, peer.State())
	assert.Equal(t, diameter.StateOkay, leg.State())
}
