package resolve_test

import (
	"context"
	"fmt"

	"github.com/siphon-go/siphon/internal/dnstest"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport/resolve"
)

// A domain publishing TLS and TCP through NAPTR, one server each, resolves
// to the targets in NAPTR order. The DNS server here runs in-process.
func ExampleResolver_Resolve() {
	srv, err := dnstest.Start(`
example.com.            60 IN NAPTR 10 10 "s" "SIPS+D2T" "" _sips._tcp.example.com.
example.com.            60 IN NAPTR 20 10 "s" "SIP+D2T"  "" _sip._tcp.example.com.
_sips._tcp.example.com. 60 IN SRV   10 0 5061 edge1.example.com.
_sip._tcp.example.com.  60 IN SRV   10 0 5060 edge2.example.com.
edge1.example.com.      60 IN A     192.0.2.10
edge2.example.com.      60 IN A     192.0.2.11
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	r, err := resolve.New(resolve.Config{Servers: []string{srv.Addr}})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := sip.ParseURI("sip:alice@example.com")
	targets, err := r.Resolve(context.Background(), u)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range targets {
		fmt.Println(t.Transport, t.Addr, t.ServerName)
	}
	// Output:
	// TLS 192.0.2.10:5061 example.com
	// TCP 192.0.2.11:5060 example.com
}

// ENUM turns an E.164 number into the SIP URIs its NAPTR records give.
func ExampleResolver_ENUM() {
	srv, err := dnstest.Start(`
4.3.2.1.5.5.5.1.e164.arpa. 60 IN NAPTR 10 10 "u" "E2U+sip" "!^\\+(.*)$!sip:\\1@example.com!" .
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	r, err := resolve.New(resolve.Config{Servers: []string{srv.Addr}})
	if err != nil {
		fmt.Println(err)
		return
	}
	uris, err := r.ENUM(context.Background(), "+1-555-1234", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range uris {
		fmt.Println(u.String())
	}
	// Output:
	// sip:15551234@example.com
}

func ExampleENUMDomain() {
	d, _ := resolve.ENUMDomain("+44 20 7946 0000", "")
	fmt.Println(d)
	// Output:
	// 0.0.0.0.6.4.9.7.0.2.4.4.e164.arpa.
}
