// Package testpeer decides whether a test that needs a real external peer
// (SIPp, Redis, PostgreSQL, freeDiameter, ...) runs, skips or fails.
//
// A peer named in the SIPHON_PEERS environment variable (a comma-separated
// list that `make test` sets after installing the peers) must be present: its
// absence fails the test. Without that variable a missing peer skips the test
// with a message saying how to get it, so plain `go test ./...` passes on a
// machine without the peers.
package testpeer

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// EnvPeers is the environment variable listing the peers that must be present.
const EnvPeers = "SIPHON_PEERS"

// Required reports whether the environment says peer must be present.
func Required(peer string) bool {
	return slices.Contains(strings.Split(os.Getenv(EnvPeers), ","), peer)
}

// Binary returns the path of the executable bin that the peer named peer
// provides. When it is missing the test is skipped, or failed if the peer is
// listed in SIPHON_PEERS.
func Binary(t testing.TB, peer, bin string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err == nil {
		return path
	}
	if Required(peer) {
		t.Fatalf("testpeer: %s is listed in %s but %q is not on PATH: %v", peer, EnvPeers, bin, err)
	}
	t.Skipf("testpeer: %q not found; skipping (run `make test` to install %s)", bin, peer)
	return ""
}
