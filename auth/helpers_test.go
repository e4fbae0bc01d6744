package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// register returns a REGISTER for user@example.com as a registrar sees it.
func register(user string, cseq uint32) *sip.Request {
	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", siptest.WithCSeq(cseq),
		siptest.WithCallID("reg-"+user+"@192.0.2.1"))
	req.To().Address.User = user
	req.From().Address.User = user
	return req
}

// serve runs h on req and returns the final response.
func serve(t *testing.T, h sip.Handler, req *sip.Request) *sip.Response {
	t.Helper()
	rec := siptest.NewRecorder()
	h.ServeSIP(context.Background(), rec, req)
	res := rec.Final()
	if res == nil {
		t.Fatalf("no final response")
	}
	return res
}

// okHandler answers 200 and records the identity it saw.
type okHandler struct{ last auth.Identity }

func (h *okHandler) ServeSIP(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	h.last, _ = auth.IdentityFromContext(ctx)
	_ = sip.Respond(w, req, sip.StatusOK, "")
}

func challengeParam(t *testing.T, res *sip.Response, name, param string) string {
	t.Helper()
	vals := sip.HeaderValues(res, name)
	if len(vals) == 0 {
		t.Fatalf("response %d has no %s", res.StatusCode, name)
	}
	c, err := sip.ParseCredentials(vals[0])
	if err != nil {
		t.Fatalf("challenge %q: %v", vals[0], err)
	}
	v, _ := c.Param(param)
	return v
}

func authorization(req *sip.Request) string {
	v := sip.HeaderValues(req, "Authorization")
	return strings.Join(v, ", ")
}

func newAuth(t testing.TB, users map[string]string, cfg auth.Config) *auth.Authenticator {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	a, err := auth.New(auth.NewStatic(users), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func errorsAs(err error, target **sip.StatusError) bool { return errors.As(err, target) }
