package auth_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
)

// A registrar behind digest authentication: the first REGISTER is
// challenged, the client answers, and the handler sees who it is.
func ExampleAuthenticator_Middleware() {
	users, _ := auth.ReadStatic(strings.NewReader("alice:secret\n"))
	a, _ := auth.New(users, auth.Config{Realm: "example.com", Secret: []byte("shared by every instance!")})
	h := a.Middleware(sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		user, _ := auth.UsernameFromContext(ctx)
		fmt.Println("handler: registering", user)
		_ = sip.Respond(w, req, sip.StatusOK, "")
	}))

	newRegister := func(cseq uint32) *sip.Request {
		req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", siptest.WithCSeq(cseq), siptest.WithCallID("c1"))
		req.To().Address.User = "alice"
		return req
	}
	rec := siptest.NewRecorder()
	h.ServeSIP(context.Background(), rec, newRegister(1))
	challenge := rec.Final()
	fmt.Println(challenge.StatusCode, strings.SplitN(sip.HeaderValues(challenge, "WWW-Authenticate")[0], ",", 2)[0])

	client := &auth.Client{Username: "alice", Password: "secret"}
	retry := newRegister(2)
	_ = client.Authorize(retry, challenge)
	rec = siptest.NewRecorder()
	h.ServeSIP(context.Background(), rec, retry)
	fmt.Println(rec.Final().StatusCode)
	// Output:
	// 401 Digest realm="example.com"
	// handler: registering alice
	// 200
}

// A custom Backend: any store that can produce HA1 values.
func ExampleBackendFunc() {
	ha1s := map[string]string{"bob": auth.HA1(auth.MD5, "bob", "example.com", "pw")}
	b := auth.BackendFunc(func(ctx context.Context, user, realm string, alg auth.Algorithm) (string, error) {
		if h, ok := ha1s[user]; ok && alg == auth.MD5 {
			return h, nil
		}
		return "", auth.ErrUnknownUser
	})
	h, err := b.HA1(context.Background(), "bob", "example.com", auth.MD5)
	fmt.Println(h, err)
	// Output: 74a003e9812b253c5b457cb51c978949 <nil>
}
