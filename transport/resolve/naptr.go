package resolve

import (
	"slices"

	"github.com/siphon-go/siphon/transport"
)

// naptrRR is a NAPTR record (RFC 3403), with its character-strings
// unescaped, flags in lower case and the service in upper case.
type naptrRR struct {
	order, preference      uint16
	flags, service, regexp string
	replacement            string // lower-case FQDN, "." for none
}

// sortNAPTR sorts records by order, then preference (RFC 3403 §4.1), both
// ascending.
func sortNAPTR(rs []naptrRR) {
	slices.SortStableFunc(rs, func(a, b naptrRR) int {
		if a.order != b.order {
			return int(a.order) - int(b.order)
		}
		return int(a.preference) - int(b.preference)
	})
}

// naptrTransport maps a NAPTR service of RFC 3263 §4.1 (and RFC 4168 for
// SCTP, RFC 7118 for WebSocket) to a transport, or "" for one that is not
// SIP or, for a sips URI, not secure.
func naptrTransport(service string, secure bool) string {
	var tp string
	switch service {
	case "SIP+D2U":
		tp = transport.UDP
	case "SIP+D2T":
		tp = transport.TCP
	case "SIPS+D2T":
		tp = transport.TLS
	case "SIP+D2S":
		tp = transport.SCTP
	case "SIP+D2W":
		tp = transport.WS
	case "SIPS+D2W":
		tp = transport.WSS
	default:
		return "" // including SIPS+D2S: TLS over SCTP is not a transport here
	}
	if secure && !transport.IsSecure(tp) {
		return ""
	}
	return tp
}
