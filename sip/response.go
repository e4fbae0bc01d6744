package sip

import (
	"encoding/hex"
	"hash/fnv"

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
	for _, h := range req.Headers() {
		if v, ok := h.(*ViaHeader); ok {
			res.AppendHeader(v.Clone())
		}
	}
	if h := req.From(); h != nil {
		res.AppendHeader(sipgo.HeaderClone(h))
	}
	if h := req.To(); h != nil {
		to := sipgo.HeaderClone(h).(*ToHeader)
		if code != StatusTrying && !to.Params.Has("tag") {
			if to.Params == nil {
				to.Params = sipgo.NewParams()
			}
			to.Params.Add("tag", ToTag(req))
		}
		res.AppendHeader(to)
	}
	if h := req.CallID(); h != nil {
		res.AppendHeader(h)
	}
	if h := req.CSeq(); h != nil {
		res.AppendHeader(&CSeqHeader{SeqNo: h.SeqNo, MethodName: h.MethodName})
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
