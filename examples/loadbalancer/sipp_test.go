package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/internal/testpeer"
)

// peer is a SIPp process serving in the background (a uas).
type peer struct {
	cmd  *exec.Cmd
	port int
	stat string
	done chan struct{}
}

// startSIPp starts SIPp in the background on a free port with args (a
// scenario and transport); it stops when the test ends at the latest.
func startSIPp(t *testing.T, mode string, args ...string) *peer {
	t.Helper()
	bin := testpeer.Binary(t, "sipp", "sipp")
	dir := t.TempDir()
	p := &peer{port: testpeer.FreePort(t), stat: filepath.Join(dir, "stat.csv"), done: make(chan struct{})}
	full := append([]string{"-nostdin", "-trace_stat", "-stf", p.stat, "-fd", "1", "-timeout", "300s",
		"-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(p.port), "-l", "20000"}, args...)
	p.cmd = exec.Command(bin, full...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, io.Discard
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	network := "udp"
	if mode == "t1" || mode == "tn" {
		network = "tcp"
	}
	testpeer.WaitBound(t, network, p.port, 10*time.Second)
	return p
}

// kill stops SIPp at once, as a crashed server would.
func (p *peer) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop ends SIPp gracefully (SIGUSR1 makes it dump its statistics and
// quit) and returns its cumulative counters.
func (p *peer) stop(t *testing.T) map[string]int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
	return p.counters(t)
}

func (p *peer) counters(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(p.stat)
	require.NoError(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.FieldsPerRecord = ';', -1
	recs, err := r.ReadAll()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(recs), 2, "SIPp wrote no statistics")
	out := map[string]int{}
	last := recs[len(recs)-1]
	for i, h := range recs[0] {
		if i < len(last) {
			out[h], _ = strconv.Atoi(last[i])
		}
	}
	return out
}

func scenario(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	return p
}

// uac runs SIPp's caller against the load balancer and returns its result.
func uac(t *testing.T, s *server, mode string, calls, rate int, args ...string) testpeer.SIPpResult {
	t.Helper()
	full := append([]string{"-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(testpeer.FreePort(t)),
		"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", "5000", "-s", "bob"}, args...)
	full = append(full, s.Addr().String())
	res, _ := testpeer.SIPp(t, 120*time.Second, full...)
	return res
}

func dstList(mode string, ps ...*peer) string {
	out := ""
	for i, p := range ps {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf("127.0.0.1:%d", p.port)
		if mode == "t1" {
			out += ";transport=tcp"
		}
	}
	return out
}

// TestSIPpCallsThroughLoadBalancer: SIPp's uac places 10,000 calls
// (INVITE, 180, 200, ACK, BYE) through the load balancer to two SIPp uas,
// over UDP and over TCP: none may fail, and both servers take their half.
// Under the race detector (make race) it places 2,000 at 200/s, which the
// instrumented proxy sustains on a busy 2-core CI box; make load runs the
// full 10,000 at 1000/s.
func TestSIPpCallsThroughLoadBalancer(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	calls, rate := 10000, 1000
	switch {
	case testing.Short():
		calls, rate = 1000, 500
	case testpeer.Race:
		calls, rate = 2000, 200
	}
	// u1-spread: new INVITEs on goroutines of their own (-spread).
	for _, name := range []string{"u1", "t1", "u1-spread"} {
		mode, spread := strings.TrimSuffix(name, "-spread"), strings.HasSuffix(name, "-spread")
		t.Run(name, func(t *testing.T) {
			a, b := startSIPp(t, mode, "-sn", "uas"), startSIPp(t, mode, "-sn", "uas")
			s := startLB(t, dstList(mode, a, b), func(o *options) { o.Spread = spread })
			res := uac(t, s, mode, calls, rate, "-sn", "uac")
			require.Equal(t, calls, res.Successful, res.Output)
			require.Zero(t, res.Failed)
			ca, cb := a.stop(t), b.stop(t)
			t.Logf("%s: uac %d ok, %d failed, %d retransmissions; uas A %d, uas B %d", name,
				res.Successful, res.Failed, res.Retransmissions, ca["SuccessfulCall(C)"], cb["SuccessfulCall(C)"])
			require.InDelta(t, calls/2, ca["SuccessfulCall(C)"], float64(calls)/20, "round robin")
			require.InDelta(t, calls/2, cb["SuccessfulCall(C)"], float64(calls)/20, "round robin")
		})
	}
}

// TestSIPpServerKilledMidRun: one of two servers dies while calls flow;
// OPTIONS probing takes it out, and calls sent to it before that fail over
// to the other after the reply timeout, so the caller sees few or no
// failures and every later call lands on the survivor.
func TestSIPpServerKilledMidRun(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	calls, rate := 6000, 500
	switch {
	case testing.Short():
		calls = 3000
	case testpeer.Race:
		calls, rate = 3000, 250
	}
	// -aa: SIPp answers the OPTIONS probes 200.
	a, b := startSIPp(t, "u1", "-sn", "uas", "-aa"), startSIPp(t, "u1", "-sn", "uas", "-aa")
	s := startLB(t, dstList("u1", a, b), func(o *options) {
		o.Probe = 200 * time.Millisecond
		o.ReplyTimeout = time.Second
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var downAt time.Time
	go func() {
		select {
		case <-time.After(3 * time.Second):
			b.kill()
			killed := time.Now()
			for ctx.Err() == nil {
				st, _ := s.disp.Destinations(group)
				for _, d := range st {
					if d.URI.Port == b.port && !d.Up {
						downAt = time.Now()
						t.Logf("server B marked down %v after it was killed", downAt.Sub(killed).Round(time.Millisecond))
						return
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		case <-ctx.Done():
		}
	}()
	// A call whose BYE went to B as it died gives up after 5 s.
	res := uac(t, s, "u1", calls, rate, "-sn", "uac", "-recv_timeout", "5000")
	cancel()
	st, err := s.disp.Destinations(group)
	require.NoError(t, err)
	for _, d := range st {
		require.Equal(t, d.URI.Port != b.port, d.Up, d.URI.String())
	}
	ca := a.stop(t)
	t.Logf("uac: %d ok, %d failed (of %d); survivor took %d", res.Successful, res.Failed, calls, ca["SuccessfulCall(C)"])
	require.False(t, downAt.IsZero(), "probing marked the dead server down")
	require.Equal(t, calls, res.Successful+res.Failed)
	// Only calls already established on B when it died can fail (their BYE
	// has nowhere to go); new calls fail over.
	require.LessOrEqual(t, res.Failed, rate/10, res.Output)
}

// TestSIPpCancelDuringRinging: the caller CANCELs while the server rings;
// the server must see the CANCEL on the INVITE's branch (its scenario
// fails the call otherwise), and its 487 is ACKed.
func TestSIPpCancelDuringRinging(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	calls := 500
	for _, mode := range []string{"u1", "t1"} {
		t.Run(mode, func(t *testing.T) {
			srv := startSIPp(t, mode, "-sf", scenario(t, "uas_cancel.xml"))
			s := startLB(t, dstList(mode, srv), nil)
			res := uac(t, s, mode, calls, 200, "-sf", scenario(t, "uac_cancel.xml"))
			require.Equal(t, calls, res.Successful, res.Output)
			require.Zero(t, res.Failed)
			c := srv.stop(t)
			require.Equal(t, calls, c["SuccessfulCall(C)"], "the server saw every CANCEL on its INVITE's branch and got every ACK")
			require.Zero(t, c["FailedCall(C)"])
		})
	}
}
