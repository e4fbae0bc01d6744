package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"strings"
	"sync"

	"github.com/wmnsk/milenage"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/cx"
)

// Subscriber is one line of the subscriber file.
type Subscriber struct {
	IMPI  string   `json:"impi"`  // private identity, e.g. "alice@ims.example.com"
	IMPUs []string `json:"impus"` // public identities, the first is the default
	K     string   `json:"k"`     // 128-bit key, hex
	OPc   string   `json:"opc"`   // 128-bit OPc, hex (or give "op")
	OP    string   `json:"op"`
	SQN   uint64   `json:"sqn"` // next sequence number
	AMF   string   `json:"amf"` // hex, default "8000"
}

type subscriber struct {
	impi       string
	impus      []string
	k, opc     []byte
	amf        uint16
	sqn        uint64
	scscf      string // assigned S-CSCF, "" when none
	registered bool
}

// maxVectors bounds the vectors one MAR can ask for.
const maxVectors = 5

// HSS is an in-memory Home Subscriber Server for the Cx interface: enough
// for an IMS lab and for tests, not for production (no persistence).
type HSS struct {
	scscf string // the S-CSCF assigned on first registration

	mu   sync.Mutex
	subs map[string]*subscriber // by IMPI
	pub  map[string]*subscriber // by IMPU
}

// loadSubscribers reads a JSON array of Subscriber.
func loadSubscribers(r io.Reader, scscf string) (*HSS, error) {
	var list []Subscriber
	if err := json.NewDecoder(r).Decode(&list); err != nil {
		return nil, fmt.Errorf("hss: subscribers: %w", err)
	}
	h := &HSS{scscf: scscf, subs: map[string]*subscriber{}, pub: map[string]*subscriber{}}
	for _, s := range list {
		k, err := hex.DecodeString(s.K)
		if err != nil || len(k) != 16 {
			return nil, fmt.Errorf("hss: %s: k must be 32 hex digits", s.IMPI)
		}
		opc, err := hex.DecodeString(s.OPc)
		if s.OPc == "" {
			op, err2 := hex.DecodeString(s.OP)
			if err2 != nil || len(op) != 16 {
				return nil, fmt.Errorf("hss: %s: give opc or op as 32 hex digits", s.IMPI)
			}
			opc, err = milenage.ComputeOPc(k, op)
		}
		if err != nil || len(opc) != 16 {
			return nil, fmt.Errorf("hss: %s: bad opc", s.IMPI)
		}
		amf := uint16(0x8000)
		if s.AMF != "" {
			b, err := hex.DecodeString(s.AMF)
			if err != nil || len(b) != 2 {
				return nil, fmt.Errorf("hss: %s: amf must be 4 hex digits", s.IMPI)
			}
			amf = binary.BigEndian.Uint16(b)
		}
		if s.IMPI == "" || len(s.IMPUs) == 0 {
			return nil, errors.New("hss: every subscriber needs impi and impus")
		}
		sub := &subscriber{impi: s.IMPI, impus: s.IMPUs, k: k, opc: opc, amf: amf, sqn: max(s.SQN, 1)}
		h.subs[s.IMPI] = sub
		for _, p := range s.IMPUs {
			h.pub[p] = sub
		}
	}
	return h, nil
}

// Server returns the Cx server functions of the HSS.
func (h *HSS) Server() *cx.Server {
	return &cx.Server{UAR: h.uar, MAR: h.mar, SAR: h.sar, LIR: h.lir}
}

func exp(code uint32) diameter.Result { return cx.Experimental(code) }

// lookup finds the subscriber of impi and checks that impu belongs to it
// (TS 29.228 §6.1.1.1: 5001 unknown user, 5002 identities don't match).
func (h *HSS) lookup(impi, impu string) (*subscriber, diameter.Result, bool) {
	s := h.subs[impi]
	if s == nil || h.pub[impu] == nil {
		return nil, exp(cx.ErrorUserUnknown), false
	}
	if h.pub[impu] != s {
		return nil, exp(cx.ErrorIdentitiesDontMatch), false
	}
	return s, diameter.Result{}, true
}

// uar: TS 29.228 §6.1.1.1.
func (h *HSS) uar(ctx context.Context, q *cx.UAR) (*cx.UAA, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, res, ok := h.lookup(q.UserName, q.PublicIdentity)
	if !ok {
		return &cx.UAA{Result: res}, nil
	}
	switch {
	case q.AuthorizationType == cx.DeRegistration:
		if s.scscf == "" {
			return &cx.UAA{Result: exp(cx.ErrorIdentityNotRegistered)}, nil
		}
		return &cx.UAA{Result: cx.Success(), ServerName: s.scscf}, nil
	case q.AuthorizationType == cx.RegistrationAndCapabilities || s.scscf == "":
		// The I-CSCF picks an S-CSCF from the capabilities.
		return &cx.UAA{Result: exp(cx.FirstRegistration), Capabilities: &cx.ServerCapabilities{ServerNames: []string{h.scscf}}}, nil
	}
	return &cx.UAA{Result: exp(cx.SubsequentRegistration), ServerName: s.scscf}, nil
}

// mar: TS 29.228 §6.3.1, TS 33.203 (IMS AKA) with Milenage (TS 35.206).
func (h *HSS) mar(ctx context.Context, q *cx.MAR) (*cx.MAA, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, res, ok := h.lookup(q.UserName, q.PublicIdentity)
	if !ok {
		return &cx.MAA{Result: res}, nil
	}
	if q.Scheme != cx.SchemeAKAv1MD5 && q.Scheme != cx.SchemeUnknown && q.Scheme != "" {
		return &cx.MAA{Result: exp(cx.ErrorAuthSchemeNotSupported)}, nil
	}
	if s.scscf != "" && q.ServerName != "" && s.scscf != q.ServerName && s.registered {
		return &cx.MAA{Result: exp(cx.ErrorIdentityAlreadyRegistered)}, nil
	}
	if s.scscf == "" {
		s.scscf = q.ServerName // stored on MAR so UAR/LIR find it (TS 29.228 §6.3.1)
	}
	// Re-synchronisation: SIP-Authorization is RAND (16) || AUTS (14)
	// (TS 29.229 §6.3.12, TS 33.203 §6.1.2).
	if len(q.Authorization) == 30 {
		if err := s.resync(q.Authorization[:16], q.Authorization[16:]); err != nil {
			return &cx.MAA{Result: diameter.Result{Code: diameter.AuthenticationRejected}}, nil
		}
	}
	n := min(max(q.NumberAuthItems, 1), maxVectors)
	a := &cx.MAA{Result: cx.Success(), UserName: s.impi, PublicIdentity: q.PublicIdentity}
	for i := range n {
		v, err := s.vector()
		if err != nil {
			return nil, err
		}
		v.ItemNumber = i + 1
		a.Items = append(a.Items, v)
	}
	return a, nil
}

// vector makes one IMS AKA vector and advances SQN (TS 33.102 §6.3.2).
func (s *subscriber) vector() (cx.AuthItem, error) {
	r := make([]byte, 16)
	if _, err := rand.Read(r); err != nil {
		return cx.AuthItem{}, err
	}
	item, err := akaVector(s.k, s.opc, r, s.sqn, s.amf)
	if err != nil {
		return cx.AuthItem{}, err
	}
	s.sqn = (s.sqn + 1) & (1<<48 - 1)
	return item, nil
}

// akaVector computes RAND||AUTN, XRES, CK and IK with Milenage.
func akaVector(k, opc, r []byte, sqn uint64, amf uint16) (cx.AuthItem, error) {
	m := milenage.NewWithOPc(k, opc, r, sqn, amf)
	if err := m.ComputeAll(); err != nil {
		return cx.AuthItem{}, fmt.Errorf("hss: milenage: %w", err)
	}
	autn, err := m.GenerateAUTN()
	if err != nil {
		return cx.AuthItem{}, fmt.Errorf("hss: milenage: %w", err)
	}
	return cx.AuthItem{
		Scheme:             cx.SchemeAKAv1MD5,
		Authenticate:       append(append([]byte{}, r...), autn...),
		Authorization:      m.RES,
		ConfidentialityKey: m.CK,
		IntegrityKey:       m.IK,
	}, nil
}

// resync checks the UE's AUTS and moves SQN past the UE's (TS 33.102
// §6.3.5): AUTS = SQN_MS xor AK* || MAC-S, MAC-S = f1*(SQN_MS, AMF 0).
func (s *subscriber) resync(r, auts []byte) error {
	m := milenage.NewWithOPc(s.k, s.opc, r, 0, 0)
	aks, err := m.F5Star()
	if err != nil {
		return err
	}
	sqnMS := make([]byte, 6)
	for i := range sqnMS {
		sqnMS[i] = auts[i] ^ aks[i]
	}
	macS, err := m.F1Star(sqnMS, []byte{0, 0})
	if err != nil {
		return err
	}
	if string(macS) != string(auts[6:14]) {
		return errors.New("hss: AUTS MAC-S mismatch")
	}
	var b [8]byte
	copy(b[2:], sqnMS)
	s.sqn = (binary.BigEndian.Uint64(b[:]) + 1) & (1<<48 - 1)
	return nil
}

// sar: TS 29.228 §6.1.2.1.
func (h *HSS) sar(ctx context.Context, q *cx.SAR) (*cx.SAA, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.subs[q.UserName]
	if s == nil && len(q.PublicIdentities) > 0 {
		s = h.pub[q.PublicIdentities[0]]
	}
	if s == nil {
		return &cx.SAA{Result: exp(cx.ErrorUserUnknown)}, nil
	}
	switch q.AssignmentType {
	case cx.AssignRegistration, cx.ReRegistration, cx.UnregisteredUser:
		s.scscf, s.registered = q.ServerName, q.AssignmentType != cx.UnregisteredUser
	case cx.UserDeregistration, cx.TimeoutDeregistration, cx.AdministrativeDeregistration,
		cx.DeregistrationTooMuchData, cx.AuthenticationTimeout:
		s.scscf, s.registered = "", false
		return &cx.SAA{Result: cx.Success(), UserName: s.impi}, nil
	case cx.UserDeregistrationStoreServerName, cx.TimeoutDeregistrationStoreServerName:
		s.registered = false
		return &cx.SAA{Result: cx.Success(), UserName: s.impi}, nil
	case cx.AuthenticationFailure:
		if !s.registered {
			s.scscf = ""
		}
		return &cx.SAA{Result: cx.Success(), UserName: s.impi}, nil
	case cx.NoAssignment:
		if s.scscf != q.ServerName {
			return &cx.SAA{Result: diameter.Result{Code: diameter.UnableToComply}}, nil
		}
	default:
		return &cx.SAA{Result: exp(cx.ErrorInAssignmentType)}, nil
	}
	return &cx.SAA{Result: cx.Success(), UserName: s.impi, UserData: []byte(s.profile()), AssociatedIdentities: []string{s.impi}}, nil
}

// profile is the IMS subscription (TS 29.228 Annex E): the identities in
// one service profile without filter criteria.
func (s *subscriber) profile() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><IMSSubscription><PrivateID>`)
	b.WriteString(html.EscapeString(s.impi))
	b.WriteString(`</PrivateID><ServiceProfile>`)
	for _, p := range s.impus {
		b.WriteString(`<PublicIdentity><Identity>`)
		b.WriteString(html.EscapeString(p))
		b.WriteString(`</Identity></PublicIdentity>`)
	}
	b.WriteString(`</ServiceProfile></IMSSubscription>`)
	return b.String()
}

// lir: TS 29.228 §6.1.3.1.
func (h *HSS) lir(ctx context.Context, q *cx.LIR) (*cx.LIA, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.pub[q.PublicIdentity]
	switch {
	case s == nil:
		return &cx.LIA{Result: exp(cx.ErrorUserUnknown)}, nil
	case s.scscf != "":
		return &cx.LIA{Result: cx.Success(), ServerName: s.scscf}, nil
	default:
		// Unregistered: the I-CSCF picks an S-CSCF for unregistered services.
		return &cx.LIA{Result: exp(cx.UnregisteredService), Capabilities: &cx.ServerCapabilities{ServerNames: []string{h.scscf}}}, nil
	}
}
