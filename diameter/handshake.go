package diameter

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// addCapabilities appends the CER/CEA body after Result-Code (RFC 6733
// §5.3.1, §5.3.2).
func addCapabilities(m *Message, cfg *Config, local net.Addr) {
	m.AddAVP(NewAVP(codeOriginHost, 0, datatype.DiameterIdentity(cfg.OriginHost)))
	m.AddAVP(NewAVP(codeOriginRealm, 0, datatype.DiameterIdentity(cfg.OriginRealm)))
	ips := cfg.HostIPAddresses
	if len(ips) == 0 {
		if ta, ok := local.(*net.TCPAddr); ok {
			ips = []net.IP{ta.IP}
		} else {
			ips = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
	}
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		m.AddAVP(NewAVP(codeHostIPAddress, 0, datatype.Address(ip)))
	}
	m.AddAVP(NewAVP(codeVendorID, 0, datatype.Unsigned32(cfg.VendorID)))
	m.AddAVP(NewAVPFlags(codeProductName, 0, 0, datatype.UTF8String(cfg.ProductName)))
	m.AddAVP(NewAVP(codeOriginStateID, 0, datatype.Unsigned32(cfg.OriginStateID)))
	vendors := map[uint32]bool{}
	for _, a := range cfg.Apps {
		if a.Vendor != 0 && !vendors[a.Vendor] {
			vendors[a.Vendor] = true
			m.AddAVP(NewAVP(codeSupportedVendorID, 0, datatype.Unsigned32(a.Vendor)))
		}
	}
	for _, a := range cfg.Apps {
		code := codeAuthApplicationID
		if a.Acct {
			code = codeAcctApplicationID
		}
		if a.Vendor == 0 {
			m.AddAVP(NewAVP(code, 0, datatype.Unsigned32(a.ID)))
			continue
		}
		m.AddAVP(NewGroup(codeVendorSpecificApplicationID, 0,
			NewAVP(codeVendorID, 0, datatype.Unsigned32(a.Vendor)),
			NewAVP(code, 0, datatype.Unsigned32(a.ID))))
	}
}

// parseCapabilities reads a CER or CEA.
func parseCapabilities(m *Message, addr net.Addr) PeerInfo {
	b := Body(m)
	p := PeerInfo{
		Host:        b.String(codeOriginHost, 0),
		Realm:       b.String(codeOriginRealm, 0),
		Addr:        addr,
		ProductName: b.String(codeProductName, 0),
	}
	p.VendorID, _ = b.Uint32(codeVendorID, 0)
	p.OriginStateID, _ = b.Uint32(codeOriginStateID, 0)
	for _, a := range b.All(codeHostIPAddress, 0) {
		if ip := AsIP(a); ip != nil {
			p.HostIPAddresses = append(p.HostIPAddresses, ip)
		}
	}
	add := func(l AVPs, vendor uint32) {
		for _, a := range l.All(codeAuthApplicationID, 0) {
			id, _ := AsUint32(a)
			p.Apps = append(p.Apps, App{ID: id, Vendor: vendor})
		}
		for _, a := range l.All(codeAcctApplicationID, 0) {
			id, _ := AsUint32(a)
			p.Apps = append(p.Apps, App{ID: id, Vendor: vendor, Acct: true})
		}
	}
	add(b, 0)
	for _, g := range b.Groups(codeVendorSpecificApplicationID, 0) {
		v, _ := g.Uint32(codeVendorID, 0)
		add(g, v)
	}
	for _, a := range p.Apps {
		if a.ID == AppRelay {
			p.Relay = true
		}
	}
	return p
}

// commonApp reports whether the two sides share an application (RFC 6733
// §5.3: a relay on either side shares all).
func commonApp(local []App, peer PeerInfo) bool {
	if peer.Relay {
		return true
	}
	for _, a := range local {
		if a.ID == AppRelay || peer.Supports(a.ID) {
			return true
		}
	}
	return false
}

// dialConn connects to addr, runs TLS when configured, and performs the
// CER/CEA exchange as the initiator (RFC 6733 §5.3).
func dialConn(ctx context.Context, network, addr string, cfg *Config, e2e *idGen, st State, onClose func(*Conn)) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("diameter: dial %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			tc.ServerName = host
		}
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("%w: TLS with %s: %w", ErrHandshake, addr, err)
		}
		nc = tlsConn
	}
	cer := diam.NewRequest(CmdCapabilitiesExchange, AppCommon, cfg.Dictionary)
	cer.Header.HopByHopID = rand.Uint32()
	cer.Header.EndToEndID = e2e.next()
	addCapabilities(cer, cfg, nc.LocalAddr())
	br := bufio.NewReaderSize(nc, 64<<10)
	fail := func(err error) (*Conn, error) {
		_ = nc.Close()
		return nil, err
	}
	if err := writeMessage(nc, cer); err != nil {
		return fail(fmt.Errorf("%w: send CER to %s: %w", ErrHandshake, addr, err))
	}
	cea, err := ReadMessage(br, cfg.Dictionary, cfg.MaxMessageSize)
	if err != nil {
		return fail(fmt.Errorf("%w: read CEA from %s: %w", ErrHandshake, addr, err))
	}
	if cea.Header.CommandCode != CmdCapabilitiesExchange || cea.Header.CommandFlags&FlagRequest != 0 {
		return fail(fmt.Errorf("%w: %s sent command %d instead of CEA", ErrHandshake, addr, cea.Header.CommandCode))
	}
	if rc, _, _ := ResultCode(cea); rc != Success {
		err := fmt.Errorf("%w: %s answered CER with %d %s", ErrHandshake, addr, rc, Body(cea).String(codeErrorMessage, 0))
		switch rc {
		case NoCommonApplication:
			err = fmt.Errorf("%w: %w", ErrNoCommonApplication, err)
		case UnknownPeer:
			err = fmt.Errorf("%w: %w", ErrUnknownPeer, err)
		}
		return fail(err)
	}
	peer := parseCapabilities(cea, nc.RemoteAddr())
	if !commonApp(cfg.Apps, peer) {
		return fail(fmt.Errorf("%w: %s advertised %v", ErrNoCommonApplication, peer.Host, peer.Apps))
	}
	_ = nc.SetDeadline(time.Time{})
	c := newConn(nc, br, cfg, e2e, peer, st, onClose)
	c.start()
	return c, nil
}

// acceptConn performs the responder side of the CER/CEA exchange on an
// accepted connection; allowHost, when set, vets the peer's Origin-Host
// before anything else happens on the connection.
func acceptConn(nc net.Conn, cfg *Config, e2e *idGen, allowHost func(string) bool, onClose func(*Conn)) (*Conn, error) {
	_ = nc.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	if cfg.TLS != nil {
		tlsConn := tls.Server(nc, cfg.TLS)
		if err := tlsConn.Handshake(); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("%w: TLS with %s: %w", ErrHandshake, nc.RemoteAddr(), err)
		}
		nc = tlsConn
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	fail := func(err error) (*Conn, error) {
		_ = nc.Close()
		return nil, err
	}
	cer, err := ReadMessage(br, cfg.Dictionary, cfg.MaxMessageSize)
	if err != nil {
		return fail(fmt.Errorf("%w: read CER from %s: %w", ErrHandshake, nc.RemoteAddr(), err))
	}
	if cer.Header.CommandCode != CmdCapabilitiesExchange || cer.Header.CommandFlags&FlagRequest == 0 {
		return fail(fmt.Errorf("%w: %s sent command %d before CER", ErrHandshake, nc.RemoteAddr(), cer.Header.CommandCode))
	}
	peer := parseCapabilities(cer, nc.RemoteAddr())
	reject := func(code uint32, err error) (*Conn, error) {
		cea := capabilitiesAnswer(cer, code, cfg, nc.LocalAddr())
		_ = writeMessage(nc, cea)
		return fail(err)
	}
	switch {
	case peer.Host == "" || peer.Realm == "":
		return reject(MissingAVP, fmt.Errorf("%w: CER from %s lacks Origin-Host or Origin-Realm", ErrHandshake, nc.RemoteAddr()))
	case allowHost != nil && !allowHost(peer.Host):
		return reject(UnknownPeer, fmt.Errorf("%w: Origin-Host %q from %s", ErrUnknownPeer, peer.Host, nc.RemoteAddr()))
	case !commonApp(cfg.Apps, peer):
		return reject(NoCommonApplication, fmt.Errorf("%w: %s advertised %v", ErrNoCommonApplication, peer.Host, peer.Apps))
	}
	if err := writeMessage(nc, capabilitiesAnswer(cer, Success, cfg, nc.LocalAddr())); err != nil {
		return fail(fmt.Errorf("%w: send CEA to %s: %w", ErrHandshake, peer.Host, err))
	}
	_ = nc.SetDeadline(time.Time{})
	c := newConn(nc, br, cfg, e2e, peer, StateOkay, onClose)
	c.start()
	return c, nil
}

func capabilitiesAnswer(cer *Message, code uint32, cfg *Config, local net.Addr) *Message {
	flags := uint8(0)
	if code >= 3000 && code < 4000 {
		flags = FlagError
	}
	h := cer.Header
	a := diam.NewMessage(h.CommandCode, flags, h.ApplicationID, h.HopByHopID, h.EndToEndID, cfg.Dictionary)
	a.AddAVP(NewAVP(codeResultCode, 0, datatype.Unsigned32(code)))
	addCapabilities(a, cfg, local)
	return a
}

func writeMessage(nc net.Conn, m *Message) error {
	m.Header.MessageLength = uint32(m.Len())
	b, err := m.Serialize()
	if err != nil {
		return err
	}
	_, err = nc.Write(b)
	return err
}
