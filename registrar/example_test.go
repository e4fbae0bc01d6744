package registrar_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// A REGISTER, then the lookup a proxy makes for a request to the AoR.
func ExampleRegistrar() {
	reg, err := registrar.New(memory.New(memory.Config{}), registrar.Config{})
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	reg.Subscribe(func(ev registrar.Event) { fmt.Println("event:", ev.Kind, ev.Binding.AoR) })

	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com",
		siptest.WithHeader("Contact", `<sip:alice@192.0.2.10:5060>;+sip.instance="<urn:uuid:1>";expires=600`))
	req.To().Address.User = "alice"
	// The flow the REGISTER came on, as transaction.Server puts it in ctx.
	flow := transport.Flow{Transport: transport.UDP, Local: netip.MustParseAddrPort("192.0.2.1:5060"),
		Remote: netip.MustParseAddrPort("192.0.2.10:5060")}
	rec := siptest.NewRecorder()
	reg.ServeSIP(transport.NewContext(context.Background(), flow), rec, req)
	fmt.Println(rec.Final().StatusCode, sip.HeaderValues(rec.Final(), "Contact"))

	aor, _ := sip.ParseURI("sip:alice@example.com")
	contacts, _ := reg.Lookup(context.Background(), aor)
	for _, c := range contacts {
		target, direct := c.Target()
		fmt.Println("send to", c.NameAddr.URI.String(), "via", target.Transport, target.Addr, direct)
	}
	// Output:
	// event: registered sip:alice@example.com
	// 200 [<sip:alice@192.0.2.10:5060>;+sip.instance="<urn:uuid:1>";expires=600]
	// send to sip:alice@192.0.2.10:5060 via UDP 192.0.2.10:5060 true
}

// A proxy in front of the registrar of record caches what it granted.
func ExampleRegistrar_Cache() {
	reg, _ := registrar.New(memory.New(memory.Config{}), registrar.Config{})
	defer reg.Close()
	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com",
		siptest.WithHeader("Contact", "<sip:alice@192.0.2.10:5060>"), siptest.WithHeader("Expires", "7200"))
	req.To().Address.User = "alice"
	upstream := sip.NewResponse(req, sip.StatusOK, "")
	upstream.AppendHeader(sip.NewHeader("Contact", "<sip:alice@192.0.2.10:5060>;expires=1800"))

	_ = reg.Cache(context.Background(), req, upstream)
	bs, _ := reg.Bindings(context.Background(), "sip:alice@example.com")
	fmt.Println(bs[0].Contact, bs[0].Expires.Sub(bs[0].Updated))
	// Output: <sip:alice@192.0.2.10:5060> 30m32s
}
