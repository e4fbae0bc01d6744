// Package debughttp serves the profiling endpoints the example servers
// offer behind their -debug flag, for benchmarks: /debug/mem (Go heap
// figures after a forced collection, as JSON), /debug/heap (a heap profile)
// and /debug/cpu?seconds=N (a CPU profile). It uses runtime/pprof on a
// private mux: net/http/pprof would register itself on
// http.DefaultServeMux, a global.
package debughttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// Serve listens on addr and serves the endpoints until the returned stop
// function is called.
func Serve(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/mem", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]uint64{
			"heap_inuse": m.HeapInuse, "heap_alloc": m.HeapAlloc, "sys": m.Sys,
			"heap_objects": m.HeapObjects, "goroutines": uint64(runtime.NumGoroutine()),
		})
	})
	mux.HandleFunc("/debug/heap", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		_ = pprof.Lookup("heap").WriteTo(w, 0)
	})
	mux.HandleFunc("/debug/cpu", func(w http.ResponseWriter, r *http.Request) {
		sec, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err != nil || sec <= 0 || sec > 120 {
			sec = 10
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(sec) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("debug endpoint", "err", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
