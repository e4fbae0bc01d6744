package sip

import (
	"strings"
	"testing"
)

// A byteSet finds what strings.IndexAny finds.
func TestByteSetIndexesAsIndexAny(t *testing.T) {
	const chars = "\" \t\r\n<>"
	s := makeByteSet(chars)
	for _, str := range []string{"", "sip:a@b", "sip:a b", "<sip:x>", "\xff\x80\"", "abc\r", strings.Repeat("z", 100) + ">"} {
		if got, want := s.index(str), strings.IndexAny(str, chars); got != want {
			t.Errorf("index(%q) = %d, want %d", str, got, want)
		}
	}
	for c := 0; c < 256; c++ {
		if s.has(byte(c)) != (strings.IndexByte(chars, byte(c)) >= 0) {
			t.Errorf("has(%#x) wrong", c)
		}
	}
}
