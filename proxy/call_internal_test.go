package proxy

import (
	"sync"
	"testing"
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
