package nat_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// A UA behind a NAT: its Via and Contact name 192.168.1.10:5060, the
// request came from the router's 203.0.113.7:40001.
func ExampleDetect() {
	req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com",
		siptest.WithHeader("Contact", "<sip:alice@192.168.1.10:5060>"))
	req.Via().Host = "192.168.1.10"
	f := transport.Flow{Transport: transport.UDP, Remote: netip.MustParseAddrPort("203.0.113.7:40001")}
	fl := nat.Detect(req, f)
	fmt.Println(fl)
	fmt.Println("behind a NAT:", fl&nat.DefaultTests != 0)
	// Output:
	// contact-private,contact-host,via-received,via-private,via-port
	// behind a NAT: true
}

// The script-style fix: only the host and port (and transport) change.
func ExampleFixContact() {
	req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com",
		siptest.WithHeader("Contact", `"Alice" <sip:alice@192.168.1.10:5060;ob>;+sip.instance="<urn:uuid:1>";expires=3600`))
	f := transport.Flow{Transport: transport.TCP, Remote: netip.MustParseAddrPort("203.0.113.7:40001")}
	nat.FixContact(req, f)
	fmt.Println(req.GetHeader("Contact").Value())
	// Output: "Alice" <sip:alice@203.0.113.7:40001;ob;transport=tcp>;+sip.instance="<urn:uuid:1>";expires=3600
}

// The Fixer as middleware: the next handler sees the fixed Contact.
func ExampleFixer_Middleware() {
	fixer, _ := nat.New(nat.Config{})
	next := sip.HandlerFunc(func(_ context.Context, w sip.ResponseWriter, req *sip.Request) {
		fmt.Println(req.GetHeader("Contact").Value())
		_ = sip.Respond(w, req, sip.StatusOK, "")
	})
	req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com",
		siptest.WithHeader("Contact", "<sip:alice@192.168.1.10:5060>"))
	f := transport.Flow{Transport: transport.UDP, Remote: netip.MustParseAddrPort("203.0.113.7:40001")}
	fixer.Middleware(next).ServeSIP(transport.NewContext(context.Background(), f), siptest.NewRecorder(), req)
	fmt.Println("fixed:", fixer.Stats().Requests)
	// Output:
	// <sip:alice@203.0.113.7:40001>
	// fixed: 1
}

// Where a request for a registered contact goes.
func ExampleFixer_UseFlow() {
	fixer, _ := nat.New(nat.Config{})
	f := transport.Flow{Transport: transport.UDP, Remote: netip.MustParseAddrPort("203.0.113.7:40001")}
	for _, c := range []string{"sip:alice@192.168.1.10:5060", "sip:alice@203.0.113.7:40001", "sip:pbx@198.51.100.9:5080"} {
		u, _ := sip.ParseURI(c)
		fmt.Println(c, "on the flow:", fixer.UseFlow(u, f))
	}
	// Output:
	// sip:alice@192.168.1.10:5060 on the flow: true
	// sip:alice@203.0.113.7:40001 on the flow: false
	// sip:pbx@198.51.100.9:5080 on the flow: false
}

// A Pinger on the memory network with a fake clock: the UA answers 404 to
// OPTIONS, which still proves it is there.
func ExamplePinger() {
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	t := &testing.T{} // NewStack's cleanups never run here; the example ends with the process
	srv := siptest.NewStack(t, n, "192.0.2.1:5060", siptest.StackConfig{})
	siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{Handler: siptest.Respond(sip.StatusNotFound)})

	contact, _ := sip.ParseURI("sip:alice@192.168.1.10:5060")
	source := func(_ context.Context, yield func(nat.Target) bool) error {
		yield(nat.Target{AoR: "sip:alice@example.com", Key: "1", URI: contact,
			Next: transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.10:5060")}})
		return nil
	}
	p, _ := nat.NewPinger(srv.Transactions, source, nat.PingerConfig{
		Interval: 30 * time.Second, Clock: clock,
		OnDead: func(t nat.Target) { fmt.Println("dead:", t.AoR) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	for i := 0; i < 1000 && p.Stats().Answered == 0; i++ {
		clock.Advance(time.Second)
		time.Sleep(time.Millisecond) // the memory network delivers on its own goroutines
	}
	cancel()
	<-done
	st := p.Stats()
	fmt.Println("targets", st.Targets, "answered", st.Answered, "failed", st.Failed)
	// Output: targets 1 answered 1 failed 0
}
