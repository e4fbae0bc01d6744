package transaction_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/internal/testpeer"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

const sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// uasHandler answers INVITE with 180 and 200 (with SDP and a Contact), BYE
// with 200, and takes ACKs.
func uasHandler(contact string) sip.Handler {
	mux := sip.NewMux()
	mux.HandleFunc(sip.INVITE, func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 180, "")
		res := sip.NewResponse(req, 200, "")
		res.AppendHeader(sip.NewHeader("Contact", contact))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(sdp))
		_ = w.WriteResponse(res)
	})
	mux.HandleFunc(sip.BYE, func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 200, "")
	})
	mux.HandleFunc(sip.ACK, func(context.Context, sip.ResponseWriter, *sip.Request) {})
	return mux
}

// TestSIPpUACAgainstOurUAS runs SIPp's built-in uac scenario against a UAS
// built on the stack: 2000 calls at 200 calls/s over UDP and over TCP.
func TestSIPpUACAgainstOurUAS(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	if testing.Short() {
		t.Skip("SIPp load run skipped in -short mode")
	}
	for _, tp := range []string{transport.UDP, transport.TCP} {
		t.Run(tp, func(t *testing.T) {
			port := testpeer.FreePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			l, err := transport.New(transport.Config{})
			require.NoError(t, err)
			_, err = l.Listen(context.Background(), tp, addr, transport.ListenOptions{})
			require.NoError(t, err)
			contact := fmt.Sprintf("<sip:uas@%s;transport=%s>", addr, tp)
			srv := transaction.NewServer(transaction.New(l, transaction.Config{}), uasHandler(contact), transaction.ServerConfig{})
			require.NoError(t, srv.Start())
			defer srv.Shutdown(context.Background())

			mode := "u1"
			if tp == transport.TCP {
				mode = "t1"
			}
			res, err := testpeer.SIPp(t, 60*time.Second, "-sn", "uac", "-t", mode, "-i", "127.0.0.1",
				"-m", "2000", "-r", "200", "-l", "400", "-d", "0", addr)
			require.NoError(t, err, res.Output)
			t.Logf("%s: %d successful, %d failed, %d unexpected, %d retransmissions", tp, res.Successful, res.Failed, res.Unexpected, res.Retransmissions)
			require.Equal(t, 2000, res.Successful)
			require.Zero(t, res.Failed)
			require.Zero(t, res.Unexpected)
		})
	}
}

// TestOurUACAgainstSIPpUAS drives SIPp's built-in uas scenario with client
// transactions: INVITE, ACK for the 2xx, BYE.
func TestOurUACAgainstSIPpUAS(t *testing.T) {
	testpeer.Binary(t, "sipp", "sipp")
	for _, tp := range []string{transport.UDP, transport.TCP} {
		t.Run(tp, func(t *testing.T) {
			port := testpeer.FreePort(t)
			mode := "u1"
			if tp == transport.TCP {
				mode = "t1"
			}
			const calls = 200
			type out struct {
				res testpeer.SIPpResult
				err error
			}
			done := make(chan out, 1)
			go func() {
				// -abortunexp off: a 200 that SIPp retransmits before our ACK reaches it
				// is ACKed again (RFC 3261 §13.2.2.4), which its uas scenario, pausing
				// after the first ACK, would otherwise count as a failed call.
				r, err := testpeer.SIPp(t, 60*time.Second, "-sn", "uas", "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
					"-m", strconv.Itoa(calls), "-default_behaviors", "all,-abortunexp")
				done <- out{r, err}
			}()
			uac, _, _ := realStack(t, nil, transport.Config{}, transaction.Config{})
			target := transport.Target{Transport: tp, Addr: netipMust(fmt.Sprintf("127.0.0.1:%d", port))}
			testpeer.WaitBound(t, strings.ToLower(tp), port, 10*time.Second)

			var ok atomic.Int64
			var wg sync.WaitGroup
			sem := make(chan struct{}, 20)
			for i := 0; i < calls; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if call(t, uac, target) == nil {
						ok.Add(1)
					}
				}()
			}
			wg.Wait()
			r := <-done
			t.Logf("%s: our UAC completed %d calls; SIPp uas: %d successful, %d failed, %d unexpected", tp, ok.Load(), r.res.Successful, r.res.Failed, r.res.Unexpected)
			require.EqualValues(t, calls, ok.Load())
			require.NoError(t, r.err, r.res.Output)
			require.Equal(t, calls, r.res.Successful)
			// Only repeated ACKs to retransmitted 200s may arrive unexpected.
			require.LessOrEqual(t, r.res.Unexpected, calls/20)
		})
	}
}

// call places one call: INVITE, ACK to the 2xx, BYE.
func call(t *testing.T, l *transaction.Layer, target transport.Target) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inv := siptest.NewRequest(sip.INVITE, "sip:service@"+target.Addr.String(), siptest.WithBody("application/sdp", []byte(sdp)),
		siptest.WithHeader("Contact", "<sip:uac@127.0.0.1>"))
	res, err := l.Do(ctx, inv, target)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("INVITE got %d", res.StatusCode)
	}
	// RFC 3261 §13.2.2.4: the ACK for a 2xx is a new request in the dialog.
	contacts, err := sip.Contacts(res)
	if err != nil || len(contacts) == 0 {
		return fmt.Errorf("2xx without Contact: %v", err)
	}
	ack := inDialog(sip.ACK, inv, res, contacts[0].URI, 1)
	if err := l.Send(ack, target); err != nil {
		return err
	}
	bye := inDialog(sip.BYE, inv, res, contacts[0].URI, 2)
	res, err = l.Do(ctx, bye, target)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("BYE got %d", res.StatusCode)
	}
	return nil
}

func inDialog(m sip.RequestMethod, inv *sip.Request, res *sip.Response, target sip.Uri, cseq uint32) *sip.Request {
	req := sip.NewRequest(m, target)
	if m == sip.ACK {
		transaction.PrependVia(req, "")
	}
	req.AppendHeader(inv.From())
	req.AppendHeader(res.To())
	req.AppendHeader(inv.CallID())
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: m})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	return req
}
