package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/internal/testpeer"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/guard"
)

// The attack tests attack from 127.0.0.1 (where sipvicious and the flood
// come from) and trust 127.0.0.2 (the legitimate SIPp).
var (
	attackerIP = netip.MustParseAddr("127.0.0.1")
	trustedNet = netip.MustParsePrefix("127.0.0.2/32")
)

// countTap counts messages in from, and out to, the attacker.
type countTap struct {
	in, out atomic.Int64
	mu      sync.Mutex
	outMsgs []string
}

func (c *countTap) TapMessage(dir transport.Direction, f transport.Flow, data []byte) {
	if f.Remote.Addr().Unmap() != attackerIP {
		return
	}
	if dir == transport.In {
		c.in.Add(1)
		return
	}
	c.out.Add(1)
	c.mu.Lock()
	if len(c.outMsgs) < 50 {
		c.outMsgs = append(c.outMsgs, string(data))
	}
	c.mu.Unlock()
}

func (c *countTap) sent() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.outMsgs, "\n----\n")
}

// attackServer starts the registrar with the default guards, 127.0.0.2
// trusted, and a tap counting the attacker's traffic.
func attackServer(t *testing.T, edit func(*guard.Config)) (*server, *countTap, *atomic.Int64) {
	t.Helper()
	tap := &countTap{}
	var bannedAfter atomic.Int64
	bannedAfter.Store(-1)
	s := startServer(t, func(o *options) {
		gc := defaultGuard()
		gc.Trusted = []netip.Prefix{trustedNet}
		gc.OnBan = func(a netip.Addr, reason string, _ time.Time) {
			if a == attackerIP {
				bannedAfter.CompareAndSwap(-1, tap.in.Load())
			}
		}
		if edit != nil {
			edit(gc)
		}
		o.Guard = gc
		o.Tap = tap
	})
	return s, tap, &bannedAfter
}

// tool runs a sipvicious program against s, bounded in time.
func tool(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	bin := testpeer.Binary(t, "sipvicious", name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+cmd.Dir) // sipvicious writes its sessions under ~/.sipvicious
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func port(s *server) string { return strconv.Itoa(int(s.Addr().Port())) }

// TestSvmapGetsNoFingerprint: svmap's OPTIONS (User-Agent friendly-scanner)
// are dropped before they reach a handler, so it finds no SIP device; and
// nothing the server sends names its software.
func TestSvmapGetsNoFingerprint(t *testing.T) {
	s, tap, _ := attackServer(t, nil)
	out := tool(t, 20*time.Second, "svmap", "-p", port(s), "-t", "0.5", "127.0.0.1")
	t.Logf("svmap: %d requests in, %d responses out\n%s", tap.in.Load(), tap.out.Load(), out)
	require.NotZero(t, tap.in.Load(), "svmap sent nothing: %s", out)
	require.Zero(t, tap.out.Load(), "the server answered the scanner:\n%s", tap.sent())
	require.NotContains(t, out, "127.0.0.1:"+port(s)+" ")
	require.NotZero(t, s.guard.Stats().DroppedScanner)

	// Even with scanner blocking off, the answer names no software.
	s2, tap2, _ := attackServer(t, func(c *guard.Config) { c.ScannerUserAgents = []string{} })
	out = tool(t, 20*time.Second, "svmap", "-p", port(s2), "-t", "0.5", "127.0.0.1")
	t.Logf("svmap, scanner block off: %d in, %d out\n%s", tap2.in.Load(), tap2.out.Load(), out)
	require.NotZero(t, tap2.out.Load())
	for _, h := range []string{"Server:", "User-Agent:", "siphon"} {
		require.NotContains(t, tap2.sent(), h)
	}
}

// TestSvwarCannotTellExtensions: svwar gets nothing with the guards on; with
// scanner blocking off (a scanner that fakes its User-Agent) existing and
// missing users get the same 401, so svwar lists all or none of them.
func TestSvwarCannotTellExtensions(t *testing.T) {
	dict := filepath.Join(t.TempDir(), "users")
	names := []string{"alice", "bob", "carol", "nosuch", "mallory", "zed"}
	require.NoError(t, os.WriteFile(dict, []byte(strings.Join(names, "\n")+"\n"), 0o600))

	s, tap, _ := attackServer(t, nil)
	out := tool(t, 25*time.Second, "svwar", "-p", port(s), "-d", dict, "-m", "REGISTER", "-t", "0.5", "127.0.0.1")
	t.Logf("svwar: %d requests in, %d responses out\n%s", tap.in.Load(), tap.out.Load(), out)
	require.Zero(t, tap.out.Load())
	for _, n := range names {
		require.NotContains(t, out, "| "+n+" ")
	}

	for _, method := range []string{"REGISTER", "INVITE", "OPTIONS"} {
		s2, tap2, _ := attackServer(t, func(c *guard.Config) { c.ScannerUserAgents = []string{}; c.Threshold = -1 })
		out = tool(t, 25*time.Second, "svwar", "--force", "-p", port(s2), "-d", dict, "-m", method, "-t", "0.5", "127.0.0.1")
		found := 0
		for _, n := range names {
			if strings.Contains(out, "| "+n+" ") {
				found++
			}
		}
		t.Logf("svwar -m %s, scanner block off: %d in, %d out, %d of %d names listed\n%s", method, tap2.in.Load(), tap2.out.Load(), found, len(names), out)
		require.True(t, found == 0 || found == len(names), "svwar told users apart:\n%s", out)
	}
}

// TestSvcrackBanned: with the default guards svcrack gets no answer at all;
// with scanner blocking off it is banned after the failed-auth threshold and
// then hears nothing.
func TestSvcrackBanned(t *testing.T) {
	dict := filepath.Join(t.TempDir(), "passwords")
	var pw []string
	for i := range 200 {
		pw = append(pw, fmt.Sprintf("guess%03d", i))
	}
	require.NoError(t, os.WriteFile(dict, []byte(strings.Join(pw, "\n")+"\n"), 0o600))

	s, tap, _ := attackServer(t, nil)
	out := tool(t, 15*time.Second, "svcrack", "-p", port(s), "-u", "alice", "-d", dict, "-t", "0.3", "--maximumtime=5", "127.0.0.1")
	t.Logf("svcrack: %d requests in, %d responses out\n%s", tap.in.Load(), tap.out.Load(), tail(out))
	require.Zero(t, tap.out.Load())
	require.NotContains(t, out, "alice")

	s2, tap2, bannedAfter := attackServer(t, func(c *guard.Config) { c.ScannerUserAgents = []string{} })
	out = tool(t, 25*time.Second, "svcrack", "-p", port(s2), "-u", "alice", "-d", dict, "-t", "0.3", "--maximumtime=6", "127.0.0.1")
	t.Logf("svcrack, scanner block off: %d requests in, %d responses out, banned after %d requests; guard %+v\n%s",
		tap2.in.Load(), tap2.out.Load(), bannedAfter.Load(), s2.guard.Stats(), tail(out))
	require.True(t, s2.guard.Banned(attackerIP), "svcrack not banned")
	require.EqualValues(t, 1, s2.guard.Stats().ScoreBans)
	// One challenge and one wrong answer per guess: banned at the
	// threshold (10 wrong passwords), well before the dictionary ends.
	require.LessOrEqual(t, bannedAfter.Load(), int64(2*guard.DefaultThreshold+4))
	require.Less(t, tap2.in.Load(), int64(len(pw)))
	require.Less(t, tap2.out.Load(), int64(2*guard.DefaultThreshold+4))
}

func tail(s string) string {
	if len(s) > 1500 {
		return "…" + s[len(s)-1500:]
	}
	return s
}

// TestSIPpFloodBannedTrustedUnaffected: one SIPp floods INVITEs from
// 127.0.0.1 at 20× the rate limit while another registers 300 users from the
// trusted 127.0.0.2: the flood is banned, the registrations all succeed.
func TestSIPpFloodBannedTrustedUnaffected(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	const limit = 20
	n := 300
	users := map[string]string{}
	lines := make([][3]string, 0, n)
	for i := range n {
		u := fmt.Sprintf("user%05d", i)
		users[u] = "pw-" + u
		lines = append(lines, [3]string{u, u, users[u]})
	}
	s, tap, bannedAfter := attackServerUsers(t, limit, users)
	inf := injection(t, lines...)

	var wg sync.WaitGroup
	var flood testpeer.SIPpResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		flood, _ = testpeer.SIPp(t, 20*time.Second, "-sn", "uac", "-t", "u1", "-i", "127.0.0.1",
			"-p", strconv.Itoa(testpeer.FreePort(t)), "-m", strconv.Itoa(20*limit*5), "-r", strconv.Itoa(20*limit),
			"-l", "2000", "-recv_timeout", "3000", s.Addr().String())
	}()
	good, err := testpeer.SIPp(t, 40*time.Second, "-sf", scenario(t, "register.xml"), "-inf", inf,
		"-t", "u1", "-i", "127.0.0.2", "-p", strconv.Itoa(testpeer.FreePort(t)),
		"-m", strconv.Itoa(n), "-r", "100", "-l", "500", s.Addr().String())
	wg.Wait()
	st := s.guard.Stats()
	t.Logf("flood: %d INVITEs at %d/s (limit %d/s), %d reached the server, banned after %d, %d answered; trusted: %d ok, %d failed; guard %+v",
		20*limit*5, 20*limit, limit, tap.in.Load(), bannedAfter.Load(), tap.out.Load(), good.Successful, good.Failed, st)
	require.NoError(t, err, good.Output)
	require.Equal(t, n, good.Successful, good.Output)
	require.Zero(t, good.Failed)
	require.True(t, s.guard.Banned(attackerIP), "flood not banned")
	require.GreaterOrEqual(t, st.RateBans, uint64(1))
	require.Less(t, tap.in.Load(), int64(20*limit*5/4), "most of the flood got through: %s", flood.Output)
}

func attackServerUsers(t *testing.T, limit int, users map[string]string) (*server, *countTap, *atomic.Int64) {
	t.Helper()
	tap := &countTap{}
	var bannedAfter atomic.Int64
	bannedAfter.Store(-1)
	s := startServer(t, func(o *options) {
		o.Users = auth.NewStatic(users)
		gc := defaultGuard()
		gc.RateLimit = limit
		gc.Trusted = []netip.Prefix{trustedNet}
		gc.OnBan = func(a netip.Addr, _ string, _ time.Time) {
			if a == attackerIP {
				bannedAfter.CompareAndSwap(-1, tap.in.Load())
			}
		}
		o.Guard = gc
		o.Tap = tap
	})
	return s, tap, &bannedAfter
}

// TestNoUserEnumeration: a REGISTER with credentials for an unknown user and
// one with a wrong password for a known user get the same response (status,
// reason, header names, challenge parameters) and take the same time.
func TestNoUserEnumeration(t *testing.T) {
	s := startServer(t, func(o *options) { o.Guard = nil })
	attempt := func(user string) (*sip.Response, time.Duration) {
		c := &auth.Client{Username: user, Password: "wrong"}
		req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com",
			siptest.WithHeader("Contact", "<sip:"+user+"@192.0.2.1:5060>"))
		req.RemoveHeader("To")
		req.AppendHeader(sip.NewHeader("To", "<sip:"+user+"@example.com>"))
		rec := siptest.NewRecorder()
		s.register.ServeSIP(context.Background(), rec, req)
		ch := rec.Final()
		require.NotNil(t, ch)
		require.NoError(t, c.Authorize(req, ch))
		rec = siptest.NewRecorder()
		start := time.Now()
		s.register.ServeSIP(context.Background(), rec, req)
		return rec.Final(), time.Since(start)
	}
	shape := func(res *sip.Response) string {
		var names []string
		for _, h := range res.Headers() {
			names = append(names, h.Name())
		}
		slices.Sort(names)
		ch := res.GetHeader("WWW-Authenticate")
		params := ""
		if ch != nil {
			for _, p := range strings.Split(ch.Value(), ",") {
				k, _, _ := strings.Cut(strings.TrimSpace(p), "=")
				params += k + ";"
			}
		}
		return fmt.Sprintf("%d %s %v %s", res.StatusCode, res.Reason, names, params)
	}
	known, _ := attempt("alice")
	unknown, _ := attempt("nosuchuser")
	require.Equal(t, shape(known), shape(unknown))

	const rounds = 300
	var tk, tu []time.Duration
	for range rounds {
		_, d := attempt("alice")
		tk = append(tk, d)
		_, d = attempt("nosuchuser")
		tu = append(tu, d)
	}
	slices.Sort(tk)
	slices.Sort(tu)
	mk, mu := tk[rounds/2], tu[rounds/2]
	t.Logf("median time: known user, wrong password %v; unknown user %v", mk, mu)
	ratio := float64(mk) / float64(mu)
	require.True(t, ratio > 0.5 && ratio < 2, "timing differs: known %v unknown %v", mk, mu)
}

// TestRunGuardFlags: the flags parse and a bad value is refused.
func TestRunGuardFlags(t *testing.T) {
	n, err := parseRate("20/s")
	require.NoError(t, err)
	require.Equal(t, 20, n)
	_, err = parseRate("fast")
	require.Error(t, err)
	ps, err := parseCIDRs("10.0.0.0/8, 192.0.2.7")
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}, ps)
	_, err = parseCIDRs("nonsense")
	require.Error(t, err)
	require.Error(t, run(context.Background(), []string{"-ratelimit", "x"}, os.Stderr, nil))
}

// TestGuardStreamSignals: over TCP (an unspoofable source) garbage on the
// stream and a scanner User-Agent score against the source and ban it; the
// ban then refuses its connections at accept.
func TestGuardStreamSignals(t *testing.T) {
	dial := func(t *testing.T, s *server) *net.TCPConn {
		t.Helper()
		c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.TCPAddrFromAddrPort(s.Addr()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	t.Run("garbage", func(t *testing.T) {
		s, _, _ := attackServer(t, nil)
		for i := 0; i < 4 && !s.guard.Banned(attackerIP); i++ {
			c := dial(t, s)
			_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat("\x00\xff", 64)))
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Read(make([]byte, 512)) // until the server closes it
			_ = c.Close()
		}
		require.Eventually(t, func() bool { return s.guard.Banned(attackerIP) }, 3*time.Second, 10*time.Millisecond,
			"garbage on TCP not banned: %+v", s.guard.Stats())
	})
	t.Run("scanner", func(t *testing.T) {
		s, tap, _ := attackServer(t, nil)
		c := dial(t, s)
		la := c.LocalAddr().String()
		msg := "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP " + la + ";branch=z9hG4bK-1\r\n" +
			"From: <sip:100@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: scan-1\r\nCSeq: 1 OPTIONS\r\n" +
			"Max-Forwards: 70\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return s.guard.Banned(attackerIP) }, 3*time.Second, 10*time.Millisecond)
		require.Zero(t, tap.out.Load(), "the scanner got an answer")
		before := s.guard.Stats().DroppedBanned
		c2, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.TCPAddrFromAddrPort(s.Addr()))
		if err == nil {
			_, _ = c2.Write([]byte(msg))
			_ = c2.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c2.Read(make([]byte, 512))
			require.Zero(t, n)
			_ = c2.Close()
		}
		require.Eventually(t, func() bool { return s.guard.Stats().DroppedBanned > before }, 2*time.Second, 10*time.Millisecond)
	})
}
