package topohide

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCipherRoundTripDeterministicAuthenticated(t *testing.T) {
	_, err := NewCipher(make([]byte, 10))
	require.Error(t, err)
	c, err := NewCipher(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	plain := []byte("vSIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1")
	tok, err := c.Seal(plain)
	require.NoError(t, err)
	require.NotContains(t, tok, "10.0.0.2")
	again, _ := c.Seal(plain)
	require.Equal(t, tok, again, "Seal must be deterministic")
	got, err := c.Open(tok)
	require.NoError(t, err)
	require.Equal(t, plain, got)
	other, _ := c.Seal([]byte("vSIP/2.0/UDP 10.0.0.3:5060"))
	require.NotEqual(t, tok, other)

	// Another instance with the same key opens it; another key does not.
	c2, _ := NewCipher(bytes.Repeat([]byte{7}, 32))
	got, err = c2.Open(tok)
	require.NoError(t, err)
	require.Equal(t, plain, got)
	c3, _ := NewCipher(bytes.Repeat([]byte{8}, 32))
	_, err = c3.Open(tok)
	require.ErrorIs(t, err, ErrBadToken)

	// Tampering, truncation and junk are refused.
	b := []byte(tok)
	b[len(b)/2] ^= 1
	if b[len(b)/2] == '.' || b[len(b)/2] == '/' {
		b[len(b)/2] = 'A'
	}
	for _, bad := range []string{string(b), tok[:10], "", "not base64!", "AAAA"} {
		_, err = c.Open(bad)
		require.ErrorIs(t, err, ErrBadToken, bad)
	}
}

func TestStoreRoundTripExpiryAndBound(t *testing.T) {
	now := time.Unix(1e9, 0)
	s := NewStore(StoreConfig{MaxEntries: 4, TTL: time.Hour, Now: func() time.Time { return now }})
	tok, err := s.Seal([]byte("rsip:10.0.0.3;lr"))
	require.NoError(t, err)
	require.Len(t, tok, 20)
	again, _ := s.Seal([]byte("rsip:10.0.0.3;lr"))
	require.Equal(t, tok, again)
	require.Equal(t, 1, s.Len())
	got, err := s.Open(tok)
	require.NoError(t, err)
	require.Equal(t, "rsip:10.0.0.3;lr", string(got))
	_, err = s.Open("AAAAAAAAAAAAAAAAAAAA")
	require.ErrorIs(t, err, ErrBadToken)

	// Used within TTL it stays; idle for a TTL it is gone.
	now = now.Add(40 * time.Minute)
	_, err = s.Open(tok)
	require.NoError(t, err)
	now = now.Add(40 * time.Minute)
	_, err = s.Open(tok)
	require.NoError(t, err)
	now = now.Add(61 * time.Minute)
	_, err = s.Open(tok)
	require.ErrorIs(t, err, ErrBadToken)
	require.Zero(t, s.Len())

	// Never more than MaxEntries, however many are sealed.
	for i := range 100 {
		_, _ = s.Seal([]byte{byte(i)})
		require.LessOrEqual(t, s.Len(), 4)
	}
	require.NotZero(t, s.Dropped())
	// The most recent survive.
	tok, _ = s.Seal([]byte{99})
	_, err = s.Open(tok)
	require.NoError(t, err)
}

func BenchmarkCipher(b *testing.B) {
	c, _ := NewCipher(make([]byte, 32))
	plain := []byte("vSIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK776asdhds;rport=5060;received=10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		tok, _ := c.Seal(plain)
		if _, err := c.Open(tok); err != nil {
			b.Fatal(err)
		}
	}
}
