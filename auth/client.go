package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/siphon-go/siphon/sip"
)

// ErrNoChallenge is returned by Client.Authorize for a response without a
// Digest challenge it can answer.
var ErrNoChallenge = errors.New("auth: no usable digest challenge")

// maxRealms bounds the challenges a Client remembers.
const maxRealms = 8

// Client answers digest challenges for outbound requests, as a UAC or a
// registrant does (RFC 3261 §22.2, §22.3, RFC 7616, RFC 8760). It remembers
// the last challenge of each realm so that later requests can carry
// credentials before being challenged (Sign), with increasing nonce-counts.
// It is safe for concurrent use.
type Client struct {
	// Username and Password are the credentials.
	Username string
	Password string

	mu     sync.Mutex
	realms []*clientChallenge
}

type clientChallenge struct {
	proxy  bool // Proxy-Authenticate
	realm  string
	nonce  string
	opaque string
	alg    Algorithm
	qop    string // "auth", "auth-int" or ""
	nc     uint32
}

// Authorize adds credentials to req that answer the challenges in res, a 401
// or 407 response to an earlier request: for each realm, the topmost challenge
// whose algorithm it computes (RFC 8760 §2.4). Credentials req already
// carries for those realms are replaced. The caller sends req as a new
// request, with a higher CSeq and a new branch.
//
// It returns ErrNoChallenge if res has no challenge it can answer.
func (c *Client) Authorize(req *sip.Request, res *sip.Response) error {
	var got []*clientChallenge
	seen := map[string]bool{}
	for _, kind := range []struct {
		name  string
		proxy bool
	}{{"WWW-Authenticate", false}, {"Proxy-Authenticate", true}} {
		for _, v := range sip.HeaderValues(res, kind.name) {
			ch, ok := parseChallenge(v, kind.proxy)
			if !ok || seen[kind.name+"\x00"+ch.realm] {
				continue
			}
			seen[kind.name+"\x00"+ch.realm] = true
			got = append(got, ch)
		}
	}
	if len(got) == 0 {
		return ErrNoChallenge
	}
	c.mu.Lock()
	for _, ch := range got {
		c.remember(ch)
	}
	err := c.apply(req)
	c.mu.Unlock()
	return err
}

// Sign adds credentials for the challenges remembered from earlier
// responses to req, with the next nonce-count, and reports whether there
// were any. A server that has since expired the nonce answers with a stale
// challenge, which Authorize answers.
func (c *Client) Sign(req *sip.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.realms) == 0 {
		return false
	}
	return c.apply(req) == nil
}

// Reset forgets every remembered challenge.
func (c *Client) Reset() {
	c.mu.Lock()
	c.realms = nil
	c.mu.Unlock()
}

func (c *Client) remember(ch *clientChallenge) {
	for i, old := range c.realms {
		if old.proxy == ch.proxy && old.realm == ch.realm {
			c.realms[i] = ch
			return
		}
	}
	if len(c.realms) >= maxRealms {
		c.realms = c.realms[1:]
	}
	c.realms = append(c.realms, ch)
}

// apply writes credentials for every remembered challenge into req, under
// c.mu.
func (c *Client) apply(req *sip.Request) error {
	sip.RemoveHeaders(req, "Authorization")
	sip.RemoveHeaders(req, "Proxy-Authorization")
	for _, ch := range c.realms {
		v, err := c.credentials(req, ch)
		if err != nil {
			return err
		}
		name := "Authorization"
		if ch.proxy {
			name = "Proxy-Authorization"
		}
		req.AppendHeader(sip.NewHeader(name, v))
	}
	return nil
}

func (c *Client) credentials(req *sip.Request, ch *clientChallenge) (string, error) {
	uri := req.Recipient.String()
	in := digestInput{alg: ch.alg, ha1: HA1(ch.alg, c.Username, ch.realm, c.Password), nonce: ch.nonce,
		qop: ch.qop, method: string(req.Method), uri: uri}
	if ch.qop != "" {
		ch.nc++
		in.nc = fmt.Sprintf("%08x", ch.nc)
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("auth: cnonce: %w", err)
		}
		in.cnonce = hex.EncodeToString(b[:])
		if ch.qop == "auth-int" {
			in.body = req.Body()
		}
	}
	var b strings.Builder
	b.Grow(256)
	b.WriteString(`Digest username="`)
	b.WriteString(quoteEscape(c.Username))
	b.WriteString(`", realm="`)
	b.WriteString(quoteEscape(ch.realm))
	b.WriteString(`", nonce="`)
	b.WriteString(quoteEscape(ch.nonce))
	b.WriteString(`", uri="`)
	b.WriteString(quoteEscape(uri))
	b.WriteString(`", response="`)
	b.WriteString(in.response())
	b.WriteString(`", algorithm=`)
	b.WriteString(string(ch.alg))
	if ch.qop != "" {
		b.WriteString(`, cnonce="`)
		b.WriteString(in.cnonce)
		b.WriteString(`", qop=`)
		b.WriteString(ch.qop)
		b.WriteString(`, nc=`)
		b.WriteString(in.nc)
	}
	if ch.opaque != "" {
		b.WriteString(`, opaque="`)
		b.WriteString(quoteEscape(ch.opaque))
		b.WriteByte('"')
	}
	return b.String(), nil
}

// parseChallenge reads a WWW-Authenticate or Proxy-Authenticate value.
func parseChallenge(v string, proxy bool) (*clientChallenge, bool) {
	cr, err := sip.ParseCredentials(v)
	if err != nil || !cr.IsDigest() {
		return nil, false
	}
	p := func(name string) string { s, _ := cr.Param(name); return s }
	alg, ok := ParseAlgorithm(p("algorithm"))
	if !ok || p("nonce") == "" {
		return nil, false
	}
	ch := &clientChallenge{proxy: proxy, realm: p("realm"), nonce: p("nonce"), opaque: p("opaque"), alg: alg}
	if q, ok := cr.Param("qop"); ok {
		// qop-options is a quoted comma-separated list; prefer auth.
		for _, o := range strings.Split(q, ",") {
			switch strings.ToLower(strings.TrimSpace(o)) {
			case "auth":
				ch.qop = "auth"
			case "auth-int":
				if ch.qop == "" {
					ch.qop = "auth-int"
				}
			}
		}
		if ch.qop == "" {
			return nil, false
		}
	}
	return ch, true
}
