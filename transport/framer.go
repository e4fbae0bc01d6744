package transport

import (
	"bytes"
	"errors"
)

// frameKind is what the stream framer found.
type frameKind int

const (
	frameNone    frameKind = iota // need more bytes
	frameMessage                  // a complete SIP message
	framePing                     // CRLFCRLF keepalive ping (RFC 5626 §4.4.1)
	framePong                     // CRLF keepalive pong
)

var (
	errGarbage         = errors.New("transport: stream does not carry SIP")
	errNoContentLength = errors.New("transport: stream message without Content-Length")
	errHeaderTooLarge  = errors.New("transport: header section too large")
)

// framer cuts SIP messages out of a byte stream by RFC 3261 §18.3: the header
// section ends at the first empty line and Content-Length gives the body size.
// Bytes that cannot be the start of a SIP message are an error: the caller
// closes the connection, since a stream cannot be resynchronised.
type framer struct {
	buf       []byte
	start     int
	maxHeader int
	maxMsg    int
	// halfPing is set after a lone CRLF ended the buffer: it was reported as a
	// pong, but if another CRLF follows at once the pair was a ping split
	// across reads, and the ping must still be answered.
	halfPing bool
}

func newFramer(maxHeader, maxMsg int) *framer {
	return &framer{maxHeader: maxHeader, maxMsg: maxMsg}
}

// feed appends p to the framer's buffer. Frames returned by next before the
// call must not be used after it.
func (f *framer) feed(p []byte) {
	if f.start > 0 && f.start == len(f.buf) {
		f.buf, f.start = f.buf[:0], 0
	} else if f.start > 0 && (f.start > len(f.buf)/2 || len(f.buf)+len(p) > cap(f.buf)) {
		n := copy(f.buf, f.buf[f.start:])
		f.buf, f.start = f.buf[:n], 0
	}
	f.buf = append(f.buf, p...)
}

// buffered returns the number of unconsumed bytes.
func (f *framer) buffered() int { return len(f.buf) - f.start }

// next returns the next complete unit in the buffer.
func (f *framer) next() (frameKind, []byte, error) {
	data := f.buf[f.start:]
	if len(data) == 0 {
		return frameNone, nil, nil
	}
	half := f.halfPing
	f.halfPing = false
	if data[0] == '\r' || data[0] == '\n' {
		switch {
		case half && bytes.HasPrefix(data, []byte("\r\n")):
			f.start += 2
			return framePing, nil, nil
		case bytes.HasPrefix(data, []byte("\r\n\r\n")):
			f.start += 4
			return framePing, nil, nil
		case len(data) < 4 && bytes.HasPrefix([]byte("\r\n\r\n"), data):
			if len(data) == 2 {
				f.start += 2
				f.halfPing = true
				return framePong, nil, nil
			}
			f.halfPing = half
			return frameNone, nil, nil
		case bytes.HasPrefix(data, []byte("\r\n")):
			f.start += 2
			return framePong, nil, nil
		default:
			return frameNone, nil, errGarbage
		}
	}
	// The start line must look like SIP as soon as it is complete, so that
	// HTTP probes, TLS on a plain port and binary junk are refused at once.
	eol := bytes.Index(data, []byte("\r\n"))
	if eol < 0 {
		if len(data) > f.maxHeader || !plausibleStart(data) {
			return frameNone, nil, errGarbage
		}
		return frameNone, nil, nil
	}
	if !sipStartLine(data[:eol]) {
		return frameNone, nil, errGarbage
	}
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		if len(data) > f.maxHeader {
			return frameNone, nil, errHeaderTooLarge
		}
		return frameNone, nil, nil
	}
	hdrLen := end + 4
	if hdrLen > f.maxHeader {
		return frameNone, nil, errHeaderTooLarge
	}
	cl, ok := contentLength(data[:hdrLen])
	if !ok {
		return frameNone, nil, errNoContentLength
	}
	if cl > f.maxMsg-hdrLen {
		return frameNone, nil, ErrMessageTooLarge
	}
	total := hdrLen + cl
	if len(data) < total {
		return frameNone, nil, nil
	}
	f.start += total
	return frameMessage, data[:total:total], nil
}

// plausibleStart reports whether a start line still being received can
// become one sipStartLine accepts: "SIP/..." or a method token and a space.
func plausibleStart(b []byte) bool {
	if bytes.HasPrefix(b, []byte("SIP/")) || bytes.HasPrefix([]byte("SIP/"), b) {
		return true
	}
	for i, c := range b {
		if c == ' ' {
			return i > 0
		}
		if c == '\r' && i == len(b)-1 {
			return true // the CR of a CRLF still to come
		}
		if !tokenByte(c) {
			return false
		}
	}
	return true
}

// sipStartLine reports whether line is a request line ending in SIP/x.y or a
// status line starting with SIP/.
func sipStartLine(line []byte) bool {
	if bytes.HasPrefix(line, []byte("SIP/")) {
		return true
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	for _, c := range line[:sp] {
		if !tokenByte(c) {
			return false
		}
	}
	last := bytes.LastIndexByte(line, ' ')
	return last > sp && bytes.HasPrefix(line[last+1:], []byte("SIP/"))
}

func tokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

// contentLength finds the Content-Length (or compact l) header in a header
// section and returns its value.
func contentLength(hdr []byte) (int, bool) {
	for i := 0; i < len(hdr); {
		eol := bytes.Index(hdr[i:], []byte("\r\n"))
		if eol < 0 {
			return 0, false
		}
		line := hdr[i : i+eol]
		i += eol + 2
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		if !bytes.EqualFold(name, []byte("content-length")) && !bytes.EqualFold(name, []byte("l")) {
			continue
		}
		v := bytes.Trim(line[colon+1:], " \t")
		if len(v) == 0 || len(v) > 9 {
			return 0, false
		}
		n := 0
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	return 0, false
}
