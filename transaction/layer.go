package transaction

import (
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// TU is the transaction user: what the layer hands requests and stray
// messages to (RFC 3261 §17). Every method is called synchronously on the
// goroutine that read the message, in arrival order, so it must not block:
// a server runs handlers on goroutines of their own.
type TU interface {
	// ServeRequest is called for each new server transaction (any request
	// but ACK that matched none).
	ServeRequest(tx *ServerTx)
	// ServeACK is called for an ACK that no transaction absorbed: the ACK
	// for a 2xx (RFC 3261 §13.2.2.4, RFC 6026 §7.1) or a stray one.
	ServeACK(req *sip.Request, f transport.Flow)
	// ServeResponse is called for a response that matches no client
	// transaction, such as a 2xx retransmission after the transaction ended,
	// which a proxy forwards statelessly (RFC 3261 §16.7).
	ServeResponse(res *sip.Response, f transport.Flow)
}

const shards = 32

type shard struct {
	mu     sync.Mutex
	server map[key]*ServerTx
	client map[key]*ClientTx
	acks   map[ackKey]*ServerTx // accepted INVITEs awaiting their 2xx ACK
	ghosts ghosts               // completed non-INVITE transactions over UDP
	// The most entries each map held since it was last made; see shrink.
	serverPeak, clientPeak, ackPeak int
}

// shrinkAfter is the size a shard's map must have reached before it is
// made anew on emptying.
const shrinkAfter = 256

// grew records the size of m after an insert.
func grew[K comparable, V any](m map[K]V, peak *int) {
	if len(m) > *peak {
		*peak = len(m)
	}
}

// shrink returns a new map for m when m is empty after holding at least
// shrinkAfter entries: a Go map keeps its buckets after deletes, so the
// tables a load peak grew would otherwise stay allocated once it is over.
func shrink[K comparable, V any](m map[K]V, peak *int) map[K]V {
	if len(m) == 0 && *peak >= shrinkAfter {
		*peak = 0
		return make(map[K]V)
	}
	return m
}

// Layer runs RFC 3261 §17 client and server transactions (with RFC 6026's
// Accepted state) over a transport.Layer. It is safe for concurrent use.
type Layer struct {
	cfg  Config
	log  *slog.Logger
	tp   *transport.Layer
	tu   atomic.Pointer[tuBox]
	seed maphash.Seed

	shards [shards]shard
	count  atomic.Int64 // live transactions, bounded by MaxTransactions
	// ghostCount is the number of ghosts (ghost.go), bounded by
	// MaxLingerBytes; ghostsEvicted counts those ended before Timer J.
	ghostCount    atomic.Int64
	ghostsEvicted atomic.Uint64
	sched         *scheduler

	mu      sync.Mutex
	started bool
	closed  bool
}

type tuBox struct{ tu TU }

// New returns a Layer over tp. Call Start to begin processing.
func New(tp *transport.Layer, cfg Config) *Layer {
	c := cfg.withDefaults()
	l := &Layer{cfg: c, log: c.Logger, tp: tp, seed: maphash.MakeSeed(), sched: newScheduler(c.Clock)}
	for i := range l.shards {
		l.shards[i].server = make(map[key]*ServerTx)
		l.shards[i].client = make(map[key]*ClientTx)
		l.shards[i].acks = make(map[ackKey]*ServerTx)
		l.shards[i].ghosts.init(l, &l.shards[i])
	}
	return l
}

// Start hands requests to tu and starts the transport. A nil tu answers
// every request 405 (a client-only stack).
func (l *Layer) Start(tu TU) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if tu == nil {
		tu = clientOnly{}
	}
	l.tu.Store(&tuBox{tu})
	l.started = true
	return l.tp.Start(l)
}

// Close closes the transport. Transactions in progress stop.
func (l *Layer) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.tp.Close()
}

// Transport returns the transport layer.
func (l *Layer) Transport() *transport.Layer { return l.tp }

// Config returns the layer's configuration with defaults filled in.
func (l *Layer) Config() Config { return l.cfg }

// Len returns the number of transactions, live and completed ones kept
// only to absorb retransmissions.
func (l *Layer) Len() int { return int(l.count.Load() + l.ghostCount.Load()) }

// Stats are a Layer's counters, for metrics.
type Stats struct {
	// Live is the number of transactions in progress (bounded by
	// Config.MaxTransactions).
	Live int
	// Lingering is the number of completed non-INVITE transactions kept
	// only to answer retransmissions until Timer J (bounded by
	// Config.MaxLingerBytes).
	Lingering int
	// LingerEvicted counts lingering transactions ended before Timer J to
	// stay within Config.MaxLingerBytes.
	LingerEvicted uint64
}

// Stats returns the layer's counters.
func (l *Layer) Stats() Stats {
	return Stats{Live: int(l.count.Load()), Lingering: int(l.ghostCount.Load()), LingerEvicted: l.ghostsEvicted.Load()}
}

func (l *Layer) shardFor(k key) *shard {
	return &l.shards[maphash.String(l.seed, k.branch)%shards]
}

func (l *Layer) ackShard(k ackKey) *shard {
	return &l.shards[maphash.String(l.seed, k.callID)%shards]
}

// ReceiveMessage implements transport.Receiver.
func (l *Layer) ReceiveMessage(msg sip.Message, f transport.Flow) {
	switch m := msg.(type) {
	case *sip.Request:
		l.receiveRequest(m, f)
	case *sip.Response:
		l.receiveResponse(m, f)
	}
}

func (l *Layer) tuOf() TU {
	if b := l.tu.Load(); b != nil {
		return b.tu
	}
	return clientOnly{}
}

func (l *Layer) receiveRequest(req *sip.Request, f transport.Flow) {
	k, ok := serverKey(req)
	if !ok || req.CSeq() == nil || req.CallID() == nil || req.From() == nil || req.To() == nil {
		return // nothing to match or answer; the transport already filtered garbage
	}
	switch req.Method {
	case sip.ACK:
		l.receiveACK(req, k, f)
		return
	case sip.CANCEL:
		l.receiveCancel(req, k, f)
		return
	}
	tu := l.tuOf()
	if st, ok := tu.(statelessTU); ok && req.Method != sip.INVITE && st.serveStateless(req, f) {
		return
	}
	tx, fresh, absorbed := l.serverTx(req, k, f)
	if absorbed {
		return
	}
	if tx == nil {
		l.respondStateless(req, f, sip.StatusServiceUnavailable, sip.NewHeader("Retry-After", strconv.Itoa(l.cfg.RetryAfter)))
		return
	}
	if !fresh {
		tx.receiveRetransmission(req)
		return
	}
	tx.start()
	tu.ServeRequest(tx)
}

// statelessTU is a TU that answers some requests itself, without a server
// transaction (Server.serveStateless).
type statelessTU interface {
	serveStateless(req *sip.Request, f transport.Flow) bool
}

// serverTx returns the server transaction for k, creating it when there is
// none (nil when the layer is full). When k belongs to a completed
// transaction that left a ghost, it resends the ghost's response and
// reports absorbed.
func (l *Layer) serverTx(req *sip.Request, k key, f transport.Flow) (tx *ServerTx, fresh, absorbed bool) {
	s := l.shardFor(k)
	s.mu.Lock()
	if tx := s.server[k]; tx != nil {
		s.mu.Unlock()
		return tx, false, false
	}
	if s.ghosts.n > 0 {
		if data := s.ghosts.lookup(k, l.keyHash(k), l.cfg.Clock.Now().UnixNano()); data != nil {
			s.mu.Unlock()
			// RFC 3261 §17.2.2: a retransmission in Completed gets the final
			// response again.
			_ = l.tp.Send(data, transport.ResponseTarget(req, f), nil)
			return nil, false, true
		}
	}
	if l.count.Load() >= int64(l.cfg.MaxTransactions) {
		s.mu.Unlock()
		return nil, false, false
	}
	tx = newServerTx(l, req, k, f)
	s.server[k] = tx
	grew(s.server, &s.serverPeak)
	l.count.Add(1)
	s.mu.Unlock()
	return tx, true, false
}

// addGhost leaves a ghost of the completed transaction with key k whose
// final response is data; false when it does not fit one.
func (l *Layer) addGhost(k key, data []byte) bool {
	s := l.shardFor(k)
	h := l.keyHash(k)
	now := l.cfg.Clock.Now().UnixNano()
	s.mu.Lock()
	ok := s.ghosts.add(k, h, data, now, 64*l.cfg.T1) // Timer J
	s.mu.Unlock()
	if ok {
		l.ghostCount.Add(1)
	}
	return ok
}

func (l *Layer) lookupServer(k key) *ServerTx {
	s := l.shardFor(k)
	s.mu.Lock()
	tx := s.server[k]
	s.mu.Unlock()
	return tx
}

func (l *Layer) removeServer(tx *ServerTx) {
	s := l.shardFor(tx.key)
	s.mu.Lock()
	if s.server[tx.key] == tx {
		delete(s.server, tx.key)
		s.server = shrink(s.server, &s.serverPeak)
		l.count.Add(-1)
	}
	s.mu.Unlock()
	if tx.ack != (ackKey{}) {
		as := l.ackShard(tx.ack)
		as.mu.Lock()
		if as.acks[tx.ack] == tx {
			delete(as.acks, tx.ack)
			as.acks = shrink(as.acks, &as.ackPeak)
		}
		as.mu.Unlock()
	}
}

func (l *Layer) receiveACK(req *sip.Request, k key, f transport.Flow) {
	tx := l.lookupServer(k)
	if tx == nil && k.host == "" {
		// RFC 2543 ACK for an initial INVITE, which had no To tag: the
		// transaction must have answered with the ACK's tag.
		k0 := k
		k0.branch = rfc2543Key(req, "")
		if t := l.lookupServer(k0); t != nil && t.answeredWith(toTagOf(req)) {
			tx = t
		}
	}
	if tx != nil {
		if tx.receiveACK(req) {
			return // absorbed: the ACK for a non-2xx final (RFC 3261 §17.2.1)
		}
	} else if ak, ok := ackKeyOf(req); ok {
		// The ACK for a 2xx has a branch of its own; it stops the 2xx
		// retransmissions of the UAS core (RFC 3261 §13.3.1.4).
		s := l.ackShard(ak)
		s.mu.Lock()
		tx := s.acks[ak]
		delete(s.acks, ak)
		s.acks = shrink(s.acks, &s.ackPeak)
		s.mu.Unlock()
		if tx != nil {
			tx.ackReceived()
		}
	}
	l.tuOf().ServeACK(req, f)
}

func (l *Layer) receiveCancel(req *sip.Request, k key, f transport.Flow) {
	// A retransmitted CANCEL is absorbed by its own transaction.
	if tx := l.lookupServer(k); tx != nil {
		tx.receiveRetransmission(req)
		return
	}
	ik := k
	ik.method = sip.INVITE
	invite := l.lookupServer(ik)
	if invite == nil && l.cfg.StatelessCancel {
		tx, _, _ := l.serverTx(req, k, f)
		if tx != nil {
			tx.start()
			l.tuOf().ServeRequest(tx)
		}
		return
	}
	tx, _, _ := l.serverTx(req, k, f)
	if tx == nil {
		return // full, or a retransmission the CANCEL's ghost answered
	}
	tx.start()
	if invite == nil {
		// RFC 3261 §9.2: no transaction to cancel.
		_ = tx.Respond(sip.NewResponse(req, sip.StatusCallDoesNotExist, ""))
		return
	}
	// The CANCEL is answered at once; the INVITE's TU decides what its
	// request gets (a UAS answers 487; a proxy cancels its branches and
	// relays what comes back, even a 2xx that raced the CANCEL).
	_ = tx.Respond(sip.NewResponse(req, sip.StatusOK, ""))
	invite.cancel()
}

func (l *Layer) receiveResponse(res *sip.Response, f transport.Flow) {
	k, ok := clientKey(res)
	if ok {
		s := l.shardFor(k)
		s.mu.Lock()
		tx := s.client[k]
		s.mu.Unlock()
		if tx != nil {
			tx.receiveResponse(res, f)
			return
		}
	}
	l.tuOf().ServeResponse(res, f)
}

func (l *Layer) addClient(tx *ClientTx) bool {
	s := l.shardFor(tx.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.count.Load() >= int64(l.cfg.MaxTransactions) {
		return false
	}
	if s.client[tx.key] != nil {
		return false
	}
	s.client[tx.key] = tx
	grew(s.client, &s.clientPeak)
	l.count.Add(1)
	return true
}

func (l *Layer) removeClient(tx *ClientTx) {
	s := l.shardFor(tx.key)
	s.mu.Lock()
	if s.client[tx.key] == tx {
		delete(s.client, tx.key)
		s.client = shrink(s.client, &s.clientPeak)
		l.count.Add(-1)
	}
	s.mu.Unlock()
}

// respondStateless answers req without a transaction (overload, errors).
func (l *Layer) respondStateless(req *sip.Request, f transport.Flow, code int, headers ...sip.Header) {
	res := sip.NewResponse(req, code, "")
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := l.tp.SendMessage(res, transport.ResponseTarget(req, f), nil); err != nil {
		l.log.Debug("transaction: stateless response", "code", code, "err", err)
	}
}

// Send sends msg outside any transaction: the ACK for a 2xx, a stateless
// proxy's forwards, a response relayed statelessly. A request needs a top
// Via (see PrependVia); the transport fills in its sent-by.
func (l *Layer) Send(msg sip.Message, t transport.Target) error {
	return l.tp.SendMessage(msg, t, nil)
}

// PrependVia adds a new top Via with branch (a new one if empty) and the
// rport parameter (RFC 3581), leaving the sent-by for the transport to fill.
// It returns the branch.
func PrependVia(req *sip.Request, branch string) string {
	if branch == "" {
		branch = sip.GenerateBranch()
	}
	// One allocation for the header and its parameters.
	v := &struct {
		h sip.ViaHeader
		p [3]sip.HeaderKV
	}{}
	v.p[0], v.p[1] = sip.HeaderKV{K: "branch", V: branch}, sip.HeaderKV{K: "rport"}
	v.h = sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Params: v.p[:2:3]}
	if !hasVia(req) {
		// No Via yet: append and move to the front, without the new slice
		// PrependHeader makes; AppendHeader points the cached top Via at it.
		req.AppendHeader(&v.h)
		hs := req.Headers()
		copy(hs[1:], hs[:len(hs)-1])
		hs[0] = &v.h
		return branch
	}
	req.PrependHeader(&v.h)
	return branch
}

// hasVia reports whether req has a Via, without sipgo's lazy lookup (which
// allocates when there is none).
func hasVia(req *sip.Request) bool {
	for _, h := range req.Headers() {
		if h.Name() == "Via" {
			return true
		}
	}
	return false
}

type clientOnly struct{}

func (clientOnly) ServeRequest(tx *ServerTx) {
	_ = tx.Respond(sip.NewResponse(tx.Request(), sip.StatusMethodNotAllowed, ""))
}
func (clientOnly) ServeACK(*sip.Request, transport.Flow)       {}
func (clientOnly) ServeResponse(*sip.Response, transport.Flow) {}
