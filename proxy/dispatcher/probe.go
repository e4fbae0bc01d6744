package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
)

// ErrNoProber: probing is on (Config.Interval) without a Config.Prober.
var ErrNoProber = errors.New("dispatcher: Interval set without a Prober")

// Run probes every destination of every group each Config.Interval until
// ctx ends, marking them down after FailAfter failures in a row and up
// after RecoverAfter successes. Destinations marked by hand are probed but
// stay as marked. Run returns nil at once when probing is off.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.cfg.Interval <= 0 {
		return nil
	}
	if d.cfg.Prober == nil {
		return ErrNoProber
	}
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		d.ProbeAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ProbeAll runs one probe round over every destination, concurrently, and
// returns when all have answered or timed out.
func (d *Dispatcher) ProbeAll(ctx context.Context) {
	if d.cfg.Prober == nil {
		return
	}
	type job struct {
		g *group
		x *dest
	}
	var jobs []job
	d.mu.RLock()
	for _, g := range d.groups {
		g.mu.Lock()
		for _, x := range g.dests {
			jobs = append(jobs, job{g, x})
		}
		g.mu.Unlock()
	}
	d.mu.RUnlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // bounded concurrency
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			err := d.cfg.Prober.Probe(pctx, j.x.d)
			cancel()
			if ctx.Err() != nil {
				return
			}
			d.record(j.g, j.x, err)
		}()
	}
	wg.Wait()
}

func (d *Dispatcher) record(g *group, x *dest, err error) {
	g.mu.Lock()
	changed := false
	if err == nil {
		x.failures = 0
		x.successes++
		if !x.manual && x.successes >= d.cfg.RecoverAfter {
			changed = d.setLocked(x, true)
		}
	} else {
		x.successes = 0
		x.failures++
		if !x.manual && x.failures >= d.cfg.FailAfter {
			changed = d.setLocked(x, false)
		}
	}
	st := x.state()
	g.mu.Unlock()
	if changed {
		if err != nil {
			d.log.Warn("dispatcher: probe failed", "group", g.name, "uri", st.URI.String(), "err", err)
		}
		d.changed(g.name, st)
	}
}

// OptionsProber probes with SIP OPTIONS over a transaction layer. Any
// response but 408, 5xx and 6xx means the destination is alive: a server
// that answers 404 or 405 to OPTIONS is still up.
type OptionsProber struct {
	// Layer sends the OPTIONS.
	Layer *transaction.Layer
	// From is the From URI of the probes; default sip:dispatcher@invalid.
	From string
	seq  atomic.Uint32
}

// ErrProbe is wrapped by a probe that got a failure response.
var ErrProbe = errors.New("dispatcher: probe failed")

// Probe implements Prober.
func (p *OptionsProber) Probe(ctx context.Context, dst Destination) error {
	t := target(dst, 0)
	if t.Next.Transport == "" {
		return fmt.Errorf("dispatcher: probing %s: only IP destinations are probed", dst.URI.String())
	}
	from := p.From
	if from == "" {
		from = "sip:dispatcher@invalid"
	}
	fu, err := sip.ParseURI(from)
	if err != nil {
		return fmt.Errorf("dispatcher: From %q: %w", from, err)
	}
	ruri := dst.URI
	ruri.UriParams = ruri.UriParams.Clone()
	req := sip.NewRequest(sip.OPTIONS, ruri)
	req.AppendHeader(&sip.FromHeader{Address: fu, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTag()}}})
	req.AppendHeader(&sip.ToHeader{Address: ruri})
	cid := sip.CallIDHeader("probe-" + sip.GenerateTag())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.seq.Add(1), MethodName: sip.OPTIONS})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	res, err := p.Layer.Do(ctx, req, t.Next)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProbe, dst.URI.String(), err)
	}
	if res.StatusCode == sip.StatusRequestTimeout || res.StatusCode >= 500 {
		return fmt.Errorf("%w: %s answered %s", ErrProbe, dst.URI.String(), strconv.Itoa(res.StatusCode))
	}
	return nil
}

var _ Prober = (*OptionsProber)(nil)
