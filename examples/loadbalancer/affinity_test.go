package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy"
)

func TestAffinityIsBoundedAndExpires(t *testing.T) {
	a := newAffinity(3, time.Minute)
	now := time.Now()
	for i := range 10 {
		a.put(fmt.Sprint(i), proxy.Target{Q: float64(i)}, now)
		require.LessOrEqual(t, a.len(), 3)
	}
	_, ok := a.get("0", now)
	require.False(t, ok, "the oldest calls are forgotten first")
	got, ok := a.get("9", now)
	require.True(t, ok)
	require.Equal(t, 9.0, got.Q)
	_, ok = a.get("9", now.Add(2*time.Minute))
	require.False(t, ok, "expired")
	a.drop("9")
	require.Equal(t, 2, a.len())
	// Refreshing a call does not duplicate it in the eviction order.
	for range 100 {
		a.put("8", proxy.Target{}, now)
	}
	require.LessOrEqual(t, len(a.order)-a.head, 10)
}

// TestAffinityOrderStaysSmallWhenCallsEnd: calls forgotten on their BYE
// must not pile up in the eviction list (it grew by one string per call
// for the life of the process).
func TestAffinityOrderStaysSmallWhenCallsEnd(t *testing.T) {
	a := newAffinity(100000, time.Hour)
	now := time.Now()
	for i := range 50000 {
		id := fmt.Sprint("call", i)
		a.put(id, proxy.Target{}, now)
		a.drop(id)
	}
	a.put("live", proxy.Target{}, now)
	require.Equal(t, 1, a.len())
	require.LessOrEqual(t, len(a.order)-a.head, 2*a.len()+1024)
	_, ok := a.get("live", now)
	require.True(t, ok)
}
