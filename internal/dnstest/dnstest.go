// Package dnstest runs an in-process authoritative DNS server on loopback for
// tests: UDP and TCP on one port-0 address, answering from zone text, counting
// the queries it gets, and able to truncate, stall or gate its answers.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is an authoritative DNS server on 127.0.0.1 (UDP and TCP on the
// same port). It is safe for concurrent use.
type Server struct {
	// Addr is "127.0.0.1:port", for resolve.Config.Servers.
	Addr string

	udp, tcp *dns.Server

	mu       sync.Mutex
	records  map[string][]dns.RR // by lower-case FQDN owner
	hits     map[key]int
	byNet    map[string]int
	truncate map[string]bool
	silent   bool
	gate     chan struct{}
}

type key struct {
	name  string
	qtype uint16
}

// New starts a server answering from zone (master-file format, with
// absolute owner names) and stops it when the test ends.
func New(t testing.TB, zone string) *Server {
	t.Helper()
	s, err := Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server answering from zone; Close stops it. For testable
// examples, which have no testing.TB.
func Start(zone string) (*Server, error) {
	s := &Server{
		records:  make(map[string][]dns.RR),
		hits:     make(map[key]int),
		byNet:    make(map[string]int),
		truncate: make(map[string]bool),
	}
	if err := s.Add(zone); err != nil {
		return nil, err
	}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	// The TCP port must equal the UDP one (a client falls back to TCP on
	// the same address); a few tries cover a port taken in between.
	for i := 0; i < 10; i++ {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dnstest: %w", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dnstest: no UDP and TCP port pair: %w", err)
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			s.Close()
			return nil, errors.New("dnstest: server did not start")
		}
	}
	return s, nil
}

// Close stops the server, releasing held queries.
func (s *Server) Close() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

// Add adds the records of zone (master-file format).
func (s *Server) Add(zone string) error {
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	s.mu.Lock()
	defer s.mu.Unlock()
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: zone: %w", err)
	}
	return nil
}

// Remove deletes every record owned by name.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	delete(s.records, strings.ToLower(dns.Fqdn(name)))
	s.mu.Unlock()
}

// Hits returns how many queries for name and qtype the server got, over
// both transports.
func (s *Server) Hits(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key{strings.ToLower(dns.Fqdn(name)), qtype}]
}

// Queries returns how many queries arrived over network ("udp" or "tcp").
func (s *Server) Queries(network string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byNet[network]
}

// TruncateUDP makes UDP answers for name empty with the TC bit set, so that
// a client has to ask again over TCP.
func (s *Server) TruncateUDP(name string) {
	s.mu.Lock()
	s.truncate[strings.ToLower(dns.Fqdn(name))] = true
	s.mu.Unlock()
}

// SetSilent makes the server read queries and never answer them.
func (s *Server) SetSilent(silent bool) {
	s.mu.Lock()
	s.silent = silent
	s.mu.Unlock()
}

// Hold makes every query wait until the returned release is called (or the
// test ends); queries are still counted on arrival.
func (s *Server) Hold() (release func()) {
	g := make(chan struct{})
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.gate == g {
				s.gate = nil
				close(g)
			}
			s.mu.Unlock()
		})
	}
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	network := w.RemoteAddr().Network()
	s.mu.Lock()
	s.hits[key{name, q.Qtype}]++
	s.byNet[network]++
	silent, gate, trunc := s.silent, s.gate, s.truncate[name] && network == "udp"
	s.mu.Unlock()
	if silent {
		return
	}
	if gate != nil {
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
			return
		}
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if trunc {
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}
	s.mu.Lock()
	s.answer(m, name, q.Qtype)
	s.mu.Unlock()
	_ = w.WriteMsg(m)
}

// answer fills m for name and qtype, following CNAMEs inside the zone; s.mu
// is held.
func (s *Server) answer(m *dns.Msg, name string, qtype uint16) {
	for hop := 0; hop < 8; hop++ {
		rrs, ok := s.records[name]
		if !ok && !s.hasBelow(name) {
			m.Rcode = dns.RcodeNameError
			s.addSOA(m, name)
			return
		}
		var cname string
		found := false
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == qtype:
				m.Answer = append(m.Answer, dns.Copy(rr))
				found = true
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = strings.ToLower(rr.(*dns.CNAME).Target)
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		if found || cname == "" {
			if !found {
				s.addSOA(m, name) // NODATA
			}
			return
		}
		name = cname
	}
}

// hasBelow reports whether name is an empty non-terminal: some record is
// owned by a name under it, so it exists without records (RFC 8020).
func (s *Server) hasBelow(name string) bool {
	for n := range s.records {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}

// addSOA puts the SOA of the closest enclosing zone in the authority section
// (RFC 2308 §3), if the zone has one.
func (s *Server) addSOA(m *dns.Msg, name string) {
	for n := name; ; {
		for _, rr := range s.records[n] {
			if rr.Header().Rrtype == dns.TypeSOA {
				m.Ns = append(m.Ns, dns.Copy(rr))
				return
			}
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return
		}
		n = n[i+1:]
	}
}
