package sh

import (
	"context"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/internal/typed"
)

// Command codes (TS 29.329 §6.1).
const (
	CmdUserData               uint32 = 306
	CmdProfileUpdate          uint32 = 307
	CmdSubscribeNotifications uint32 = 308
	CmdPushNotification       uint32 = 309
)

// AVP codes (TS 29.329 §6.3), vendor 3GPP.
const (
	AVPPublicIdentity    uint32 = 601
	AVPServerName        uint32 = 602
	AVPUserIdentity      uint32 = 700
	AVPMSISDN            uint32 = 701
	AVPUserData          uint32 = 702
	AVPDataReference     uint32 = 703
	AVPServiceIndication uint32 = 704
	AVPIdentitySet       uint32 = 708
)

// DataReference is a Data-Reference value (TS 29.328 §7.6, TS 29.329 §6.3.4).
type DataReference uint32

// Data-Reference values.
const (
	RepositoryData        DataReference = 0
	IMSPublicIdentity     DataReference = 10
	IMSUserState          DataReference = 11
	SCSCFName             DataReference = 12
	InitialFilterCriteria DataReference = 13
	LocationInformation   DataReference = 14
	UserState             DataReference = 15
	ChargingInformation   DataReference = 16
	MSISDN                DataReference = 17
	PSIActivation         DataReference = 18
	DSAI                  DataReference = 19
)

// Experimental-Result-Code values of vendor 3GPP (TS 29.329 §6.2).
const (
	ErrorUserUnknown              uint32 = 5001
	UserDataNotAvailable          uint32 = 4100
	PriorUpdateInProgress         uint32 = 4101
	ErrorUserDataNotRecognized    uint32 = 5100
	ErrorOperationNotAllowed      uint32 = 5101
	ErrorUserDataCannotBeRead     uint32 = 5102
	ErrorUserDataCannotBeModified uint32 = 5103
	ErrorUserDataCannotBeNotified uint32 = 5104
	ErrorTransparentDataOutOfSync uint32 = 5105
	ErrorSubsDataAbsent           uint32 = 5106
	ErrorNoSubscriptionToData     uint32 = 5107
	ErrorDSAINotAvailable         uint32 = 5108
)

// App is the Sh application to advertise in diameter.Config.Apps.
func App() diameter.App { return diameter.App{ID: diameter.AppSh, Vendor: diameter.Vendor3GPP} }

// Experimental returns a 3GPP Experimental-Result.
func Experimental(code uint32) diameter.Result {
	return diameter.Result{Code: code, Vendor: diameter.Vendor3GPP}
}

// Success returns Result-Code 2001.
func Success() diameter.Result { return diameter.Result{Code: diameter.Success} }

// Config names the node a Client talks for and to.
type Config struct {
	OriginHost       string // names this node in new Session-Ids; required
	DestinationRealm string // required
	DestinationHost  string // optional
}

// Client sends Sh requests over a Doer. Safe for concurrent use.
type Client struct {
	d   diameter.Doer
	cfg Config
}

// NewClient returns a Client sending through d.
func NewClient(d diameter.Doer, cfg Config) (*Client, error) {
	if d == nil || cfg.OriginHost == "" || cfg.DestinationRealm == "" {
		return nil, fmt.Errorf("%w: sh client needs a Doer, OriginHost and DestinationRealm", diameter.ErrConfig)
	}
	return &Client{d: d, cfg: cfg}, nil
}

// UserIdentity is the User-Identity AVP (TS 29.329 §6.3.1): a public
// identity or an MSISDN.
type UserIdentity struct {
	PublicIdentity string
	MSISDN         []byte // TBCD digits as TS 29.329 §6.3.2 encodes them
}

func (u UserIdentity) avp() *diameter.AVP {
	var kids []*diameter.AVP
	if u.PublicIdentity != "" {
		kids = append(kids, typed.V(AVPPublicIdentity, datatype.UTF8String(u.PublicIdentity)))
	}
	if u.MSISDN != nil {
		kids = append(kids, typed.V(AVPMSISDN, datatype.OctetString(u.MSISDN)))
	}
	return diameter.NewGroup(AVPUserIdentity, diameter.Vendor3GPP, kids...)
}

func parseUser(b diameter.AVPs) (UserIdentity, bool) {
	g := b.Group(AVPUserIdentity, diameter.Vendor3GPP)
	if g == nil {
		return UserIdentity{}, false
	}
	return UserIdentity{PublicIdentity: g.String(AVPPublicIdentity, diameter.Vendor3GPP), MSISDN: g.Bytes(AVPMSISDN, diameter.Vendor3GPP)}, true
}

// UDR is a User-Data-Request (TS 29.329 §6.1.1): an AS reads user data.
type UDR struct {
	SessionID          string
	User               UserIdentity
	DataReferences     []DataReference
	ServiceIndications []string // for RepositoryData
	ServerName         string
	IdentitySets       []uint32
}

// UDA is a User-Data-Answer (TS 29.329 §6.1.2).
type UDA struct {
	Result   diameter.Result
	UserData []byte // Sh-Data XML (TS 29.328 Annex D)
}

// UDR sends a User-Data-Request.
func (c *Client) UDR(ctx context.Context, q *UDR) (*UDA, error) {
	m := typed.Request(CmdUserData, diameter.AppSh, c.cfg.OriginHost, q.SessionID, c.cfg.DestinationRealm, c.cfg.DestinationHost)
	m.AddAVP(q.User.avp())
	if q.ServerName != "" {
		m.AddAVP(typed.V(AVPServerName, datatype.UTF8String(q.ServerName)))
	}
	for _, s := range q.ServiceIndications {
		m.AddAVP(typed.V(AVPServiceIndication, datatype.OctetString(s)))
	}
	for _, d := range q.DataReferences {
		m.AddAVP(typed.V(AVPDataReference, datatype.Enumerated(d)))
	}
	for _, s := range q.IdentitySets {
		m.AddAVP(typed.VNoM(AVPIdentitySet, datatype.Enumerated(s)))
	}
	return typed.Do(ctx, c.d, m, ParseUDA)
}

// ParseUDR reads a UDR; it fails with 5005 without User-Identity or
// Data-Reference.
func ParseUDR(m *diameter.Message) (*UDR, error) {
	b := diameter.Body(m)
	u, ok := parseUser(b)
	if !ok {
		return nil, typed.Missing("UDR", "User-Identity")
	}
	q := &UDR{SessionID: diameter.SessionID(m), User: u, ServerName: b.String(AVPServerName, diameter.Vendor3GPP)}
	for _, a := range b.All(AVPDataReference, diameter.Vendor3GPP) {
		n, _ := diameter.AsUint32(a)
		q.DataReferences = append(q.DataReferences, DataReference(n))
	}
	for _, a := range b.All(AVPServiceIndication, diameter.Vendor3GPP) {
		q.ServiceIndications = append(q.ServiceIndications, diameter.AsString(a))
	}
	for _, a := range b.All(AVPIdentitySet, diameter.Vendor3GPP) {
		n, _ := diameter.AsUint32(a)
		q.IdentitySets = append(q.IdentitySets, n)
	}
	if len(q.DataReferences) == 0 {
		return nil, typed.Missing("UDR", "Data-Reference")
	}
	return q, nil
}

// ParseUDA reads a UDA.
func ParseUDA(m *diameter.Message) (*UDA, error) {
	return &UDA{Result: diameter.ResultOf(m), UserData: diameter.Body(m).Bytes(AVPUserData, diameter.Vendor3GPP)}, nil
}

func (a *UDA) answer(r *diameter.Request) *diameter.Message {
	m := typed.Answer(r, a.Result, diameter.AppSh)
	if a.UserData != nil {
		m.AddAVP(typed.V(AVPUserData, datatype.OctetString(a.UserData)))
	}
	return m
}

// PNR is a Push-Notification-Request (TS 29.329 §6.1.7): the HSS pushes
// changed data an AS subscribed to.
type PNR struct {
	SessionID       string
	DestinationHost string // the AS (mandatory in PNR); "": Config.DestinationHost
	User            UserIdentity
	UserName        string
	UserData        []byte
}

// PNA is a Push-Notification-Answer (TS 29.329 §6.1.8).
type PNA struct {
	Result diameter.Result
}

// PNR sends a Push-Notification-Request.
func (c *Client) PNR(ctx context.Context, q *PNR) (*PNA, error) {
	host := q.DestinationHost
	if host == "" {
		host = c.cfg.DestinationHost
	}
	m := typed.Request(CmdPushNotification, diameter.AppSh, c.cfg.OriginHost, q.SessionID, c.cfg.DestinationRealm, host)
	m.AddAVP(q.User.avp())
	if q.UserName != "" {
		m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	}
	m.AddAVP(typed.V(AVPUserData, datatype.OctetString(q.UserData)))
	return typed.Do(ctx, c.d, m, ParsePNA)
}

// ParsePNR reads a PNR; it fails with 5005 without User-Identity or
// User-Data.
func ParsePNR(m *diameter.Message) (*PNR, error) {
	b := diameter.Body(m)
	u, ok := parseUser(b)
	if !ok {
		return nil, typed.Missing("PNR", "User-Identity")
	}
	q := &PNR{SessionID: diameter.SessionID(m), DestinationHost: diameter.DestinationHost(m), User: u,
		UserName: b.String(diameter.AVPUserName, 0), UserData: b.Bytes(AVPUserData, diameter.Vendor3GPP)}
	if q.UserData == nil {
		return nil, typed.Missing("PNR", "User-Data")
	}
	return q, nil
}

// ParsePNA reads a PNA.
func ParsePNA(m *diameter.Message) (*PNA, error) { return &PNA{Result: diameter.ResultOf(m)}, nil }

func (a *PNA) answer(r *diameter.Request) *diameter.Message {
	return typed.Answer(r, a.Result, diameter.AppSh)
}

// Server serves Sh requests with typed functions: an HSS sets UDR, an AS
// sets PNR. Register adds them to a Mux.
type Server struct {
	UDR func(ctx context.Context, req *UDR) (*UDA, error)
	PNR func(ctx context.Context, req *PNR) (*PNA, error)
}

// Register adds a handler to mux for every function set in s.
func (s *Server) Register(mux *diameter.Mux) {
	if s.UDR != nil {
		mux.Handle(diameter.AppSh, CmdUserData, typed.Handler(ParseUDR, s.UDR, (*UDA).answer))
	}
	if s.PNR != nil {
		mux.Handle(diameter.AppSh, CmdPushNotification, typed.Handler(ParsePNR, s.PNR, (*PNA).answer))
	}
}
