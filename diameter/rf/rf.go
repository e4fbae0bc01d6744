// Package rf is 3GPP offline charging (Rf, TS 32.299 §6.2 on the Diameter
// base accounting application) on package diameter:
// Accounting-Request/Answer as START, INTERIM, STOP and EVENT records
// carrying IMS-Information. The 3GPP charging AVPs come from go-diameter's
// Ro/Rf dictionary, which diameter.NewDictionary scopes to application 3.
//
//	cdf, _ := rf.NewClient(pool, rf.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "cdf.example.com"})
//	s := cdf.NewSession()
//	s.Start(ctx, &rf.ACR{IMS: info, InterimInterval: 300})
//	s.Interim(ctx, &rf.ACR{IMS: info})
//	s.Stop(ctx, &rf.ACR{IMS: info})
//	cdf.Event(ctx, &rf.ACR{IMS: &charging.IMSInformation{SIPMethod: "MESSAGE", ...}})
package rf

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

// CmdAccounting is the Accounting command code (RFC 6733 §9.7).
const CmdAccounting = diameter.CmdAccounting

// Accounting-Record-Type values (RFC 6733 §9.8.1).
const (
	EventRecord   uint32 = 1
	StartRecord   uint32 = 2
	InterimRecord uint32 = 3
	StopRecord    uint32 = 4
)

// AVP codes (RFC 6733 §9.8), no vendor.
const (
	AVPAcctInterimInterval    uint32 = 85
	AVPAccountingRecordType   uint32 = 480
	AVPAccountingRecordNumber uint32 = 485
)

// App is the base accounting application to advertise for Rf.
func App() diameter.App { return diameter.App{ID: diameter.AppBaseAccounting, Acct: true} }

// Config names the node a Client talks for and to.
type Config struct {
	OriginHost       string // names this node in new Session-Ids; required
	DestinationRealm string // the CDF realm; required
	DestinationHost  string // optional
	// ServiceContextID defaults to charging.IMSServiceContext.
	ServiceContextID string
}

// Client sends Rf requests over a Doer. Safe for concurrent use.
type Client struct {
	d   diameter.Doer
	cfg Config
}

// NewClient returns a Client sending through d.
func NewClient(d diameter.Doer, cfg Config) (*Client, error) {
	if d == nil || cfg.OriginHost == "" || cfg.DestinationRealm == "" {
		return nil, fmt.Errorf("%w: rf client needs a Doer, OriginHost and DestinationRealm", diameter.ErrConfig)
	}
	if cfg.ServiceContextID == "" {
		cfg.ServiceContextID = charging.IMSServiceContext
	}
	return &Client{d: d, cfg: cfg}, nil
}

// ACR is an Accounting-Request (TS 32.299 §6.2.2). Session and Event set
// SessionID, RecordType and RecordNumber.
type ACR struct {
	SessionID       string
	RecordType      uint32
	RecordNumber    uint32
	UserName        string
	InterimInterval uint32 // seconds; 0: absent
	EventTimestamp  time.Time
	IMS             *charging.IMSInformation
}

// ACA is an Accounting-Answer (TS 32.299 §6.2.3).
type ACA struct {
	Result          diameter.Result
	SessionID       string
	RecordType      uint32
	RecordNumber    uint32
	InterimInterval uint32
}

// Session is one Rf accounting session (START … STOP) sharing a
// Session-Id, with numbered records (RFC 6733 §9.8.3).
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

func (s *Session) send(ctx context.Context, t uint32, q *ACR) (*ACA, error) {
	s.mu.Lock()
	n := s.n
	s.n++
	s.mu.Unlock()
	cp := *q
	cp.SessionID, cp.RecordType, cp.RecordNumber = s.sid, t, n
	return s.c.ACR(ctx, &cp)
}

// Start sends the START record.
func (s *Session) Start(ctx context.Context, q *ACR) (*ACA, error) {
	return s.send(ctx, StartRecord, q)
}

// Interim sends an INTERIM record.
func (s *Session) Interim(ctx context.Context, q *ACR) (*ACA, error) {
	return s.send(ctx, InterimRecord, q)
}

// Stop sends the STOP record.
func (s *Session) Stop(ctx context.Context, q *ACR) (*ACA, error) { return s.send(ctx, StopRecord, q) }

// Event sends a one-shot EVENT record with a new Session-Id.
func (c *Client) Event(ctx context.Context, q *ACR) (*ACA, error) {
	cp := *q
	cp.SessionID, cp.RecordType, cp.RecordNumber = "", EventRecord, 0
	return c.ACR(ctx, &cp)
}

// ACR sends an Accounting-Request as given.
func (c *Client) ACR(ctx context.Context, q *ACR) (*ACA, error) {
	m := typed.SessionRequest(CmdAccounting, diameter.AppBaseAccounting, c.cfg.OriginHost, q.SessionID)
	typed.Destination(m, c.cfg.DestinationRealm, c.cfg.DestinationHost)
	m.AddAVP(diameter.NewAVP(AVPAccountingRecordType, 0, datatype.Enumerated(q.RecordType)))
	m.AddAVP(diameter.NewAVP(AVPAccountingRecordNumber, 0, datatype.Unsigned32(q.RecordNumber)))
	m.AddAVP(diameter.NewAVP(diameter.AVPAcctApplicationID, 0, datatype.Unsigned32(diameter.AppBaseAccounting)))
	if q.UserName != "" {
		m.AddAVP(diameter.NewAVP(diameter.AVPUserName, 0, datatype.UTF8String(q.UserName)))
	}
	if q.InterimInterval != 0 {
		m.AddAVP(diameter.NewAVP(AVPAcctInterimInterval, 0, datatype.Unsigned32(q.InterimInterval)))
	}
	ts := q.EventTimestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	m.AddAVP(diameter.NewAVP(diameter.AVPEventTimestamp, 0, datatype.Time(ts)))
	m.AddAVP(diameter.NewAVP(charging.AVPServiceContextID, 0, datatype.UTF8String(c.cfg.ServiceContextID)))
	if q.IMS != nil {
		m.AddAVP(q.IMS.AVP())
	}
	return typed.Do(ctx, c.d, m, ParseACA)
}

// ParseACR reads an ACR; it fails with 5005 without Accounting-Record-Type.
func ParseACR(m *diameter.Message) (*ACR, error) {
	b := diameter.Body(m)
	t, ok := b.Uint32(AVPAccountingRecordType, 0)
	if !ok {
		return nil, typed.Missing("ACR", "Accounting-Record-Type")
	}
	q := &ACR{SessionID: diameter.SessionID(m), RecordType: t, UserName: b.String(diameter.AVPUserName, 0), IMS: charging.ParseIMSInformation(b)}
	q.RecordNumber, _ = b.Uint32(AVPAccountingRecordNumber, 0)
	q.InterimInterval, _ = b.Uint32(AVPAcctInterimInterval, 0)
	q.EventTimestamp, _ = b.Time(diameter.AVPEventTimestamp, 0)
	return q, nil
}

// ParseACA reads an ACA.
func ParseACA(m *diameter.Message) (*ACA, error) {
	b := diameter.Body(m)
	a := &ACA{Result: diameter.ResultOf(m), SessionID: diameter.SessionID(m)}
	a.RecordType, _ = b.Uint32(AVPAccountingRecordType, 0)
	a.RecordNumber, _ = b.Uint32(AVPAccountingRecordNumber, 0)
	a.InterimInterval, _ = b.Uint32(AVPAcctInterimInterval, 0)
	return a, nil
}

// answer echoes the record type and number (RFC 6733 §9.7.2).
func (a *ACA) answer(r *diameter.Request) *diameter.Message {
	m := r.AnswerResult(a.Result)
	b := r.Body()
	t, _ := b.Uint32(AVPAccountingRecordType, 0)
	n, _ := b.Uint32(AVPAccountingRecordNumber, 0)
	m.AddAVP(diameter.NewAVP(AVPAccountingRecordType, 0, datatype.Enumerated(t)))
	m.AddAVP(diameter.NewAVP(AVPAccountingRecordNumber, 0, datatype.Unsigned32(n)))
	m.AddAVP(diameter.NewAVP(diameter.AVPAcctApplicationID, 0, datatype.Unsigned32(diameter.AppBaseAccounting)))
	if a.InterimInterval != 0 {
		m.AddAVP(diameter.NewAVP(AVPAcctInterimInterval, 0, datatype.Unsigned32(a.InterimInterval)))
	}
	return m
}

// Server serves ACRs with a typed function (a CDF). Register adds it to a
// Mux.
type Server struct {
	ACR func(ctx context.Context, req *ACR) (*ACA, error)
}

// Register adds the ACR handler to mux when set.
func (s *Server) Register(mux *diameter.Mux) {
	if s.ACR != nil {
		mux.Handle(diameter.AppBaseAccounting, CmdAccounting, typed.Handler(ParseACR, s.ACR, (*ACA).answer))
	}
}
