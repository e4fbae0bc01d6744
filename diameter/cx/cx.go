package cx

import (
	"context"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/internal/typed"
)

// Command codes (TS 29.229 §6.1).
const (
	CmdUserAuthorization       uint32 = 300
	CmdServerAssignment        uint32 = 301
	CmdLocationInfo            uint32 = 302
	CmdMultimediaAuth          uint32 = 303
	CmdRegistrationTermination uint32 = 304
	CmdPushProfile             uint32 = 305
)

// AVP codes (TS 29.229 §6.3), all of vendor 3GPP.
const (
	AVPVisitedNetworkIdentifier uint32 = 600
	AVPPublicIdentity           uint32 = 601
	AVPServerName               uint32 = 602
	AVPServerCapabilities       uint32 = 603
	AVPMandatoryCapability      uint32 = 604
	AVPOptionalCapability       uint32 = 605
	AVPUserData                 uint32 = 606
	AVPSIPNumberAuthItems       uint32 = 607
	AVPSIPAuthenticationScheme  uint32 = 608
	AVPSIPAuthenticate          uint32 = 609
	AVPSIPAuthorization         uint32 = 610
	AVPSIPAuthenticationContext uint32 = 611
	AVPSIPAuthDataItem          uint32 = 612
	AVPSIPItemNumber            uint32 = 613
	AVPServerAssignmentType     uint32 = 614
	AVPDeregistrationReason     uint32 = 615
	AVPReasonCode               uint32 = 616
	AVPReasonInfo               uint32 = 617
	AVPChargingInformation      uint32 = 618
	AVPPrimaryEventCharging     uint32 = 619
	AVPSecondaryEventCharging   uint32 = 620
	AVPPrimaryChargingColl      uint32 = 621
	AVPSecondaryChargingColl    uint32 = 622
	AVPUserAuthorizationType    uint32 = 623
	AVPUserDataAlreadyAvailable uint32 = 624
	AVPConfidentialityKey       uint32 = 625
	AVPIntegrityKey             uint32 = 626
	AVPAssociatedIdentities     uint32 = 632
	AVPOriginatingRequest       uint32 = 633
	AVPWildcardedPublicIdentity uint32 = 634
	AVPSIPDigestAuthenticate    uint32 = 635
	AVPUARFlags                 uint32 = 637

	avpDigestRealm     uint32 = 104
	avpDigestQoP       uint32 = 110
	avpDigestAlgorithm uint32 = 111
	avpDigestHA1       uint32 = 121
)

// Experimental-Result-Code values of vendor 3GPP (TS 29.229 §6.2).
const (
	FirstRegistration                  uint32 = 2001
	SubsequentRegistration             uint32 = 2002
	UnregisteredService                uint32 = 2003
	SuccessServerNameNotStored         uint32 = 2004
	ErrorUserUnknown                   uint32 = 5001
	ErrorIdentitiesDontMatch           uint32 = 5002
	ErrorIdentityNotRegistered         uint32 = 5003
	ErrorRoamingNotAllowed             uint32 = 5004
	ErrorIdentityAlreadyRegistered     uint32 = 5005
	ErrorAuthSchemeNotSupported        uint32 = 5006
	ErrorInAssignmentType              uint32 = 5007
	ErrorTooMuchData                   uint32 = 5008
	ErrorNotSupportedUserData          uint32 = 5009
	ErrorFeatureUnsupported            uint32 = 5011
	ErrorServingNodeFeatureUnsupported uint32 = 5012
)

// Experimental returns a 3GPP Experimental-Result.
func Experimental(code uint32) diameter.Result {
	return diameter.Result{Code: code, Vendor: diameter.Vendor3GPP}
}

// Success returns Result-Code 2001 (DIAMETER_SUCCESS).
func Success() diameter.Result { return diameter.Result{Code: diameter.Success} }

// AuthorizationType is User-Authorization-Type (TS 29.229 §6.3.24).
type AuthorizationType uint32

// User-Authorization-Type values.
const (
	Registration                AuthorizationType = 0
	DeRegistration              AuthorizationType = 1
	RegistrationAndCapabilities AuthorizationType = 2
)

// AssignmentType is Server-Assignment-Type (TS 29.229 §6.3.15).
type AssignmentType uint32

// Server-Assignment-Type values.
const (
	NoAssignment                         AssignmentType = 0
	AssignRegistration                   AssignmentType = 1
	ReRegistration                       AssignmentType = 2
	UnregisteredUser                     AssignmentType = 3
	TimeoutDeregistration                AssignmentType = 4
	UserDeregistration                   AssignmentType = 5
	TimeoutDeregistrationStoreServerName AssignmentType = 6
	UserDeregistrationStoreServerName    AssignmentType = 7
	AdministrativeDeregistration         AssignmentType = 8
	AuthenticationFailure                AssignmentType = 9
	AuthenticationTimeout                AssignmentType = 10
	DeregistrationTooMuchData            AssignmentType = 11
)

// Reason-Code values of Deregistration-Reason (TS 29.229 §6.3.17).
const (
	PermanentTermination uint32 = 0
	NewServerAssigned    uint32 = 1
	ServerChange         uint32 = 2
	RemoveSCSCF          uint32 = 3
)

// Authentication schemes (TS 29.229 §6.3.9, TS 33.203).
const (
	SchemeAKAv1MD5 = "Digest-AKAv1-MD5"
	SchemeDigest   = "SIP Digest"
	SchemeUnknown  = "Unknown"
)

// App is the Cx application to advertise in diameter.Config.Apps.
func App() diameter.App { return diameter.App{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP} }

// Config names the Diameter node a Client talks for and to.
type Config struct {
	// OriginHost names this node in new Session-Ids. Required.
	OriginHost string
	// DestinationRealm is the HSS realm (I/S-CSCF → HSS) or the S-CSCF
	// realm (HSS → S-CSCF). Required.
	DestinationRealm string
	// DestinationHost, when set, is sent as Destination-Host.
	DestinationHost string
}

// Client sends Cx requests over a Doer (a *diameter.Pool, *diameter.Peer or
// *diameter.Conn) and parses the answers. Methods are safe for concurrent
// use; a non-nil error means no answer was received or it could not be
// parsed, while an answer's failure is in its Result.
type Client struct {
	d   diameter.Doer
	cfg Config
}

// NewClient returns a Client sending through d.
func NewClient(d diameter.Doer, cfg Config) (*Client, error) {
	if d == nil || cfg.OriginHost == "" || cfg.DestinationRealm == "" {
		return nil, fmt.Errorf("%w: cx client needs a Doer, OriginHost and DestinationRealm", diameter.ErrConfig)
	}
	return &Client{d: d, cfg: cfg}, nil
}

// newRequest starts a Cx request: Session-Id, Vendor-Specific-Application-Id,
// Auth-Session-State NO_STATE_MAINTAINED (TS 29.229 §6.1), destination.
func (c *Client) newRequest(cmd uint32, sid string, destHost string) *diameter.Message {
	var m *diameter.Message
	if sid == "" {
		m = diameter.NewSessionRequest(cmd, diameter.AppCx, c.cfg.OriginHost, nil)
	} else {
		m = diameter.NewRequest(cmd, diameter.AppCx, nil)
		m.AddAVP(diameter.NewAVP(diameter.AVPSessionID, 0, datatype.UTF8String(sid)))
	}
	m.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, diameter.AppCx))
	m.AddAVP(diameter.NewAVP(diameter.AVPAuthSessionState, 0, datatype.Enumerated(1)))
	if destHost == "" {
		destHost = c.cfg.DestinationHost
	}
	typed.Destination(m, c.cfg.DestinationRealm, destHost)
	return m
}

// answer starts a Cx answer with the result and the AVPs every Cx answer
// carries.
func answer(r *diameter.Request, res diameter.Result) *diameter.Message {
	a := r.AnswerResult(res)
	a.AddAVP(diameter.VendorSpecificApp(diameter.Vendor3GPP, diameter.AppCx))
	a.AddAVP(diameter.NewAVP(diameter.AVPAuthSessionState, 0, datatype.Enumerated(1)))
	return a
}

func v(code uint32, data datatype.Type) *diameter.AVP {
	return diameter.NewAVP(code, diameter.Vendor3GPP, data)
}

// vNoM is a 3GPP AVP whose M bit must not be set (TS 29.229 table 6.3.1).
func vNoM(code uint32, data datatype.Type) *diameter.AVP {
	return diameter.NewAVPFlags(code, 0, diameter.Vendor3GPP, data)
}

func str(b diameter.AVPs, code uint32) string { return b.String(code, diameter.Vendor3GPP) }

func u32(b diameter.AVPs, code uint32) uint32 {
	n, _ := b.Uint32(code, diameter.Vendor3GPP)
	return n
}

func strs(b diameter.AVPs, code, vendor uint32) []string {
	var out []string
	for _, a := range b.All(code, vendor) {
		out = append(out, diameter.AsString(a))
	}
	return out
}

// Server serves Cx requests with typed functions: set the ones this node
// answers (an HSS sets UAR, MAR, SAR and LIR; an S-CSCF sets RTR and PPR)
// and Register them on a Mux. A function returning an error has the request
// answered as diameter.Handler describes.
type Server struct {
	UAR func(ctx context.Context, req *UAR) (*UAA, error)
	MAR func(ctx context.Context, req *MAR) (*MAA, error)
	SAR func(ctx context.Context, req *SAR) (*SAA, error)
	LIR func(ctx context.Context, req *LIR) (*LIA, error)
	RTR func(ctx context.Context, req *RTR) (*RTA, error)
	PPR func(ctx context.Context, req *PPR) (*PPA, error)
}

// Register adds a handler to mux for every function set in s.
func (s *Server) Register(mux *diameter.Mux) {
	if s.UAR != nil {
		mux.Handle(diameter.AppCx, CmdUserAuthorization, typed.Handler(ParseUAR, s.UAR, (*UAA).answer))
	}
	if s.MAR != nil {
		mux.Handle(diameter.AppCx, CmdMultimediaAuth, typed.Handler(ParseMAR, s.MAR, (*MAA).answer))
	}
	if s.SAR != nil {
		mux.Handle(diameter.AppCx, CmdServerAssignment, typed.Handler(ParseSAR, s.SAR, (*SAA).answer))
	}
	if s.LIR != nil {
		mux.Handle(diameter.AppCx, CmdLocationInfo, typed.Handler(ParseLIR, s.LIR, (*LIA).answer))
	}
	if s.RTR != nil {
		mux.Handle(diameter.AppCx, CmdRegistrationTermination, typed.Handler(ParseRTR, s.RTR, (*RTA).answer))
	}
	if s.PPR != nil {
		mux.Handle(diameter.AppCx, CmdPushProfile, typed.Handler(ParsePPR, s.PPR, (*PPA).answer))
	}
}
