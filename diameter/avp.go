package diameter

import (
	"fmt"
	"net"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// Message is a Diameter message: go-diameter's type, so that code written
// for go-diameter mixes with siphon's.
type Message = diam.Message

// AVP is one attribute-value pair of a Message (go-diameter's type).
type AVP = diam.AVP

// GroupedAVP is the payload of a Grouped AVP (go-diameter's type).
type GroupedAVP = diam.GroupedAVP

// NewAVP returns an AVP with the M bit set, and the V bit and Vendor-Id when
// vendor is not zero. Most base and 3GPP AVPs are mandatory; use NewAVPFlags
// for the ones whose M bit must not be set.
func NewAVP(code, vendor uint32, data datatype.Type) *AVP {
	return diam.NewAVP(code, avp.Mbit, vendor, data)
}

// NewAVPFlags returns an AVP with exactly the given flags (avp.Mbit,
// avp.Pbit); the V bit is added when vendor is not zero.
func NewAVPFlags(code uint32, flags uint8, vendor uint32, data datatype.Type) *AVP {
	return diam.NewAVP(code, flags, vendor, data)
}

// NewGroup returns a mandatory Grouped AVP holding children, in order.
// Groups nest: a child may itself be a group.
func NewGroup(code, vendor uint32, children ...*AVP) *AVP {
	return NewAVP(code, vendor, &diam.GroupedAVP{AVP: children})
}

// NewGroupFlags is NewGroup with explicit flags (see NewAVPFlags).
func NewGroupFlags(code uint32, flags uint8, vendor uint32, children ...*AVP) *AVP {
	return diam.NewAVP(code, flags, vendor, &diam.GroupedAVP{AVP: children})
}

// AVPs is a list of AVPs (a message body or a group's children) with typed
// accessors. Lookups look at this level only, never inside groups, so a
// Result-Code nested in Failed-AVP is not mistaken for the answer's own.
type AVPs []*AVP

// Body returns the AVPs of m.
func Body(m *Message) AVPs { return AVPs(m.AVP) }

// Find returns the first AVP with code and vendor, or nil.
func (l AVPs) Find(code, vendor uint32) *AVP {
	for _, a := range l {
		if a != nil && a.Code == code && a.VendorID == vendor {
			return a
		}
	}
	return nil
}

// All returns every AVP with code and vendor, in order.
func (l AVPs) All(code, vendor uint32) []*AVP {
	var out []*AVP
	for _, a := range l {
		if a != nil && a.Code == code && a.VendorID == vendor {
			out = append(out, a)
		}
	}
	return out
}

// String returns the first matching AVP's value as a string (UTF8String,
// OctetString, DiameterIdentity, DiameterURI), or "" when absent or of
// another type.
func (l AVPs) String(code, vendor uint32) string { return AsString(l.Find(code, vendor)) }

// Bytes returns the first matching AVP's octets, or nil.
func (l AVPs) Bytes(code, vendor uint32) []byte { return AsBytes(l.Find(code, vendor)) }

// Uint32 returns the first matching AVP's value as an unsigned integer
// (Unsigned32, Enumerated, Integer32) and whether it was present.
func (l AVPs) Uint32(code, vendor uint32) (uint32, bool) { return AsUint32(l.Find(code, vendor)) }

// Uint64 returns the first matching AVP's value for Unsigned64 or any type
// Uint32 accepts, and whether it was present.
func (l AVPs) Uint64(code, vendor uint32) (uint64, bool) { return AsUint64(l.Find(code, vendor)) }

// Time returns the first matching Time AVP's value and whether it was present.
func (l AVPs) Time(code, vendor uint32) (time.Time, bool) {
	a := l.Find(code, vendor)
	if a == nil {
		return time.Time{}, false
	}
	t, ok := a.Data.(datatype.Time)
	return time.Time(t), ok
}

// Group returns the children of the first matching Grouped AVP, or nil.
func (l AVPs) Group(code, vendor uint32) AVPs { return Children(l.Find(code, vendor)) }

// Groups returns the children of every matching Grouped AVP.
func (l AVPs) Groups(code, vendor uint32) []AVPs {
	var out []AVPs
	for _, a := range l.All(code, vendor) {
		if c := Children(a); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Children returns the children of a Grouped AVP, or nil for nil or another
// type.
func Children(a *AVP) AVPs {
	if a == nil {
		return nil
	}
	if g, ok := a.Data.(*diam.GroupedAVP); ok {
		return AVPs(g.AVP)
	}
	return nil
}

// AsString returns a string-like AVP's value, or "".
func AsString(a *AVP) string {
	if a == nil {
		return ""
	}
	switch v := a.Data.(type) {
	case datatype.UTF8String:
		return string(v)
	case datatype.OctetString:
		return string(v)
	case datatype.DiameterIdentity:
		return string(v)
	case datatype.DiameterURI:
		return string(v)
	case datatype.Unknown:
		return string(v)
	}
	return ""
}

// AsBytes returns an octet AVP's value, or nil.
func AsBytes(a *AVP) []byte {
	if a == nil {
		return nil
	}
	switch v := a.Data.(type) {
	case datatype.OctetString:
		return []byte(v)
	case datatype.UTF8String:
		return []byte(v)
	case datatype.Unknown:
		return []byte(v)
	case datatype.Address:
		return []byte(v)
	}
	return nil
}

// AsUint32 returns an integer AVP's value and whether a is such an AVP.
func AsUint32(a *AVP) (uint32, bool) {
	if a == nil {
		return 0, false
	}
	switch v := a.Data.(type) {
	case datatype.Unsigned32:
		return uint32(v), true
	case datatype.Enumerated:
		return uint32(v), true
	case datatype.Integer32:
		return uint32(v), true
	}
	return 0, false
}

// AsUint64 returns an Unsigned64 AVP's value, or what AsUint32 returns.
func AsUint64(a *AVP) (uint64, bool) {
	if a == nil {
		return 0, false
	}
	switch v := a.Data.(type) {
	case datatype.Unsigned64:
		return uint64(v), true
	case datatype.Integer64:
		return uint64(v), true
	}
	u, ok := AsUint32(a)
	return uint64(u), ok
}

// AsIP returns an Address AVP's IP, or nil.
func AsIP(a *AVP) net.IP {
	if a == nil {
		return nil
	}
	if v, ok := a.Data.(datatype.Address); ok {
		return net.IP(v)
	}
	return nil
}

// ResultCode returns an answer's Result-Code, or the Experimental-Result-Code
// and its Vendor-Id when the answer carries an Experimental-Result instead
// (RFC 6733 §7.6; 3GPP applications use it for their own codes). ok is false
// when the answer has neither.
func ResultCode(m *Message) (code, vendor uint32, ok bool) {
	body := Body(m)
	if c, ok := body.Uint32(codeResultCode, 0); ok {
		return c, 0, true
	}
	if er := body.Group(codeExperimentalResult, 0); er != nil {
		c, ok := er.Uint32(codeExperimentalResultCode, 0)
		v, _ := er.Uint32(codeVendorID, 0)
		return c, v, ok
	}
	return 0, 0, false
}

// IsSuccess reports whether code is in the 2xxx success class (RFC 6733 §7.1.2).
func IsSuccess(code uint32) bool { return code >= 2000 && code < 3000 }

// SessionID returns m's Session-Id, or "".
func SessionID(m *Message) string { return Body(m).String(codeSessionID, 0) }

// OriginHost returns m's Origin-Host, or "".
func OriginHost(m *Message) string { return Body(m).String(codeOriginHost, 0) }

// OriginRealm returns m's Origin-Realm, or "".
func OriginRealm(m *Message) string { return Body(m).String(codeOriginRealm, 0) }

// DestinationRealm returns m's Destination-Realm, or "".
func DestinationRealm(m *Message) string { return Body(m).String(codeDestinationRealm, 0) }

// DestinationHost returns m's Destination-Host, or "".
func DestinationHost(m *Message) string { return Body(m).String(codeDestinationHost, 0) }

// VendorSpecificApp returns a Vendor-Specific-Application-Id AVP for an
// authorization application (RFC 6733 §6.11).
func VendorSpecificApp(vendor, app uint32) *AVP {
	return NewGroup(codeVendorSpecificApplicationID, 0,
		NewAVP(codeVendorID, 0, datatype.Unsigned32(vendor)),
		NewAVP(codeAuthApplicationID, 0, datatype.Unsigned32(app)),
	)
}

// ExperimentalResult returns an Experimental-Result AVP (RFC 6733 §7.6).
func ExperimentalResult(vendor, code uint32) *AVP {
	return NewGroup(codeExperimentalResult, 0,
		NewAVP(codeVendorID, 0, datatype.Unsigned32(vendor)),
		NewAVP(codeExperimentalResultCode, 0, datatype.Unsigned32(code)),
	)
}

// Result is the outcome an answer carries: a Result-Code (Vendor 0) or an
// Experimental-Result-Code of Vendor (RFC 6733 §7.6).
type Result struct {
	Code   uint32
	Vendor uint32
}

// Success reports whether the result is in the 2xxx class.
func (r Result) Success() bool { return IsSuccess(r.Code) }

// AVP returns the Result-Code or Experimental-Result AVP for r.
func (r Result) AVP() *AVP {
	if r.Vendor != 0 {
		return ExperimentalResult(r.Vendor, r.Code)
	}
	return NewAVP(codeResultCode, 0, datatype.Unsigned32(r.Code))
}

// String names the result code.
func (r Result) String() string {
	if r.Vendor != 0 {
		return fmt.Sprintf("%d (vendor %d)", r.Code, r.Vendor)
	}
	return fmt.Sprintf("%d", r.Code)
}

// ResultOf returns the result an answer carries (see ResultCode); the zero
// Result when it has none.
func ResultOf(m *Message) Result {
	c, v, _ := ResultCode(m)
	return Result{Code: c, Vendor: v}
}
