package memidle

import (
	"context"
	"testing"
	"time"
)

// TestReleasesAfterABurstUntilLittleIsLeft: nothing happens while idle from
// the start or under load; after a burst it releases each period until a
// release gives back less than minGain.
func TestReleasesAfterABurstUntilLittleIsLeft(t *testing.T) {
	var allocs, released uint64
	gains := []uint64{100 << 20, 40 << 20, 1 << 20}
	frees := 0
	r := &releaser{period: time.Second, settle: 0,
		read: func() (uint64, uint64) { return allocs, released },
		free: func() {
			released += gains[frees]
			frees++
		}}
	if r.step() {
		t.Fatal("released while idle from the start")
	}
	allocs += 200 << 20 // a burst
	if r.step() {
		t.Fatal("released under load")
	}
	for i, want := range []bool{true, true, true, false, false} {
		if got := r.step(); got != want {
			t.Fatalf("quiet step %d: released=%v, want %v", i, got, want)
		}
	}
	if frees != 3 {
		t.Fatalf("%d releases, want 3", frees)
	}
}

// TestReleasesUntilSettledEvenWhenGainsAreSmall: state that expires after
// the load (Timer J) frees memory late, so small gains do not stop the
// releases before Settle has passed.
func TestReleasesUntilSettledEvenWhenGainsAreSmall(t *testing.T) {
	var allocs uint64
	frees := 0
	r := &releaser{period: 10 * time.Second, settle: 30 * time.Second,
		read: func() (uint64, uint64) { return allocs, 0 },
		free: func() { frees++ }}
	allocs += 1 << 30 // a burst
	r.step()
	for i, want := range []bool{true, true, true, false} {
		if got := r.step(); got != want {
			t.Fatalf("quiet step %d (%v after the load): released=%v, want %v", i, time.Duration(i+1)*r.period, got, want)
		}
	}
	if frees != 3 {
		t.Fatalf("%d releases, want 3", frees)
	}
}

func TestRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, time.Millisecond); close(done) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run did not stop")
	}
}
