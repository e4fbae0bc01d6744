package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/internal/testpeer"
	"github.com/siphon-go/siphon/registrar"
)

// injection writes a SIPp injection file: one user per line, with the
// [authentication] keyword in field1.
func injection(t *testing.T, lines ...[3]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "%s;[authentication username=%s password=%s]\n", l[0], l[1], l[2])
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func scenario(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	return p
}

// sipp runs SIPp against s with the scenario and injection file.
func sipp(t *testing.T, s *server, mode, scen, inf string, calls, rate int) testpeer.SIPpResult {
	t.Helper()
	res, err := testpeer.SIPp(t, 60*time.Second, "-sf", scenario(t, scen), "-inf", inf,
		"-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(testpeer.FreePort(t)),
		"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", "500", s.Addr().String())
	require.NoError(t, err, res.Output)
	return res
}

// TestSIPpRegisterWithDigest registers 2,000 users from SIPp over UDP and
// TCP, each with a 401 challenge and a digest answer: no call may fail and
// every user ends up with its binding.
func TestSIPpRegisterWithDigest(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	n := 2000
	if testing.Short() {
		n = 200
	}
	users := map[string]string{}
	lines := make([][3]string, 0, n)
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("user%05d", i)
		users[u] = "pw-" + u
		lines = append(lines, [3]string{u, u, users[u]})
	}
	inf := injection(t, lines...)
	for _, mode := range []string{"u1", "t1"} {
		t.Run(mode, func(t *testing.T) {
			s := startServer(t, func(o *options) { o.Users = auth.NewStatic(users) })
			var registered, flowFailed atomic.Int64
			cancel := s.reg.Subscribe(func(ev registrar.Event) {
				switch {
				case ev.Kind == registrar.Registered:
					registered.Add(1)
				case ev.Kind == registrar.Deregistered && ev.Reason == registrar.ReasonFlowFailed:
					flowFailed.Add(1)
				}
			})
			defer cancel()
			res := sipp(t, s, mode, "register.xml", inf, n, 500)
			require.Equal(t, n, res.Successful, res.Output)
			require.Zero(t, res.Failed)
			require.EqualValues(t, n, registered.Load())
			if mode == "u1" {
				for i := 0; i < n; i += n / 10 {
					require.Len(t, bindings(t, s, fmt.Sprintf("user%05d", i)), 1)
				}
				return
			}
			// SIPp closed its one TCP connection on exit: with liveness
			// (RFC 5626 §4.2.2) every binding made over it goes.
			require.Eventually(t, func() bool { return flowFailed.Load() == int64(n) }, 10*time.Second, 10*time.Millisecond)
			require.Empty(t, bindings(t, s, "user00000"))
		})
	}
}

// TestSIPpWrongPasswordNeverBinds: SIPp answers the challenge with a wrong
// password; the registrar refuses it (401 again) and stores nothing.
func TestSIPpWrongPasswordNeverBinds(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	s := startServer(t, nil)
	res := sipp(t, s, "u1", "register_refused.xml", injection(t, [3]string{"alice", "alice", "wrong"}), 1, 10)
	require.Equal(t, 1, res.Successful, res.Output)
	require.Empty(t, bindings(t, s, "alice"))
}

// TestSIPpAoRNotAuthUserLeavesVictimIntact: alice registers; then carol, with
// her own valid credentials, tries to register to alice's AoR: 403, and
// alice's binding is still the one alice made.
func TestSIPpAoRNotAuthUserLeavesVictimIntact(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	s := startServer(t, nil)
	res := sipp(t, s, "u1", "register.xml", injection(t, [3]string{"alice", "alice", "alice"}), 1, 10)
	require.Equal(t, 1, res.Successful, res.Output)
	before := bindings(t, s, "alice")
	require.Len(t, before, 1)

	res = sipp(t, s, "t1", "register_refused.xml", injection(t, [3]string{"alice", "carol", "carol"}), 1, 10)
	require.Equal(t, 1, res.Successful, res.Output)
	after := bindings(t, s, "alice")
	require.Len(t, after, 1)
	require.Equal(t, before[0].Contact, after[0].Contact)
	require.NotContains(t, after[0].Contact, "mallory")
}

// TestSIPpReplayAfterNonceLifetime: credentials computed from a challenge
// whose nonce has expired are refused with stale=true.
func TestSIPpReplayAfterNonceLifetime(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	s := startServer(t, func(o *options) { o.Auth = auth.Config{NonceTTL: time.Second} })
	res := sipp(t, s, "u1", "replay.xml", injection(t, [3]string{"alice", "alice", "alice"}), 1, 10)
	require.Equal(t, 1, res.Successful, res.Output)
}
