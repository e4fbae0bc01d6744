package transaction

import (
	"strings"
	"sync"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Timer slots of a server transaction.
const (
	slotTrying = iota // the automatic 100 Trying
	slotG             // Timer G, or the UAS core's 2xx retransmission
	slotH             // Timer H
	slotIJL           // Timer I, J or L
	srvSlots
)

type serverState uint8

const (
	srvTrying     serverState = iota // non-INVITE, nothing sent
	srvProceeding                    // a provisional sent (INVITE starts here)
	srvCompleted                     // a final sent (non-2xx for INVITE)
	srvConfirmed                     // INVITE: ACK received
	srvAccepted                      // INVITE: 2xx sent (RFC 6026)
	srvTerminated
)

// ServerTx is a server transaction (RFC 3261 §17.2, RFC 6026): it absorbs
// retransmitted requests, retransmits its responses over unreliable
// transports and the ACK to a non-2xx final ends it.
type ServerTx struct {
	l        *Layer
	key      key
	req      *sip.Request
	flow     transport.Flow
	target   transport.Target
	invite   bool
	reliable bool

	mu       sync.Mutex
	state    serverState
	last     []byte // the latest response, for retransmission
	lastCode int
	final    bool
	toTag    string
	ack      ackKey
	timers   [srvSlots]txTimer
	interval time.Duration
	canceled bool
	hook     func(error) // the Server's context cancellation

	done     chan struct{}
	cancelCh chan struct{}
}

func newServerTx(l *Layer, req *sip.Request, k key, f transport.Flow) *ServerTx {
	// The key outlives the request: copy its strings out of the message's
	// header text (one allocation), so a lingering transaction does not keep
	// the whole message alive.
	kb := k.branch + k.host
	k.branch, k.host = kb[:len(k.branch)], kb[len(k.branch):]
	tx := &ServerTx{
		l:        l,
		key:      k,
		req:      req,
		flow:     f,
		target:   transport.ResponseTarget(req, f),
		invite:   req.Method == sip.INVITE,
		reliable: f.Transport != transport.UDP,
	}
	if tx.invite {
		tx.state = srvProceeding
	}
	for i := range tx.timers {
		tx.timers[i].init(tx, uint8(i))
	}
	return tx
}

// start arms the automatic 100 Trying of an INVITE (RFC 3261 §17.2.1).
func (tx *ServerTx) start() {
	if !tx.invite || tx.l.cfg.TryingDelay < 0 {
		return
	}
	tx.mu.Lock()
	tx.arm(slotTrying, tx.l.cfg.TryingDelay)
	tx.mu.Unlock()
}

func (tx *ServerTx) arm(slot int, d time.Duration) { tx.l.sched.schedule(&tx.timers[slot], d) }

func (tx *ServerTx) disarm(slot int) { tx.l.sched.cancel(&tx.timers[slot]) }

func (tx *ServerTx) current(slot int, gen uint32) bool { return tx.timers[slot].gen == gen }

// onTimer implements timerOwner.
func (tx *ServerTx) onTimer(slot uint8, gen uint32) {
	switch slot {
	case slotTrying:
		tx.sendTrying(gen)
	case slotG:
		tx.timerGFired(gen)
	case slotH:
		tx.timerHFired(gen)
	case slotIJL:
		tx.mu.Lock()
		var after func(error)
		if tx.current(slotIJL, gen) {
			after = tx.terminateLocked()
		}
		tx.mu.Unlock()
		if after != nil {
			after(ErrTerminated)
		}
	}
}

func (tx *ServerTx) sendTrying(gen uint32) {
	tx.mu.Lock()
	req := tx.req
	send := tx.current(slotTrying, gen) && tx.state == srvProceeding && tx.last == nil && req != nil
	tx.mu.Unlock()
	if send {
		_ = tx.Respond(sip.NewResponse(req, sip.StatusTrying, ""))
	}
}

// Request returns the request that created the transaction. Once the
// transaction has sent its final response and only lingers to absorb
// retransmissions (RFC 3261 §17.2), it drops the request and Request
// returns nil; the Server's handler keeps its own reference.
func (tx *ServerTx) Request() *sip.Request {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.req
}

// compact drops what a lingering transaction no longer needs: the request,
// and references into the response's header text. tx.mu is held.
func (tx *ServerTx) compact() {
	tx.req = nil
	if tx.toTag != "" {
		tx.toTag = strings.Clone(tx.toTag)
	}
}

// Flow returns the flow the request arrived on.
func (tx *ServerTx) Flow() transport.Flow { return tx.flow }

// Respond sends res (built with sip.NewResponse from Request()). Provisional
// responses may be sent until a final one; after it Respond returns
// sip.ErrFinalSent. A 2xx to an INVITE is sent once: retransmitting it is
// the UAS core's business (RespondUAS), and a proxy relays the downstream's
// retransmissions instead (RFC 3261 §16.7).
func (tx *ServerTx) Respond(res *sip.Response) error { return tx.respond(res, false) }

// RespondUAS is Respond for a UAS core: a 2xx to an INVITE is retransmitted
// on unreliable transports until its ACK arrives or 64*T1 passes (RFC 3261
// §13.3.1.4).
func (tx *ServerTx) RespondUAS(res *sip.Response) error { return tx.respond(res, true) }

func (tx *ServerTx) respond(res *sip.Response, uas bool) error {
	tx.mu.Lock()
	after, err := tx.respondLocked(res, uas)
	tx.mu.Unlock()
	if after != nil {
		after(ErrTerminated)
	}
	return err
}

func (tx *ServerTx) respondLocked(res *sip.Response, uas bool) (func(error), error) {
	code := res.StatusCode
	switch tx.state {
	case srvTrying, srvProceeding:
	default:
		return nil, sip.ErrFinalSent
	}
	t, data, err := tx.l.tp.Encode(res, tx.target)
	if err != nil {
		return nil, err
	}
	// The state and timers change before the send, so that a peer answering
	// at once (or a test advancing a fake clock on seeing the response) finds
	// the transaction already in its new state.
	tx.disarm(slotTrying)
	tx.last, tx.lastCode = data, code
	tx.final = code >= 200
	if to := res.To(); to != nil {
		tx.toTag, _ = to.Params.Get("tag")
	}
	cfg := &tx.l.cfg
	done := false
	switch {
	case code < 200:
		tx.state = srvProceeding
	case tx.invite && code < 300:
		// RFC 6026 §8.7: Accepted, for Timer L, absorbing retransmitted
		// INVITEs and passing 2xx ACKs up.
		tx.state = srvAccepted
		tx.last = nil
		tx.compact()
		tx.arm(slotIJL, 64*cfg.T1) // Timer L
		if uas && !tx.reliable {
			if ak, ok := ackKeyOf(res); ok {
				ak = ak.own()
				tx.ack = ak
				s := tx.l.ackShard(ak)
				s.mu.Lock()
				s.acks[ak] = tx
				grew(s.acks, &s.ackPeak)
				s.mu.Unlock()
				tx.last = data
				tx.interval = cfg.T1
				tx.arm(slotG, cfg.T1)
			}
		}
	case tx.invite:
		tx.state = srvCompleted
		if !tx.reliable {
			tx.interval = cfg.T1
			tx.arm(slotG, cfg.T1)
		}
		tx.arm(slotH, 64*cfg.T1)
	default:
		tx.state = srvCompleted
		tx.compact()
		switch {
		case tx.reliable:
			done = true // Timer J is 0 for reliable transports
		case tx.l.addGhost(tx.key, data):
			// The ghost answers retransmissions until Timer J (ghost.go);
			// the transaction itself ends now.
			done = true
		default:
			tx.arm(slotIJL, 64*cfg.T1) // Timer J
		}
	}
	if err := tx.l.tp.Send(data, t, tx.sendFailed); err != nil {
		if code >= 200 {
			return tx.terminateLocked(), err
		}
		return nil, err
	}
	if done {
		return tx.terminateLocked(), nil
	}
	return nil, nil
}

func (tx *ServerTx) sendFailed(err error) {
	tx.l.log.Debug("transaction: response not delivered", "flow", tx.flow, "err", err)
	tx.terminate()
}

func (tx *ServerTx) resendLocked() {
	if tx.last != nil {
		_ = tx.l.tp.Send(tx.last, tx.target, nil)
	}
}

// receiveRetransmission answers a retransmitted request with the latest
// response (RFC 3261 §17.2.1, §17.2.2).
func (tx *ServerTx) receiveRetransmission(*sip.Request) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	switch tx.state {
	case srvProceeding, srvCompleted:
		tx.resendLocked()
	}
}

// receiveACK handles an ACK matching this INVITE transaction. It reports
// whether the ACK was absorbed; an ACK in Accepted goes to the TU.
func (tx *ServerTx) receiveACK(*sip.Request) bool {
	tx.mu.Lock()
	var after func(error)
	absorbed := false
	switch tx.state {
	case srvCompleted:
		tx.state = srvConfirmed
		tx.compact()
		tx.disarm(slotG)
		tx.disarm(slotH)
		if tx.reliable {
			after = tx.terminateLocked() // Timer I is 0 for reliable transports
		} else {
			tx.arm(slotIJL, tx.l.cfg.T4) // Timer I
		}
		absorbed = true
	case srvConfirmed:
		absorbed = true
	}
	tx.mu.Unlock()
	if after != nil {
		after(ErrTerminated)
	}
	return absorbed
}

// answeredWith reports whether the transaction's responses carry To tag tag.
func (tx *ServerTx) answeredWith(tag string) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tag != "" && tag == tx.toTag
}

func (tx *ServerTx) timerGFired(gen uint32) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if !tx.current(slotG, gen) || tx.last == nil {
		return
	}
	switch tx.state {
	case srvCompleted, srvAccepted: // Accepted: the UAS core's 2xx
	default:
		return
	}
	tx.resendLocked()
	tx.interval = min(2*tx.interval, tx.l.cfg.T2)
	tx.arm(slotG, tx.interval)
}

// ackReceived stops the 2xx retransmissions.
func (tx *ServerTx) ackReceived() {
	tx.mu.Lock()
	tx.disarm(slotG)
	tx.last = nil
	tx.mu.Unlock()
}

func (tx *ServerTx) timerHFired(gen uint32) {
	tx.mu.Lock()
	fire := tx.current(slotH, gen) && tx.state == srvCompleted
	tx.mu.Unlock()
	if !fire {
		return
	}
	if fn := tx.l.cfg.OnTimerH; fn != nil {
		fn(tx.req, tx.flow)
	}
	tx.terminate()
}

// cancel records a matching CANCEL (RFC 3261 §9.2).
func (tx *ServerTx) cancel() {
	tx.mu.Lock()
	if tx.canceled || tx.state != srvProceeding {
		tx.mu.Unlock()
		return
	}
	tx.canceled = true
	fn := tx.hook
	if tx.cancelCh != nil {
		close(tx.cancelCh)
	}
	tx.mu.Unlock()
	if fn != nil {
		fn(ErrCanceled)
	}
}

// Canceled returns a channel closed when a CANCEL for this INVITE arrives
// before its final response.
func (tx *ServerTx) Canceled() <-chan struct{} {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.cancelCh == nil {
		tx.cancelCh = make(chan struct{})
		if tx.canceled {
			close(tx.cancelCh)
		}
	}
	return tx.cancelCh
}

// IsCanceled reports whether a CANCEL arrived for this INVITE.
func (tx *ServerTx) IsCanceled() bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.canceled
}

// Done returns a channel closed when the transaction terminates.
func (tx *ServerTx) Done() <-chan struct{} {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done == nil {
		tx.done = make(chan struct{})
		if tx.state == srvTerminated {
			close(tx.done)
		}
	}
	return tx.done
}

func (tx *ServerTx) terminate() {
	tx.mu.Lock()
	after := tx.terminateLocked()
	tx.mu.Unlock()
	if after != nil {
		after(ErrTerminated)
	}
}

// terminateLocked ends the transaction and returns the Server's hook, to be
// called with ErrTerminated once the lock is released.
func (tx *ServerTx) terminateLocked() func(error) {
	if tx.state == srvTerminated {
		return nil
	}
	tx.state = srvTerminated
	for i := range tx.timers {
		tx.disarm(i)
	}
	if tx.done != nil {
		close(tx.done)
	}
	tx.last = nil
	tx.l.removeServer(tx) // lock order: transaction, then shard
	return tx.hook
}

// setHook installs the Server's context cancellation: it is called with
// ErrCanceled when a CANCEL arrives and with ErrTerminated when the
// transaction ends (at once if either already happened).
func (tx *ServerTx) setHook(hook func(error)) {
	tx.mu.Lock()
	tx.hook = hook
	canceled, done := tx.canceled, tx.state == srvTerminated
	tx.mu.Unlock()
	if canceled {
		hook(ErrCanceled)
	}
	if done {
		hook(ErrTerminated)
	}
}

// clearHook drops the Server's hook once its handler has returned.
func (tx *ServerTx) clearHook() {
	tx.mu.Lock()
	tx.hook = nil
	tx.mu.Unlock()
}

// FinalSent reports whether a final response has been sent.
func (tx *ServerTx) FinalSent() bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.final
}
