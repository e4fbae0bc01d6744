package dispatcher_test

import (
	"fmt"

	"github.com/siphon-go/siphon/proxy/dispatcher"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
)

// A group of two servers and a backup tier, round robin.
func ExampleDispatcher_Select() {
	d := dispatcher.New(dispatcher.Config{})
	a, _ := dispatcher.ParseDestination("10.0.0.1:5060")
	b, _ := dispatcher.ParseDestination("10.0.0.2:5060;transport=tcp")
	backup, _ := dispatcher.ParseDestination("10.0.1.1:5060")
	backup.Priority = 1
	_ = d.SetGroup("pbx", dispatcher.RoundRobin, a, b, backup)
	for range 2 {
		req := siptest.NewRequest(sip.INVITE, "sip:bob@example.com")
		for i, t := range d.Select("pbx", req) {
			if i > 0 {
				fmt.Print(", ")
			}
			fmt.Print(t.Next.Transport, " ", t.Next.Addr)
		}
		fmt.Println()
	}
	// Output:
	// UDP 10.0.0.1:5060, TCP 10.0.0.2:5060, UDP 10.0.1.1:5060
	// TCP 10.0.0.2:5060, UDP 10.0.0.1:5060, UDP 10.0.1.1:5060
}
