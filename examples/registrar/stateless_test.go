package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
)

// Without digest, an inline REGISTER is answered statelessly: nothing of
// it is kept after the 200 (no Timer J state), and its retransmission is
// answered 200 again with the binding unchanged (RFC 3261 §8.2.7).
func TestRetransmittedRegisterAnsweredStatelessly(t *testing.T) {
	s, conn := noAuthServer(t, nil)
	msg := newRegisterTemplate(s.Addr().String(), conn.LocalAddr().String(), 1).append(nil, 0, 7)
	buf := make([]byte, 65536)
	for i := range 2 {
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("REGISTER %d: %v", i+1, err)
		}
		if res := string(buf[:n]); !strings.HasPrefix(res, "SIP/2.0 200 ") || !strings.Contains(res, "u0000000@") {
			t.Fatalf("REGISTER %d got:\n%s", i+1, res)
		}
		if st := s.layer.Stats(); st.Live != 0 || st.Lingering != 0 {
			t.Fatalf("transaction state kept after REGISTER %d: %+v", i+1, st)
		}
	}
	u, _ := sip.ParseURI("sip:u0000000@" + s.Addr().String())
	cs, err := s.reg.Lookup(context.Background(), u)
	if err != nil || len(cs) != 1 {
		t.Fatalf("lookup: %v, %d contacts", err, len(cs))
	}
}
