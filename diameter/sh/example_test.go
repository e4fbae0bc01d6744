package sh_test

import (
	"context"
	"fmt"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/sh"
)

// An AS reads its repository data from the HSS through a pool of HSS peers.
func ExampleClient_UDR() {
	var pool *diameter.Pool // from diameter.NewPool
	hss, _ := sh.NewClient(pool, sh.Config{OriginHost: "as.ims.example.com", DestinationRealm: "ims.example.com"})
	uda, err := hss.UDR(context.Background(), &sh.UDR{
		User:               sh.UserIdentity{PublicIdentity: "sip:alice@ims.example.com"},
		DataReferences:     []sh.DataReference{sh.RepositoryData},
		ServiceIndications: []string{"mmtel-settings"},
	})
	if err == nil && uda.Result.Success() {
		fmt.Printf("%s\n", uda.UserData)
	}
}
