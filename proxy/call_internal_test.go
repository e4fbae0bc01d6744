package proxy

import (
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// TestFinishClosesDoneOnceUnderRaces: two branches finishing at once on
// different reading goroutines (seen under load as "close of closed
// channel") must close done exactly once.
func TestFinishClosesDoneOnceUnderRaces(t *testing.T) {
	for range 1000 {
		c := &call{final: true, done: make(chan struct{})}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); c.finish() }()
		}
		wg.Wait()
		<-c.done
	}
}

// TestDialogsBoundedDroppedAndExpired: the next-hop table finds hops by
// Call-ID and URI (host case-insensitive), forgets a call on drop, expires
// calls after the TTL, keeps at most max calls, and its eviction list stays
// proportional to the table when calls are dropped before they expire.
func TestDialogsBoundedDroppedAndExpired(t *testing.T) {
	clock := &stepClock{now: time.Unix(1000, 0)}
	d := newDialogs(100, time.Minute, clock)
	u := func(s string) *sip.Uri { v, err := sip.ParseURI(s); require.NoError(t, err); return &v }
	tgt := func(port uint16) transport.Target {
		return transport.Target{Transport: transport.UDP, Addr: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)}
	}
	d.put("c1", u("sip:proxy.example.com:5060;lr"), tgt(1))
	d.put("c1", u("sip:alice@192.0.2.10"), tgt(2))
	got, ok := d.get("c1", u("sip:PROXY.example.com:5060"))
	require.True(t, ok)
	require.Equal(t, tgt(1), got)
	_, ok = d.get("c1", u("sip:proxy.example.com:5060;transport=tcp"))
	require.False(t, ok, "another transport is another hop")
	got, ok = d.get("c1", u("sip:alice@192.0.2.10"))
	require.True(t, ok)
	require.Equal(t, tgt(2), got)

	d.drop("c1")
	_, ok = d.get("c1", u("sip:alice@192.0.2.10"))
	require.False(t, ok)

	d.put("c2", u("sip:192.0.2.20"), tgt(3))
	clock.now = clock.now.Add(time.Minute)
	_, ok = d.get("c2", u("sip:192.0.2.20"))
	require.False(t, ok, "expired after the TTL")

	for i := range 250 {
		d.put(strconv.Itoa(i), u("sip:192.0.2.20"), tgt(4))
	}
	require.Equal(t, 100, d.len(), "bounded to max calls, oldest evicted")
	_, ok = d.get("249", u("sip:192.0.2.20"))
	require.True(t, ok)
	_, ok = d.get("0", u("sip:192.0.2.20"))
	require.False(t, ok)

	// Many short calls, each dropped on its BYE: the table and its
	// eviction list stay small.
	for i := range 20000 {
		id := "short" + strconv.Itoa(i)
		d.put(id, u("sip:192.0.2.20"), tgt(5))
		d.drop(id)
	}
	require.LessOrEqual(t, len(d.order), 2*d.len()+1024)
}

type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }
func (c *stepClock) AfterFunc(d time.Duration, f func()) transaction.Timer {
	return time.AfterFunc(d, f)
}

// When the last call is dropped the table and its eviction list start
// afresh: a Go map keeps the buckets a load peak grew, and memory must come
// back once the calls are over.
func TestDialogsStartAfreshWhenEmpty(t *testing.T) {
	d := newDialogs(1000, time.Minute, &stepClock{now: time.Unix(1000, 0)})
	u, err := sip.ParseURI("sip:192.0.2.20")
	require.NoError(t, err)
	tgt := transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.20:5060")}
	for i := range 500 {
		d.put("c"+strconv.Itoa(i), &u, tgt)
	}
	for i := range 500 {
		d.drop("c" + strconv.Itoa(i))
	}
	require.Nil(t, d.order)
	require.Empty(t, d.m)
	d.put("again", &u, tgt)
	_, ok := d.get("again", &u)
	require.True(t, ok)
}
