package sip

import (
	sipgo "github.com/emiago/sipgo/sip"
)

// CloneRequest returns a deep copy of req, body included, that a proxy can
// change and send on its own. Unlike sipgo's Request.Clone it does not freeze
// the destination and transport computed from the original (so a new
// Request-URI or Route set takes effect), and the copy's Max-Forwards is its
// own (sipgo clones share it).
func CloneRequest(req *Request) *Request {
	c := req.Clone()
	c.SetDestination("")
	c.SetTransport("")
	c.Laddr = sipgo.Addr{}
	if mf := c.MaxForwards(); mf != nil {
		v := *mf
		c.ReplaceHeader(&v)
	}
	return c
}

// Retarget returns a copy of req (see CloneRequest) with its Request-URI set to
// uri, as a proxy forwards to one target of its target set (RFC 3261 §16.6
// step 2).
func Retarget(req *Request, uri Uri) *Request {
	c := CloneRequest(req)
	c.Recipient = *uri.Clone()
	return c
}

// CopyRequest returns a copy of req that shares its header values and body:
// a new header list (so headers can be added, removed and replaced on the
// copy alone), a new Request-URI, and its own Max-Forwards, which forwarding
// decrements. It is much cheaper than CloneRequest. Header values must then
// be treated as immutable, as siphon's helpers do: change a header by
// replacing it, not by editing the shared value.
func CopyRequest(req *Request) *Request {
	c := sipgo.NewRequest(req.Method, Uri{})
	c.Recipient = *req.Recipient.Clone()
	c.SipVersion = req.SipVersion
	for _, h := range req.Headers() {
		if mf, ok := h.(*MaxForwardsHeader); ok {
			v := *mf
			c.AppendHeader(&v)
			continue
		}
		c.AppendHeader(h)
	}
	if b := req.Body(); len(b) > 0 {
		// SetBody would look up Content-Length again; the header is shared.
		c.SetBody(b)
	}
	return c
}

// CopyResponse is CopyRequest for a response: a new header list sharing the
// header values and body of res.
func CopyResponse(res *Response) *Response {
	c := sipgo.NewResponse(res.StatusCode, res.Reason)
	c.SipVersion = res.SipVersion
	for _, h := range res.Headers() {
		c.AppendHeader(h)
	}
	if b := res.Body(); len(b) > 0 {
		c.SetBody(b)
	}
	return c
}

// CopyMessage returns CopyRequest or CopyResponse of msg, or nil for any
// other Message.
func CopyMessage(msg Message) Message {
	switch m := msg.(type) {
	case *Request:
		return CopyRequest(m)
	case *Response:
		return CopyResponse(m)
	}
	return nil
}
