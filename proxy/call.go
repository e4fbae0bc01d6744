package proxy

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// Branch is one forwarded copy of a request (RFC 3261 §16.6): a target and
// the client transaction currently carrying it.
type Branch struct {
	// Target is what the branch was made for.
	Target Target
	// Index numbers the branches of a request from 0.
	Index int

	c        *call
	base     *sip.Request // the forwarded request before its Via
	hop      sip.Uri      // the next-hop URI it was resolved from
	targets  []transport.Target
	next     int
	tx       *transaction.ClientTx
	done     bool // a final response (or failure) has been taken into account
	canceled bool
}

// Request returns the request as this branch forwards it (without this
// proxy's Via), or nil once the call is answered.
func (b *Branch) Request() *sip.Request {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	return b.base
}

// Transport returns the transport target the branch was sent to.
func (b *Branch) Transport() transport.Target {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	if b.tx != nil {
		return b.tx.Target()
	}
	return transport.Target{}
}

// call is the response context of one proxied request (RFC 3261 §16.7).
type call struct {
	p      *Proxy
	w      sip.ResponseWriter
	relay  func(*sip.Response) error
	req    *sip.Request // as received
	fwd    *sip.Request // after route preprocessing
	opts   Options
	inFlow transport.Flow
	up     transport.Target // where responses go upstream, for stateless 2xx
	loop   string
	invite bool
	bye    bool
	single bool // one target, nothing after it: the branch may use fwd itself
	timerC int64

	hookMu sync.Mutex // serialises Options.OnReply

	mu        sync.Mutex
	branches  []*Branch
	pending   int
	groups    [][]Target
	best      *sip.Response
	bestLocal bool // best was generated here (unreachable target), not received
	auth      []sip.Header
	final     bool
	answered  bool
	canceled  bool
	cancelled sync.Once
	starting  int // groups being started asynchronously
	// ctx is the request's context (relay waits for the call to end, so
	// it outlives every branch); a CANCEL or shutdown ends it.
	ctx      context.Context
	done     chan struct{}
	doneOnce sync.Once
	// With Config.Detach: release ends the server transaction's hold
	// once the call is over, and stopCtx unhooks the watch on ctx.
	release func()
	stopCtx func() bool
}

func (p *Proxy) relay(ctx context.Context, w sip.ResponseWriter, req, fwd *sip.Request, opts *Options, targets []Target) error {
	c := &call{
		p:      p,
		ctx:    ctx,
		w:      w,
		req:    req,
		fwd:    fwd,
		invite: req.Method == sip.INVITE,
		bye:    req.Method == sip.BYE,
		loop:   loopHash(req),
		done:   make(chan struct{}),
	}
	if opts != nil {
		c.opts = *opts
	}
	c.inFlow, _ = transport.FlowFromContext(ctx)
	if c.inFlow.Transport != "" {
		c.up = transport.ResponseTarget(req, c.inFlow)
	}
	if r, ok := w.(transaction.Relayer); ok {
		c.relay = r.RelayResponse
	} else {
		c.relay = w.WriteResponse
	}
	c.groups = groupTargets(targets, c.opts.Sequential)
	c.single = len(targets) == 1 && c.opts.OnFailure == nil
	first := c.groups[0]
	c.groups = c.groups[1:]
	c.startGroup(first)
	if p.cfg.Detach {
		if d, ok := w.(transaction.Detacher); ok {
			c.detach(ctx, d.Detach())
			return nil
		}
	}
	for {
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			if !errors.Is(context.Cause(ctx), transaction.ErrCanceled) {
				c.cancelAll(false)
				return ctx.Err()
			}
			// RFC 3261 §16.10: cancel every pending branch and relay
			// what they answer (487s, or a 2xx that won the race).
			c.cancelAll(true)
			<-c.done
			return nil
		}
	}
}

// detach lets relay return while the call goes on (Config.Detach): what
// its wait loop does on the end of ctx is done by a context.AfterFunc, and
// finish releases the server transaction.
func (c *call) detach(ctx context.Context, release func()) {
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(context.Cause(ctx), transaction.ErrCanceled) {
			// Shutdown: the server answers 500 if nothing final went up.
			c.cancelAll(false)
			c.released()
			return
		}
		// RFC 3261 §16.10: cancel every pending branch and relay what
		// they answer (487s, or a 2xx that won the race); finish releases.
		c.cancelAll(true)
	})
	c.mu.Lock()
	c.release, c.stopCtx = release, stop
	c.mu.Unlock()
	select {
	case <-c.done: // the call ended while its branches were started
		c.released()
	default:
	}
}

// released ends a detached call's hold on its server transaction.
func (c *call) released() {
	c.mu.Lock()
	release, stop := c.release, c.stopCtx
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	if release != nil {
		release()
	}
}

// groupTargets orders targets by q-value, highest first (RFC 3261 §16.6);
// sequential forking tries one equal-q group at a time.
func groupTargets(targets []Target, sequential bool) [][]Target {
	sorted := slices.Clone(targets)
	slices.SortStableFunc(sorted, func(a, b Target) int {
		switch {
		case a.Q > b.Q:
			return -1
		case a.Q < b.Q:
			return 1
		}
		return 0
	})
	if !sequential {
		return [][]Target{sorted}
	}
	var groups [][]Target
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].Q == sorted[i].Q {
			j++
		}
		groups = append(groups, sorted[i:j])
		i = j
	}
	return groups
}

// startGroup forks one group of targets.
func (c *call) startGroup(targets []Target) {
	c.mu.Lock()
	bs := make([]*Branch, 0, len(targets))
	for _, t := range targets {
		b := &Branch{Target: t, Index: len(c.branches), c: c}
		c.branches = append(c.branches, b)
		c.pending++
		bs = append(bs, b)
	}
	c.mu.Unlock()
	for _, b := range bs {
		c.startBranch(b)
	}
}

// startBranch builds the branch's request (§16.6 steps 1-7), resolves its
// next hop and sends it.
func (c *call) startBranch(b *Branch) {
	p := c.p
	fwd := c.fwd
	if !c.single {
		fwd = sip.CopyRequest(c.fwd)
	}
	if b.Target.URI.Host != "" || b.Target.URI.Raw() != "" {
		fwd.Recipient = *b.Target.URI.Clone()
	}
	for i := len(b.Target.Route) - 1; i >= 0; i-- {
		_ = sip.PushNameAddr(fwd, "Route", b.Target.Route[i])
	}
	if mf := fwd.MaxForwards(); mf != nil {
		mf.Dec()
	} else {
		v := sip.MaxForwardsHeader(70)
		fwd.AppendHeader(&v)
	}
	var err error
	if b.Target.Next.Transport != "" {
		b.targets = []transport.Target{b.Target.Next}
		b.hop = fwd.Recipient
	} else {
		b.hop, err = nextHopURI(fwd)
		if err == nil {
			if t, ok := p.dialogs.get(callID(fwd), &b.hop); ok && toTag(fwd) != "" {
				b.targets = []transport.Target{t}
			} else {
				b.targets, err = p.resolve(c.ctx, b.hop) // a CANCEL ends a pending lookup
			}
		}
	}
	if err != nil {
		code := sip.StatusServiceUnavailable
		if errors.Is(err, ErrLoop) {
			code = sip.StatusLoopDetected
		}
		p.log.Debug("proxy: branch not sent", "call-id", callID(fwd), "hop", b.hop.String(), "err", err)
		c.branchFailed(b, nil, c.local(code), true)
		return
	}
	if p.cfg.RecordRoute && toTag(fwd) == "" && recordRoutes(fwd.Method) {
		c.addRecordRoute(fwd, b.targets[0])
	}
	b.base = fwd
	c.send(b)
}

// recordRoutes reports whether a request of method m can create a dialog.
func recordRoutes(m sip.RequestMethod) bool {
	switch m {
	case sip.INVITE, sip.SUBSCRIBE, sip.REFER, sip.NOTIFY:
		return true
	}
	return false
}

// addRecordRoute inserts this proxy's Record-Route: one for the listener
// the request came in on and, when it leaves on another, one for that too
// (double Record-Route), the outgoing side on top.
func (c *call) addRecordRoute(fwd *sip.Request, out transport.Target) {
	tp := c.p.tp
	in := tp.ListenerAt(c.inFlow.Transport, c.inFlow.Local)
	outLn := tp.ListenerFor(out)
	if in == nil {
		in = outLn
	}
	if in == nil {
		return
	}
	_ = sip.PushNameAddr(fwd, "Record-Route", recordRoute(in))
	if outLn != nil && outLn != in {
		_ = sip.PushNameAddr(fwd, "Record-Route", recordRoute(outLn))
	}
}

// send starts a client transaction for the branch on its next resolved
// target.
func (c *call) send(b *Branch) {
	c.mu.Lock()
	if c.final || c.canceled || b.canceled {
		c.mu.Unlock()
		c.branchFailed(b, nil, c.local(sip.StatusRequestTerminated), true)
		return
	}
	target := b.targets[b.next]
	retry := b.next > 0
	b.next++
	c.mu.Unlock()

	// The first attempt sends the branch's request itself (the transaction
	// adds its Via); a failover resends a copy without that Via. The first
	// attempt added the Via even when it failed before a transaction
	// existed (no listener for the target's family), so it is the attempt
	// count, not b.tx, that tells.
	req := b.base
	if retry {
		req = sip.CopyRequest(b.base)
		req.RemoveHeader("Via")
	}
	opts := transaction.ClientOptions{
		Branch:     branchPrefix + c.loop + "." + sip.GenerateTag(),
		OnResponse: func(tx *transaction.ClientTx, res *sip.Response) { c.onResponse(b, tx, res) },
		OnError:    func(tx *transaction.ClientTx, err error) { c.onError(b, tx, err) },
		Timeout:    c.opts.ReplyTimeout,
	}
	if c.invite {
		opts.TimerC = c.p.cfg.TimerC
		if c.opts.TimerC > 0 {
			opts.TimerC = c.opts.TimerC
		}
	}
	c.mu.Lock()
	tx, err := c.p.l.Request(context.Background(), req, target, opts)
	if err == nil {
		b.tx = tx
	}
	c.mu.Unlock()
	if err != nil {
		c.onError(b, nil, err)
	}
}

// onResponse handles a response on a branch (RFC 3261 §16.7).
func (c *call) onResponse(b *Branch, tx *transaction.ClientTx, res *sip.Response) {
	code := res.StatusCode
	if code == sip.StatusTrying {
		return // §16.7 step 4: hop by hop
	}
	// §16.7 step 3: remove this proxy's Via.
	res.RemoveHeader("Via")
	if c.bye && code >= 200 && (code < 300 || code == sip.StatusCallDoesNotExist || code == sip.StatusRequestTimeout) {
		// The dialog is over (RFC 3261 §15.1.2; a 481 or 408 to a BYE
		// ends it too, RFC 5057 §5.1): forget its next hops now rather
		// than after DialogTTL, so memory returns to idle after load.
		c.p.dialogs.drop(callID(res))
	}

	var hookErr error
	if h := c.opts.OnReply; h != nil {
		c.hookMu.Lock()
		hookErr = h(b, res)
		c.hookMu.Unlock()
		if errors.Is(hookErr, ErrDrop) && code < 300 && code >= 200 {
			hookErr = nil // a 2xx cannot be dropped: the dialog exists
		}
	}
	var se *sip.StatusError
	reject := errors.As(hookErr, &se)

	c.mu.Lock()
	stale := tx != b.tx
	switch {
	case code >= 200 && code < 300:
		first := !c.final
		if !b.done {
			b.done = true
			c.pending--
		}
		if first {
			c.final, c.answered = true, true
			c.remember(b, res)
			_ = c.relay(res)
			c.cancelPendingLocked(b)
			c.mu.Unlock()
			c.finish()
			return
		}
		c.mu.Unlock()
		if c.answered || !c.invite {
			// Further 2xx (retransmissions, other forks) go upstream
			// statelessly (RFC 6026 §8.4).
			c.forwardUpstream(res)
		} else {
			// The call was already failed upstream (a reply-time reject):
			// a 2xx cannot be retracted, so the callee's dialog is ended.
			c.p.endOrphan(b, res)
		}
		return
	case code < 200:
		if c.final || stale || b.done || errors.Is(hookErr, ErrDrop) {
			c.mu.Unlock()
			return
		}
		if reject {
			c.rejectLocked(se)
			c.mu.Unlock()
			c.finish()
			return
		}
		_ = c.relay(res)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if stale || errors.Is(hookErr, ErrDrop) {
		return
	}
	if reject {
		c.mu.Lock()
		req := c.req
		c.mu.Unlock()
		if req != nil {
			res = statusResponse(req, se)
		}
	}
	c.branchFailed(b, tx, res, reject)
}

// onError turns a branch failure into a response: 408 for a timeout
// (Timer B or C), 503 for a transport failure; it first fails over to the
// branch's next resolved target (RFC 3263 §4.3).
func (c *call) onError(b *Branch, tx *transaction.ClientTx, err error) {
	c.mu.Lock()
	if tx != nil && tx != b.tx {
		c.mu.Unlock()
		return
	}
	retry := !errors.Is(err, transaction.ErrTimerC) && b.next < len(b.targets) && !c.final && !b.canceled && !c.canceled
	c.mu.Unlock()
	if retry {
		c.send(b)
		return
	}
	code := sip.StatusServiceUnavailable
	if errors.Is(err, transaction.ErrTimeout) || errors.Is(err, transaction.ErrTimerC) {
		code = sip.StatusRequestTimeout
	}
	c.p.log.Debug("proxy: branch failed", "branch", b.Index, "err", err)
	c.branchFailed(b, tx, c.local(code), true)
}

// branchFailed records a branch's non-2xx final response and, once no
// branch is pending, moves on: the next group, the failure hook's targets or
// the best response upstream.
func (c *call) branchFailed(b *Branch, tx *transaction.ClientTx, res *sip.Response, local bool) {
	c.mu.Lock()
	if b.done {
		c.mu.Unlock()
		return
	}
	if c.final || res == nil {
		// Answered already: the branch's outcome no longer matters.
		b.done = true
		c.pending--
		c.mu.Unlock()
		c.finish()
		return
	}
	code := res.StatusCode
	// A 503 from the next hop also fails over to its next address.
	if code == sip.StatusServiceUnavailable && !local && b.next < len(b.targets) && !c.final && !c.canceled && !b.canceled {
		c.mu.Unlock()
		c.send(b)
		return
	}
	b.done = true
	c.pending--
	c.consider(res, local)
	if code >= 600 {
		// §16.7 step 5: a 6xx ends the search.
		c.cancelPendingLocked(nil)
		c.groups = nil
	}
	c.advance()
}

// advance moves the search on once no branch is pending and no group is
// being started; c.mu is held on entry and released on return.
func (c *call) advance() {
	if c.pending > 0 || c.starting > 0 || c.final {
		c.mu.Unlock()
		c.finish()
		return
	}
	if len(c.groups) > 0 && !c.canceled && continueSearch(c.best) {
		next := c.groups[0]
		c.groups = c.groups[1:]
		c.startAsync(next)
		return
	}
	best := c.best
	canceled := c.canceled
	c.mu.Unlock()
	if h := c.opts.OnFailure; h != nil && !canceled {
		if more := h(best); len(more) > 0 {
			c.mu.Lock()
			c.startAsync(more)
			return
		}
	}
	c.mu.Lock()
	if !c.final && c.pending == 0 && c.starting == 0 {
		c.final = true
		_ = c.relay(c.upstreamBest())
	}
	c.mu.Unlock()
	c.finish()
}

// startAsync forks targets off the response path (resolving may block);
// c.mu is held on entry and released on return. Once the group is started,
// the search is re-evaluated: its branches may all have failed already.
func (c *call) startAsync(targets []Target) {
	c.starting++
	c.mu.Unlock()
	go func() {
		c.startGroup(targets)
		c.mu.Lock()
		c.starting--
		c.advance()
	}()
}

// continueSearch reports whether sequential forking moves on after best:
// on a timeout, a server error or a transport failure, not on a refusal.
func continueSearch(best *sip.Response) bool {
	return best == nil || best.StatusCode == sip.StatusRequestTimeout || best.StatusCode >= 500 && best.StatusCode < 600
}

// consider keeps the best final response so far (RFC 3261 §16.7 step 6),
// collecting the challenges of every 401 and 407 (step 7).
func (c *call) consider(res *sip.Response, local bool) {
	code := res.StatusCode
	if code == sip.StatusUnauthorized || code == sip.StatusProxyAuthRequired {
		for _, name := range [...]string{"WWW-Authenticate", "Proxy-Authenticate"} {
			for _, v := range sip.HeaderValues(res, name) {
				c.auth = append(c.auth, sip.NewHeader(name, v))
			}
		}
	}
	if c.best == nil || rank(res.StatusCode) < rank(c.best.StatusCode) {
		c.best, c.bestLocal = res, local
	}
}

// rank orders final responses for §16.7 step 6: 6xx first, then the lowest
// class, preferring 401, 407, 415, 420 and 484 among 4xx.
func rank(code int) int {
	switch {
	case code >= 600:
		return 0
	case code >= 300 && code < 400:
		return 100 + code
	case code == 401, code == 407, code == 415, code == 420, code == 484:
		return 400 + code
	case code >= 400 && code < 500:
		return 1000 + code
	default:
		return 2000 + code
	}
}

// upstreamBest returns the response to send upstream when every branch
// failed.
func (c *call) upstreamBest() *sip.Response {
	best := c.best
	if best == nil {
		return sip.NewResponse(c.req, sip.StatusRequestTimeout, "")
	}
	code := best.StatusCode
	if code == sip.StatusServiceUnavailable && !c.bestLocal {
		// §16.7 step 6: a 503 received from downstream is not relayed (it
		// would tell the client this proxy is unavailable); the proxy
		// answers 500. A 503 it generated for an unreachable target stands.
		return sip.NewResponse(c.req, sip.StatusInternalServerError, "")
	}
	if code == sip.StatusUnauthorized || code == sip.StatusProxyAuthRequired {
		merged := best.Clone()
		sip.RemoveHeaders(merged, "WWW-Authenticate")
		sip.RemoveHeaders(merged, "Proxy-Authenticate")
		for _, h := range c.auth {
			merged.AppendHeader(h)
		}
		return merged
	}
	return best
}

// rejectLocked fails the call upstream with se and cancels the pending
// branches; their 487s are absorbed because the call is final.
func (c *call) rejectLocked(se *sip.StatusError) {
	c.final = true
	_ = c.relay(statusResponse(c.req, se))
	c.cancelPendingLocked(nil)
}

func statusResponse(req *sip.Request, se *sip.StatusError) *sip.Response {
	res := sip.NewResponse(req, se.Code, se.Reason)
	for _, h := range se.Headers {
		res.AppendHeader(h)
	}
	return res
}

// cancelPendingLocked CANCELs every branch still without a final response,
// except keep (RFC 3261 §16.7 step 10 after a 2xx, step 5 after a 6xx).
func (c *call) cancelPendingLocked(keep *Branch) {
	if !c.invite {
		return
	}
	for _, b := range c.branches {
		if b == keep || b.done || b.canceled {
			continue
		}
		b.canceled = true
		if b.tx != nil {
			tx := b.tx
			go func() { _ = tx.Cancel() }()
		}
	}
}

// cancelAll handles the upstream CANCEL (or the end of the server
// transaction): the cancel hook fires once, every pending branch is
// cancelled.
func (c *call) cancelAll(hook bool) {
	c.mu.Lock()
	fire := !c.final && !c.canceled
	c.canceled = true
	c.cancelPendingLocked(nil)
	pending := c.pending + c.starting
	req := c.req
	c.mu.Unlock()
	if hook && fire && c.opts.OnCancel != nil && req != nil {
		c.cancelled.Do(func() { c.opts.OnCancel(req) })
	}
	if pending == 0 {
		c.mu.Lock()
		if !c.final && c.pending == 0 && c.starting == 0 {
			c.final = true
			_ = c.relay(sip.NewResponse(c.req, sip.StatusRequestTerminated, ""))
		}
		c.mu.Unlock()
		c.finish()
	}
}

// finish closes done once the final response has gone upstream, and lets
// go of the messages the call no longer needs: its client transactions
// linger for up to 64*T1 (RFC 6026) and keep the call reachable.
func (c *call) finish() {
	c.mu.Lock()
	final := c.final
	if final && c.starting == 0 {
		c.fwd, c.best, c.auth, c.groups = nil, nil, nil, nil
		if c.pending == 0 {
			c.req = nil
		}
		if c.answered {
			for _, b := range c.branches {
				b.base = nil
			}
		}
	}
	c.mu.Unlock()
	if final {
		// Two branches can finish at once (a 2xx and a failure racing on
		// different reading goroutines): close exactly once.
		c.doneOnce.Do(func() { close(c.done) })
		// Read after done is closed: detach publishes the release, then
		// looks at done, so one of the two sees the other.
		c.released()
	}
}

// local returns a response this proxy generates for the request, or nil once
// the call has let go of it.
func (c *call) local(code int) *sip.Response {
	c.mu.Lock()
	req := c.req
	c.mu.Unlock()
	if req == nil {
		return nil
	}
	return sip.NewResponse(req, code, "")
}

// remember records the dialog's next hops for in-dialog requests: toward
// the callee, the target this branch used; toward the caller, the flow the
// request came on, under the URI the callee's requests will be routed to.
func (c *call) remember(b *Branch, res *sip.Response) {
	if !c.invite && c.req.Method != sip.SUBSCRIBE {
		return
	}
	cid := callID(c.req)
	if b.tx != nil {
		c.p.dialogs.put(cid, &b.hop, b.tx.Target())
	}
	if c.inFlow.Transport == "" {
		return
	}
	back := c.inFlow.Target()
	if rr, err := sip.RecordRoutes(c.req); err == nil && len(rr) > 0 {
		c.p.dialogs.put(cid, &rr[0].URI, back)
		return
	}
	if ct, err := sip.Contacts(c.req); err == nil && len(ct) > 0 {
		c.p.dialogs.put(cid, &ct[0].URI, back)
	}
}

// forwardUpstream sends a response along the request's flow without the
// server transaction (additional 2xx, RFC 6026 §8.4).
func (c *call) forwardUpstream(res *sip.Response) {
	if c.up.Transport == "" {
		return
	}
	if err := c.p.tp.SendMessage(res, c.up, nil); err != nil {
		c.p.log.Debug("proxy: 2xx not forwarded", "call-id", callID(res), "err", err)
	}
}

func callID(m sip.Message) string {
	if c := m.CallID(); c != nil {
		return string(*c)
	}
	return ""
}
