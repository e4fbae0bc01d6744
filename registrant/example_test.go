package registrant_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/siphon-go/siphon/registrant"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// stack puts a transport and transaction layer at addr on the memory
// network, serving h when it is not nil.
func stack(net *siptest.Network, addr string, h sip.Handler) (*transaction.Layer, func()) {
	pc, _ := net.ListenPacket(addr)
	tp, _ := transport.New(transport.Config{Dialer: net.Dialer(addr[:strings.IndexByte(addr, ':')]), DSCP: transport.NoDSCP})
	_, _ = tp.AddPacketConn(pc, transport.ListenOptions{})
	l := transaction.New(tp, transaction.Config{})
	if h != nil {
		s := transaction.NewServer(l, h, transaction.ServerConfig{})
		_ = s.Start()
		return l, func() { _ = s.Shutdown(context.Background()) }
	}
	_ = l.Start(nil)
	return l, func() { _ = l.Close() }
}

// A registrant keeps alice registered with an upstream registrar.
func Example() {
	net := siptest.NewNetwork(siptest.NetworkConfig{})
	reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{})
	defer reg.Close()
	_, stopServer := stack(net, "192.0.2.1:5060", reg)
	defer stopServer()
	ua, stopUA := stack(net, "192.0.2.10:5060", nil)
	defer stopUA()

	registrarURI, _ := sip.ParseURI("sip:example.com")
	aor, _ := sip.ParseURI("sip:alice@example.com")
	done := make(chan struct{})
	r, err := registrant.New(ua, transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")},
		registrant.Config{Registrar: registrarURI, AoR: aor, Expires: 10 * time.Minute,
			OnState: func(s registrant.Status) {
				fmt.Println(s.State, s.Code, s.Expires)
				if s.State == registrant.Registered {
					close(done)
				}
			}})
	if err != nil {
		panic(err)
	}
	r.Start()
	<-done
	bs, _ := reg.Bindings(context.Background(), "sip:alice@example.com")
	fmt.Println(bs[0].Contact)
	_ = r.Stop(context.Background())
	bs, _ = reg.Bindings(context.Background(), "sip:alice@example.com")
	fmt.Println(len(bs), "bindings after Stop")
	// Output:
	// registering 0 0s
	// registered 200 10m0s
	// <sip:alice@192.0.2.10:5060>
	// unregistered 0 0s
	// 0 bindings after Stop
}
