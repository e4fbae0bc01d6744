// Package memidle gives memory back to the operating system once a burst of
// load is over, for the example servers.
//
// The Go runtime returns freed heap to the OS only after a garbage
// collection has found it free, and with no allocation no collection runs
// until the two-minute forced one: a server that handled a load peak keeps
// its peak RSS for minutes after the transactions, dialogs and retransmission
// state of the peak have expired. Run watches the allocation rate and, once
// it has gone quiet after a busy spell, collects and returns memory
// (debug.FreeOSMemory) every period until a round gives back little and
// Settle has passed, so that state expiring after the load (transactions
// waiting out Timer J, ended dialogs) is given back too.
package memidle

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// QuietRate is the allocation rate, in bytes per second, below which the
// process counts as idle.
const QuietRate = 4 << 20

// minGain is what a release must give back to be worth repeating.
const minGain = 16 << 20

// Settle is how long after the load releases go on even when one gives back
// little: the state of the last transactions lives on for Timer J, H and D
// (32 s with the default T1, RFC 3261 §17), so the bulk of the memory only
// becomes free some time after the load stops.
const Settle = 64 * time.Second

// Run releases memory as described in the package documentation, checking
// every period, until ctx ends.
func Run(ctx context.Context, period time.Duration) {
	r := &releaser{read: read, free: debug.FreeOSMemory, period: period, settle: Settle}
	r.prev, _ = r.read()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.step()
		}
	}
}

// releaser is the decision, apart from the clock and the runtime.
type releaser struct {
	read   func() (allocs, released uint64)
	free   func()
	period time.Duration
	settle time.Duration
	prev   uint64
	armed  bool
	quiet  time.Duration // since the load stopped
}

// step runs one check and reports whether it released.
func (r *releaser) step() bool {
	allocs, _ := r.read()
	rate := float64(allocs-r.prev) / r.period.Seconds()
	r.prev = allocs
	if rate >= QuietRate {
		r.armed, r.quiet = true, 0
		return false
	}
	if !r.armed {
		return false
	}
	r.quiet += r.period
	_, before := r.read()
	r.free()
	allocs, after := r.read()
	r.prev = allocs // the collection's own allocations are not load
	if after < before+minGain && r.quiet >= r.settle {
		r.armed = false
	}
	return true
}

func read() (allocs, released uint64) {
	s := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}
