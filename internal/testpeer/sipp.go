package testpeer

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SIPpResult holds the cumulative counters of a SIPp run, read from its
// statistics file.
type SIPpResult struct {
	Successful, Failed, Unexpected, Retransmissions int
	// Stats is every cumulative counter by SIPp's column name.
	Stats map[string]string
	// Output is what SIPp printed.
	Output string
}

// SIPp runs the sipp binary with args (plus its statistics options), bounded
// by timeout, and returns its counters. It skips or fails the test as Binary
// does when sipp is missing. SIPp's own exit status is returned as err for
// runs with failed calls; the counters are filled in either way.
func SIPp(t testing.TB, timeout time.Duration, args ...string) (SIPpResult, error) {
	t.Helper()
	bin := Binary(t, "sipp", "sipp")
	dir := t.TempDir()
	stat := filepath.Join(dir, "stat.csv")
	full := append([]string{"-nostdin", "-trace_stat", "-stf", stat, "-fd", "1",
		"-timeout", strconv.Itoa(int(timeout.Seconds())) + "s"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = dir
	out, runErr := cmd.CombinedOutput()
	res := SIPpResult{Output: string(out)}
	f, err := os.Open(stat)
	if err != nil {
		return res, fmt.Errorf("testpeer: sipp wrote no statistics (%v): %w\n%s", runErr, err, tail(out))
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	var header, last []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("testpeer: sipp statistics: %w", err)
		}
		if header == nil {
			header = rec
			continue
		}
		last = rec
	}
	res.Stats = map[string]string{}
	for i, h := range header {
		if i < len(last) {
			res.Stats[h] = last[i]
		}
	}
	num := func(k string) int { n, _ := strconv.Atoi(res.Stats[k]); return n }
	res.Successful = num("SuccessfulCall(C)")
	res.Failed = num("FailedCall(C)")
	res.Unexpected = num("FailedUnexpectedMessage(C)")
	res.Retransmissions = num("Retransmissions(C)")
	if runErr != nil {
		return res, fmt.Errorf("testpeer: sipp: %w\n%s", runErr, tail(out))
	}
	return res, nil
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return strings.TrimSpace(s)
}

// FreePort returns a port on 127.0.0.1 that was free for both UDP and TCP a
// moment ago, for peers that must be told their port.
func FreePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("testpeer: no free port")
	return 0
}

// WaitBound waits until something has bound port on 127.0.0.1 for network
// ("udp" or "tcp"): a started peer is listening.
func WaitBound(t testing.TB, network string, port int, timeout time.Duration) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var err error
		if network == "udp" {
			var pc net.PacketConn
			pc, err = net.ListenPacket("udp", addr)
			if err == nil {
				pc.Close()
			}
		} else {
			var ln net.Listener
			ln, err = net.Listen("tcp", addr)
			if err == nil {
				ln.Close()
			}
		}
		if err != nil {
			return // taken: the peer has it
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testpeer: nothing bound %s %s within %v", network, addr, timeout)
}
