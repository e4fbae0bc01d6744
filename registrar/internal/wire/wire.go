// Package wire is the JSON form of a registrar.Binding that the Redis and
// PostgreSQL backends store: short field names, times in Unix nanoseconds
// (exact), the AoR left out (it is the key).
package wire

import (
	"net/netip"
	"time"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/transport"
)

// Binding is one stored binding.
type Binding struct {
	Key          string   `json:"k,omitempty"` // omitted when it equals URIKey
	URIKey       string   `json:"u"`
	Contact      string   `json:"c"`
	Instance     string   `json:"i,omitempty"`
	RegID        uint32   `json:"r,omitempty"`
	CallID       string   `json:"ci"`
	CSeq         uint32   `json:"cs"`
	Expires      int64    `json:"e"`
	Updated      int64    `json:"up"`
	Path         []string `json:"p,omitempty"`
	ServiceRoute []string `json:"sr,omitempty"`
	Flow         *Flow    `json:"f,omitempty"`
	Node         string   `json:"n,omitempty"`
	UserAgent    string   `json:"ua,omitempty"`
}

// Flow is a stored transport.Flow.
type Flow struct {
	Transport string         `json:"t"`
	Local     netip.AddrPort `json:"l"`
	Remote    netip.AddrPort `json:"r"`
	ConnID    uint64         `json:"id,omitempty"`
}

// From returns the stored form of b.
func From(b *registrar.Binding) Binding {
	s := Binding{URIKey: b.URIKey, Contact: b.Contact, Instance: b.Instance, RegID: b.RegID,
		CallID: b.CallID, CSeq: b.CSeq, Expires: b.Expires.UnixNano(), Updated: b.Updated.UnixNano(),
		Path: b.Path, ServiceRoute: b.ServiceRoute, Node: b.Node, UserAgent: b.UserAgent}
	if b.Key != b.URIKey {
		s.Key = b.Key
	}
	if b.Flow != (transport.Flow{}) {
		s.Flow = &Flow{Transport: b.Flow.Transport, Local: b.Flow.Local, Remote: b.Flow.Remote, ConnID: b.Flow.ConnID}
	}
	return s
}

// Binding returns the binding of aor that s stores.
func (s *Binding) Binding(aor string) registrar.Binding {
	b := registrar.Binding{AoR: aor, Key: s.Key, URIKey: s.URIKey, Contact: s.Contact, Instance: s.Instance,
		RegID: s.RegID, CallID: s.CallID, CSeq: s.CSeq, Expires: time.Unix(0, s.Expires), Updated: time.Unix(0, s.Updated),
		Path: s.Path, ServiceRoute: s.ServiceRoute, Node: s.Node, UserAgent: s.UserAgent}
	if s.Key == "" {
		b.Key = s.URIKey
	}
	if s.Flow != nil {
		b.Flow = transport.Flow{Transport: s.Flow.Transport, Local: s.Flow.Local, Remote: s.Flow.Remote, ConnID: s.Flow.ConnID}
	}
	return b
}
