package siptest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// A complete call flow in process: a UAS answering 486 and a UAC over an
// in-memory network that loses a third of the datagrams.
func ExampleNetwork() {
	t := &testing.T{}
	n := siptest.NewNetwork(siptest.NetworkConfig{Loss: 0.3, Seed: 1})
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: siptest.Respond(180, 486)})
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})

	res, err := uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
	if err != nil {
		panic(err)
	}
	fmt.Println(res.StatusCode, res.Reason)
	// Output:
	// 486 Busy Here
}
