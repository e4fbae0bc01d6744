package charging

import (
	"time"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
)

// IMSServiceContext is the Service-Context-Id of IMS charging (TS 32.260
// §6.1: "32260@3gpp.org").
const IMSServiceContext = "32260@3gpp.org"

// AVP codes (TS 32.299 §7.2), vendor 3GPP.
const (
	AVPServiceInformation          uint32 = 873
	AVPIMSInformation              uint32 = 876
	AVPEventType                   uint32 = 823
	AVPSIPMethod                   uint32 = 824
	AVPEvent                       uint32 = 825
	AVPExpires                     uint32 = 888
	AVPRoleOfNode                  uint32 = 829
	AVPNodeFunctionality           uint32 = 862
	AVPUserSessionID               uint32 = 830
	AVPCallingPartyAddress         uint32 = 831
	AVPCalledPartyAddress          uint32 = 832
	AVPTimeStamps                  uint32 = 833
	AVPSIPRequestTimestamp         uint32 = 834
	AVPSIPResponseTimestamp        uint32 = 835
	AVPApplicationServer           uint32 = 836
	AVPInterOperatorIdentifier     uint32 = 838
	AVPOriginatingIOI              uint32 = 839
	AVPTerminatingIOI              uint32 = 840
	AVPIMSChargingIdentifier       uint32 = 841
	AVPApplicationServerInfo       uint32 = 850
	AVPCauseCode                   uint32 = 861
	AVPIMSVisitedNetworkIdentifier uint32 = 2713
	AVPServiceContextID            uint32 = 461 // RFC 8506, no vendor
)

// Node-Functionality values (TS 32.299 §7.2.110).
const (
	NodeSCSCF uint32 = 0
	NodePCSCF uint32 = 1
	NodeICSCF uint32 = 2
	NodeMRFC  uint32 = 3
	NodeMGCF  uint32 = 4
	NodeBGCF  uint32 = 5
	NodeAS    uint32 = 6
)

// Role-Of-Node values (TS 32.299 §7.2.160).
const (
	RoleOriginating uint32 = 0
	RoleTerminating uint32 = 1
)

// IMSInformation is the IMS-Information AVP (TS 32.299 §7.2.77): what an
// IMS node knows about the charged session or event.
type IMSInformation struct {
	SIPMethod, Event    string // Event-Type
	Expires             uint32 // Event-Type Expires; 0: absent
	RoleOfNode          *uint32
	NodeFunctionality   uint32 // mandatory
	UserSessionID       string // the SIP Call-ID
	CallingPartyAddress []string
	CalledPartyAddress  string
	RequestTime         time.Time // Time-Stamps SIP-Request-Timestamp
	ResponseTime        time.Time // Time-Stamps SIP-Response-Timestamp
	OriginatingIOI      string
	TerminatingIOI      string
	ChargingID          string // IMS-Charging-Identifier (ICID)
	ApplicationServers  []string
	VisitedNetworkID    string
	CauseCode           *int32
}

func v(code uint32, data datatype.Type) *diameter.AVP {
	return diameter.NewAVP(code, diameter.Vendor3GPP, data)
}

// AVP returns a Service-Information AVP holding this IMS-Information.
func (ii *IMSInformation) AVP() *diameter.AVP {
	var k []*diameter.AVP
	if ii.SIPMethod != "" || ii.Event != "" || ii.Expires != 0 {
		var e []*diameter.AVP
		if ii.SIPMethod != "" {
			e = append(e, v(AVPSIPMethod, datatype.UTF8String(ii.SIPMethod)))
		}
		if ii.Event != "" {
			e = append(e, v(AVPEvent, datatype.UTF8String(ii.Event)))
		}
		if ii.Expires != 0 {
			e = append(e, v(AVPExpires, datatype.Unsigned32(ii.Expires)))
		}
		k = append(k, diameter.NewGroup(AVPEventType, diameter.Vendor3GPP, e...))
	}
	if ii.RoleOfNode != nil {
		k = append(k, v(AVPRoleOfNode, datatype.Enumerated(*ii.RoleOfNode)))
	}
	k = append(k, v(AVPNodeFunctionality, datatype.Enumerated(ii.NodeFunctionality)))
	if ii.UserSessionID != "" {
		k = append(k, v(AVPUserSessionID, datatype.UTF8String(ii.UserSessionID)))
	}
	for _, c := range ii.CallingPartyAddress {
		k = append(k, v(AVPCallingPartyAddress, datatype.UTF8String(c)))
	}
	if ii.CalledPartyAddress != "" {
		k = append(k, v(AVPCalledPartyAddress, datatype.UTF8String(ii.CalledPartyAddress)))
	}
	if !ii.RequestTime.IsZero() || !ii.ResponseTime.IsZero() {
		var ts []*diameter.AVP
		if !ii.RequestTime.IsZero() {
			ts = append(ts, v(AVPSIPRequestTimestamp, datatype.Time(ii.RequestTime)))
		}
		if !ii.ResponseTime.IsZero() {
			ts = append(ts, v(AVPSIPResponseTimestamp, datatype.Time(ii.ResponseTime)))
		}
		k = append(k, diameter.NewGroup(AVPTimeStamps, diameter.Vendor3GPP, ts...))
	}
	for _, as := range ii.ApplicationServers {
		k = append(k, diameter.NewGroup(AVPApplicationServerInfo, diameter.Vendor3GPP, v(AVPApplicationServer, datatype.UTF8String(as))))
	}
	if ii.OriginatingIOI != "" || ii.TerminatingIOI != "" {
		var io []*diameter.AVP
		if ii.OriginatingIOI != "" {
			io = append(io, v(AVPOriginatingIOI, datatype.UTF8String(ii.OriginatingIOI)))
		}
		if ii.TerminatingIOI != "" {
			io = append(io, v(AVPTerminatingIOI, datatype.UTF8String(ii.TerminatingIOI)))
		}
		k = append(k, diameter.NewGroup(AVPInterOperatorIdentifier, diameter.Vendor3GPP, io...))
	}
	if ii.ChargingID != "" {
		k = append(k, v(AVPIMSChargingIdentifier, datatype.UTF8String(ii.ChargingID)))
	}
	if ii.CauseCode != nil {
		k = append(k, v(AVPCauseCode, datatype.Integer32(*ii.CauseCode)))
	}
	if ii.VisitedNetworkID != "" {
		k = append(k, v(AVPIMSVisitedNetworkIdentifier, datatype.UTF8String(ii.VisitedNetworkID)))
	}
	return diameter.NewGroup(AVPServiceInformation, diameter.Vendor3GPP,
		diameter.NewGroup(AVPIMSInformation, diameter.Vendor3GPP, k...))
}

// ParseIMSInformation reads the IMS-Information inside a message's
// Service-Information, or returns nil.
func ParseIMSInformation(body diameter.AVPs) *IMSInformation {
	g := body.Group(AVPServiceInformation, diameter.Vendor3GPP).Group(AVPIMSInformation, diameter.Vendor3GPP)
	if g == nil {
		return nil
	}
	s := func(b diameter.AVPs, c uint32) string { return b.String(c, diameter.Vendor3GPP) }
	ii := &IMSInformation{
		UserSessionID:      s(g, AVPUserSessionID),
		CalledPartyAddress: s(g, AVPCalledPartyAddress),
		ChargingID:         s(g, AVPIMSChargingIdentifier),
		VisitedNetworkID:   s(g, AVPIMSVisitedNetworkIdentifier),
	}
	ii.NodeFunctionality, _ = g.Uint32(AVPNodeFunctionality, diameter.Vendor3GPP)
	if r, ok := g.Uint32(AVPRoleOfNode, diameter.Vendor3GPP); ok {
		ii.RoleOfNode = &r
	}
	if c, ok := g.Uint32(AVPCauseCode, diameter.Vendor3GPP); ok {
		cc := int32(c)
		ii.CauseCode = &cc
	}
	if e := g.Group(AVPEventType, diameter.Vendor3GPP); e != nil {
		ii.SIPMethod, ii.Event = s(e, AVPSIPMethod), s(e, AVPEvent)
		ii.Expires, _ = e.Uint32(AVPExpires, diameter.Vendor3GPP)
	}
	for _, a := range g.All(AVPCallingPartyAddress, diameter.Vendor3GPP) {
		ii.CallingPartyAddress = append(ii.CallingPartyAddress, diameter.AsString(a))
	}
	if ts := g.Group(AVPTimeStamps, diameter.Vendor3GPP); ts != nil {
		ii.RequestTime, _ = ts.Time(AVPSIPRequestTimestamp, diameter.Vendor3GPP)
		ii.ResponseTime, _ = ts.Time(AVPSIPResponseTimestamp, diameter.Vendor3GPP)
	}
	for _, as := range g.Groups(AVPApplicationServerInfo, diameter.Vendor3GPP) {
		ii.ApplicationServers = append(ii.ApplicationServers, s(as, AVPApplicationServer))
	}
	if io := g.Group(AVPInterOperatorIdentifier, diameter.Vendor3GPP); io != nil {
		ii.OriginatingIOI, ii.TerminatingIOI = s(io, AVPOriginatingIOI), s(io, AVPTerminatingIOI)
	}
	return ii
}
