package transaction

import (
	"strconv"
	"strings"

	"github.com/siphon-go/siphon/sip"
)

// key identifies a transaction. Server keys hold the top Via branch and
// sent-by and the method (ACK folded into INVITE), RFC 3261 §17.2.3; client
// keys hold the branch and the CSeq method, §17.1.3. Requests from RFC 2543
// elements, whose branch lacks the magic cookie, get a key built from the
// fields §17.2.3 lists for them, To tag excepted (see matchesTo).
type key struct {
	branch string
	host   string
	port   int
	method sip.RequestMethod
}

func serverKey(req *sip.Request) (key, bool) {
	via := req.Via()
	if via == nil {
		return key{}, false
	}
	method := req.Method
	if method == sip.ACK {
		method = sip.INVITE
	}
	branch, _ := via.Params.Get("branch")
	if len(branch) > len(sip.BranchMagicCookie) && strings.HasPrefix(branch, sip.BranchMagicCookie) {
		return key{branch: branch, host: via.Host, port: via.Port, method: method}, true
	}
	return key{branch: rfc2543Key(req, toTagOf(req)), method: method}, true
}

// rfc2543Key concatenates Request-URI, To tag, From tag, Call-ID, CSeq
// number and the top Via (RFC 3261 §17.2.3). An ACK carries the To tag of the
// response, which an initial INVITE did not have: receiveACK also looks the
// INVITE up without it (rfc2543Key(req, "")).
func rfc2543Key(req *sip.Request, toTag string) string {
	var b strings.Builder
	b.WriteString("2543|")
	ruri := req.Recipient
	b.WriteString(ruri.String())
	b.WriteByte('|')
	b.WriteString(toTag)
	b.WriteByte('|')
	if f := req.From(); f != nil {
		t, _ := f.Params.Get("tag")
		b.WriteString(t)
	}
	b.WriteByte('|')
	if c := req.CallID(); c != nil {
		b.WriteString(string(*c))
	}
	b.WriteByte('|')
	if c := req.CSeq(); c != nil {
		b.WriteString(strconv.FormatUint(uint64(c.SeqNo), 10))
	}
	b.WriteByte('|')
	if v := req.Via(); v != nil {
		b.WriteString(v.Value())
	}
	return b.String()
}

func clientKey(res *sip.Response) (key, bool) {
	via, cseq := res.Via(), res.CSeq()
	if via == nil || cseq == nil {
		return key{}, false
	}
	branch, _ := via.Params.Get("branch")
	if branch == "" {
		return key{}, false
	}
	return key{branch: branch, method: cseq.MethodName}, true
}

// ackKey finds the INVITE server transaction a 2xx ACK belongs to: Call-ID,
// CSeq number and the tags of the dialog (RFC 3261 §13.3.1.4).
type ackKey struct {
	callID  string
	cseq    uint32
	fromTag string
	toTag   string
}

func ackKeyOf(m sip.Message) (ackKey, bool) {
	c, cs, f, t := m.CallID(), m.CSeq(), m.From(), m.To()
	if c == nil || cs == nil || f == nil || t == nil {
		return ackKey{}, false
	}
	ft, _ := f.Params.Get("tag")
	tt, _ := t.Params.Get("tag")
	return ackKey{callID: string(*c), cseq: cs.SeqNo, fromTag: ft, toTag: tt}, true
}

func toTagOf(m sip.Message) string {
	if to := m.To(); to != nil {
		t, _ := to.Params.Get("tag")
		return t
	}
	return ""
}

// own returns k with its strings copied into one allocation of its own, so
// that it does not keep a message's header text alive.
func (k ackKey) own() ackKey {
	all := k.callID + k.fromTag + k.toTag
	a, b := len(k.callID), len(k.callID)+len(k.fromTag)
	return ackKey{callID: all[:a], cseq: k.cseq, fromTag: all[a:b], toTag: all[b:]}
}
