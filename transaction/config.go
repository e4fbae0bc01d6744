package transaction

import (
	"errors"
	"log/slog"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// RFC 3261 §17.1.1.1 and Table 4 timer defaults.
const (
	DefaultT1     = 500 * time.Millisecond
	DefaultT2     = 4 * time.Second
	DefaultT4     = 5 * time.Second
	DefaultTimerC = 3*time.Minute + 10*time.Second // RFC 3261 §16.6 step 11: > 3 min
)

// NoTrying, as Config.TryingDelay, turns the automatic 100 Trying off.
const NoTrying = time.Duration(-1)

// Config tunes a Layer. The zero value gives RFC 3261's timers and the
// defaults documented per field. Timers are per Layer: two layers in one
// process can differ.
type Config struct {
	// T1 is the RTT estimate; default 500 ms. Timers A, B, E, F, G, H, J,
	// L and M derive from it.
	T1 time.Duration
	// T2 caps the retransmission interval of non-INVITE requests and INVITE
	// responses; default 4 s.
	T2 time.Duration
	// T4 is how long a message may stay in the network; default 5 s. Timers
	// I and K equal it on unreliable transports.
	T4 time.Duration
	// TryingDelay is how long an INVITE server transaction waits for the TU
	// to send a provisional response before sending 100 Trying itself
	// (RFC 3261 §17.2.1); default 200 ms. NoTrying disables it.
	TryingDelay time.Duration

	// Clock drives every timer; nil means the real clock. siptest.Clock
	// makes timer tests instantaneous.
	Clock Clock
	// Logger receives the layer's logs; nil means slog.Default().
	Logger *slog.Logger

	// MaxTransactions bounds the live transactions; default 200000. A new
	// request beyond it is answered 503 with Retry-After, statelessly.
	MaxTransactions int
	// MaxLingerBytes bounds the memory that completed non-INVITE UDP
	// transactions keep to answer retransmissions until Timer J (their key
	// and final response); default 128 MiB. At the bound the oldest end
	// early instead of new requests being refused.
	MaxLingerBytes int
	// RetryAfter is the Retry-After sent with overload 503s, in seconds;
	// default 5.
	RetryAfter int

	// StatelessCancel hands a CANCEL that matches no INVITE transaction to
	// the TU as a request (for stateless proxies) instead of answering 481.
	StatelessCancel bool

	// OnTimerH, when set, is called when an INVITE server transaction gives
	// up waiting for the ACK to its final response (Timer H), a signal for
	// scanners that never ACK their 401s.
	OnTimerH func(req *sip.Request, f transport.Flow)
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.T1 <= 0 {
		d.T1 = DefaultT1
	}
	if d.T2 <= 0 {
		d.T2 = DefaultT2
	}
	if d.T4 <= 0 {
		d.T4 = DefaultT4
	}
	if d.TryingDelay == 0 {
		d.TryingDelay = 200 * time.Millisecond
	}
	if d.Clock == nil {
		d.Clock = realClock{}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxTransactions <= 0 {
		d.MaxTransactions = 200000
	}
	if d.MaxLingerBytes <= 0 {
		d.MaxLingerBytes = 128 << 20
	}
	if d.RetryAfter <= 0 {
		d.RetryAfter = 5
	}
	return d
}

// Clock is the time source of a Layer.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, when
	// time is advanced past d) and returns a Timer that can stop it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened; it reports whether it
	// did prevent it.
	Stop() bool
	// Reset makes the call happen after d from now, whether or not it has
	// happened or was stopped.
	Reset(d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Errors reported to transaction users.
var (
	// ErrTimeout: no final response before Timer B or F fired.
	ErrTimeout = errors.New("transaction: timed out")
	// ErrTimerC: an INVITE stayed in Proceeding past Timer C (RFC 3261
	// §16.8); a CANCEL was sent if a provisional had arrived.
	ErrTimerC = errors.New("transaction: timer C fired")
	// ErrTerminated: the transaction ended before the call.
	ErrTerminated = errors.New("transaction: terminated")
	// ErrOverload: too many transactions.
	ErrOverload = errors.New("transaction: overloaded")
	// ErrClosed: the layer is closed.
	ErrClosed = errors.New("transaction: layer closed")
	// ErrServerClosed is returned by Server.Serve after Shutdown.
	ErrServerClosed = errors.New("transaction: server closed")
	// ErrCanceled is the context cause when a CANCEL ends a request.
	ErrCanceled = errors.New("transaction: request cancelled")
)
