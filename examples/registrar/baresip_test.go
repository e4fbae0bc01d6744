package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/internal/testpeer"
)

// baresip is one headless baresip user agent driven over its ctrl_tcp
// module (netstring-framed JSON commands and events).
type baresip struct {
	t      *testing.T
	name   string
	out    *bytes.Buffer
	mu     sync.Mutex
	conn   net.Conn
	events chan map[string]any
}

// silence writes a WAV file of 8 kHz mono silence for baresip's aufile
// source: no sound device is needed.
func silence(t *testing.T, path string, seconds int) {
	t.Helper()
	samples := 8000 * seconds
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*samples))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1)) // PCM
	w(uint16(1)) // mono
	w(uint32(8000))
	w(uint32(16000))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * samples))
	b.Write(make([]byte, 2*samples))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
}

// startBaresip runs baresip for user against the registrar at server.
func startBaresip(t *testing.T, bin, user, server, accountParams string) *baresip {
	t.Helper()
	dir := t.TempDir()
	wav := filepath.Join(dir, "silence.wav")
	silence(t, wav, 60)
	sipPort := testpeer.FreePort(t)
	ctrlPort := testpeer.FreePort(t)
	config := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
audio_player aufile,%s
audio_source aufile,%s
audio_alert aufile,%s
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:%d
rtp_ports 30000-39999
`, sipPort, filepath.Join(dir, "play.wav"), wav, filepath.Join(dir, "alert.wav"), ctrlPort)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600))
	account := fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;regint=60%s\n", user, server, user, accountParams)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-f", dir)
	b := &baresip{t: t, name: user, out: &bytes.Buffer{}, events: make(chan map[string]any, 64)}
	cmd.Stdout, cmd.Stderr = b, b
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("baresip %s output:\n%s", user, b.output())
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ctrlPort))
		if err == nil {
			b.conn = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s: control port never opened: %v\n%s", user, err, b.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { _ = b.conn.Close() })
	go b.read()
	return b
}

func (b *baresip) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out.Len() < 1<<20 {
		b.out.Write(p)
	}
	return len(p), nil
}

func (b *baresip) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// read parses netstrings ("len:json,") from the control connection.
func (b *baresip) read() {
	r := bufio.NewReader(b.conn)
	for {
		head, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		body := make([]byte, n+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(body[:n], &m) == nil && m["event"] == true {
			select {
			case b.events <- m:
			default:
			}
		}
	}
}

// command sends a ctrl_tcp command.
func (b *baresip) command(cmd, params string) {
	b.t.Helper()
	msg, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	require.NoError(b.t, err)
	_, err = fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg)
	require.NoError(b.t, err)
}

// await waits for an event of the given type.
func (b *baresip) await(typ string) map[string]any {
	b.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev := <-b.events:
			if ev["type"] == typ {
				return ev
			}
		case <-timeout:
			b.t.Fatalf("baresip %s: no %s event within 15 s", b.name, typ)
		}
	}
}

// TestBaresipCallThroughRegistrar: two real user agents register with
// digest authentication; alice calls bob, who answers automatically; the
// call is established and alice's hang-up (BYE) ends it at bob.
func TestBaresipCallThroughRegistrar(t *testing.T) {
	bin := testpeer.Binary(t, "baresip", "baresip")
	s := startServer(t, nil)
	server := s.Addr().String()
	bob := startBaresip(t, bin, "bob", server, ";answermode=auto")
	alice := startBaresip(t, bin, "alice", server, "")
	// They register as they start, usually before the control connection
	// is up to report it: watch the registrar instead.
	require.Eventually(t, func() bool {
		return len(bindings(t, s, "bob")) == 1 && len(bindings(t, s, "alice")) == 1
	}, 15*time.Second, 20*time.Millisecond)

	alice.command("dial", "sip:bob@"+server)
	bob.await("CALL_ESTABLISHED")
	alice.await("CALL_ESTABLISHED")
	time.Sleep(500 * time.Millisecond)
	alice.command("hangup", "")
	bob.await("CALL_CLOSED")
	alice.await("CALL_CLOSED")
}
