package cx

import (
	"context"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/internal/typed"
)

// ServerCapabilities is the Server-Capabilities AVP (TS 29.229 §6.3.4):
// what the I-CSCF needs to pick an S-CSCF.
type ServerCapabilities struct {
	Mandatory   []uint32
	Optional    []uint32
	ServerNames []string
}

func (c *ServerCapabilities) avp() *diameter.AVP {
	var kids []*diameter.AVP
	for _, n := range c.Mandatory {
		kids = append(kids, v(AVPMandatoryCapability, datatype.Unsigned32(n)))
	}
	for _, n := range c.Optional {
		kids = append(kids, v(AVPOptionalCapability, datatype.Unsigned32(n)))
	}
	for _, s := range c.ServerNames {
		kids = append(kids, v(AVPServerName, datatype.UTF8String(s)))
	}
	return diameter.NewGroup(AVPServerCapabilities, diameter.Vendor3GPP, kids...)
}

func parseCapabilities(b diameter.AVPs) *ServerCapabilities {
	g := b.Group(AVPServerCapabilities, diameter.Vendor3GPP)
	if g == nil {
		return nil
	}
	c := &ServerCapabilities{ServerNames: strs(g, AVPServerName, diameter.Vendor3GPP)}
	for _, a := range g.All(AVPMandatoryCapability, diameter.Vendor3GPP) {
		n, _ := diameter.AsUint32(a)
		c.Mandatory = append(c.Mandatory, n)
	}
	for _, a := range g.All(AVPOptionalCapability, diameter.Vendor3GPP) {
		n, _ := diameter.AsUint32(a)
		c.Optional = append(c.Optional, n)
	}
	return c
}

// UAR is a User-Authorization-Request (TS 29.229 §6.1.1), sent by an
// I-CSCF on REGISTER to learn whether the user may register and which
// S-CSCF serves it.
type UAR struct {
	SessionID         string // "": a new one
	UserName          string // private user identity (IMPI)
	PublicIdentity    string // public user identity (IMPU)
	VisitedNetworkID  string
	AuthorizationType AuthorizationType
	UARFlags          uint32
}

// UAA is a User-Authorization-Answer (TS 29.229 §6.1.2).
type UAA struct {
	Result       diameter.Result // Experimental 2001 first / 2002 subsequent registration, 5001 user unknown, ...
	ServerName   string
	Capabilities *ServerCapabilities
}

// UAR sends a User-Authorization-Request.
func (c *Client) UAR(ctx context.Context, q *UAR) (*UAA, error) {
	m := c.newRequest(CmdUserAuthorization, q.SessionID, "")
	m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	m.AddAVP(v(AVPPublicIdentity, datatype.UTF8String(q.PublicIdentity)))
	m.AddAVP(v(AVPVisitedNetworkIdentifier, datatype.OctetString(q.VisitedNetworkID)))
	m.AddAVP(v(AVPUserAuthorizationType, datatype.Enumerated(q.AuthorizationType)))
	if q.UARFlags != 0 {
		m.AddAVP(vNoM(AVPUARFlags, datatype.Unsigned32(q.UARFlags)))
	}
	return typed.Do(ctx, c.d, m, ParseUAA)
}

// ParseUAR reads a UAR; it fails with 5005 without User-Name or
// Public-Identity.
func ParseUAR(m *diameter.Message) (*UAR, error) {
	b := diameter.Body(m)
	q := &UAR{
		SessionID:         diameter.SessionID(m),
		UserName:          b.String(diameter.AVPUserName, 0),
		PublicIdentity:    str(b, AVPPublicIdentity),
		VisitedNetworkID:  str(b, AVPVisitedNetworkIdentifier),
		AuthorizationType: AuthorizationType(u32(b, AVPUserAuthorizationType)),
		UARFlags:          u32(b, AVPUARFlags),
	}
	switch {
	case q.UserName == "":
		return nil, typed.Missing("UAR", "User-Name")
	case q.PublicIdentity == "":
		return nil, typed.Missing("UAR", "Public-Identity")
	}
	return q, nil
}

// ParseUAA reads a UAA.
func ParseUAA(m *diameter.Message) (*UAA, error) {
	b := diameter.Body(m)
	return &UAA{Result: diameter.ResultOf(m), ServerName: str(b, AVPServerName), Capabilities: parseCapabilities(b)}, nil
}

func (a *UAA) answer(r *diameter.Request) *diameter.Message {
	m := answer(r, a.Result)
	if a.ServerName != "" {
		m.AddAVP(v(AVPServerName, datatype.UTF8String(a.ServerName)))
	}
	if a.Capabilities != nil {
		m.AddAVP(a.Capabilities.avp())
	}
	return m
}

// AuthItem is one SIP-Auth-Data-Item (TS 29.229 §6.3.13): an IMS AKA vector
// (TS 33.203) or SIP Digest data.
type AuthItem struct {
	ItemNumber uint32
	Scheme     string // SchemeAKAv1MD5, SchemeDigest, ...
	// AKA: Authenticate is RAND||AUTN, Authorization is XRES, plus CK and
	// IK. In a MAR for re-synchronisation, Authorization is RAND||AUTS.
	Authenticate       []byte
	Authorization      []byte
	ConfidentialityKey []byte
	IntegrityKey       []byte
	// SIP Digest (SIP-Digest-Authenticate, TS 29.229 §6.3.36).
	DigestRealm, DigestAlgorithm, DigestQoP, DigestHA1 string
}

func (it *AuthItem) avp() *diameter.AVP {
	var kids []*diameter.AVP
	if it.ItemNumber != 0 {
		kids = append(kids, v(AVPSIPItemNumber, datatype.Unsigned32(it.ItemNumber)))
	}
	if it.Scheme != "" {
		kids = append(kids, v(AVPSIPAuthenticationScheme, datatype.UTF8String(it.Scheme)))
	}
	if it.Authenticate != nil {
		kids = append(kids, v(AVPSIPAuthenticate, datatype.OctetString(it.Authenticate)))
	}
	if it.Authorization != nil {
		kids = append(kids, v(AVPSIPAuthorization, datatype.OctetString(it.Authorization)))
	}
	if it.ConfidentialityKey != nil {
		kids = append(kids, v(AVPConfidentialityKey, datatype.OctetString(it.ConfidentialityKey)))
	}
	if it.IntegrityKey != nil {
		kids = append(kids, v(AVPIntegrityKey, datatype.OctetString(it.IntegrityKey)))
	}
	if it.DigestHA1 != "" {
		d := []*diameter.AVP{diameter.NewAVP(avpDigestRealm, 0, datatype.UTF8String(it.DigestRealm))}
		if it.DigestAlgorithm != "" {
			d = append(d, diameter.NewAVP(avpDigestAlgorithm, 0, datatype.UTF8String(it.DigestAlgorithm)))
		}
		d = append(d,
			diameter.NewAVP(avpDigestQoP, 0, datatype.UTF8String(it.DigestQoP)),
			diameter.NewAVP(avpDigestHA1, 0, datatype.UTF8String(it.DigestHA1)))
		kids = append(kids, diameter.NewGroupFlags(AVPSIPDigestAuthenticate, 0, diameter.Vendor3GPP, d...))
	}
	return diameter.NewGroup(AVPSIPAuthDataItem, diameter.Vendor3GPP, kids...)
}

func parseAuthItem(g diameter.AVPs) AuthItem {
	it := AuthItem{
		ItemNumber:         u32(g, AVPSIPItemNumber),
		Scheme:             str(g, AVPSIPAuthenticationScheme),
		Authenticate:       g.Bytes(AVPSIPAuthenticate, diameter.Vendor3GPP),
		Authorization:      g.Bytes(AVPSIPAuthorization, diameter.Vendor3GPP),
		ConfidentialityKey: g.Bytes(AVPConfidentialityKey, diameter.Vendor3GPP),
		IntegrityKey:       g.Bytes(AVPIntegrityKey, diameter.Vendor3GPP),
	}
	if d := g.Group(AVPSIPDigestAuthenticate, diameter.Vendor3GPP); d != nil {
		it.DigestRealm = d.String(avpDigestRealm, 0)
		it.DigestAlgorithm = d.String(avpDigestAlgorithm, 0)
		it.DigestQoP = d.String(avpDigestQoP, 0)
		it.DigestHA1 = d.String(avpDigestHA1, 0)
	}
	return it
}

// MAR is a Multimedia-Auth-Request (TS 29.229 §6.1.7): the S-CSCF asks the
// HSS for authentication vectors.
type MAR struct {
	SessionID       string
	UserName        string // IMPI
	PublicIdentity  string // IMPU
	ServerName      string // the S-CSCF's SIP URI
	NumberAuthItems uint32 // default 1
	Scheme          string // SchemeAKAv1MD5, SchemeDigest or SchemeUnknown (default)
	// Authorization carries RAND||AUTS when the UE asks to re-synchronise
	// (TS 33.203 §6.1.2).
	Authorization []byte
}

// MAA is a Multimedia-Auth-Answer (TS 29.229 §6.1.8).
type MAA struct {
	Result          diameter.Result
	UserName        string
	PublicIdentity  string
	NumberAuthItems uint32
	Items           []AuthItem
}

// MAR sends a Multimedia-Auth-Request.
func (c *Client) MAR(ctx context.Context, q *MAR) (*MAA, error) {
	return typed.Do(ctx, c.d, c.MARMessage(q), ParseMAA)
}

// MARMessage builds the request MAR sends.
func (c *Client) MARMessage(q *MAR) *diameter.Message {
	m := c.newRequest(CmdMultimediaAuth, q.SessionID, "")
	m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	m.AddAVP(v(AVPPublicIdentity, datatype.UTF8String(q.PublicIdentity)))
	n := max(q.NumberAuthItems, 1)
	scheme := q.Scheme
	if scheme == "" {
		scheme = SchemeUnknown
	}
	item := AuthItem{Scheme: scheme, Authorization: q.Authorization}
	m.AddAVP(item.avp())
	m.AddAVP(v(AVPSIPNumberAuthItems, datatype.Unsigned32(n)))
	m.AddAVP(v(AVPServerName, datatype.UTF8String(q.ServerName)))
	return m
}

// ParseMAR reads a MAR; it fails with 5005 without User-Name,
// Public-Identity or SIP-Auth-Data-Item.
func ParseMAR(m *diameter.Message) (*MAR, error) {
	b := diameter.Body(m)
	q := &MAR{
		SessionID:       diameter.SessionID(m),
		UserName:        b.String(diameter.AVPUserName, 0),
		PublicIdentity:  str(b, AVPPublicIdentity),
		ServerName:      str(b, AVPServerName),
		NumberAuthItems: u32(b, AVPSIPNumberAuthItems),
	}
	g := b.Group(AVPSIPAuthDataItem, diameter.Vendor3GPP)
	switch {
	case q.UserName == "":
		return nil, typed.Missing("MAR", "User-Name")
	case q.PublicIdentity == "":
		return nil, typed.Missing("MAR", "Public-Identity")
	case g == nil:
		return nil, typed.Missing("MAR", "SIP-Auth-Data-Item")
	}
	it := parseAuthItem(g)
	q.Scheme, q.Authorization = it.Scheme, it.Authorization
	return q, nil
}

// ParseMAA reads a MAA.
func ParseMAA(m *diameter.Message) (*MAA, error) {
	b := diameter.Body(m)
	a := &MAA{
		Result:          diameter.ResultOf(m),
		UserName:        b.String(diameter.AVPUserName, 0),
		PublicIdentity:  str(b, AVPPublicIdentity),
		NumberAuthItems: u32(b, AVPSIPNumberAuthItems),
	}
	for _, g := range b.Groups(AVPSIPAuthDataItem, diameter.Vendor3GPP) {
		a.Items = append(a.Items, parseAuthItem(g))
	}
	return a, nil
}

// Message builds the answer to r; exported for benchmarks and tests that
// encode without a connection.
func (a *MAA) Message(r *diameter.Request) *diameter.Message { return a.answer(r) }

func (a *MAA) answer(r *diameter.Request) *diameter.Message {
	m := answer(r, a.Result)
	if a.UserName != "" {
		m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(a.UserName)))
	}
	if a.PublicIdentity != "" {
		m.AddAVP(v(AVPPublicIdentity, datatype.UTF8String(a.PublicIdentity)))
	}
	if len(a.Items) > 0 {
		m.AddAVP(v(AVPSIPNumberAuthItems, datatype.Unsigned32(len(a.Items))))
	}
	for i := range a.Items {
		m.AddAVP(a.Items[i].avp())
	}
	return m
}

// ChargingInformation is the Charging-Information AVP (TS 29.229 §6.3.19).
type ChargingInformation struct {
	PrimaryEventChargingFunction        string
	SecondaryEventChargingFunction      string
	PrimaryChargingCollectionFunction   string
	SecondaryChargingCollectionFunction string
}

func (ci *ChargingInformation) avp() *diameter.AVP {
	var kids []*diameter.AVP
	for _, f := range []struct {
		code uint32
		val  string
	}{
		{AVPPrimaryEventCharging, ci.PrimaryEventChargingFunction},
		{AVPSecondaryEventCharging, ci.SecondaryEventChargingFunction},
		{AVPPrimaryChargingColl, ci.PrimaryChargingCollectionFunction},
		{AVPSecondaryChargingColl, ci.SecondaryChargingCollectionFunction},
	} {
		if f.val != "" {
			kids = append(kids, v(f.code, datatype.DiameterURI(f.val)))
		}
	}
	return diameter.NewGroup(AVPChargingInformation, diameter.Vendor3GPP, kids...)
}

func parseCharging(b diameter.AVPs) *ChargingInformation {
	g := b.Group(AVPChargingInformation, diameter.Vendor3GPP)
	if g == nil {
		return nil
	}
	return &ChargingInformation{
		PrimaryEventChargingFunction:        str(g, AVPPrimaryEventCharging),
		SecondaryEventChargingFunction:      str(g, AVPSecondaryEventCharging),
		PrimaryChargingCollectionFunction:   str(g, AVPPrimaryChargingColl),
		SecondaryChargingCollectionFunction: str(g, AVPSecondaryChargingColl),
	}
}

// SAR is a Server-Assignment-Request (TS 29.229 §6.1.3): the S-CSCF tells
// the HSS it serves (or stops serving) the user and fetches the profile.
type SAR struct {
	SessionID                string
	UserName                 string
	PublicIdentities         []string
	ServerName               string
	AssignmentType           AssignmentType
	UserDataAlreadyAvailable bool
}

// SAA is a Server-Assignment-Answer (TS 29.229 §6.1.4).
type SAA struct {
	Result               diameter.Result
	UserName             string
	UserData             []byte // the IMS subscription XML (TS 29.228 Annex E)
	Charging             *ChargingInformation
	AssociatedIdentities []string
	ServerName           string
}

// SAR sends a Server-Assignment-Request.
func (c *Client) SAR(ctx context.Context, q *SAR) (*SAA, error) {
	m := c.newRequest(CmdServerAssignment, q.SessionID, "")
	if q.UserName != "" {
		m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	}
	for _, p := range q.PublicIdentities {
		m.AddAVP(v(AVPPublicIdentity, datatype.UTF8String(p)))
	}
	m.AddAVP(v(AVPServerName, datatype.UTF8String(q.ServerName)))
	m.AddAVP(v(AVPServerAssignmentType, datatype.Enumerated(q.AssignmentType)))
	avail := 0
	if q.UserDataAlreadyAvailable {
		avail = 1
	}
	m.AddAVP(v(AVPUserDataAlreadyAvailable, datatype.Enumerated(avail)))
	return typed.Do(ctx, c.d, m, ParseSAA)
}

// ParseSAR reads a SAR; it fails with 5005 without Server-Name or any
// identity.
func ParseSAR(m *diameter.Message) (*SAR, error) {
	b := diameter.Body(m)
	q := &SAR{
		SessionID:                diameter.SessionID(m),
		UserName:                 b.String(diameter.AVPUserName, 0),
		PublicIdentities:         strs(b, AVPPublicIdentity, diameter.Vendor3GPP),
		ServerName:               str(b, AVPServerName),
		AssignmentType:           AssignmentType(u32(b, AVPServerAssignmentType)),
		UserDataAlreadyAvailable: u32(b, AVPUserDataAlreadyAvailable) == 1,
	}
	switch {
	case q.ServerName == "":
		return nil, typed.Missing("SAR", "Server-Name")
	case q.UserName == "" && len(q.PublicIdentities) == 0:
		return nil, typed.Missing("SAR", "User-Name or Public-Identity")
	}
	return q, nil
}

// ParseSAA reads a SAA.
func ParseSAA(m *diameter.Message) (*SAA, error) {
	b := diameter.Body(m)
	a := &SAA{
		Result:     diameter.ResultOf(m),
		UserName:   b.String(diameter.AVPUserName, 0),
		UserData:   b.Bytes(AVPUserData, diameter.Vendor3GPP),
		Charging:   parseCharging(b),
		ServerName: str(b, AVPServerName),
	}
	if g := b.Group(AVPAssociatedIdentities, diameter.Vendor3GPP); g != nil {
		a.AssociatedIdentities = strs(g, diameter.AVPUserName, 0)
	}
	return a, nil
}

func (a *SAA) answer(r *diameter.Request) *diameter.Message {
	m := answer(r, a.Result)
	if a.UserName != "" {
		m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(a.UserName)))
	}
	if a.UserData != nil {
		m.AddAVP(v(AVPUserData, datatype.OctetString(a.UserData)))
	}
	if a.Charging != nil {
		m.AddAVP(a.Charging.avp())
	}
	if len(a.AssociatedIdentities) > 0 {
		var kids []*diameter.AVP
		for _, id := range a.AssociatedIdentities {
			kids = append(kids, diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(id)))
		}
		m.AddAVP(diameter.NewGroupFlags(AVPAssociatedIdentities, 0, diameter.Vendor3GPP, kids...))
	}
	if a.ServerName != "" {
		m.AddAVP(v(AVPServerName, datatype.UTF8String(a.ServerName)))
	}
	return m
}

// LIR is a Location-Info-Request (TS 29.229 §6.1.5): which S-CSCF serves a
// public identity (terminating requests at the I-CSCF).
type LIR struct {
	SessionID         string
	PublicIdentity    string
	Originating       bool
	AuthorizationType AuthorizationType // only RegistrationAndCapabilities is meaningful here
}

// LIA is a Location-Info-Answer (TS 29.229 §6.1.6).
type LIA struct {
	Result                   diameter.Result
	ServerName               string
	Capabilities             *ServerCapabilities
	WildcardedPublicIdentity string
}

// LIR sends a Location-Info-Request.
func (c *Client) LIR(ctx context.Context, q *LIR) (*LIA, error) {
	m := c.newRequest(CmdLocationInfo, q.SessionID, "")
	if q.Originating {
		m.AddAVP(v(AVPOriginatingRequest, datatype.Enumerated(0)))
	}
	m.AddAVP(v(AVPPublicIdentity, datatype.UTF8String(q.PublicIdentity)))
	if q.AuthorizationType != Registration {
		m.AddAVP(v(AVPUserAuthorizationType, datatype.Enumerated(q.AuthorizationType)))
	}
	return typed.Do(ctx, c.d, m, ParseLIA)
}

// ParseLIR reads a LIR; it fails with 5005 without Public-Identity.
func ParseLIR(m *diameter.Message) (*LIR, error) {
	b := diameter.Body(m)
	q := &LIR{
		SessionID:         diameter.SessionID(m),
		PublicIdentity:    str(b, AVPPublicIdentity),
		Originating:       b.Find(AVPOriginatingRequest, diameter.Vendor3GPP) != nil,
		AuthorizationType: AuthorizationType(u32(b, AVPUserAuthorizationType)),
	}
	if q.PublicIdentity == "" {
		return nil, typed.Missing("LIR", "Public-Identity")
	}
	return q, nil
}

// ParseLIA reads a LIA.
func ParseLIA(m *diameter.Message) (*LIA, error) {
	b := diameter.Body(m)
	return &LIA{
		Result:                   diameter.ResultOf(m),
		ServerName:               str(b, AVPServerName),
		Capabilities:             parseCapabilities(b),
		WildcardedPublicIdentity: str(b, AVPWildcardedPublicIdentity),
	}, nil
}

func (a *LIA) answer(r *diameter.Request) *diameter.Message {
	m := answer(r, a.Result)
	if a.ServerName != "" {
		m.AddAVP(v(AVPServerName, datatype.UTF8String(a.ServerName)))
	}
	if a.Capabilities != nil {
		m.AddAVP(a.Capabilities.avp())
	}
	if a.WildcardedPublicIdentity != "" {
		m.AddAVP(vNoM(AVPWildcardedPublicIdentity, datatype.UTF8String(a.WildcardedPublicIdentity)))
	}
	return m
}

// RTR is a Registration-Termination-Request (TS 29.229 §6.1.9), sent by the
// HSS to the S-CSCF to de-register identities.
type RTR struct {
	SessionID            string
	DestinationHost      string // the S-CSCF (mandatory in RTR); "": Config.DestinationHost
	UserName             string
	PublicIdentities     []string
	AssociatedIdentities []string
	ReasonCode           uint32 // PermanentTermination, NewServerAssigned, ...
	ReasonInfo           string
}

// RTA is a Registration-Termination-Answer (TS 29.229 §6.1.10).
type RTA struct {
	Result               diameter.Result
	AssociatedIdentities []string
}

// RTR sends a Registration-Termination-Request.
func (c *Client) RTR(ctx context.Context, q *RTR) (*RTA, error) {
	m := c.newRequest(CmdRegistrationTermination, q.SessionID, q.DestinationHost)
	m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	if len(q.AssociatedIdentities) > 0 {
		var kids []*diameter.AVP
		for _, id := range q.AssociatedIdentities {
			kids = append(kids, diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(id)))
		}
		m.AddAVP(diameter.NewGroupFlags(AVPAssociatedIdentities, 0, diameter.Vendor3GPP, kids...))
	}
	for _, p := range q.PublicIdentities {
		m.AddAVP(v(AVPPublicIdentity, datatype.UTF8String(p)))
	}
	reason := []*diameter.AVP{v(AVPReasonCode, datatype.Enumerated(q.ReasonCode))}
	if q.ReasonInfo != "" {
		reason = append(reason, v(AVPReasonInfo, datatype.UTF8String(q.ReasonInfo)))
	}
	m.AddAVP(diameter.NewGroup(AVPDeregistrationReason, diameter.Vendor3GPP, reason...))
	return typed.Do(ctx, c.d, m, ParseRTA)
}

// ParseRTR reads a RTR; it fails with 5005 without User-Name or
// Deregistration-Reason.
func ParseRTR(m *diameter.Message) (*RTR, error) {
	b := diameter.Body(m)
	q := &RTR{
		SessionID:        diameter.SessionID(m),
		DestinationHost:  diameter.DestinationHost(m),
		UserName:         b.String(diameter.AVPUserName, 0),
		PublicIdentities: strs(b, AVPPublicIdentity, diameter.Vendor3GPP),
	}
	if g := b.Group(AVPAssociatedIdentities, diameter.Vendor3GPP); g != nil {
		q.AssociatedIdentities = strs(g, diameter.AVPUserName, 0)
	}
	reason := b.Group(AVPDeregistrationReason, diameter.Vendor3GPP)
	switch {
	case q.UserName == "":
		return nil, typed.Missing("RTR", "User-Name")
	case reason == nil:
		return nil, typed.Missing("RTR", "Deregistration-Reason")
	}
	q.ReasonCode = u32(reason, AVPReasonCode)
	q.ReasonInfo = str(reason, AVPReasonInfo)
	return q, nil
}

// ParseRTA reads a RTA.
func ParseRTA(m *diameter.Message) (*RTA, error) {
	a := &RTA{Result: diameter.ResultOf(m)}
	if g := diameter.Body(m).Group(AVPAssociatedIdentities, diameter.Vendor3GPP); g != nil {
		a.AssociatedIdentities = strs(g, diameter.AVPUserName, 0)
	}
	return a, nil
}

func (a *RTA) answer(r *diameter.Request) *diameter.Message {
	m := answer(r, a.Result)
	if len(a.AssociatedIdentities) > 0 {
		var kids []*diameter.AVP
		for _, id := range a.AssociatedIdentities {
			kids = append(kids, diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(id)))
		}
		m.AddAVP(diameter.NewGroupFlags(AVPAssociatedIdentities, 0, diameter.Vendor3GPP, kids...))
	}
	return m
}

// PPR is a Push-Profile-Request (TS 29.229 §6.1.11), sent by the HSS to
// the S-CSCF when the user profile or charging information changes.
type PPR struct {
	SessionID       string
	DestinationHost string // the S-CSCF (mandatory in PPR); "": Config.DestinationHost
	UserName        string
	UserData        []byte
	Charging        *ChargingInformation
}

// PPA is a Push-Profile-Answer (TS 29.229 §6.1.12).
type PPA struct {
	Result diameter.Result
}

// PPR sends a Push-Profile-Request.
func (c *Client) PPR(ctx context.Context, q *PPR) (*PPA, error) {
	m := c.newRequest(CmdPushProfile, q.SessionID, q.DestinationHost)
	m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	if q.UserData != nil {
		m.AddAVP(v(AVPUserData, datatype.OctetString(q.UserData)))
	}
	if q.Charging != nil {
		m.AddAVP(q.Charging.avp())
	}
	return typed.Do(ctx, c.d, m, ParsePPA)
}

// ParsePPR reads a PPR; it fails with 5005 without User-Name.
func ParsePPR(m *diameter.Message) (*PPR, error) {
	b := diameter.Body(m)
	q := &PPR{
		SessionID:       diameter.SessionID(m),
		DestinationHost: diameter.DestinationHost(m),
		UserName:        b.String(diameter.AVPUserName, 0),
		UserData:        b.Bytes(AVPUserData, diameter.Vendor3GPP),
		Charging:        parseCharging(b),
	}
	if q.UserName == "" {
		return nil, typed.Missing("PPR", "User-Name")
	}
	return q, nil
}

// ParsePPA reads a PPA.
func ParsePPA(m *diameter.Message) (*PPA, error) {
	return &PPA{Result: diameter.ResultOf(m)}, nil
}

func (a *PPA) answer(r *diameter.Request) *diameter.Message { return answer(r, a.Result) }
