package registrant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// Defaults for Config fields left zero.
const (
	DefaultExpires       = 3600 * time.Second
	DefaultRefreshMargin = 60 * time.Second
	DefaultRetryBase     = 5 * time.Second
	DefaultRetryMax      = 10 * time.Minute
)

// State is where a registration stands.
type State int

// The states a Registrant reports.
const (
	// Unregistered: not started, stopped, or unregistered.
	Unregistered State = iota
	// Registering: a REGISTER is under way.
	Registering
	// Registered: the registrar accepted the binding.
	Registered
	// Failed: the last attempt failed; another follows after a backoff.
	Failed
)

// String returns the state in lower case: "registered", "failed", ...
func (s State) String() string {
	switch s {
	case Unregistered:
		return "unregistered"
	case Registering:
		return "registering"
	case Registered:
		return "registered"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status describes a registration.
type Status struct {
	State State
	// Code is the status code of the last final response, 0 if none came.
	Code int
	// Err says why the last attempt failed.
	Err error
	// Expires is the lifetime the registrar granted last (Registered).
	Expires time.Duration
	// RetryIn is the delay before the next attempt (Failed).
	RetryIn time.Duration
	// ServiceRoute is the route set the registrar returned (RFC 3608), for
	// requests sent on behalf of the AoR.
	ServiceRoute []sip.NameAddr
}

// Config tunes a Registrant. Registrar and AoR are required; the rest has
// the defaults documented per field.
type Config struct {
	// Registrar is the Request-URI of the REGISTER: the registrar's domain,
	// such as sip:trunk.example.net.
	Registrar sip.Uri
	// AoR is the address-of-record registered (To and From).
	AoR sip.Uri
	// Contact is the address bound to the AoR. The zero value means
	// sip:<AoR user>@<address the transport advertises for the target's
	// transport>.
	Contact sip.NameAddr
	// Username and Password answer digest challenges (401 and 407);
	// Username defaults to the AoR's user part.
	Username string
	Password string
	// Expires is the lifetime asked for; default 3600 s. A 423 raises it
	// to the registrar's Min-Expires.
	Expires time.Duration
	// RefreshMargin is how long before the granted lifetime ends the
	// binding is refreshed, capped at half the lifetime; default 60 s.
	RefreshMargin time.Duration
	// RetryBase and RetryMax bound the backoff after a failure: the n-th
	// consecutive failure waits a random time between half and all of
	// min(RetryBase*2^(n-1), RetryMax), or the Retry-After the registrar
	// sent if longer (RFC 5626 §4.5 backs off the same way); defaults 5 s
	// and 10 min.
	RetryBase time.Duration
	RetryMax  time.Duration
	// Headers are added to every REGISTER (User-Agent, Supported, ...).
	Headers []sip.Header
	// Resolve, when set, is asked for the target before every attempt, so
	// that a trunk's DNS name is resolved again after a failure; the target
	// given to New is then only the first.
	Resolve func(ctx context.Context) (transport.Target, error)
	// Resolver, when set and Resolve is not, resolves Registrar before
	// every attempt (RFC 3263; *resolve.Resolver from transport/resolve),
	// and each REGISTER tries the targets in order, moving on after a
	// transport error, a timeout or a 503 (§4.3). The target given to New
	// then only picks the default Contact's transport.
	Resolver Resolver
	// OnState, when set, is called with every change of Status, in order,
	// from the Registrant's goroutine; it must not block.
	OnState func(Status)
	// Clock drives refreshes and retries; nil means the transaction layer's.
	Clock transaction.Clock
	// Logger receives logs; nil means slog.Default().
	Logger *slog.Logger
}

// Resolver finds the transport targets for a URI in the order to try them,
// as *resolve.Resolver does (RFC 3263).
type Resolver interface {
	Resolve(ctx context.Context, uri sip.Uri) ([]transport.Target, error)
}

// Registrant keeps an address-of-record registered with an upstream
// registrar (RFC 3261 §10.2): it sends REGISTER, answers digest challenges,
// refreshes the binding before it lapses, retries failures with backoff and
// reports each change of state. It is safe for concurrent use.
type Registrant struct {
	layer   *transaction.Layer
	cfg     Config
	clock   transaction.Clock
	log     *slog.Logger
	client  *auth.Client
	callID  string
	fromTag string

	mu       sync.Mutex
	target   transport.Target
	status   Status
	cseq     uint32
	expires  time.Duration // asked for; raised by 423
	failures int
	timer    transaction.Timer
	started  bool
	stopping bool

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	ctx  context.Context
	stop context.CancelFunc
}

// New returns a Registrant that sends REGISTER requests for cfg.AoR through
// layer to target. Call Start to begin.
func New(layer *transaction.Layer, target transport.Target, cfg Config) (*Registrant, error) {
	if layer == nil {
		return nil, errors.New("registrant: nil transaction layer")
	}
	if cfg.Registrar.Host == "" || cfg.AoR.Host == "" {
		return nil, errors.New("registrant: Registrar and AoR are required")
	}
	if cfg.Expires <= 0 {
		cfg.Expires = DefaultExpires
	}
	if cfg.RefreshMargin <= 0 {
		cfg.RefreshMargin = DefaultRefreshMargin
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryBase)
	}
	if cfg.Username == "" {
		cfg.Username = cfg.AoR.User
	}
	r := &Registrant{layer: layer, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, target: target,
		client:  &auth.Client{Username: cfg.Username, Password: cfg.Password},
		callID:  sip.GenerateTag() + sip.GenerateTag() + "@" + cfg.AoR.Host,
		fromTag: sip.GenerateTag(), expires: cfg.Expires,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	if r.clock == nil {
		r.clock = layer.Config().Clock
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.cfg.Contact.URI.Host == "" {
		c, err := defaultContact(layer, target, cfg.AoR.User)
		if err != nil {
			return nil, err
		}
		r.cfg.Contact = c
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	return r, nil
}

// defaultContact builds sip:user@host:port from the listener that carries
// target's transport.
func defaultContact(layer *transaction.Layer, target transport.Target, user string) (sip.NameAddr, error) {
	tp := target.Transport
	if tp == "" {
		tp = transport.UDP
	}
	for _, ln := range layer.Transport().Listeners() {
		if ln.Transport() != tp && !(tp == transport.TLS && ln.Transport() == transport.TCP) {
			continue
		}
		host, port := ln.Advertised()
		u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
		if tp != transport.UDP {
			u.UriParams = sip.HeaderParams{{K: "transport", V: strings.ToLower(tp)}}
		}
		return sip.NameAddr{URI: u}, nil
	}
	return sip.NameAddr{}, fmt.Errorf("registrant: no %s listener to build a Contact from; set Config.Contact", tp)
}

// Start begins registering and returns at once; progress is reported
// through Config.OnState and Status. It may be called once.
func (r *Registrant) Start() {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return
	}
	r.started = true
	r.mu.Unlock()
	go r.run()
	r.kick()
}

// Status returns the current status.
func (r *Registrant) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *Registrant) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Registrant) run() {
	defer close(r.done)
	for {
		select {
		case <-r.quit:
			return
		case <-r.wake:
			r.attempt()
		}
	}
}

// Stop stops refreshing and, if the AoR is registered, unregisters it
// (Expires: 0), waiting for the registrar's answer until ctx ends. The
// Registrant cannot be started again.
func (r *Registrant) Stop(ctx context.Context) error {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return nil
	}
	r.stopping = true
	started := r.started
	if r.timer != nil {
		r.timer.Stop()
	}
	wasRegistered := r.status.State == Registered || (r.status.State == Failed && r.status.Expires > 0)
	r.mu.Unlock()
	r.stop()
	close(r.quit)
	if started {
		<-r.done
	}
	var err error
	if wasRegistered {
		var res *sip.Response
		res, err = r.transact(ctx, 0)
		if err == nil && (res.StatusCode < 200 || res.StatusCode > 299) {
			err = fmt.Errorf("registrant: unregister refused: %d %s", res.StatusCode, res.Reason)
		}
	}
	r.set(Status{State: Unregistered, Err: err})
	return err
}

func (r *Registrant) set(s Status) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
	if r.cfg.OnState != nil {
		r.cfg.OnState(s)
	}
}

// schedule arms the timer that wakes the loop after d.
func (r *Registrant) schedule(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timer = r.clock.AfterFunc(d, r.kick)
}

// attempt sends one REGISTER (with its challenge round trips) and decides
// what comes next.
func (r *Registrant) attempt() {
	prev := r.Status()
	r.set(Status{State: Registering, Expires: prev.Expires, ServiceRoute: prev.ServiceRoute})
	r.mu.Lock()
	expires := r.expires
	r.mu.Unlock()
	res, err := r.transact(r.ctx, expires)
	if r.ctx.Err() != nil {
		return // stopping
	}
	if err == nil && res.StatusCode == sip.StatusIntervalTooBrief {
		// RFC 3261 §10.2.8: retry at once with the registrar's minimum.
		if floor, ok, _ := minExpires(res); ok && floor > expires {
			r.mu.Lock()
			r.expires = floor
			r.mu.Unlock()
			expires = floor
			res, err = r.transact(r.ctx, floor)
			if r.ctx.Err() != nil {
				return
			}
		}
	}
	switch {
	case err != nil:
		r.fail(prev, 0, err, 0)
	case res.StatusCode >= 200 && res.StatusCode <= 299:
		granted := r.granted(res, expires)
		routes, _ := sip.ServiceRoutes(res)
		r.mu.Lock()
		r.failures = 0
		r.mu.Unlock()
		// Arm the timer before reporting, so that whoever hears the report
		// (and may advance a fake clock) finds the refresh scheduled.
		r.schedule(granted - min(granted/2, r.cfg.RefreshMargin))
		r.set(Status{State: Registered, Code: res.StatusCode, Expires: granted, ServiceRoute: routes})
	default:
		ra, _, _ := retryAfter(res)
		r.fail(prev, res.StatusCode, fmt.Errorf("registrant: %d %s", res.StatusCode, res.Reason), ra)
	}
}

func (r *Registrant) fail(prev Status, code int, err error, retryAfter time.Duration) {
	r.mu.Lock()
	r.failures++
	n := r.failures
	r.mu.Unlock()
	d := r.cfg.RetryBase
	for i := 1; i < n && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.RetryMax)
	d = d/2 + rand.N(d/2+1)
	d = max(d, retryAfter)
	r.log.Info("registrant: registration failed", "aor", r.cfg.AoR.String(), "code", code, "err", err, "retry-in", d)
	r.schedule(d)
	r.set(Status{State: Failed, Code: code, Err: err, RetryIn: d, Expires: prev.Expires, ServiceRoute: prev.ServiceRoute})
}

// transact sends a REGISTER asking for expires (0 unregisters) and answers
// up to two challenges: one for fresh credentials, and one more only when
// the server says the nonce was stale.
func (r *Registrant) transact(ctx context.Context, expires time.Duration) (*sip.Response, error) {
	targets, err := r.currentTargets(ctx)
	if err != nil {
		return nil, err
	}
	target := targets[0]
	req := r.newRequest(expires)
	presigned := r.client.Sign(req)
	res, err := r.layer.Do(ctx, req, target)
	// RFC 3263 §4.3: the next target after a transport error, a timeout or
	// a 503.
	for i := 1; i < len(targets) && ctx.Err() == nil && (err != nil || res.StatusCode == sip.StatusServiceUnavailable); i++ {
		r.log.Debug("registrant: trying the next target", "aor", r.cfg.AoR.String(), "failed", target.Addr.String(), "err", err)
		target = targets[i]
		req = r.newRequest(expires)
		presigned = r.client.Sign(req)
		res, err = r.layer.Do(ctx, req, target)
	}
	for tries := 0; err == nil && tries < 2 && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired); tries++ {
		if tries == 1 && !presigned && !stale(res) {
			break // fresh credentials refused: the password is wrong
		}
		presigned = false
		next := r.newRequest(expires)
		if aerr := r.client.Authorize(next, res); aerr != nil {
			break
		}
		res, err = r.layer.Do(ctx, next, target)
	}
	if err != nil {
		return nil, fmt.Errorf("registrant: REGISTER: %w", err)
	}
	return res, nil
}

// currentTargets returns where the next REGISTER goes: Config.Resolve's
// target, Config.Resolver's targets for the registrar, or New's target.
func (r *Registrant) currentTargets(ctx context.Context) ([]transport.Target, error) {
	switch {
	case r.cfg.Resolve != nil:
		t, err := r.cfg.Resolve(ctx)
		if err != nil {
			return nil, fmt.Errorf("registrant: resolving the registrar: %w", err)
		}
		return []transport.Target{t}, nil
	case r.cfg.Resolver != nil:
		ts, err := r.cfg.Resolver.Resolve(ctx, r.cfg.Registrar)
		if err == nil && len(ts) == 0 {
			err = errors.New("no target")
		}
		if err != nil {
			return nil, fmt.Errorf("registrant: resolving the registrar: %w", err)
		}
		return ts, nil
	}
	return []transport.Target{r.target}, nil
}

func stale(res *sip.Response) bool {
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		for _, v := range sip.HeaderValues(res, name) {
			if c, err := sip.ParseCredentials(v); err == nil {
				if s, _ := c.Param("stale"); strings.EqualFold(s, "true") {
					return true
				}
			}
		}
	}
	return false
}

// newRequest builds the next REGISTER of the registration: same Call-ID,
// CSeq one higher (RFC 3261 §10.2).
func (r *Registrant) newRequest(expires time.Duration) *sip.Request {
	r.mu.Lock()
	r.cseq++
	cseq := r.cseq
	r.mu.Unlock()
	req := sip.NewRequest(sip.REGISTER, r.cfg.Registrar)
	aor := r.cfg.AoR
	aor.UriParams, aor.Headers = nil, nil
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: r.fromTag}}})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(r.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("Contact", r.cfg.Contact.String()))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	for _, h := range r.cfg.Headers {
		req.AppendHeader(h)
	}
	req.SetBody(nil)
	return req
}

// granted reads the lifetime the registrar gave our contact (RFC 3261
// §10.2.4): its expires parameter in the 200, else the Expires header, else
// what was asked.
func (r *Registrant) granted(res *sip.Response, asked time.Duration) time.Duration {
	if cs, err := sip.Contacts(res); err == nil {
		for i := range cs {
			if !sameURI(cs[i].URI, r.cfg.Contact.URI) {
				continue
			}
			if v, ok := cs[i].Param("expires"); ok {
				if n, err := strconv.ParseUint(v, 10, 32); err == nil && n > 0 {
					return time.Duration(n) * time.Second
				}
			}
		}
	}
	if v, ok, err := sip.ExpiresValue(res); ok && err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return asked
}

func sameURI(a, b sip.Uri) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && a.User == b.User && strings.EqualFold(a.Host, b.Host) && a.Port == b.Port
}

func minExpires(res *sip.Response) (time.Duration, bool, error) {
	vs := sip.HeaderValues(res, "Min-Expires")
	if len(vs) == 0 {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(vs[0]), 10, 32)
	if err != nil {
		return 0, false, err
	}
	return time.Duration(n) * time.Second, true, nil
}

// retryAfter reads the delay of a Retry-After header ("120" or
// "120 (comment);duration=60").
func retryAfter(res *sip.Response) (time.Duration, bool, error) {
	vs := sip.HeaderValues(res, "Retry-After")
	if len(vs) == 0 {
		return 0, false, nil
	}
	v := strings.TrimSpace(vs[0])
	if i := strings.IndexAny(v, " ;("); i >= 0 {
		v = v[:i]
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, false, err
	}
	return time.Duration(n) * time.Second, true, nil
}
