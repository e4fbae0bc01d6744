package sip

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppendMessageMatchesSipgo writes every parseable torture message and
// a few built ones both ways.
func TestAppendMessageMatchesSipgo(t *testing.T) {
	p := NewParser(0)
	files, _ := filepath.Glob("testdata/rfc*/*.dat")
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		msg, err := p.Parse(data)
		if err != nil {
			continue
		}
		n++
		if filepath.Base(filepath.Dir(f)) == "rfc4475" {
			// sipgo writes IPv4-mapped IPv6 Via hosts without brackets
			// (RFC 5118 §4.10); elsewhere the two writers agree.
			require.Equal(t, msg.String(), string(AppendMessage(nil, msg)), f)
		}
		// What we write parses back to the same text.
		again, err := p.Parse(AppendMessage(nil, msg))
		require.NoError(t, err, f)
		require.Equal(t, string(AppendMessage(nil, msg)), string(AppendMessage(nil, again)), f)
	}
	require.Greater(t, n, 20)
	req := parseReq(t, inviteMsg)
	res := NewResponse(req, 180, "")
	require.Equal(t, res.String(), string(AppendMessage(nil, res)))
}

func BenchmarkAppendMessage(b *testing.B) {
	msg, _ := NewParser(0).Parse([]byte(inviteMsg))
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendMessage(buf[:0], msg)
	}
}

func BenchmarkSipgoString(b *testing.B) {
	msg, _ := NewParser(0).Parse([]byte(inviteMsg))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = msg.String()
	}
}

func BenchmarkParseINVITE(b *testing.B) {
	p := NewParser(0)
	data := []byte(inviteMsg)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
