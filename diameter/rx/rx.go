package rx

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/internal/typed"
)

// Command codes (TS 29.214 §5.6).
const (
	CmdAA                 uint32 = 265
	CmdReAuth             uint32 = diameter.CmdReAuth
	CmdSessionTermination uint32 = diameter.CmdSessionTermination
	CmdAbortSession       uint32 = diameter.CmdAbortSession
)

// AVP codes (TS 29.214 §5.3), vendor 3GPP unless noted.
const (
	AVPAbortCause                uint32 = 500
	AVPAFApplicationIdentifier   uint32 = 504
	AVPAFChargingIdentifier      uint32 = 505
	AVPFlowDescription           uint32 = 507
	AVPFlowNumber                uint32 = 509
	AVPFlowStatus                uint32 = 511
	AVPFlowUsage                 uint32 = 512
	AVPSpecificAction            uint32 = 513
	AVPMaxRequestedBandwidthDL   uint32 = 515
	AVPMaxRequestedBandwidthUL   uint32 = 516
	AVPMediaComponentDescription uint32 = 517
	AVPMediaComponentNumber      uint32 = 518
	AVPMediaSubComponent         uint32 = 519
	AVPMediaType                 uint32 = 520
	AVPCodecData                 uint32 = 524
	AVPRxRequestType             uint32 = 533
	AVPFramedIPAddress           uint32 = 8   // RFC 7155, no vendor
	AVPSubscriptionID            uint32 = 443 // RFC 8506, no vendor
	AVPSubscriptionIDType        uint32 = 450
	AVPSubscriptionIDData        uint32 = 444
	AVPTerminationCause          uint32 = 295
)

// Media-Type values (TS 29.214 §5.3.19).
const (
	MediaAudio       uint32 = 0
	MediaVideo       uint32 = 1
	MediaData        uint32 = 2
	MediaApplication uint32 = 3
	MediaControl     uint32 = 4
	MediaText        uint32 = 5
	MediaMessage     uint32 = 6
)

// Flow-Status values (TS 29.214 §5.3.11).
const (
	FlowEnabledUplink   uint32 = 0
	FlowEnabledDownlink uint32 = 1
	FlowEnabled         uint32 = 2
	FlowDisabled        uint32 = 3
	FlowRemoved         uint32 = 4
)

// Flow-Usage values (TS 29.214 §5.3.12).
const (
	UsageNoInformation uint32 = 0
	UsageRTCP          uint32 = 1
	UsageAFSignalling  uint32 = 2
)

// Rx-Request-Type values (TS 29.214 §5.3.50).
const (
	InitialRequest uint32 = 0
	UpdateRequest  uint32 = 1
)

// Termination-Cause DIAMETER_LOGOUT (RFC 6733 §8.15), what an AF sends when
// the session ends normally.
const TerminationLogout uint32 = 1

// Subscription-Id-Type values (RFC 8506 §8.47).
const (
	SubscriptionE164    uint32 = 0
	SubscriptionIMSI    uint32 = 1
	SubscriptionSIPURI  uint32 = 2
	SubscriptionNAI     uint32 = 3
	SubscriptionPrivate uint32 = 4
)

// App is the Rx application to advertise in diameter.Config.Apps.
func App() diameter.App { return diameter.App{ID: diameter.AppRx, Vendor: diameter.Vendor3GPP} }

// Config names the node a Client talks for and to.
type Config struct {
	OriginHost       string // names this node in new Session-Ids; required
	DestinationRealm string // the PCRF realm (or the AF's, for RAR/ASR); required
	DestinationHost  string // optional
}

// Client sends Rx requests over a Doer. Safe for concurrent use.
type Client struct {
	d   diameter.Doer
	cfg Config
}

// NewClient returns a Client sending through d.
func NewClient(d diameter.Doer, cfg Config) (*Client, error) {
	if d == nil || cfg.OriginHost == "" || cfg.DestinationRealm == "" {
		return nil, fmt.Errorf("%w: rx client needs a Doer, OriginHost and DestinationRealm", diameter.ErrConfig)
	}
	return &Client{d: d, cfg: cfg}, nil
}

// request starts an Rx request: Session-Id, Auth-Application-Id (TS 29.214
// §5.6 uses it rather than Vendor-Specific-Application-Id), destination.
func (c *Client) request(cmd uint32, sid, host string) *diameter.Message {
	m := typed.SessionRequest(cmd, diameter.AppRx, c.cfg.OriginHost, sid)
	m.AddAVP(diameter.NewAVP(diameter.AVPAuthApplicationID, 0, datatype.Unsigned32(diameter.AppRx)))
	if host == "" {
		host = c.cfg.DestinationHost
	}
	typed.Destination(m, c.cfg.DestinationRealm, host)
	return m
}

func answer(r *diameter.Request, res diameter.Result) *diameter.Message {
	a := r.AnswerResult(res)
	a.AddAVP(diameter.NewAVP(diameter.AVPAuthApplicationID, 0, datatype.Unsigned32(diameter.AppRx)))
	return a
}

// SubComponent is a Media-Sub-Component (TS 29.214 §5.3.22): one IP flow
// of a media component, described by IPFilterRules.
type SubComponent struct {
	FlowNumber   uint32
	Descriptions []string // e.g. "permit out 17 from 192.0.2.10 49170 to 198.51.100.7 50000"
	Status       *uint32
	Usage        *uint32 // UsageRTCP marks the RTCP flow
	MaxUL, MaxDL uint32  // bit/s; 0: absent
}

// MediaComponent is a Media-Component-Description (TS 29.214 §5.3.7):
// one m= line of the SDP offer/answer.
type MediaComponent struct {
	Number        uint32
	SubComponents []SubComponent
	AFAppID       string
	MediaType     *uint32
	MaxUL, MaxDL  uint32 // bit/s; 0: absent
	Status        *uint32
	CodecData     []string // "uplink\noffer\n<SDP lines>" per TS 29.214 §5.3.16
}

// U32 returns a pointer to n, for the optional enumerated fields.
func U32(n uint32) *uint32 { return &n }

func optEnum(kids []*diameter.AVP, code uint32, v *uint32) []*diameter.AVP {
	if v != nil {
		kids = append(kids, typed.V(code, datatype.Enumerated(*v)))
	}
	return kids
}

func optU32(kids []*diameter.AVP, code uint32, v uint32) []*diameter.AVP {
	if v != 0 {
		kids = append(kids, typed.V(code, datatype.Unsigned32(v)))
	}
	return kids
}

func (mc *MediaComponent) avp() *diameter.AVP {
	kids := []*diameter.AVP{typed.V(AVPMediaComponentNumber, datatype.Unsigned32(mc.Number))}
	for _, sc := range mc.SubComponents {
		sk := []*diameter.AVP{typed.V(AVPFlowNumber, datatype.Unsigned32(sc.FlowNumber))}
		for _, d := range sc.Descriptions {
			sk = append(sk, typed.V(AVPFlowDescription, datatype.IPFilterRule(d)))
		}
		sk = optEnum(sk, AVPFlowStatus, sc.Status)
		sk = optEnum(sk, AVPFlowUsage, sc.Usage)
		sk = optU32(sk, AVPMaxRequestedBandwidthUL, sc.MaxUL)
		sk = optU32(sk, AVPMaxRequestedBandwidthDL, sc.MaxDL)
		kids = append(kids, diameter.NewGroup(AVPMediaSubComponent, diameter.Vendor3GPP, sk...))
	}
	if mc.AFAppID != "" {
		kids = append(kids, typed.V(AVPAFApplicationIdentifier, datatype.OctetString(mc.AFAppID)))
	}
	kids = optEnum(kids, AVPMediaType, mc.MediaType)
	kids = optU32(kids, AVPMaxRequestedBandwidthUL, mc.MaxUL)
	kids = optU32(kids, AVPMaxRequestedBandwidthDL, mc.MaxDL)
	kids = optEnum(kids, AVPFlowStatus, mc.Status)
	for _, c := range mc.CodecData {
		kids = append(kids, typed.V(AVPCodecData, datatype.OctetString(c)))
	}
	return diameter.NewGroup(AVPMediaComponentDescription, diameter.Vendor3GPP, kids...)
}

func optEnumOf(b diameter.AVPs, code uint32) *uint32 {
	if n, ok := b.Uint32(code, diameter.Vendor3GPP); ok {
		return &n
	}
	return nil
}

func u32(b diameter.AVPs, code uint32) uint32 {
	n, _ := b.Uint32(code, diameter.Vendor3GPP)
	return n
}

func parseMedia(g diameter.AVPs) MediaComponent {
	mc := MediaComponent{
		Number:    u32(g, AVPMediaComponentNumber),
		AFAppID:   g.String(AVPAFApplicationIdentifier, diameter.Vendor3GPP),
		MediaType: optEnumOf(g, AVPMediaType),
		MaxUL:     u32(g, AVPMaxRequestedBandwidthUL),
		MaxDL:     u32(g, AVPMaxRequestedBandwidthDL),
		Status:    optEnumOf(g, AVPFlowStatus),
	}
	for _, a := range g.All(AVPCodecData, diameter.Vendor3GPP) {
		mc.CodecData = append(mc.CodecData, diameter.AsString(a))
	}
	for _, s := range g.Groups(AVPMediaSubComponent, diameter.Vendor3GPP) {
		sc := SubComponent{
			FlowNumber: u32(s, AVPFlowNumber),
			Status:     optEnumOf(s, AVPFlowStatus),
			Usage:      optEnumOf(s, AVPFlowUsage),
			MaxUL:      u32(s, AVPMaxRequestedBandwidthUL),
			MaxDL:      u32(s, AVPMaxRequestedBandwidthDL),
		}
		for _, a := range s.All(AVPFlowDescription, diameter.Vendor3GPP) {
			if r, ok := a.Data.(datatype.IPFilterRule); ok {
				sc.Descriptions = append(sc.Descriptions, string(r))
			}
		}
		mc.SubComponents = append(mc.SubComponents, sc)
	}
	return mc
}

// SubscriptionID identifies the subscriber (RFC 8506 §8.46).
type SubscriptionID struct {
	Type uint32 // SubscriptionE164, SubscriptionSIPURI, ...
	Data string
}

// AAR is an AA-Request (TS 29.214 §5.6.1): the AF (P-CSCF) asks the PCRF
// to authorize the media of a session.
type AAR struct {
	SessionID       string // "": a new one; keep it for updates, STR
	RequestType     *uint32
	FramedIP        netip.Addr // the UE's address (IPv4 as Framed-IP-Address)
	AFAppID         string
	ChargingID      []byte
	Media           []MediaComponent
	SpecificActions []uint32
	Subscriptions   []SubscriptionID
}

// AAA is an AA-Answer (TS 29.214 §5.6.2).
type AAA struct {
	Result    diameter.Result
	SessionID string
}

// AAR sends an AA-Request.
func (c *Client) AAR(ctx context.Context, q *AAR) (*AAA, error) {
	m := c.request(CmdAA, q.SessionID, "")
	if q.AFAppID != "" {
		m.AddAVP(typed.V(AVPAFApplicationIdentifier, datatype.OctetString(q.AFAppID)))
	}
	for i := range q.Media {
		m.AddAVP(q.Media[i].avp())
	}
	if q.ChargingID != nil {
		m.AddAVP(typed.V(AVPAFChargingIdentifier, datatype.OctetString(q.ChargingID)))
	}
	for _, a := range q.SpecificActions {
		m.AddAVP(typed.V(AVPSpecificAction, datatype.Enumerated(a)))
	}
	for _, s := range q.Subscriptions {
		m.AddAVP(diameter.NewGroup(AVPSubscriptionID, 0,
			diameter.NewAVP(AVPSubscriptionIDType, 0, datatype.Enumerated(s.Type)),
			diameter.NewAVP(AVPSubscriptionIDData, 0, datatype.UTF8String(s.Data))))
	}
	if q.FramedIP.Is4() {
		ip := q.FramedIP.As4()
		m.AddAVP(diameter.NewAVP(AVPFramedIPAddress, 0, datatype.OctetString(ip[:])))
	}
	if q.RequestType != nil {
		m.AddAVP(typed.VNoM(AVPRxRequestType, datatype.Enumerated(*q.RequestType)))
	}
	return typed.Do(ctx, c.d, m, ParseAAA)
}

// ParseAAR reads an AAR.
func ParseAAR(m *diameter.Message) (*AAR, error) {
	b := diameter.Body(m)
	q := &AAR{
		SessionID:   diameter.SessionID(m),
		RequestType: optEnumOf(b, AVPRxRequestType),
		AFAppID:     b.String(AVPAFApplicationIdentifier, diameter.Vendor3GPP),
		ChargingID:  b.Bytes(AVPAFChargingIdentifier, diameter.Vendor3GPP),
	}
	if ip, ok := netip.AddrFromSlice(b.Bytes(AVPFramedIPAddress, 0)); ok {
		q.FramedIP = ip
	}
	for _, g := range b.Groups(AVPMediaComponentDescription, diameter.Vendor3GPP) {
		q.Media = append(q.Media, parseMedia(g))
	}
	for _, a := range b.All(AVPSpecificAction, diameter.Vendor3GPP) {
		n, _ := diameter.AsUint32(a)
		q.SpecificActions = append(q.SpecificActions, n)
	}
	for _, g := range b.Groups(AVPSubscriptionID, 0) {
		t, _ := g.Uint32(AVPSubscriptionIDType, 0)
		q.Subscriptions = append(q.Subscriptions, SubscriptionID{Type: t, Data: g.String(AVPSubscriptionIDData, 0)})
	}
	if q.SessionID == "" {
		return nil, typed.Missing("AAR", "Session-Id")
	}
	return q, nil
}

// ParseAAA reads an AAA.
func ParseAAA(m *diameter.Message) (*AAA, error) {
	return &AAA{Result: diameter.ResultOf(m), SessionID: diameter.SessionID(m)}, nil
}

func (a *AAA) answer(r *diameter.Request) *diameter.Message { return answer(r, a.Result) }

// STR is a Session-Termination-Request (TS 29.214 §5.6.3): the AF ends the
// Rx session.
type STR struct {
	SessionID        string
	TerminationCause uint32 // default TerminationLogout
}

// STA is a Session-Termination-Answer (TS 29.214 §5.6.4).
type STA struct {
	Result diameter.Result
}

// STR sends a Session-Termination-Request.
func (c *Client) STR(ctx context.Context, q *STR) (*STA, error) {
	m := c.request(CmdSessionTermination, q.SessionID, "")
	cause := q.TerminationCause
	if cause == 0 {
		cause = TerminationLogout
	}
	m.AddAVP(diameter.NewAVP(AVPTerminationCause, 0, datatype.Enumerated(cause)))
	return typed.Do(ctx, c.d, m, ParseSTA)
}

// ParseSTR reads an STR.
func ParseSTR(m *diameter.Message) (*STR, error) {
	q := &STR{SessionID: diameter.SessionID(m)}
	q.TerminationCause, _ = diameter.Body(m).Uint32(AVPTerminationCause, 0)
	if q.SessionID == "" {
		return nil, typed.Missing("STR", "Session-Id")
	}
	return q, nil
}

// ParseSTA reads an STA.
func ParseSTA(m *diameter.Message) (*STA, error) { return &STA{Result: diameter.ResultOf(m)}, nil }

func (a *STA) answer(r *diameter.Request) *diameter.Message { return answer(r, a.Result) }

// RAR is a Re-Auth-Request (TS 29.214 §5.6.5): the PCRF notifies the AF of
// bearer events (Specific-Action).
type RAR struct {
	SessionID       string
	DestinationHost string // the AF
	SpecificActions []uint32
	AbortCause      *uint32
}

// RAA is a Re-Auth-Answer (TS 29.214 §5.6.6).
type RAA struct {
	Result diameter.Result
}

// RAR sends a Re-Auth-Request (PCRF side).
func (c *Client) RAR(ctx context.Context, q *RAR) (*RAA, error) {
	m := c.request(CmdReAuth, q.SessionID, q.DestinationHost)
	m.AddAVP(diameter.NewAVP(285, 0, datatype.Enumerated(0))) // Re-Auth-Request-Type AUTHORIZE_ONLY (RFC 6733 §8.12)
	for _, a := range q.SpecificActions {
		m.AddAVP(typed.V(AVPSpecificAction, datatype.Enumerated(a)))
	}
	if q.AbortCause != nil {
		m.AddAVP(typed.V(AVPAbortCause, datatype.Enumerated(*q.AbortCause)))
	}
	return typed.Do(ctx, c.d, m, ParseRAA)
}

// ParseRAR reads a RAR.
func ParseRAR(m *diameter.Message) (*RAR, error) {
	b := diameter.Body(m)
	q := &RAR{SessionID: diameter.SessionID(m), DestinationHost: diameter.DestinationHost(m), AbortCause: optEnumOf(b, AVPAbortCause)}
	for _, a := range b.All(AVPSpecificAction, diameter.Vendor3GPP) {
		n, _ := diameter.AsUint32(a)
		q.SpecificActions = append(q.SpecificActions, n)
	}
	if q.SessionID == "" {
		return nil, typed.Missing("RAR", "Session-Id")
	}
	return q, nil
}

// ParseRAA reads a RAA.
func ParseRAA(m *diameter.Message) (*RAA, error) { return &RAA{Result: diameter.ResultOf(m)}, nil }

func (a *RAA) answer(r *diameter.Request) *diameter.Message { return answer(r, a.Result) }

// ASR is an Abort-Session-Request (TS 29.214 §5.6.7): the PCRF tells the AF
// the session can no longer be served.
type ASR struct {
	SessionID       string
	DestinationHost string // the AF
	AbortCause      uint32 // BEARER_RELEASED 0, INSUFFICIENT_SERVER_RESOURCES 1, ...
}

// ASA is an Abort-Session-Answer (TS 29.214 §5.6.8).
type ASA struct {
	Result diameter.Result
}

// ASR sends an Abort-Session-Request (PCRF side).
func (c *Client) ASR(ctx context.Context, q *ASR) (*ASA, error) {
	m := c.request(CmdAbortSession, q.SessionID, q.DestinationHost)
	m.AddAVP(typed.V(AVPAbortCause, datatype.Enumerated(q.AbortCause)))
	return typed.Do(ctx, c.d, m, ParseASA)
}

// ParseASR reads an ASR.
func ParseASR(m *diameter.Message) (*ASR, error) {
	q := &ASR{SessionID: diameter.SessionID(m), DestinationHost: diameter.DestinationHost(m)}
	q.AbortCause = u32(diameter.Body(m), AVPAbortCause)
	if q.SessionID == "" {
		return nil, typed.Missing("ASR", "Session-Id")
	}
	return q, nil
}

// ParseASA reads an ASA.
func ParseASA(m *diameter.Message) (*ASA, error) { return &ASA{Result: diameter.ResultOf(m)}, nil }

func (a *ASA) answer(r *diameter.Request) *diameter.Message { return answer(r, a.Result) }

// Server serves Rx requests with typed functions: a PCRF sets AAR and STR;
// an AF (P-CSCF) sets RAR and ASR. Register adds them to a Mux.
type Server struct {
	AAR func(ctx context.Context, req *AAR) (*AAA, error)
	STR func(ctx context.Context, req *STR) (*STA, error)
	RAR func(ctx context.Context, req *RAR) (*RAA, error)
	ASR func(ctx context.Context, req *ASR) (*ASA, error)
}

// Register adds a handler to mux for every function set in s.
func (s *Server) Register(mux *diameter.Mux) {
	if s.AAR != nil {
		mux.Handle(diameter.AppRx, CmdAA, typed.Handler(ParseAAR, s.AAR, (*AAA).answer))
	}
	if s.STR != nil {
		mux.Handle(diameter.AppRx, CmdSessionTermination, typed.Handler(ParseSTR, s.STR, (*STA).answer))
	}
	if s.RAR != nil {
		mux.Handle(diameter.AppRx, CmdReAuth, typed.Handler(ParseRAR, s.RAR, (*RAA).answer))
	}
	if s.ASR != nil {
		mux.Handle(diameter.AppRx, CmdAbortSession, typed.Handler(ParseASR, s.ASR, (*ASA).answer))
	}
}
