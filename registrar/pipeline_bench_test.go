package registrar_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// encodedSink is an EncodedWriter that keeps the last response's bytes, as
// the UDP transport's writer would send them.
type encodedSink struct {
	buf  []byte
	code int
}

func (e *encodedSink) WriteResponse(res *sip.Response) error {
	e.code = res.StatusCode
	e.buf = sip.AppendMessage(e.buf[:0], res)
	return nil
}

func (e *encodedSink) WriteEncoded(code int, data []byte) (bool, error) {
	e.code = code
	e.buf = append(e.buf[:0], data...)
	return true, nil
}

// BenchmarkRegisterPipeline measures the user-space work of one REGISTER
// refresh without sockets, as SIPp's benchmark scenario sends it (a new
// Call-ID each time, 100,000 AoRs): parsing the datagram, the sanity
// checks, the registrar with the memory backend and the encoded 200 OK.
func BenchmarkRegisterPipeline(b *testing.B) {
	const users = 100_000
	ctx := transport.NewContext(context.Background(), udpFlow)
	reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{})
	defer reg.Close()
	h := sip.Chain(reg, sip.NewSanity(sip.SanityConfig{}).Middleware)
	p := sip.NewParser(0)
	msg := func(user, seq int) []byte {
		u := fmt.Sprintf("u%07d", user)
		return []byte("REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-" + strconv.Itoa(seq) + "-1\r\n" +
			"From: <sip:" + u + "@127.0.0.1>;tag=4242SIPpTag0" + strconv.Itoa(seq) + "\r\n" +
			"To: <sip:" + u + "@127.0.0.1>\r\n" +
			"Call-ID: " + strconv.Itoa(seq) + "-4242@127.0.0.1\r\n" +
			"CSeq: 1 REGISTER\r\n" +
			"Contact: <sip:" + u + "@127.0.0.1:5070;transport=UDP>\r\n" +
			"Max-Forwards: 70\r\n" +
			"Expires: 3600\r\n" +
			"User-Agent: sipp-bench\r\n" +
			"Content-Length: 0\r\n\r\n")
	}
	w := &encodedSink{}
	serve := func(data []byte) {
		m, err := p.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		h.ServeSIP(ctx, w, m.(*sip.Request))
		if w.code != 200 {
			b.Fatalf("got %d", w.code)
		}
	}
	for i := range users {
		serve(msg(i, i))
	}
	const window = 4096 // messages prepared ahead, cycled
	msgs := make([][]byte, window)
	seq := users
	next := func() {
		for i := range msgs {
			msgs[i] = msg(seq%users, seq)
			seq++
		}
	}
	next()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == window {
			b.StopTimer()
			next()
			i = 0
			b.StartTimer()
		}
		serve(msgs[i])
		i++
	}
}
