package sip

import (
	"encoding/hex"
	"hash/fnv"
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
	tagged := code == StatusTrying
	for _, h := range req.Headers() {
		switch v := h.(type) {
		case *ViaHeader:
			res.AppendHeader(v.Clone())
		case *FromHeader:
			res.AppendHeader(sipgo.HeaderClone(v))
		case *ToHeader:
			to := sipgo.HeaderClone(v).(*ToHeader)
			if !tagged && !to.Params.Has("tag") {
				if to.Params == nil {
					to.Params = sipgo.NewParams()
				}
				to.Params.Add("tag", ToTag(req))
			}
			tagged = true
			res.AppendHeader(to)
		case *CallIDHeader:
			res.AppendHeader(v)
		case *CSeqHeader:
			res.AppendHeader(&CSeqHeader{SeqNo: v.SeqNo, MethodName: v.MethodName})
		default:
			// A request salvaged from a parse error keeps these raw; echo
			// them as they came so that the sender can match the 400. A Via
			// that did not parse cannot route anything and is left out.
			switch h.Name() {
			case "From", "Call-ID", "CSeq":
				res.AppendHeader(NewHeader(h.Name(), h.Value()))
			case "To":
				val := h.Value()
				if !tagged && !strings.Contains(val, ";tag=") {
					val += ";tag=" + ToTag(req)
				}
				tagged = true
				res.AppendHeader(NewHeader("To", val))
			}
		}
	}
	switch {
	case code == StatusTrying:
		for _, h := range req.GetHeaders("Timestamp") {
			res.AppendHeader(NewHeader("Timestamp", h.Value()))
		}
	case code < 300 && createsDialog(req.Method):
		for _, h := range req.GetHeaders("Record-Route") {
			res.AppendHeader(NewHeader("Record-Route", h.Value()))
		}
	}
	res.SetBody(nil)
	return res
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
	h := fnv.New64a()
	if c := req.CallID(); c != nil {
		h.Write([]byte(*c))
	}
	if f := req.From(); f != nil {
		if t, ok := f.Params.Get("tag"); ok {
			h.Write([]byte(t))
		}
	}
	if v := req.Via(); v != nil {
		if b, ok := v.Params.Get("branch"); ok {
			h.Write([]byte(b))
		}
		h.Write([]byte(v.Host))
	}
	if c := req.CSeq(); c != nil {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(c.SeqNo>>24), byte(c.SeqNo>>16), byte(c.SeqNo>>8), byte(c.SeqNo)
		h.Write(n[:])
	}
	var sum [8]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
