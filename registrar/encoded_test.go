package registrar_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// encodedRecorder is a ResponseWriter that takes encoded responses, as a
// stateless transaction's does.
type encodedRecorder struct {
	*siptest.Recorder
	data  [][]byte
	codes []int
}

func (w *encodedRecorder) WriteEncoded(code int, data []byte) (bool, error) {
	w.data = append(w.data, append([]byte(nil), data...))
	w.codes = append(w.codes, code)
	return true, nil
}

// sortedLines returns the start line and the sorted header lines of an
// encoded message without a body.
func sortedLines(t *testing.T, b []byte) (string, []string) {
	t.Helper()
	s, ok := strings.CutSuffix(string(b), "\r\n\r\n")
	if !ok {
		t.Fatalf("no blank line ending %q", b)
	}
	lines := strings.Split(s, "\r\n")
	fields := slices.Clone(lines[1:])
	for i, f := range fields {
		// A temporary GRUU is fresh in every 200 OK (RFC 5627 §3.2).
		if a, rest, ok := strings.Cut(f, `temp-gruu="`); ok {
			_, rest, _ = strings.Cut(rest, `"`)
			fields[i] = a + `temp-gruu="…"` + rest
		}
	}
	slices.Sort(fields)
	return lines[0], fields
}

// The 200 OK a REGISTER gets through a writer that takes encoded responses
// has the same fields as the Response the Registrar builds otherwise: the
// copied Via, From, To (tagged), Call-ID and CSeq, each Contact with its
// expires and GRUUs, Date, Path, Service-Route, Require: outbound and
// Supported. Refusals still go through WriteResponse.
func TestEncodedOKMatchesResponse(t *testing.T) {
	sr, _ := sip.ParseNameAddr("<sip:orig@scscf.example.com;lr>")
	cfg := registrar.Config{Secret: []byte("gruu secret"), ServiceRoute: func(ctx context.Context, aor string) []sip.NameAddr {
		return []sip.NameAddr{sr}
	}}
	model, encoded := newEnv(t, cfg), newEnv(t, cfg)
	encoded.clock = model.clock // one clock: the same Date and lifetimes
	encoded.reg = encoded.newRegistrar(cfg)
	path := "Path: <sip:edge@edge.example.com;lr;ob>"
	reqs := []*sip.Request{
		newReg("alice", "c1", 1, "Contact: <sip:alice@192.0.2.10:5070>;expires=600;+sip.ice"),
		newReg("alice", "c2", 1, "Contact: \"Alice\" <sip:alice@192.0.2.11>;q=0.5", "Expires: 300"),
		newReg("bob", "c3", 1, "Contact: <sip:bob@192.0.2.12;transport=tcp;ob>;"+inst+";reg-id=1",
			path, "Supported: path, outbound, gruu"),
		newReg("alice", "c4", 1), // a query
	}
	for i, req := range reqs {
		want := serveWith(t, model.reg, req, tcpFlow(uint64(i+1)))
		w := &encodedRecorder{Recorder: siptest.NewRecorder()}
		encoded.reg.ServeSIP(transport.NewContext(context.Background(), tcpFlow(uint64(i+1))), w, req)
		if len(w.data) != 1 || w.codes[0] != 200 || w.Final() != nil {
			t.Fatalf("request %d: %d encoded responses (codes %v), final %v", i, len(w.data), w.codes, w.Final())
		}
		wantStart, wantFields := sortedLines(t, sip.AppendMessage(nil, want))
		gotStart, gotFields := sortedLines(t, w.data[0])
		if gotStart != wantStart || !slices.Equal(gotFields, wantFields) {
			t.Fatalf("request %d:\nencoded %s\n%s\nResponse %s\n%s", i, gotStart, strings.Join(gotFields, "\n"),
				wantStart, strings.Join(wantFields, "\n"))
		}
		model.advance(7e9)
	}
	// A refusal is not encoded here.
	w := &encodedRecorder{Recorder: siptest.NewRecorder()}
	encoded.reg.ServeSIP(context.Background(), w, newReg("carol", "c5", 1, "Contact: <sip:carol@192.0.2.13>;expires=1"))
	if len(w.data) != 0 || w.Final() == nil || w.Final().StatusCode != 423 {
		t.Fatalf("a 423 went %d encoded, final %v", len(w.data), w.Final())
	}
}
