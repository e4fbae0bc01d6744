package sip

import (
	"strconv"
	"strings"

	sipgo "github.com/emiago/sipgo/sip"
)

// AppendMessage appends the wire form of msg to b and returns the extended
// buffer. It writes what sipgo's String writes, without its per-header
// allocations (sipgo formats ports, URI parameters and IP checks through
// temporary strings), and writes parameter values exactly as stored.
func AppendMessage(b []byte, msg Message) []byte {
	switch m := msg.(type) {
	case *Request:
		b = append(b, m.Method...)
		b = append(b, ' ')
		b = appendURI(b, &m.Recipient)
		b = append(b, ' ')
		b = append(b, m.SipVersion...)
		b = append(b, "\r\n"...)
		b = appendHeaders(b, m.Headers())
		b = append(b, "\r\n"...)
		return append(b, m.Body()...)
	case *Response:
		b = append(b, m.SipVersion...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(m.StatusCode), 10)
		b = append(b, ' ')
		b = append(b, m.Reason...)
		b = append(b, "\r\n"...)
		b = appendHeaders(b, m.Headers())
		b = append(b, "\r\n"...)
		return append(b, m.Body()...)
	}
	return append(b, msg.String()...)
}

func appendHeaders(b []byte, hs []Header) []byte {
	for _, h := range hs {
		b = appendHeader(b, h)
		b = append(b, "\r\n"...)
	}
	return b
}

func appendHeader(b []byte, h Header) []byte {
	switch v := h.(type) {
	case *ViaHeader:
		b = append(b, "Via: "...)
		b = append(b, v.ProtocolName...)
		b = append(b, '/')
		b = append(b, v.ProtocolVersion...)
		b = append(b, '/')
		b = append(b, v.Transport...)
		b = append(b, ' ')
		b = appendHost(b, v.Host)
		if v.Port > 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(v.Port), 10)
		}
		return appendParams(b, v.Params, ';')
	case *FromHeader:
		b = append(b, "From: "...)
		return appendNameAddr(b, v.DisplayName, &v.Address, v.Params)
	case *ToHeader:
		b = append(b, "To: "...)
		return appendNameAddr(b, v.DisplayName, &v.Address, v.Params)
	case *ContactHeader:
		b = append(b, "Contact: "...)
		if v.Address.Wildcard {
			return append(b, '*')
		}
		return appendNameAddr(b, v.DisplayName, &v.Address, v.Params)
	case *CallIDHeader:
		b = append(b, "Call-ID: "...)
		return append(b, *v...)
	case *CSeqHeader:
		b = append(b, "CSeq: "...)
		b = strconv.AppendUint(b, uint64(v.SeqNo), 10)
		b = append(b, ' ')
		return append(b, v.MethodName...)
	case *MaxForwardsHeader:
		b = append(b, "Max-Forwards: "...)
		return strconv.AppendUint(b, uint64(*v), 10)
	case *ContentLengthHeader:
		b = append(b, "Content-Length: "...)
		return strconv.AppendUint(b, uint64(*v), 10)
	case *ContentTypeHeader:
		b = append(b, "Content-Type: "...)
		return append(b, *v...)
	case *sipgo.RouteHeader:
		b = append(b, "Route: <"...)
		b = appendURI(b, &v.Address)
		return append(b, '>')
	case *sipgo.RecordRouteHeader:
		b = append(b, "Record-Route: <"...)
		b = appendURI(b, &v.Address)
		return append(b, '>')
	}
	b = append(b, h.Name()...)
	b = append(b, ": "...)
	return append(b, h.Value()...)
}

func appendNameAddr(b []byte, display string, u *Uri, params HeaderParams) []byte {
	if display != "" {
		b = append(b, '"')
		b = append(b, display...)
		b = append(b, "\" "...)
	}
	b = append(b, '<')
	b = appendURI(b, u)
	b = append(b, '>')
	return appendParams(b, params, ';')
}

// AppendURI appends the text of u to b, as Uri.String writes it, without
// allocating.
func AppendURI(b []byte, u *Uri) []byte { return appendURI(b, u) }

// appendURI writes u as sipgo's Uri.String does.
func appendURI(b []byte, u *Uri) []byte {
	if u.Wildcard {
		return append(b, '*')
	}
	if u.Scheme == "" {
		b = append(b, "sip"...)
	} else {
		b = append(b, u.Scheme...)
	}
	b = append(b, ':')
	if raw := u.Raw(); raw != "" {
		return append(b, raw...)
	}
	if u.HierarhicalSlashes {
		b = append(b, "//"...)
	}
	if u.User != "" {
		b = append(b, u.User...)
		if u.Password != "" {
			b = append(b, ':')
			b = append(b, u.Password...)
		}
		b = append(b, '@')
	}
	b = appendHost(b, u.Host)
	if u.Port > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(u.Port), 10)
	}
	b = appendParams(b, u.UriParams, ';')
	if len(u.Headers) > 0 {
		b = append(b, '?')
		for i, kv := range u.Headers {
			if i > 0 {
				b = append(b, '&')
			}
			b = append(b, kv.K...)
			if kv.V != "" {
				b = append(b, '=')
				b = append(b, kv.V...)
			}
		}
	}
	return b
}

// appendHost brackets a bare IPv6 address (Via stores it without).
func appendHost(b []byte, host string) []byte {
	if strings.IndexByte(host, ':') >= 0 && (host == "" || host[0] != '[') {
		b = append(b, '[')
		b = append(b, host...)
		return append(b, ']')
	}
	return append(b, host...)
}

// appendParams writes ";k=v" for each parameter. A value is written as
// stored; one holding whitespace that is not already quoted is quoted, as
// sipgo does.
func appendParams(b []byte, params HeaderParams, sep byte) []byte {
	for _, kv := range params {
		b = append(b, sep)
		b = append(b, kv.K...)
		if kv.V == "" {
			continue
		}
		b = append(b, '=')
		if kv.V[0] != '"' && strings.ContainsAny(kv.V, " \t") {
			b = append(b, '"')
			b = append(b, kv.V...)
			b = append(b, '"')
			continue
		}
		b = append(b, kv.V...)
	}
	return b
}
