// Package typed holds the glue shared by the per-application helper
// packages (cx, sh, rx, ro, rf): sending a typed request and serving one.
package typed

import (
	"context"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
)

// Do sends req on d and parses the answer.
func Do[A any](ctx context.Context, d diameter.Doer, req *diameter.Message, parse func(*diameter.Message) (*A, error)) (*A, error) {
	ans, err := d.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	return parse(ans)
}

// Handler adapts a typed serving function to diameter.Handler. A request
// that fails to parse is answered with the parser's *diameter.ResultError
// (5005 MISSING_AVP for an absent mandatory AVP); a nil answer is 3002.
func Handler[Q, A any](parse func(*diameter.Message) (*Q, error), serve func(context.Context, *Q) (*A, error), answer func(*A, *diameter.Request) *diameter.Message) diameter.Handler {
	return diameter.HandlerFunc(func(ctx context.Context, r *diameter.Request) (*diameter.Message, error) {
		q, err := parse(r.Msg)
		if err != nil {
			return nil, err
		}
		a, err := serve(ctx, q)
		if err != nil || a == nil {
			return nil, err
		}
		return answer(a, r), nil
	})
}

// Missing returns the error for an absent mandatory AVP (RFC 6733 §7.1.5).
func Missing(cmd, avp string) error {
	return &diameter.ResultError{Code: diameter.MissingAVP, Message: fmt.Sprintf("%s without %s", cmd, avp)}
}

// Destination adds Destination-Realm and, when set, Destination-Host.
func Destination(m *diameter.Message, realm, host string) {
	if host != "" {
		m.AddAVP(diameter.NewAVP(diameter.AVPDestinationHost, 0, identity(host)))
	}
	m.AddAVP(diameter.NewAVP(diameter.AVPDestinationRealm, 0, identity(realm)))
}

func identity(s string) datatype.DiameterIdentity { return datatype.DiameterIdentity(s) }

// Request starts a request of a 3GPP application with no session state:
// Session-Id (sid, or a new one for originHost), Vendor-Specific-Application-Id,
// Auth-Session-State NO_STATE_MAINTAINED and the destination, as Cx and Sh
// requests begin (TS 29.229 §6.1, TS 29.329 §6.1).
func Request(cmd, app uint32, originHost, sid, realm, host string) *diameter.Message {
	m := SessionRequest(cmd, app, originHost, sid)
	m.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, app))
	m.AddAVP(diameter.NewAVP(diameter.AVPAuthSessionState, 0, datatype.Enumerated(1)))
	Destination(m, realm, host)
	return m
}

// SessionRequest starts a request with Session-Id sid, or a new one.
func SessionRequest(cmd, app uint32, originHost, sid string) *diameter.Message {
	if sid == "" {
		return diameter.NewSessionRequest(cmd, app, originHost, nil)
	}
	m := diameter.NewRequest(cmd, app, nil)
	m.AddAVP(diameter.NewAVP(diameter.AVPSessionID, 0, datatype.UTF8String(sid)))
	return m
}

// Answer starts an answer of a stateless 3GPP application (see Request).
func Answer(r *diameter.Request, res diameter.Result, app uint32) *diameter.Message {
	a := r.AnswerResult(res)
	a.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, app))
	a.AddAVP(diameter.NewAVP(diameter.AVPAuthSessionState, 0, datatype.Enumerated(1)))
	return a
}

// V returns a mandatory 3GPP AVP.
func V(code uint32, data datatype.Type) *diameter.AVP {
	return diameter.NewAVP(code, diameter.Vendor3GPP, data)
}

// VNoM returns a 3GPP AVP without the M bit.
func VNoM(code uint32, data datatype.Type) *diameter.AVP {
	return diameter.NewAVPFlags(code, 0, diameter.Vendor3GPP, data)
}
