package sip

import "testing"

func TestCopyRequestIndependent(t *testing.T) {
	req := parseReq(t, inviteMsg)
	c := CopyRequest(req)
	c.MaxForwards().Dec()
	if req.MaxForwards().Val() != 70 || c.MaxForwards().Val() != 69 {
		t.Fatal("max-forwards shared")
	}
	RemoveHeaders(c, "Route")
	if len(req.GetHeaders("Route")) != 2 {
		t.Fatal("route removed from original")
	}
	PushNameAddr(c, "Record-Route", NameAddr{URI: Uri{Scheme: "sip", Host: "p.example.com"}})
	if len(req.GetHeaders("Record-Route")) != 0 {
		t.Fatal("record-route added to original")
	}
	c.Recipient.Host = "x.example.com"
	if req.Recipient.Host != "biloxi.example.com" {
		t.Fatal("uri shared")
	}
	if string(c.Body()) != string(req.Body()) || c.String() == "" {
		t.Fatal("body")
	}
}
func BenchmarkCopyRequest(b *testing.B) {
	req, _ := NewParser(0).Parse([]byte(inviteMsg))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		CopyRequest(req.(*Request))
	}
}
func BenchmarkCloneRequest(b *testing.B) {
	req, _ := NewParser(0).Parse([]byte(inviteMsg))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		CloneRequest(req.(*Request))
	}
}

func TestCopyResponseIndependent(t *testing.T) {
	res := NewResponse(parseReq(t, inviteMsg), 200, "OK")
	res.SetBody([]byte("v=0\r\n"))
	c := CopyMessage(res).(*Response)
	RemoveHeaders(c, "Via")
	c.AppendHeader(NewHeader("X-Copy", "1"))
	if len(res.GetHeaders("Via")) == 0 || res.GetHeader("X-Copy") != nil {
		t.Fatal("copy shares the header list")
	}
	if c.StatusCode != 200 || c.Reason != "OK" || string(c.Body()) != "v=0\r\n" {
		t.Fatalf("copy lost status or body: %d %q %q", c.StatusCode, c.Reason, c.Body())
	}
	if CopyMessage(nil) != nil {
		t.Fatal("nil message copied")
	}
}
