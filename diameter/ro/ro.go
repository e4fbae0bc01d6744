// Package ro is 3GPP online charging (Ro, TS 32.299 §6.3 on the Diameter
// Credit-Control application, RFC 8506) on package diameter:
// Credit-Control-Request/Answer in its four forms (initial, update,
// termination for session charging; event for one-shot charging) with
// Multiple-Services-Credit-Control and IMS-Information. The dictionary is
// go-diameter's.
//
//	ocs, _ := ro.NewClient(pool, ro.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "ocs.example.com"})
//	s := ocs.NewSession()                       // one Session-Id, numbered requests
//	cca, err := s.Initial(ctx, &ro.CCR{MSCC: []ro.MSCC{{RequestedTime: 60}}, IMS: info})
//	cca, err = s.Update(ctx, &ro.CCR{MSCC: []ro.MSCC{{UsedTime: 60, RequestedTime: 60}}})
//	cca, err = s.Terminate(ctx, &ro.CCR{MSCC: []ro.MSCC{{UsedTime: 23}}})
package ro

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/charging"
	"github.com/siphon-go/siphon/diameter/internal/typed"
)

// CmdCreditControl is the Credit-Control command code (RFC 8506 §3.1).
const CmdCreditControl = diameter.CmdCreditControl

// CC-Request-Type values (RFC 8506 §8.3).
const (
	InitialRequest     uint32 = 1
	UpdateRequest      uint32 = 2
	TerminationRequest uint32 = 3
	EventRequest       uint32 = 4
)

// AVP codes (RFC 8506 §8), no vendor.
const (
	AVPCCRequestNumber           uint32 = 415
	AVPCCRequestType             uint32 = 416
	AVPCCTime                    uint32 = 420
	AVPFinalUnitIndication       uint32 = 430
	AVPGrantedServiceUnit        uint32 = 431
	AVPRatingGroup               uint32 = 432
	AVPRequestedAction           uint32 = 436
	AVPRequestedServiceUnit      uint32 = 437
	AVPServiceIdentifier         uint32 = 439
	AVPSubscriptionID            uint32 = 443
	AVPSubscriptionIDData        uint32 = 444
	AVPUsedServiceUnit           uint32 = 446
	AVPValidityTime              uint32 = 448
	AVPFinalUnitAction           uint32 = 449
	AVPSubscriptionIDType        uint32 = 450
	AVPMultipleServicesIndicator uint32 = 455
	AVPMultipleServicesCC        uint32 = 456
)

// Requested-Action DIRECT_DEBITING (RFC 8506 §8.41), for event charging.
const DirectDebiting uint32 = 0

// Credit-Control result codes (RFC 8506 §9.1).
const (
	CreditControlNotApplicable uint32 = 4011
	CreditLimitReached         uint32 = 4012
	UserUnknown                uint32 = 5030
	RatingFailed               uint32 = 5031
)

// App is the Credit-Control application to advertise for Ro.
func App() diameter.App { return diameter.App{ID: diameter.AppCreditControl} }

// Config names the node a Client talks for and to.
type Config struct {
	OriginHost       string // names this node in new Session-Ids; required
	DestinationRealm string // the OCS realm; required
	DestinationHost  string // optional
	// ServiceContextID defaults to charging.IMSServiceContext.
	ServiceContextID string
}

// Client sends Ro requests over a Doer. Safe for concurrent use.
type Client struct {
	d   diameter.Doer
	cfg Config
}

// NewClient returns a Client sending through d.
func NewClient(d diameter.Doer, cfg Config) (*Client, error) {
	if d == nil || cfg.OriginHost == "" || cfg.DestinationRealm == "" {
		return nil, fmt.Errorf("%w: ro client needs a Doer, OriginHost and DestinationRealm", diameter.ErrConfig)
	}
	if cfg.ServiceContextID == "" {
		cfg.ServiceContextID = charging.IMSServiceContext
	}
	return &Client{d: d, cfg: cfg}, nil
}

// MSCC is one Multiple-Services-Credit-Control (RFC 8506 §8.16), with
// time units in seconds (CC-Time); 0 leaves a unit out.
type MSCC struct {
	RatingGroup       uint32 // 0: absent
	ServiceIdentifier uint32 // 0: absent
	RequestedTime     uint32
	UsedTime          uint32
	GrantedTime       uint32        // answers
	ValidityTime      time.Duration // answers
	Result            uint32        // answers: per-service Result-Code
	FinalUnitAction   *uint32       // answers: TERMINATE 0, REDIRECT 1, RESTRICT_ACCESS 2
}

func unit(code, secs uint32) *diameter.AVP {
	return diameter.NewGroup(code, 0, diameter.NewAVP(AVPCCTime, 0, datatype.Unsigned32(secs)))
}

func (m *MSCC) avp() *diameter.AVP {
	var k []*diameter.AVP
	if m.GrantedTime != 0 {
		k = append(k, unit(AVPGrantedServiceUnit, m.GrantedTime))
	}
	if m.RequestedTime != 0 {
		k = append(k, unit(AVPRequestedServiceUnit, m.RequestedTime))
	}
	if m.UsedTime != 0 {
		k = append(k, unit(AVPUsedServiceUnit, m.UsedTime))
	}
	if m.ServiceIdentifier != 0 {
		k = append(k, diameter.NewAVP(AVPServiceIdentifier, 0, datatype.Unsigned32(m.ServiceIdentifier)))
	}
	if m.RatingGroup != 0 {
		k = append(k, diameter.NewAVP(AVPRatingGroup, 0, datatype.Unsigned32(m.RatingGroup)))
	}
	if m.ValidityTime != 0 {
		k = append(k, diameter.NewAVP(AVPValidityTime, 0, datatype.Unsigned32(m.ValidityTime/time.Second)))
	}
	if m.Result != 0 {
		k = append(k, diameter.NewAVP(diameter.AVPResultCode, 0, datatype.Unsigned32(m.Result)))
	}
	if m.FinalUnitAction != nil {
		k = append(k, diameter.NewGroup(AVPFinalUnitIndication, 0, diameter.NewAVP(AVPFinalUnitAction, 0, datatype.Enumerated(*m.FinalUnitAction))))
	}
	return diameter.NewGroup(AVPMultipleServicesCC, 0, k...)
}

func ccTime(g diameter.AVPs, code uint32) uint32 {
	n, _ := g.Group(code, 0).Uint32(AVPCCTime, 0)
	return n
}

func parseMSCC(g diameter.AVPs) MSCC {
	m := MSCC{
		RequestedTime: ccTime(g, AVPRequestedServiceUnit),
		UsedTime:      ccTime(g, AVPUsedServiceUnit),
		GrantedTime:   ccTime(g, AVPGrantedServiceUnit),
	}
	m.RatingGroup, _ = g.Uint32(AVPRatingGroup, 0)
	m.ServiceIdentifier, _ = g.Uint32(AVPServiceIdentifier, 0)
	m.Result, _ = g.Uint32(diameter.AVPResultCode, 0)
	if vt, ok := g.Uint32(AVPValidityTime, 0); ok {
		m.ValidityTime = time.Duration(vt) * time.Second
	}
	if a, ok := g.Group(AVPFinalUnitIndication, 0).Uint32(AVPFinalUnitAction, 0); ok {
		m.FinalUnitAction = &a
	}
	return m
}

// CCR is a Credit-Control-Request (TS 32.299 §6.4.2). Session sets
// SessionID, RequestType and RequestNumber.
type CCR struct {
	SessionID      string
	RequestType    uint32
	RequestNumber  uint32
	UserName       string
	Subscription   string // SIP URI of the served user (Subscription-Id END_USER_SIP_URI)
	EventTimestamp time.Time
	MSCC           []MSCC
	IMS            *charging.IMSInformation
}

// CCA is a Credit-Control-Answer (TS 32.299 §6.4.3).
type CCA struct {
	Result        diameter.Result
	SessionID     string
	RequestType   uint32
	RequestNumber uint32
	MSCC          []MSCC
}

// Session is one Ro charging session: it keeps the Session-Id and numbers
// the requests (CC-Request-Number, RFC 8506 §8.2). Safe for concurrent use,
// though a session's requests are normally sequential.
type Session struct {
	c   *Client
	sid string
	mu  sync.Mutex
	n   uint32
}

// NewSession starts a session with a new Session-Id.
func (c *Client) NewSession() *Session {
	return &Session{c: c, sid: diameter.NewSessionID(c.cfg.OriginHost)}
}

// ID returns the session's Session-Id.
func (s *Session) ID() string { return s.sid }

func (s *Session) send(ctx context.Context, t uint32, q *CCR) (*CCA, error) {
	s.mu.Lock()
	n := s.n
	s.n++
	s.mu.Unlock()
	cp := *q
	cp.SessionID, cp.RequestType, cp.RequestNumber = s.sid, t, n
	return s.c.CCR(ctx, &cp)
}

// Initial sends the CCR-Initial that opens the session and reserves units.
func (s *Session) Initial(ctx context.Context, q *CCR) (*CCA, error) {
	return s.send(ctx, InitialRequest, q)
}

// Update reports used units and asks for more (CCR-Update).
func (s *Session) Update(ctx context.Context, q *CCR) (*CCA, error) {
	return s.send(ctx, UpdateRequest, q)
}

// Terminate reports the final usage and closes the session (CCR-Termination).
func (s *Session) Terminate(ctx context.Context, q *CCR) (*CCA, error) {
	return s.send(ctx, TerminationRequest, q)
}

// Event sends a one-shot CCR-Event (immediate event charging, e.g. a SIP
// MESSAGE) with Requested-Action DIRECT_DEBITING and a new Session-Id.
func (c *Client) Event(ctx context.Context, q *CCR) (*CCA, error) {
	cp := *q
	cp.SessionID, cp.RequestType, cp.RequestNumber = "", EventRequest, 0
	return c.CCR(ctx, &cp)
}

// CCR sends a Credit-Control-Request as given.
func (c *Client) CCR(ctx context.Context, q *CCR) (*CCA, error) {
	m := typed.SessionRequest(CmdCreditControl, diameter.AppCreditControl, c.cfg.OriginHost, q.SessionID)
	m.AddAVP(diameter.NewAVP(diameter.AVPAuthApplicationID, 0, datatype.Unsigned32(diameter.AppCreditControl)))
	typed.Destination(m, c.cfg.DestinationRealm, c.cfg.DestinationHost)
	m.AddAVP(diameter.NewAVP(charging.AVPServiceContextID, 0, datatype.UTF8String(c.cfg.ServiceContextID)))
	m.AddAVP(diameter.NewAVP(AVPCCRequestType, 0, datatype.Enumerated(q.RequestType)))
	m.AddAVP(diameter.NewAVP(AVPCCRequestNumber, 0, datatype.Unsigned32(q.RequestNumber)))
	if q.UserName != "" {
		m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	}
	ts := q.EventTimestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	m.AddAVP(diameter.NewAVP(diameter.AVPEventTimestamp, 0, datatype.Time(ts)))
	if q.Subscription != "" {
		m.AddAVP(diameter.NewGroup(AVPSubscriptionID, 0,
			diameter.NewAVP(AVPSubscriptionIDType, 0, datatype.Enumerated(2)), // END_USER_SIP_URI
			diameter.NewAVP(AVPSubscriptionIDData, 0, datatype.UTF8String(q.Subscription))))
	}
	if q.RequestType == EventRequest {
		m.AddAVP(diameter.NewAVP(AVPRequestedAction, 0, datatype.Enumerated(DirectDebiting)))
	}
	if len(q.MSCC) > 0 {
		m.AddAVP(diameter.NewAVP(AVPMultipleServicesIndicator, 0, datatype.Enumerated(1))) // MULTIPLE_SERVICES_SUPPORTED
	}
	for i := range q.MSCC {
		m.AddAVP(q.MSCC[i].avp())
	}
	if q.IMS != nil {
		m.AddAVP(q.IMS.AVP())
	}
	return typed.Do(ctx, c.d, m, ParseCCA)
}

// ParseCCR reads a CCR; it fails with 5005 without CC-Request-Type.
func ParseCCR(m *diameter.Message) (*CCR, error) {
	b := diameter.Body(m)
	t, ok := b.Uint32(AVPCCRequestType, 0)
	if !ok {
		return nil, typed.Missing("CCR", "CC-Request-Type")
	}
	q := &CCR{SessionID: diameter.SessionID(m), RequestType: t, UserName: b.String(diameter.AVPUserName, 0),
		Subscription: b.Group(AVPSubscriptionID, 0).String(AVPSubscriptionIDData, 0), IMS: charging.ParseIMSInformation(b)}
	q.RequestNumber, _ = b.Uint32(AVPCCRequestNumber, 0)
	q.EventTimestamp, _ = b.Time(diameter.AVPEventTimestamp, 0)
	for _, g := range b.Groups(AVPMultipleServicesCC, 0) {
		q.MSCC = append(q.MSCC, parseMSCC(g))
	}
	return q, nil
}

// ParseCCA reads a CCA.
func ParseCCA(m *diameter.Message) (*CCA, error) {
	b := diameter.Body(m)
	a := &CCA{Result: diameter.ResultOf(m), SessionID: diameter.SessionID(m)}
	a.RequestType, _ = b.Uint32(AVPCCRequestType, 0)
	a.RequestNumber, _ = b.Uint32(AVPCCRequestNumber, 0)
	for _, g := range b.Groups(AVPMultipleServicesCC, 0) {
		a.MSCC = append(a.MSCC, parseMSCC(g))
	}
	return a, nil
}

// answer echoes CC-Request-Type and -Number, as RFC 8506 §3.2 requires;
// the request's values win over the handler's.
func (a *CCA) answer(r *diameter.Request) *diameter.Message {
	m := r.AnswerResult(a.Result)
	b := r.Body()
	m.AddAVP(diameter.NewAVP(diameter.AVPAuthApplicationID, 0, datatype.Unsigned32(diameter.AppCreditControl)))
	t, _ := b.Uint32(AVPCCRequestType, 0)
	n, _ := b.Uint32(AVPCCRequestNumber, 0)
	m.AddAVP(diameter.NewAVP(AVPCCRequestType, 0, datatype.Enumerated(t)))
	m.AddAVP(diameter.NewAVP(AVPCCRequestNumber, 0, datatype.Unsigned32(n)))
	for i := range a.MSCC {
		m.AddAVP(a.MSCC[i].avp())
	}
	return m
}

// Server serves CCRs with a typed function (an OCS). Register adds it to a
// Mux.
type Server struct {
	CCR func(ctx context.Context, req *CCR) (*CCA, error)
}

// Register adds the CCR handler to mux when set.
func (s *Server) Register(mux *diameter.Mux) {
	if s.CCR != nil {
		mux.Handle(diameter.AppCreditControl, CmdCreditControl, typed.Handler(ParseCCR, s.CCR, (*CCA).answer))
	}
}
