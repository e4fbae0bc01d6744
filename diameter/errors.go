package diameter

import "errors"

// Errors returned by Conn, Peer, Pool and Server. Callers branch on them
// with errors.Is; the returned errors wrap them with detail.
var (
	// ErrNotOpen: the connection or peer is not in the OKAY watchdog state,
	// so the request was not sent. Safe to send elsewhere.
	ErrNotOpen = errors.New("diameter: peer not open")
	// ErrConnLost: the connection closed, or its watchdog declared it
	// suspect (RFC 3539 failover), while the request awaited its answer.
	// The request may have been delivered.
	ErrConnLost = errors.New("diameter: connection lost")
	// ErrTimeout: no answer before the request's deadline.
	ErrTimeout = errors.New("diameter: request timed out")
	// ErrTooManyPending: Config.MaxPending requests already await answers
	// on the connection.
	ErrTooManyPending = errors.New("diameter: too many pending requests")
	// ErrApplicationUnsupported: the peer did not advertise the request's
	// application in its CER/CEA.
	ErrApplicationUnsupported = errors.New("diameter: application not supported by peer")
	// ErrNoPeer: a Pool had no open peer for the request.
	ErrNoPeer = errors.New("diameter: no peer available")
	// ErrClosed: the Conn, Peer, Pool or Server was closed.
	ErrClosed = errors.New("diameter: closed")
	// ErrHandshake: the capabilities exchange failed (RFC 6733 §5.3).
	ErrHandshake = errors.New("diameter: capabilities exchange failed")
	// ErrNoCommonApplication: the peers share no application (5010).
	ErrNoCommonApplication = errors.New("diameter: no common application")
	// ErrUnknownPeer: a connection was refused by the source address ACL
	// or the Origin-Host check (3010).
	ErrUnknownPeer = errors.New("diameter: unknown peer")
	// ErrNotRequest: Do was given an answer.
	ErrNotRequest = errors.New("diameter: message is not a request")
)
