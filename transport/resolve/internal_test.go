package resolve

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/internal/dnstest"
)

func TestSubst(t *testing.T) {
	for _, tc := range []struct{ expr, in, want string }{
		{`!^\+(.*)$!sip:\1@example.com!`, "+15551234", "sip:15551234@example.com"},
		{`!^.*$!sip:info@example.com!`, "+1", "sip:info@example.com"},
		{`/^\+1(555)(.*)$/sip:\2@\1.example.com/`, "+15551234", "sip:1234@555.example.com"},
		{`/^\+1/sip:/`, "+15551234", "sip:5551234"},                       // sed: the rest is kept
		{`!^\+(.*)$!sip:\1\!x@example.com!`, "+1", "sip:1!x@example.com"}, // escaped delimiter
		{`!^\+(.*)$!sip:\\\1@example.com!`, "+1", `sip:\1@example.com`},
		{`|^\+1(2\|3)|sip:\1|`, "+12|3", "sip:2|3"}, // escaped delimiter stays literal in the ERE
		{`!^(a)?\+(.*)$!sip:\1\2!`, "+7", "sip:7"},  // a group that did not take part
		{`!^\+1ABC$!sip:x!i`, "+1abc", "sip:x"},
		{`!^(1|12)!<\1>!`, "123", "<12>3"}, // POSIX leftmost-longest
	} {
		s, err := parseSubst(tc.expr)
		require.NoError(t, err, tc.expr)
		got, ok := s.apply(tc.in)
		require.True(t, ok, tc.expr)
		require.Equal(t, tc.want, got, tc.expr)
	}
	s, err := parseSubst(`!^\+44!sip:x!`)
	require.NoError(t, err)
	_, ok := s.apply("+1555")
	require.False(t, ok)

	for _, bad := range []string{"", "!!", "!a!b", `!a!b\`, "1a1b1", "iaibi", `\a\b\`, "!a!b!x", "!(!b!", `!a!\1!`, "!a!b!ii"} {
		_, err := parseSubst(bad)
		require.ErrorIs(t, err, errSubst, bad)
	}
}

func FuzzSubst(f *testing.F) {
	for _, s := range []string{`!^\+(.*)$!sip:\1@example.com!`, `/^(.)(.)$/\2\1/i`, `|a\|b|c|`, `!!!`, `!\!`, `!(!\9!`} {
		f.Add(s, "+15551234")
	}
	f.Fuzz(func(t *testing.T, expr, aus string) {
		s, err := parseSubst(expr)
		if err != nil {
			return
		}
		out, ok := s.apply(aus)
		if ok && len(out) > len(aus)+9*len(aus)*len(expr)+len(expr) {
			t.Fatalf("result of %d bytes from %q on %q", len(out), expr, aus)
		}
	})
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\\b`, `\065\"x`, `\999`, `\`, `\12`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := unescape(s)
		if len(u) > len(s) {
			t.Fatalf("unescape grew %q to %q", s, u)
		}
		if !strings.Contains(s, `\`) && u != s {
			t.Fatalf("unescape changed %q", s)
		}
	})
}

func TestUnescape(t *testing.T) {
	require.Equal(t, `!^\+(.*)$!sip:\1@x!`, unescape(`!^\\+(.*)$!sip:\\1@x!`))
	require.Equal(t, "A\"b\x01", unescape(`\065\"b\001`))
	require.Equal(t, `x\`, unescape(`x\`))
}

func TestOrderSRVKeepsEveryRecordAndPriority(t *testing.T) {
	in := []srvRR{{priority: 20, weight: 5, target: "c."}, {priority: 10, weight: 0, target: "a."}, {priority: 10, weight: 3, target: "b."}, {priority: 30, target: "d."}}
	for i := 0; i < 200; i++ {
		out := orderSRV(in)
		require.Len(t, out, 4)
		require.Equal(t, uint16(10), out[0].priority)
		require.Equal(t, uint16(10), out[1].priority)
		require.Equal(t, "c.", out[2].target)
		require.Equal(t, "d.", out[3].target)
	}
	require.Equal(t, "c.", in[0].target, "input untouched")
}

// TestExchangeStopsOnCancel: a cancelled query to a server that never
// answers returns at once, not after Config.Timeout (the flight goroutine
// does not linger).
func TestExchangeStopsOnCancel(t *testing.T) {
	s := dnstest.New(t, "")
	s.SetSilent(true)
	r, err := New(Config{Servers: []string{s.Addr}, Timeout: 30 * time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = r.exchange(ctx, query{"example.com.", dns.TypeA})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 2*time.Second)
}

// TestFlightCancelledWhenLastCallerLeaves: the coalesced query is cancelled
// once nobody waits for it, and the next caller starts a new one.
func TestFlightCancelledWhenLastCallerLeaves(t *testing.T) {
	var g group
	started := make(chan context.Context, 2)
	fn := func(ctx context.Context, q query) (*rrset, error) {
		started <- ctx
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := g.do(ctx, query{"x.", 1}, fn); done <- err }()
	fctx := <-started
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	select {
	case <-fctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("flight not cancelled")
	}
	rs, err := g.do(context.Background(), query{"x.", 1}, func(context.Context, query) (*rrset, error) { return &rrset{}, nil })
	require.NoError(t, err)
	require.NotNil(t, rs)
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(2)
	now := time.Unix(0, 0)
	a, b, d := query{"a.", 1}, query{"b.", 1}, query{"d.", 1}
	c.put(a, &rrset{}, now.Add(time.Minute))
	c.put(b, &rrset{}, now.Add(time.Minute))
	_, ok := c.get(a, now) // a is now the most recent
	require.True(t, ok)
	c.put(d, &rrset{}, now.Add(time.Minute))
	require.Equal(t, 2, c.len())
	_, ok = c.get(b, now)
	require.False(t, ok, "b evicted")
	_, ok = c.get(a, now.Add(time.Minute))
	require.False(t, ok, "expired at its time")
	require.Equal(t, 1, c.len())
}
