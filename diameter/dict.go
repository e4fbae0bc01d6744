package diameter

import (
	"bytes"
	_ "embed"
	"encoding/xml"
	"fmt"
	"sync"

	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// Dictionary XML written for siphon from the 3GPP specifications; go-diameter
// v4.3.0 ships no Cx/Dx or Sh dictionary.
var (
	//go:embed dictionary/tgpp_cx.xml
	cxXML string
	//go:embed dictionary/tgpp_sh.xml
	shXML string
)

// NewDictionary returns a new dictionary holding the Diameter base protocol
// and every application go-diameter v4.3.0 ships (among them Credit-Control
// and Ro, Rx, Gx, S6a), siphon's Cx/Dx (TS 29.229) and Sh (TS 29.329)
// dictionaries, and the 3GPP charging AVPs of TS 32.299 scoped to the base
// accounting application so that Rf ACR/ACA decode their grouped
// Service-Information.
//
// The result is owned by the caller: it may load further XML into it before
// sharing it between goroutines (dict.Parser must not be loaded concurrently
// with lookups). go-diameter's package-level dict.Default is only read.
func NewDictionary() (*dict.Parser, error) {
	p, err := dict.NewParser()
	if err != nil {
		return nil, fmt.Errorf("diameter: new dictionary: %w", err)
	}
	var charging []*dict.AVP
	for _, app := range dict.Default.Apps() {
		if err := loadApp(p, copyApp(app, app.ID, app.Type, app.Name, true)); err != nil {
			return nil, fmt.Errorf("diameter: load %q dictionary: %w", app.Name, err)
		}
		if app.ID == AppCreditControl {
			charging = append(charging, app.AVP...)
		}
	}
	// TS 32.299 §6.2: Rf ACR/ACA (base accounting, application 3) carry the
	// same 3GPP charging AVPs as Ro. go-diameter defines them under
	// application 4 only, and its AVP lookup does not fall back from 3 to 4.
	rf := &dict.App{ID: AppBaseAccounting, Type: "acct", Name: "TGPP Rf", AVP: charging}
	if err := loadApp(p, copyApp(rf, AppBaseAccounting, "acct", "TGPP Rf", false)); err != nil {
		return nil, fmt.Errorf("diameter: load Rf charging AVPs: %w", err)
	}
	for name, x := range map[string]string{"Cx/Dx": cxXML, "Sh": shXML} {
		if err := p.Load(bytes.NewReader([]byte(x))); err != nil {
			return nil, fmt.Errorf("diameter: load %s dictionary: %w", name, err)
		}
	}
	return p, nil
}

// defaultDictionary is built once, on first use, and never modified after.
var defaultDictionary = sync.OnceValues(NewDictionary)

// Dictionary returns siphon's shared default dictionary (see NewDictionary).
// It is built on first use and is safe for concurrent lookups; callers must
// not load anything into it. Use NewDictionary for a dictionary to extend.
func Dictionary() *dict.Parser {
	d, err := defaultDictionary()
	if err != nil {
		// The embedded XML is part of the build; a failure here is a bug
		// caught by the package tests, never a runtime input problem.
		panic(err)
	}
	return d
}

// copyApp deep-copies a dictionary application without the AVP back
// pointers (which would make xml.Marshal recurse), optionally with its
// commands.
func copyApp(src *dict.App, id uint32, typ, name string, withCommands bool) *dict.App {
	dst := &dict.App{ID: id, Type: typ, Name: name}
	for _, v := range src.Vendor {
		dst.Vendor = append(dst.Vendor, &dict.Vendor{ID: v.ID, Name: v.Name})
	}
	if withCommands {
		for _, c := range src.Command {
			dst.Command = append(dst.Command, &dict.Command{
				Code: c.Code, Name: c.Name, Short: c.Short,
				Request: dict.CommandRule{Rule: copyRules(c.Request.Rule)},
				Answer:  dict.CommandRule{Rule: copyRules(c.Answer.Rule)},
			})
		}
	}
	for _, a := range src.AVP {
		na := &dict.AVP{
			Name: a.Name, Code: a.Code, Must: a.Must, May: a.May, MustNot: a.MustNot,
			MayEncrypt: a.MayEncrypt, VendorID: a.VendorID,
			Data: dict.Data{TypeName: a.Data.TypeName, Rule: copyRules(a.Data.Rule)},
		}
		for _, e := range a.Data.Enum {
			na.Data.Enum = append(na.Data.Enum, &dict.Enum{Code: e.Code, Name: e.Name})
		}
		dst.AVP = append(dst.AVP, na)
	}
	return dst
}

func copyRules(rs []*dict.Rule) []*dict.Rule {
	out := make([]*dict.Rule, 0, len(rs))
	for _, r := range rs {
		c := *r
		out = append(out, &c)
	}
	return out
}

func loadApp(p *dict.Parser, app *dict.App) error {
	b, err := xml.Marshal(&dict.File{App: []*dict.App{app}})
	if err != nil {
		return err
	}
	return p.Load(bytes.NewReader(b))
}
