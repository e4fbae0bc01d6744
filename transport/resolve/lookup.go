package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// query is one DNS question: a lower-case FQDN and a record type.
type query struct {
	name  string
	qtype uint16
}

// rrset is the part of an answer the resolver uses. A negative answer
// (NXDOMAIN or NODATA) has no records.
type rrset struct {
	nxdomain bool
	addrs    []netip.Addr
	srvs     []srvRR
	naptrs   []naptrRR
}

// empty reports whether the answer is negative.
func (rs *rrset) empty() bool {
	return len(rs.addrs) == 0 && len(rs.srvs) == 0 && len(rs.naptrs) == 0
}

// result is the outcome of one query; a negative answer is a result with an
// empty rrset, not an error.
type result struct {
	rs  *rrset
	err error
}

// lookup answers q from the cache or, sharing the query with concurrent
// callers asking the same, from the servers.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (*rrset, error) {
	q := query{name, qtype}
	if r.cache != nil {
		if rs, ok := r.cache.get(q, r.now()); ok {
			return rs, nil
		}
	}
	return r.flights.do(ctx, q, r.fetch)
}

// lookupMany runs the queries at once and returns their results in order.
// Cache hits are answered inline; only misses cost a goroutine.
func (r *Resolver) lookupMany(ctx context.Context, qs []query) []result {
	res := make([]result, len(qs))
	var misses []int
	now := r.now()
	for i, q := range qs {
		if r.cache != nil {
			if rs, ok := r.cache.get(q, now); ok {
				res[i].rs = rs
				continue
			}
		}
		misses = append(misses, i)
	}
	switch len(misses) {
	case 0:
	case 1:
		i := misses[0]
		res[i].rs, res[i].err = r.flights.do(ctx, qs[i], r.fetch)
	default:
		var wg sync.WaitGroup
		for _, i := range misses {
			wg.Go(func() { res[i].rs, res[i].err = r.flights.do(ctx, qs[i], r.fetch) })
		}
		wg.Wait()
	}
	return res
}

// fetch asks the servers and caches the answer (positive or negative).
func (r *Resolver) fetch(ctx context.Context, q query) (*rrset, error) {
	if r.cache != nil {
		// A flight for q may have finished between the caller's cache
		// miss and this one starting.
		if rs, ok := r.cache.get(q, r.now()); ok {
			return rs, nil
		}
	}
	m, err := r.exchange(ctx, q)
	if err != nil {
		return nil, err
	}
	rs, ttl := r.parse(m, q)
	if r.cache != nil {
		r.cache.put(q, rs, r.now().Add(ttl))
	}
	return rs, nil
}

// exchange sends q to each server in turn, Attempts rounds, until one gives
// an answer (NOERROR or NXDOMAIN).
func (r *Resolver) exchange(ctx context.Context, q query) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.RecursionDesired = true
	if r.udpSize >= dns.MinMsgSize {
		m.SetEdns0(r.udpSize, false)
	}
	var last error
	for a := 0; a < r.attempts; a++ {
		for _, server := range r.servers {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			resp, err := r.exchangeOne(ctx, m, server)
			if err == nil {
				switch resp.Rcode {
				case dns.RcodeSuccess, dns.RcodeNameError:
					return resp, nil
				}
				err = fmt.Errorf("%w: %s from %s", ErrServerFailure, dns.RcodeToString[resp.Rcode], server)
			} else if ctx.Err() == nil {
				err = fmt.Errorf("%w: %s: %w", ErrServerFailure, server, err)
			}
			last = err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s %s: %w", strings.TrimSuffix(q.name, "."), dns.TypeToString[q.qtype], last)
}

// exchangeOne asks one server, over UDP and, if the answer was truncated,
// again over TCP (RFC 1035 §4.2.1, RFC 7766 §5), within Config.Timeout.
func (r *Resolver) exchangeOne(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.roundTrip(ctx, r.udp, m, server)
	if err == nil && resp.Truncated {
		resp, err = r.roundTrip(ctx, r.tcp, m, server)
	}
	return resp, err
}

// errMismatch: an answer that is not for the question asked.
var errMismatch = errors.New("answer does not match the question")

func (r *Resolver) roundTrip(ctx context.Context, c *dns.Client, m *dns.Msg, server string) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// miekg/dns honours only the context's deadline; a cancellation
	// without one unblocks the read through the connection's deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	m.Id = dns.Id()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	// The ID matched; the question must too (RFC 5452 §9.1).
	if len(resp.Question) != 1 || resp.Question[0].Qtype != m.Question[0].Qtype ||
		!strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) {
		return nil, errMismatch
	}
	return resp, nil
}

// parse extracts the records of type q.qtype from the answer (whatever the
// owner, so that a CNAME chain the server followed counts) and the time to
// cache them: the smallest TTL among them and their CNAMEs, or for a
// negative answer the SOA's (RFC 2308 §5), clamped.
func (r *Resolver) parse(m *dns.Msg, q query) (*rrset, time.Duration) {
	rs := &rrset{nxdomain: m.Rcode == dns.RcodeNameError}
	ttl := uint32(0)
	seen := false
	note := func(t uint32) {
		if !seen || t < ttl {
			ttl, seen = t, true
		}
	}
	if !rs.nxdomain {
		for _, rr := range m.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if q.qtype == dns.TypeA {
					if ip, ok := netip.AddrFromSlice(v.A.To4()); ok {
						rs.addrs = append(rs.addrs, ip)
						note(v.Hdr.Ttl)
					}
				}
			case *dns.AAAA:
				if q.qtype == dns.TypeAAAA {
					if ip, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
						rs.addrs = append(rs.addrs, ip)
						note(v.Hdr.Ttl)
					}
				}
			case *dns.SRV:
				if q.qtype == dns.TypeSRV {
					rs.srvs = append(rs.srvs, srvRR{priority: v.Priority, weight: v.Weight, port: v.Port, target: strings.ToLower(v.Target)})
					note(v.Hdr.Ttl)
				}
			case *dns.NAPTR:
				if q.qtype == dns.TypeNAPTR {
					rs.naptrs = append(rs.naptrs, naptrRR{
						order: v.Order, preference: v.Preference,
						flags:       strings.ToLower(unescape(v.Flags)),
						service:     strings.ToUpper(unescape(v.Service)),
						regexp:      unescape(v.Regexp),
						replacement: strings.ToLower(v.Replacement),
					})
					note(v.Hdr.Ttl)
				}
			}
		}
	}
	sortNAPTR(rs.naptrs)
	if rs.empty() {
		neg := r.minTTL
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				neg = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
				break
			}
		}
		return rs, min(max(neg, r.minTTL), r.maxNegTTL)
	}
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == dns.TypeCNAME {
			note(rr.Header().Ttl)
		}
	}
	return rs, min(max(time.Duration(ttl)*time.Second, r.minTTL), r.maxTTL)
}

// unescape turns a character-string in miekg/dns presentation form (\X,
// \DDD) back into its bytes.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
