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
