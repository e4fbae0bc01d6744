package transport

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

const frameMsg = "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 5\r\n\r\nhello"

type unit struct {
	kind frameKind
	data string
}

// frames runs the framer over stream fed in chunks of the given sizes.
func frames(stream []byte, chunks []int, maxHeader, maxMsg int) ([]unit, error) {
	f := newFramer(maxHeader, maxMsg)
	var out []unit
	i := 0
	for ci := 0; i < len(stream); ci++ {
		n := len(stream) - i
		if len(chunks) > 0 {
			n = max(1, min(n, chunks[ci%len(chunks)]))
		}
		f.feed(stream[i : i+n])
		i += n
		for {
			kind, frame, err := f.next()
			if err != nil {
				return out, err
			}
			if kind == frameNone {
				break
			}
			if kind == framePing && len(out) > 0 && out[len(out)-1].kind == framePong {
				// A ping split across reads shows as a pong, then the ping.
				out = out[:len(out)-1]
			}
			out = append(out, unit{kind, string(frame)})
		}
	}
	return out, nil
}

func TestFramer(t *testing.T) {
	stream := []byte("\r\n\r\n" + frameMsg + frameMsg + "\r\n" + frameMsg)
	want := []unit{{framePing, ""}, {frameMessage, frameMsg}, {frameMessage, frameMsg}, {framePong, ""}, {frameMessage, frameMsg}}
	for _, chunks := range [][]int{nil, {1}, {3, 7}, {100}} {
		got, err := frames(stream, chunks, 1024, 4096)
		require.NoError(t, err, chunks)
		require.Equal(t, want, got, chunks)
	}
	for _, tc := range []struct {
		in  string
		err error
	}{
		{"GET / HTTP/1.1\r\n\r\n", errGarbage},
		{"\x16\x03\x01\x00", errGarbage},
		{"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", errNoContentLength},
		{"OPTIONS sip:a@b SIP/2.0\r\nl: 99999\r\n\r\n", ErrMessageTooLarge},
		{"OPTIONS sip:a@b SIP/2.0\r\nX: " + string(bytes.Repeat([]byte("a"), 2000)), errHeaderTooLarge},
		{"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n", errNoContentLength},
	} {
		_, err := frames([]byte(tc.in), nil, 1024, 4096)
		require.ErrorIs(t, err, tc.err, "%q", tc.in)
	}
	// A message larger than the limit is refused before its body arrives.
	_, err := frames([]byte(fmt.Sprintf("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: %d\r\n\r\n", 5000)), nil, 1024, 4096)
	require.ErrorIs(t, err, ErrMessageTooLarge)
}

// FuzzFramer checks that framing never panics, never returns a frame over
// the limit, and gives the same units however the stream is split.
func FuzzFramer(f *testing.F) {
	f.Add([]byte(frameMsg+frameMsg), uint8(3))
	f.Add([]byte("\r\n\r\n\r\n"+frameMsg), uint8(1))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nl:0\r\n\r\nSIP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), uint8(5))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole, errWhole := frames(stream, nil, 512, 2048)
		split, errSplit := frames(stream, []int{int(chunk%16) + 1}, 512, 2048)
		for _, u := range whole {
			if len(u.data) > 2048 {
				t.Fatalf("frame of %d bytes over the limit", len(u.data))
			}
		}
		if (errWhole == nil) != (errSplit == nil) && errWhole == nil {
			// Splitting can only reveal an error sooner, never invent frames.
			t.Fatalf("split stream failed (%v) where whole did not", errSplit)
		}
		n := min(len(whole), len(split))
		for i := 0; i < n; i++ {
			if whole[i] != split[i] {
				t.Fatalf("unit %d differs: %+v vs %+v", i, whole[i], split[i])
			}
		}
	})
}
