package testpeer

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables naming servers that `make test` started
// (scripts/services.sh).
const (
	EnvRedisURL    = "SIPHON_REDIS_URL"
	EnvPostgresURL = "SIPHON_POSTGRES_URL"
)

// Redis returns the URL of a Redis server for the test: the one in
// SIPHON_REDIS_URL, or else one started for this test from the redis-server
// binary on a random loopback port and stopped when the test ends. Without
// either the test is skipped, or failed when SIPHON_PEERS lists "redis"; a
// server named in SIPHON_REDIS_URL that does not answer fails it too.
func Redis(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvRedisURL); u != "" {
		pu, err := url.Parse(u)
		if err != nil || pingRedis(pu.Host) != nil {
			t.Fatalf("testpeer: %s=%s does not answer PING: %v", EnvRedisURL, u, err)
		}
		return u
	}
	bin := Binary(t, "redis", "redis-server")
	dir := t.TempDir()
	for range 5 {
		port := freePort(t)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", dir, "--protected-mode", "no")
		if err := cmd.Start(); err != nil {
			t.Fatalf("testpeer: starting redis-server: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if waitUp(func() error { return pingRedis(addr) }, done) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
			})
			return "redis://" + addr + "/0"
		}
		_ = cmd.Process.Kill()
		<-done // the port was taken meanwhile: try another
	}
	t.Fatal("testpeer: redis-server did not start")
	return ""
}

// pingRedis checks that a Redis server answers at addr.
func pingRedis(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Postgres returns the URL of a PostgreSQL server for the test: the one in
// SIPHON_POSTGRES_URL, or else a cluster made with initdb in a temporary
// directory and started with pg_ctl on a random loopback port (as the
// postgres user when running as root), stopped and removed when the test
// ends. Without either the test is skipped, or failed when SIPHON_PEERS
// lists "postgres"; a server named in SIPHON_POSTGRES_URL that cannot be
// reached fails it too.
func Postgres(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvPostgresURL); u != "" {
		pu, err := url.Parse(u)
		if err == nil {
			var c net.Conn
			c, err = net.DialTimeout("tcp", pu.Host, 2*time.Second)
			if err == nil {
				c.Close()
			}
		}
		if err != nil {
			t.Fatalf("testpeer: %s=%s is not reachable: %v", EnvPostgresURL, u, err)
		}
		return u
	}
	bindir := postgresBinDir()
	if bindir == "" {
		if Required("postgres") {
			t.Fatalf("testpeer: postgres is listed in %s but initdb is not installed", EnvPeers)
		}
		t.Skip("testpeer: initdb not found; skipping (run `make test` to install postgresql)")
	}
	dir, err := os.MkdirTemp("", "siphon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the cluster as postgres.
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("testpeer: running as root and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		run = func(args ...string) *exec.Cmd {
			c := exec.Command(args[0], args[1:]...)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			c.Dir = dir
			return c
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run(filepath.Join(bindir, "initdb"), "-D", data, "-U", "siphon", "--auth=trust",
		"-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("testpeer: initdb: %v\n%s", err, out)
	}
	for range 5 {
		port := freePort(t)
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, dir)
		out, err := run(filepath.Join(bindir, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"),
			"-w", "-t", "30", "start").CombinedOutput()
		if err != nil {
			continue // most likely the port was taken meanwhile
		}
		_ = out
		t.Cleanup(func() {
			_ = run(filepath.Join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
		})
		return fmt.Sprintf("postgres://siphon@127.0.0.1:%d/postgres?sslmode=disable", port)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	t.Fatalf("testpeer: pg_ctl start failed\n%s", log)
	return ""
}

// postgresBinDir finds the directory of initdb and pg_ctl: on PATH, or the
// newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH).
func postgresBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				return filepath.Dir(r)
			}
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitUp polls check for up to 10 s, giving up early if done closes.
func waitUp(check func() error, done <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if check() == nil {
			return true
		}
		select {
		case <-done:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}
