package sip

// byteSet is a set of ASCII bytes to scan strings for. strings.ContainsAny
// and IndexAny build one on every call, which showed in the parser's
// profile; these are built once and only read.
// A table of bools is read with one load per byte, faster than bits.
type byteSet [256]bool

func makeByteSet(chars string) byteSet {
	var s byteSet
	for i := 0; i < len(chars); i++ {
		s[chars[i]] = true
	}
	return s
}

func (s *byteSet) has(c byte) bool { return s[c] }

// index returns the index of the first byte of str in s, or -1.
func (s *byteSet) index(str string) int {
	for i := 0; i < len(str); i++ {
		if s.has(str[i]) {
			return i
		}
	}
	return -1
}

// in reports whether str holds a byte of s.
func (s *byteSet) in(str string) bool { return s.index(str) >= 0 }

// The sets the parser scans for.
var (
	uriForbidden      = makeByteSet("\" \t\r\n<>") // never unescaped in a URI (RFC 3261 §25.1)
	addrSpecForbidden = makeByteSet("?, \t<>\"")   // not in an addr-spec without brackets (§20)
	userinfoForbidden = makeByteSet(":@")          // not unescaped in user or password
	lws               = makeByteSet(" \t")         // linear white space within a line
	sentByEnd         = makeByteSet("; \t")        // ends a Via's sent-by
)
