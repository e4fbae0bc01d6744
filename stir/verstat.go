package stir

import (
	"fmt"
	"strings"

	"github.com/siphon-go/siphon/sip"
)

// ApplyVerstat stamps v on the calling identities of req as ATIS-1000074
// §5.3.1 and 3GPP TS 24.229 §7.2A.20 describe: every P-Asserted-Identity and
// the From header whose URI is a telephone number get a verstat parameter,
// on a tel URI as a URI parameter (tel:+12155551212;verstat=TN-Validation-Passed)
// and on a SIP URI in the user part
// (sip:+12155551212;verstat=TN-Validation-Passed@example.com;user=phone).
// Any verstat already present, which an upstream element may have forged, is
// replaced; an empty v only removes it. Identities that are not telephone
// numbers are left alone.
//
// req is modified in place: callers that received it from a server clone it
// first (sip.CloneRequest), as Verifier.Middleware does.
func ApplyVerstat(req *sip.Request, v Verstat) error {
	pai, err := sip.AssertedIdentities(req)
	if err != nil {
		return fmt.Errorf("stir: P-Asserted-Identity: %w", err)
	}
	changed := false
	for i := range pai {
		if setVerstat(&pai[i].URI, v) {
			changed = true
		}
	}
	if changed {
		if err := sip.SetNameAddrs(req, "P-Asserted-Identity", pai); err != nil {
			return fmt.Errorf("stir: P-Asserted-Identity: %w", err)
		}
	}
	if f := req.From(); f != nil {
		from := sip.FromHeader{DisplayName: f.DisplayName, Address: *f.Address.Clone()}
		if f.Params != nil {
			from.Params = f.Params.Clone()
		}
		if setVerstat(&from.Address, v) {
			req.ReplaceHeader(&from)
		}
	}
	return nil
}

// setVerstat replaces the verstat parameter of a telephone-number URI and
// reports whether u changed.
func setVerstat(u *sip.Uri, v Verstat) bool {
	switch strings.ToLower(u.Scheme) {
	case "tel":
		raw := u.Raw()
		if _, ok := (Numbering{}).uriTN(u); !ok {
			return false
		}
		nraw := withVerstat(raw, v)
		if nraw == raw {
			return false
		}
		nu, err := sip.ParseURI(u.Scheme + ":" + nraw)
		if err != nil {
			return false
		}
		*u = nu
		return true
	case "sip", "sips", "":
		if _, ok := (Numbering{}).uriTN(u); !ok {
			return false
		}
		user := withVerstat(u.User, v)
		if user == u.User {
			return false
		}
		u.User = user
		return true
	}
	return false
}

// withVerstat returns "number;params" with any verstat parameter removed and,
// unless v is empty, ";verstat=v" appended.
func withVerstat(s string, v Verstat) string {
	base, params, _ := strings.Cut(s, ";")
	var b strings.Builder
	b.Grow(len(s) + len(v) + 9)
	b.WriteString(base)
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, _, _ := strings.Cut(p, "=")
		if p == "" || strings.EqualFold(strings.TrimSpace(name), "verstat") {
			continue
		}
		b.WriteByte(';')
		b.WriteString(p)
	}
	if v != "" {
		b.WriteString(";verstat=")
		b.WriteString(string(v))
	}
	return b.String()
}
