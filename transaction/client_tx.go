package transaction

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Timer slots of a client transaction.
const (
	slotAE  = iota // Timer A (INVITE) or E (non-INVITE): retransmission
	slotBF         // Timer B or F: timeout; also 64*T1 after a CANCEL
	slotC          // proxy Timer C
	slotDKM        // Timer D, K or M: linger after the final
	cliSlots
)

type clientState uint8

const (
	cliCalling    clientState = iota // INVITE sent, nothing back (Trying for non-INVITE)
	cliProceeding                    // a provisional received
	cliCompleted                     // final received (non-2xx for INVITE)
	cliAccepted                      // INVITE: 2xx received (RFC 6026)
	cliTerminated
)

// ClientOptions configures one client transaction.
type ClientOptions struct {
	// OnResponse is called for every response the transaction passes up:
	// provisionals, the final one and, for an INVITE, every further 2xx
	// (retransmissions and other forks) while in the Accepted state
	// (RFC 6026 §7.2). Calls come one at a time in arrival order and must
	// not block.
	OnResponse func(tx *ClientTx, res *sip.Response)
	// OnError is called when the transaction fails without a final response:
	// ErrTimeout (Timer B or F), ErrTimerC, or the transport's error when the
	// request could not be delivered (a refused connection is reported at
	// once). Responses that still arrive afterwards (the 487 to the CANCEL
	// Timer C sent, a 2xx that raced it) go to OnResponse.
	OnError func(tx *ClientTx, err error)
	// TimerC, for an INVITE, is proxy Timer C (RFC 3261 §16.8): reset by
	// every provisional, it CANCELs a request that stays in Proceeding that
	// long, or fails one that never got a provisional. Zero disables it.
	TimerC time.Duration
	// Timeout, when positive, replaces Timer B and F (64*T1): how long an
	// INVITE waits for its first response, or another request for its
	// final one, before it fails with ErrTimeout. A proxy sets it short to
	// fail over from a dead next hop in seconds (Kamailio's fr_timer).
	Timeout time.Duration
	// Branch is the branch of the Via the transaction adds; empty means a
	// new random one.
	Branch string
}

// ClientTx is a client transaction (RFC 3261 §17.1, RFC 6026).
type ClientTx struct {
	l        *Layer
	key      key
	req      *sip.Request
	target   transport.Target
	data     []byte
	invite   bool
	reliable bool
	opts     ClientOptions

	mu         sync.Mutex
	state      clientState
	ser        serializer
	timers     [cliSlots]txTimer
	interval   time.Duration
	ack        []byte
	cancelWant bool
	canceling  bool
	final      *sip.Response
	err        error
	done       chan struct{}
	finished   chan struct{} // closed at the first final or failure, for Do
	stopCtx    func() bool
}

// Request sends req in a new client transaction to t. It adds a top Via
// (branch from opts, or a new one; sent-by filled in by the transport) and
// from then on owns req: callers must not modify it. Cancelling ctx CANCELs
// an INVITE (RFC 3261 §9.1) and abandons any other request.
func (l *Layer) Request(ctx context.Context, req *sip.Request, t transport.Target, opts ClientOptions) (*ClientTx, error) {
	PrependVia(req, opts.Branch)
	return l.start(ctx, req, t, opts)
}

func (l *Layer) start(ctx context.Context, req *sip.Request, t transport.Target, opts ClientOptions) (*ClientTx, error) {
	return l.startTx(ctx, req, t, opts, nil)
}

func (l *Layer) startTx(ctx context.Context, req *sip.Request, t transport.Target, opts ClientOptions, finished chan struct{}) (*ClientTx, error) {
	branch, _ := req.Via().Params.Get("branch")
	tx := &ClientTx{
		l:        l,
		key:      key{branch: branch, method: req.Method},
		req:      req,
		invite:   req.Method == sip.INVITE,
		opts:     opts,
		finished: finished,
	}
	for i := range tx.timers {
		tx.timers[i].init(tx, uint8(i))
	}
	t2, data, err := l.tp.Encode(req, t)
	if err != nil {
		return nil, err
	}
	tx.target, tx.data = t2, data
	tx.reliable = t2.Transport != transport.UDP
	if !l.addClient(tx) {
		return nil, ErrOverload
	}
	tx.mu.Lock()
	if err := l.tp.Send(data, t2, tx.sendFailed); err != nil {
		tx.mu.Unlock()
		l.removeClient(tx)
		return nil, err
	}
	cfg := &l.cfg
	if !tx.reliable {
		tx.interval = cfg.T1
		tx.arm(slotAE, cfg.T1)
	}
	// Timer B (INVITE) or F (non-INVITE): 64*T1.
	if opts.Timeout > 0 {
		tx.arm(slotBF, opts.Timeout)
	} else {
		tx.arm(slotBF, 64*cfg.T1)
	}
	if tx.invite && opts.TimerC > 0 {
		tx.arm(slotC, opts.TimerC)
	}
	tx.mu.Unlock()
	if ctx != nil && ctx.Done() != nil {
		stop := context.AfterFunc(ctx, tx.abandon)
		tx.mu.Lock()
		tx.stopCtx = stop
		tx.mu.Unlock()
	}
	return tx, nil
}

// Request returns the request as sent, with the transaction's Via, until a
// final response arrives; then the transaction, which only lingers to absorb
// retransmissions (Timer D, K or M), lets go of it and Request returns nil.
func (tx *ClientTx) Request() *sip.Request {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.req
}

// Target returns where the request went (after any UDP-to-TCP switch).
func (tx *ClientTx) Target() transport.Target { return tx.target }

// Branch returns the branch of the transaction's Via.
func (tx *ClientTx) Branch() string { return tx.key.branch }

// Done returns a channel closed when the transaction terminates.
func (tx *ClientTx) Done() <-chan struct{} {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done == nil {
		tx.done = make(chan struct{})
		if tx.state == cliTerminated {
			close(tx.done)
		}
	}
	return tx.done
}

// Err returns why the transaction failed, or nil if it got a final response
// or is still running.
func (tx *ClientTx) Err() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.err
}

// Final returns the first final response of a transaction started without
// ClientOptions.OnResponse (as Do does), or nil.
func (tx *ClientTx) Final() *sip.Response {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.final
}

func (tx *ClientTx) arm(slot int, d time.Duration) { tx.l.sched.schedule(&tx.timers[slot], d) }

func (tx *ClientTx) disarm(slot int) { tx.l.sched.cancel(&tx.timers[slot]) }

// onTimer implements timerOwner.
func (tx *ClientTx) onTimer(slot uint8, gen uint32) {
	switch slot {
	case slotAE:
		tx.retransmit(gen)
	case slotBF:
		tx.timeout(gen)
	case slotC:
		tx.timerCFired(gen)
	case slotDKM:
		tx.linger(gen)
	}
}

// current reports, under the lock, whether a firing of slot is the latest.
func (tx *ClientTx) current(slot int, gen uint32) bool { return tx.timers[slot].gen == gen }

func (tx *ClientTx) deliver(res *sip.Response) {
	if tx.opts.OnResponse != nil {
		tx.ser.pending = append(tx.ser.pending, event{res: res})
	}
}

// run delivers the queued events to the transaction's user.
func (tx *ClientTx) run() { tx.ser.run(&tx.mu, tx.dispatch) }

func (tx *ClientTx) dispatch(ev event) {
	if ev.err != nil {
		tx.opts.OnError(tx, ev.err)
		return
	}
	tx.opts.OnResponse(tx, ev.res)
}

func (tx *ClientTx) fail(err error) {
	if tx.err != nil || tx.final != nil {
		return
	}
	tx.err = err
	if tx.finished != nil {
		close(tx.finished)
	}
	if tx.opts.OnError != nil {
		tx.ser.pending = append(tx.ser.pending, event{err: err})
	}
}

func (tx *ClientTx) receiveResponse(res *sip.Response, _ transport.Flow) {
	code := res.StatusCode
	tx.mu.Lock()
	sendCancel := false
	cfg := &tx.l.cfg
	if tx.invite {
		switch tx.state {
		case cliCalling, cliProceeding:
			tx.disarm(slotAE)
			if !tx.canceling {
				tx.disarm(slotBF)
			}
			switch {
			case code < 200:
				tx.state = cliProceeding
				if tx.opts.TimerC > 0 && !tx.canceling {
					tx.arm(slotC, tx.opts.TimerC)
				}
				if tx.cancelWant {
					// RFC 3261 §9.1: a CANCEL waits for a provisional.
					tx.cancelWant = false
					sendCancel = true
				}
				tx.deliver(res)
			case code < 300:
				tx.disarm(slotBF)
				tx.disarm(slotC)
				tx.state = cliAccepted
				tx.setFinal(res)
				tx.deliver(res)
				tx.arm(slotDKM, 64*cfg.T1) // Timer M
			default:
				tx.disarm(slotBF)
				tx.disarm(slotC)
				tx.state = cliCompleted
				tx.sendACK(res)
				tx.setFinal(res)
				tx.deliver(res)
				if tx.reliable {
					tx.terminateLocked() // Timer D is 0 for reliable transports
				} else {
					tx.arm(slotDKM, max(32*time.Second, 64*cfg.T1)) // Timer D
				}
			}
		case cliAccepted:
			if code >= 200 && code < 300 {
				tx.deliver(res)
			}
		case cliCompleted:
			if code >= 300 && tx.ack != nil {
				_ = tx.l.tp.Send(tx.ack, tx.target, nil) // retransmitted final
			}
		}
	} else {
		switch tx.state {
		case cliCalling, cliProceeding:
			if code < 200 {
				tx.state = cliProceeding
				tx.deliver(res)
				break
			}
			tx.disarm(slotAE)
			tx.disarm(slotBF)
			tx.state = cliCompleted
			tx.setFinal(res)
			tx.deliver(res)
			if tx.reliable {
				tx.terminateLocked() // Timer K is 0 for reliable transports
			} else {
				tx.arm(slotDKM, cfg.T4) // Timer K
			}
		}
	}
	tx.mu.Unlock()
	if sendCancel {
		tx.sendCancel()
	}
	tx.run()
}

func (tx *ClientTx) setFinal(res *sip.Response) {
	if tx.final == nil && tx.err == nil {
		// Kept only for those who get it from Final: with OnResponse the
		// caller has it, and a lingering transaction holds no message.
		if tx.opts.OnResponse == nil {
			tx.final = res
		}
		if tx.finished != nil {
			close(tx.finished)
		}
	}
	// Nothing is retransmitted any more (the non-2xx ACK is already built).
	tx.data, tx.req = nil, nil
}

// sendACK acknowledges a non-2xx final (RFC 3261 §17.1.1.3): the INVITE's
// Request-URI, its top Via only, its Route set, and the response's To.
func (tx *ClientTx) sendACK(res *sip.Response) {
	inv := tx.req
	ack := sip.NewRequest(sip.ACK, *inv.Recipient.Clone())
	if v := inv.Via(); v != nil {
		ack.AppendHeader(v.Clone())
	}
	for h := range sip.Fields(inv, "Route") {
		ack.AppendHeader(sip.NewHeader("Route", h.Value()))
	}
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	if h := inv.From(); h != nil {
		ack.AppendHeader(h)
	}
	if h := res.To(); h != nil {
		ack.AppendHeader(h)
	}
	if h := inv.CallID(); h != nil {
		ack.AppendHeader(h)
	}
	if h := inv.CSeq(); h != nil {
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: sip.ACK})
	}
	ack.SetBody(nil)
	_, data, err := tx.l.tp.Encode(ack, tx.target)
	if err != nil {
		return
	}
	tx.ack = data
	_ = tx.l.tp.Send(data, tx.target, nil)
}

// Cancel cancels an INVITE (RFC 3261 §9.1): at once if a provisional has
// arrived, else as soon as one does. It does nothing once a final response
// has arrived, and is an error for other methods. The CANCEL carries the
// INVITE's Via branch and sent-by so that the next hop can match it.
func (tx *ClientTx) Cancel() error {
	if !tx.invite {
		return errors.New("transaction: only an INVITE can be cancelled")
	}
	tx.mu.Lock()
	send := false
	switch tx.state {
	case cliCalling:
		tx.cancelWant = true
	case cliProceeding:
		send = true
	}
	tx.mu.Unlock()
	if send {
		tx.sendCancel()
	}
	return nil
}

func (tx *ClientTx) sendCancel() {
	tx.mu.Lock()
	if tx.canceling || tx.state != cliProceeding {
		tx.mu.Unlock()
		return
	}
	tx.canceling = true
	// §9.1: a transaction whose CANCEL gets no final within 64*T1 is over.
	tx.arm(slotBF, 64*tx.l.cfg.T1)
	tx.disarm(slotC)
	inv := tx.req
	tx.mu.Unlock()
	if inv == nil {
		return
	}

	c := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	if v := inv.Via(); v != nil {
		c.AppendHeader(v.Clone())
	}
	for h := range sip.Fields(inv, "Route") {
		c.AppendHeader(sip.NewHeader("Route", h.Value()))
	}
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	if h := inv.From(); h != nil {
		c.AppendHeader(h)
	}
	if h := inv.To(); h != nil {
		c.AppendHeader(h)
	}
	if h := inv.CallID(); h != nil {
		c.AppendHeader(h)
	}
	if h := inv.CSeq(); h != nil {
		c.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: sip.CANCEL})
	}
	c.SetBody(nil)
	t := tx.target
	if _, err := tx.l.start(context.Background(), c, t, ClientOptions{}); err != nil {
		tx.l.log.Debug("transaction: CANCEL not sent", "err", err)
	}
}

// abandon runs when the request's context is done.
func (tx *ClientTx) abandon() {
	if tx.invite {
		_ = tx.Cancel()
		return
	}
	tx.mu.Lock()
	tx.fail(context.Canceled)
	tx.terminateLocked()
	tx.mu.Unlock()
	tx.run()
}

func (tx *ClientTx) retransmit(gen uint32) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if !tx.current(slotAE, gen) {
		return
	}
	cfg := &tx.l.cfg
	switch {
	case tx.invite && tx.state == cliCalling:
		// Timer A doubles without a cap; Timer B ends it (§17.1.1.2).
		tx.interval *= 2
	case !tx.invite && tx.state == cliCalling:
		tx.interval = min(2*tx.interval, cfg.T2) // Timer E, §17.1.2.2
	case !tx.invite && tx.state == cliProceeding:
		tx.interval = cfg.T2
	default:
		return
	}
	_ = tx.l.tp.Send(tx.data, tx.target, nil)
	tx.arm(slotAE, tx.interval)
}

func (tx *ClientTx) timeout(gen uint32) {
	tx.mu.Lock()
	if tx.current(slotBF, gen) {
		switch tx.state {
		case cliCalling, cliProceeding:
			tx.fail(ErrTimeout)
			tx.terminateLocked()
		}
	}
	tx.mu.Unlock()
	tx.run()
}

func (tx *ClientTx) timerCFired(gen uint32) {
	tx.mu.Lock()
	cancel := false
	if tx.current(slotC, gen) {
		switch tx.state {
		case cliCalling:
			// §16.8: no provisional yet, so no CANCEL: as if a 408 arrived.
			tx.fail(ErrTimerC)
			tx.terminateLocked()
		case cliProceeding:
			tx.fail(ErrTimerC)
			cancel = true
		}
	}
	tx.mu.Unlock()
	if cancel {
		tx.sendCancel()
	}
	tx.run()
}

func (tx *ClientTx) linger(gen uint32) {
	tx.mu.Lock()
	if tx.current(slotDKM, gen) {
		tx.terminateLocked()
	}
	tx.mu.Unlock()
	tx.run()
}

func (tx *ClientTx) sendFailed(err error) {
	tx.mu.Lock()
	switch tx.state {
	case cliCalling, cliProceeding:
		tx.fail(err)
	}
	tx.terminateLocked()
	tx.mu.Unlock()
	tx.run()
}

func (tx *ClientTx) terminate() {
	tx.mu.Lock()
	tx.terminateLocked()
	tx.mu.Unlock()
	tx.run()
}

func (tx *ClientTx) terminateLocked() {
	if tx.state == cliTerminated {
		return
	}
	tx.state = cliTerminated
	for i := range tx.timers {
		tx.disarm(i)
	}
	if tx.done != nil {
		close(tx.done)
	}
	if tx.stopCtx != nil {
		tx.stopCtx()
	}
	tx.l.removeClient(tx)
}

// Do sends req in a client transaction and waits for its final response
// (the first 2xx for an INVITE, which the caller must ACK). If ctx ends
// first, an INVITE is cancelled and Do returns ctx's error.
func (l *Layer) Do(ctx context.Context, req *sip.Request, t transport.Target) (*sip.Response, error) {
	PrependVia(req, "")
	finished := make(chan struct{})
	tx, err := l.startTx(ctx, req, t, ClientOptions{}, finished)
	if err != nil {
		return nil, err
	}
	select {
	case <-finished:
		tx.mu.Lock()
		defer tx.mu.Unlock()
		return tx.final, tx.err
	case <-ctx.Done():
		if tx.invite {
			_ = tx.Cancel()
		}
		return nil, ctx.Err()
	}
}
