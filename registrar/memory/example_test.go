package memory_test

import (
	"context"
	"fmt"

	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
)

// A registrar on the memory backend, bounded to a million bindings.
func ExampleNew() {
	backend := memory.New(memory.Config{MaxBindings: 1_000_000})
	reg, _ := registrar.New(backend, registrar.Config{})
	defer reg.Close()

	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", siptest.WithHeader("Contact", "<sip:bob@192.0.2.20>"))
	req.To().Address.User = "bob"
	reg.ServeSIP(context.Background(), siptest.NewRecorder(), req)
	bs, _ := backend.Load(context.Background(), "sip:bob@example.com")
	fmt.Println(backend.Len(), bs[0].Contact, bs[0].Expires.Sub(bs[0].Updated))
	// Output: 1 <sip:bob@192.0.2.20> 1h0m0s
}
