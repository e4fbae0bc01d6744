package sip

import (
	"iter"
	"strings"

	sipgo "github.com/emiago/sipgo/sip"
)

// NewResponse builds a response to req as RFC 3261 §8.2.6 requires: Via fields
// copied in order, From, Call-ID and CSeq copied, To copied with a tag added
// for every code but 100, Timestamp copied into a 100 (§8.2.6.1), and the
// Record-Route fields copied into a 101-299 answer to a dialog-creating request
// (§12.1.1). The reason phrase defaults to StatusText(code). Content-Length is
// set to 0; SetBody replaces it.
//
// The To tag comes from ToTag(req), so every response to one request carries
// the same tag (§8.2.6.2) without the caller having to remember it.
func NewResponse(req *Request, code int, reason string) *Response {
	if reason == "" {
		reason = StatusText(code)
	}
	res := sipgo.NewResponse(code, reason)
	for h, tag := range copiedFields(req, code) {
		switch v := h.(type) {
		case *ToHeader:
			if tag {
				to := &ToHeader{DisplayName: v.DisplayName, Address: v.Address,
					Params: make(HeaderParams, len(v.Params), len(v.Params)+1)}
				copy(to.Params, v.Params)
				to.Params = append(to.Params, HeaderKV{K: "tag", V: ToTag(req)})
				h = to
			}
			res.AppendHeader(h)
		case *ViaHeader, *FromHeader, *CallIDHeader, *CSeqHeader:
			// The request's values are shared, not copied: responses and
			// requests treat header values as immutable (a proxy removes
			// its Via from a response, it does not edit it).
			res.AppendHeader(h)
		default:
			// A request salvaged from a parse error keeps these raw; echo
			// them as they came so that the sender can match the 400.
			val := h.Value()
			if tag {
				val += ";tag=" + ToTag(req)
			}
			res.AppendHeader(NewHeader(h.Name(), val))
		}
	}
	switch {
	case code == StatusTrying:
		for h := range Fields(req, "Timestamp") {
			res.AppendHeader(NewHeader("Timestamp", h.Value()))
		}
	case code < 300 && createsDialog(req.Method):
		for h := range Fields(req, "Record-Route") {
			res.AppendHeader(NewHeader("Record-Route", h.Value()))
		}
	}
	cl := ContentLengthHeader(0)
	res.AppendHeader(&cl)
	return res
}

// copiedFields yields the fields a response with code copies from req, in
// order (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq, each with
// whether a tag must be added to it, true for the first To without one
// unless code is 100 (§8.2.6.2). A From, To, Call-ID or CSeq that did not
// parse comes as it is, raw; a Via that did not parse is left out, as it
// cannot route anything.
func copiedFields(req *Request, code int) iter.Seq2[Header, bool] {
	return func(yield func(Header, bool) bool) {
		tagged := code == StatusTrying
		for _, h := range req.Headers() {
			tag := false
			switch v := h.(type) {
			case *ViaHeader, *FromHeader, *CallIDHeader, *CSeqHeader:
			case *ToHeader:
				tag, tagged = !tagged && !v.Params.Has("tag"), true
			default:
				switch h.Name() {
				case "From", "Call-ID", "CSeq":
				case "To":
					tag, tagged = !tagged && !strings.Contains(h.Value(), ";tag="), true
				default:
					continue
				}
			}
			if !yield(h, tag) {
				return
			}
		}
	}
}

func createsDialog(m RequestMethod) bool {
	switch m {
	case INVITE, SUBSCRIBE, REFER, NOTIFY:
		return true
	}
	return false
}

// ToTag returns the To tag this stack puts into responses to req: a hash of the
// Call-ID, the From tag and the top Via (branch, sent-by) and CSeq, so it is
// the same for every response to one request and for its retransmissions, and
// differs between the branches of a forked request.
func ToTag(req *Request) string {
	var buf [16]byte
	return string(appendToTag(buf[:0], req))
}

// appendToTag appends ToTag(req) to b.
func appendToTag(b []byte, req *Request) []byte {
	// FNV-1a, 64 bit, inline: no hash.Hash allocation per response.
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	mix := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= 0xff // separator
		h *= prime
	}
	if c := req.CallID(); c != nil {
		mix(string(*c))
	}
	if f := req.From(); f != nil {
		t, _ := f.Params.Get("tag")
		mix(t)
	}
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		mix(b)
		mix(v.Host)
	}
	if c := req.CSeq(); c != nil {
		for i := 0; i < 4; i++ {
			h ^= uint64(byte(c.SeqNo >> (8 * i)))
			h *= prime
		}
	}
	const digits = "0123456789abcdef"
	var buf [16]byte
	for i := 15; i >= 0; i-- {
		buf[i] = digits[h&0xf]
		h >>= 4
	}
	return append(b, buf[:]...)
}
