package diameter

import (
	"fmt"
	"math/rand/v2"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// NewRequest returns an empty proxiable request for command cmd of
// application app, decoded later with d (nil: Dictionary()). Its
// End-to-End Identifier is 0 so that Do assigns one (RFC 6733 §3).
func NewRequest(cmd, app uint32, d *dict.Parser) *Message {
	if d == nil {
		d = Dictionary()
	}
	m := diam.NewMessage(cmd, FlagRequest|FlagProxiable, app, 0, 0, d)
	m.Header.EndToEndID = 0
	return m
}

// NewSessionRequest is NewRequest with a new Session-Id for originHost as
// its first AVP (RFC 6733 §8.8).
func NewSessionRequest(cmd, app uint32, originHost string, d *dict.Parser) *Message {
	m := NewRequest(cmd, app, d)
	m.AddAVP(NewAVP(codeSessionID, 0, datatype.UTF8String(NewSessionID(originHost))))
	return m
}

// NewSessionID returns a Session-Id in the RFC 6733 §8.8 format,
// "<DiameterIdentity>;<high 32 bits>;<low 32 bits>", with 64 random bits.
func NewSessionID(originHost string) string {
	return fmt.Sprintf("%s;%d;%d", originHost, rand.Uint32(), rand.Uint32())
}
