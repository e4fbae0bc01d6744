package siptest

import (
	"sync"

	"github.com/siphon-go/siphon/sip"
)

// Recorder is a sip.ResponseWriter that records what a handler writes, for
// unit tests that call ServeSIP directly (as httptest.ResponseRecorder).
type Recorder struct {
	mu        sync.Mutex
	responses []*sip.Response
	// ACK makes the recorder behave as the writer of an ACK: every write
	// fails with sip.ErrNoResponse.
	ACK bool
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// WriteResponse records res, enforcing one final response.
func (r *Recorder) WriteResponse(res *sip.Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ACK {
		return sip.ErrNoResponse
	}
	if n := len(r.responses); n > 0 && r.responses[n-1].StatusCode >= 200 {
		return sip.ErrFinalSent
	}
	r.responses = append(r.responses, res)
	return nil
}

// Responses returns every response written, in order.
func (r *Recorder) Responses() []*sip.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*sip.Response(nil), r.responses...)
}

// Final returns the final response, or nil.
func (r *Recorder) Final() *sip.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.responses); n > 0 && r.responses[n-1].StatusCode >= 200 {
		return r.responses[n-1]
	}
	return nil
}

// Codes returns the status codes written, in order.
func (r *Recorder) Codes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, len(r.responses))
	for i, res := range r.responses {
		out[i] = res.StatusCode
	}
	return out
}
