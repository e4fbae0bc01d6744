package sip

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

type recorder struct{ res []*Response }

func (r *recorder) WriteResponse(res *Response) error {
	if len(r.res) > 0 && r.res[len(r.res)-1].StatusCode >= 200 {
		return ErrFinalSent
	}
	r.res = append(r.res, res)
	return nil
}

func TestMux(t *testing.T) {
	mux := NewMux()
	mux.HandleFunc(OPTIONS, func(ctx context.Context, w ResponseWriter, req *Request) {
		_ = Respond(w, req, StatusOK, "")
	})
	mux.HandleFunc(INVITE, func(ctx context.Context, w ResponseWriter, req *Request) {})
	require.Equal(t, "ACK, CANCEL, INVITE, OPTIONS", mux.Allow())

	serve := func(method RequestMethod) *recorder {
		req := parseReq(t, inviteMsg)
		req.Method = method
		req.CSeq().MethodName = method
		rec := &recorder{}
		mux.ServeSIP(context.Background(), rec, req)
		return rec
	}
	rec := serve(OPTIONS)
	require.Equal(t, 200, rec.res[0].StatusCode)
	rec = serve(BYE)
	require.Equal(t, 405, rec.res[0].StatusCode)
	require.Equal(t, []string{"ACK, CANCEL, INVITE, OPTIONS"}, HeaderValues(rec.res[0], "Allow"))
	rec = serve("FOO")
	require.Equal(t, 501, rec.res[0].StatusCode)
	rec = serve(ACK)
	require.Empty(t, rec.res, "an ACK gets no response")
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, w ResponseWriter, req *Request) {
				order = append(order, name)
				next.ServeSIP(ctx, w, req)
			})
		}
	}
	h := Chain(HandlerFunc(func(context.Context, ResponseWriter, *Request) { order = append(order, "h") }), mw("a"), mw("b"))
	h.ServeSIP(context.Background(), &recorder{}, parseReq(t, inviteMsg))
	require.Equal(t, []string{"a", "b", "h"}, order)
}

func TestRespondError(t *testing.T) {
	req := parseReq(t, inviteMsg)
	rec := &recorder{}
	err := NewStatusError(StatusServiceUnavailable, "", NewHeader("Retry-After", "5"))
	require.NoError(t, RespondError(rec, req, err))
	require.Equal(t, 503, rec.res[0].StatusCode)
	require.Equal(t, "Service Unavailable", rec.res[0].Reason)
	require.Equal(t, []string{"5"}, HeaderValues(rec.res[0], "Retry-After"))
	require.ErrorIs(t, Respond(rec, req, 200, ""), ErrFinalSent)
}
