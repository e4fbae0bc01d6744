package sip

import "strconv"

// An EncodedWriter is a ResponseWriter that can also send a response its
// handler encoded itself, for a hot path that answers without building a
// Response (a registrar's 200 OK). WriteEncoded sends data, a complete
// response with status code code that starts as AppendResponseHead makes it
// start and carries no Server or User-Agent field; it reports false, having
// sent nothing, when this writer cannot send it so (a Rewriter that needs the
// message, a transaction that keeps its response for retransmission), and
// the caller then uses WriteResponse. data is not kept after it returns.
// Once it has sent a final response, WriteEncoded returns ErrFinalSent.
type EncodedWriter interface {
	ResponseWriter
	WriteEncoded(code int, data []byte) (bool, error)
}

// AppendResponseHead appends to b the start of the response to req that
// NewResponse(req, code, reason) builds, encoded as AppendMessage encodes
// it: the status line, then the request's Via, From, To (with ToTag(req)
// added but for a 100), Call-ID and CSeq fields, each ending in CRLF. The
// caller appends its own fields, Content-Length and the blank line. It
// reports false when the response would carry more than those (a 100 echoing
// Timestamp, a dialog-creating 2xx its Record-Route) or when one of them
// did not parse (a request salvaged from a parse error): NewResponse then
// builds it.
func AppendResponseHead(b []byte, req *Request, code int, reason string) ([]byte, bool) {
	if code == StatusTrying || (code < 300 && createsDialog(req.Method)) {
		return b, false
	}
	if reason == "" {
		reason = StatusText(code)
	}
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	b = append(b, "\r\n"...)
	for h, tag := range copiedFields(req, code) {
		switch h.(type) {
		case *ViaHeader, *FromHeader, *ToHeader, *CallIDHeader, *CSeqHeader:
		default:
			return b, false
		}
		b = appendHeader(b, h)
		if tag {
			b = append(b, ";tag="...)
			b = appendToTag(b, req)
		}
		b = append(b, "\r\n"...)
	}
	return b, true
}
