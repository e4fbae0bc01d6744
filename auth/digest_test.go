package auth

import (
	"hash/maphash"
	"testing"
)

// The worked examples of RFC 2617 §3.5 and RFC 7616 §3.9.1.
func TestDigestVectors(t *testing.T) {
	cases := []struct {
		name                             string
		alg                              Algorithm
		user, realm, pass, nonce, cnonce string
		method, uri, want                string
	}{
		{"rfc2617", MD5, "Mufasa", "testrealm@host.com", "Circle Of Life",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "0a4f113b", "GET", "/dir/index.html",
			"6629fae49393a05397450978507c4ef1"},
		{"rfc7616-md5", MD5, "Mufasa", "http-auth@example.org", "Circle of Life",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
			"GET", "/dir/index.html", "8ca523f5e9506fed4657c9700eebdbec"},
		{"rfc7616-sha256", SHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
			"GET", "/dir/index.html", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := digestInput{alg: c.alg, ha1: HA1(c.alg, c.user, c.realm, c.pass), nonce: c.nonce,
				cnonce: c.cnonce, nc: "00000001", qop: "auth", method: c.method, uri: c.uri}
			if got := in.response(); got != c.want {
				t.Fatalf("response = %s, want %s", got, c.want)
			}
		})
	}
}

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{"": MD5, "md5": MD5, "SHA-256": SHA256, "sha-256-SESS": SHA256Sess, "MD5-sess": MD5Sess} {
		if got, ok := ParseAlgorithm(in); !ok || got != want {
			t.Errorf("ParseAlgorithm(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := ParseAlgorithm("SHA-512-256"); ok {
		t.Error("SHA-512-256 accepted")
	}
}

func TestCounterWindow(t *testing.T) {
	c := newCounter(16 * 4)
	use := func(nc uint32) error { return c.use("n1", 1, 1000, nc, 2) }
	for _, nc := range []uint32{1, 3, 2, 70, 10, 100} {
		if err := use(nc); err != nil {
			t.Fatalf("nc %d: %v", nc, err)
		}
	}
	for _, nc := range []uint32{1, 2, 3, 70, 100, 10, 30} { // 30 is more than 64 behind 100
		if err := use(nc); err != errReplay {
			t.Fatalf("nc %d: err = %v, want replay", nc, err)
		}
	}
	// No qop: single use.
	if err := c.use("n2", 1, 1000, 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.use("n2", 1, 1000, 0, 2); err != errReplay {
		t.Fatalf("second use without qop: %v", err)
	}
}

func TestCounterBoundedAndSafeUnderEviction(t *testing.T) {
	c := newCounter(counterShards) // one entry per shard
	for i := range 1000 {
		_ = c.use(string(rune('a'+i%26))+string(rune(i)), int64(i+1), 1<<62, 1, int64(i))
	}
	if n := c.len(); n > counterShards {
		t.Fatalf("counter holds %d nonces, limit %d", n, counterShards)
	}
	// A nonce issued before the evictions that was never seen: it may have
	// been evicted, so it is refused as stale, never accepted blindly.
	if err := c.use("old", 5, 1<<62, 1, 2000); err != errEvicted {
		t.Fatalf("old nonce: err = %v, want evicted", err)
	}
	// Expired entries leave.
	c2 := newCounter(100)
	_ = c2.use("x", 1, 10, 1, 5)
	y := "y"
	for maphash.String(c2.seed, y)%counterShards != maphash.String(c2.seed, "x")%counterShards {
		y += "y"
	}
	_ = c2.use(y, 1, 10, 1, 11)
	if n := c2.len(); n != 1 {
		t.Fatalf("after expiry %d entries, want 1", n)
	}
}
