package stir_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/stir"
)

// The examples verify libstirshaken's published reference PASSporT (see
// testdata/libstirshaken). Its certificate URL is served from testdata by an
// http.RoundTripper, so they run offline; a real deployment leaves
// HTTPClient nil and keeps the HTTPS-only default.
type testdataRepository struct{}

func (testdataRepository) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() != "http://shaken.signalwire.cloud/sp.pem" {
		return &http.Response{StatusCode: http.StatusNotFound, Body: http.NoBody, Request: req}, nil
	}
	body, err := os.ReadFile("testdata/libstirshaken/sp.pem")
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

func exampleVerifier() *stir.Verifier {
	pemData, err := os.ReadFile("testdata/libstirshaken/ca.pem")
	if err != nil {
		panic(err)
	}
	anchors, err := stir.ParsePEMCertificates(pemData)
	if err != nil {
		panic(err)
	}
	v, err := stir.NewVerifier(anchors, stir.VerifierConfig{
		HTTPClient: &http.Client{Transport: testdataRepository{}},
		AllowHTTP:  true,                                                 // the reference x5u is http://
		Clock:      func() time.Time { return time.Unix(1603458131, 5) }, // the token's iat
	})
	if err != nil {
		panic(err)
	}
	return v
}

func exampleInvite() *sip.Request {
	identity, err := os.ReadFile("testdata/libstirshaken/identity.txt")
	if err != nil {
		panic(err)
	}
	msg, err := sip.NewParser(0).Parse([]byte("INVITE sip:01256500600@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9\r\n" +
		"From: <sip:01256789999@example.com;user=phone>;tag=9fxced76sl\r\n" +
		"To: <sip:01256500600@example.com;user=phone>\r\n" +
		"Call-ID: 3848276298220188511@192.0.2.10\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Identity: " + strings.TrimSpace(string(identity)) + "\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		panic(err)
	}
	return msg.(*sip.Request)
}

func ExampleVerifier_VerifyRequest() {
	v := exampleVerifier()
	res, err := v.VerifyRequest(context.Background(), exampleInvite())
	if err != nil {
		fmt.Println("failed:", err)
		return
	}
	fmt.Println(res.Verstat)
	fmt.Println("attestation:", res.Attestation)
	fmt.Println("orig:", res.PASSporT.Claims.Orig)
	fmt.Println("signer:", res.Chain[0].Subject.CommonName, "issued by", res.Chain[1].Subject.CommonName)
	// Output:
	// TN-Validation-Passed
	// attestation: A
	// orig: {"tn":"01256789999"}
	// signer: New STI-SP issued by SignalWire STI-CA
}

func ExampleVerifier_Middleware() {
	terminating := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		fmt.Println("From:", req.From().Value())
		if res, ok := stir.ResultFromContext(ctx); ok {
			fmt.Println("attestation:", res.Attestation)
		}
		_ = sip.Respond(w, req, sip.StatusOK, "")
	})
	h := sip.Chain(terminating, exampleVerifier().Middleware)
	h.ServeSIP(context.Background(), printWriter{}, exampleInvite())
	// Output:
	// From: <sip:01256789999;verstat=TN-Validation-Passed@example.com;user=phone>;tag=9fxced76sl
	// attestation: A
	// response: 200 OK
}

type printWriter struct{}

func (printWriter) WriteResponse(res *sip.Response) error {
	fmt.Println("response:", res.StatusCode, res.Reason)
	return nil
}

func ExampleSigner_Sign() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // the STI certificate's key
	if err != nil {
		panic(err)
	}
	s, err := stir.NewSigner(key, "https://cert.example.org/sp.pem", stir.SignerConfig{
		OrigID: "123e4567-e89b-12d3-a456-426655440000",
		Clock:  func() time.Time { return time.Unix(1700000000, 0) },
	})
	if err != nil {
		panic(err)
	}
	p, err := s.Sign(stir.PPTShaken, stir.Claims{
		Attest: stir.AttestationFull,
		Orig:   stir.Party{TN: "+1 215-555-1212"},
		Dest:   stir.Dest{TN: []string{"+12155551213"}},
	})
	if err != nil {
		panic(err)
	}
	// The signature differs at every run (ECDSA); header and claims do not.
	parts := strings.Split(p.Token(), ".")
	for _, part := range parts[:2] {
		js, _ := base64.RawURLEncoding.DecodeString(part)
		fmt.Println(string(js))
	}
	id := stir.NewIdentity(p)
	fmt.Println(id.Info, id.Alg, id.PPT)
	// Output:
	// {"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://cert.example.org/sp.pem"}
	// {"attest":"A","dest":{"tn":["12155551213"]},"iat":1700000000,"orig":{"tn":"12155551212"},"origid":"123e4567-e89b-12d3-a456-426655440000"}
	// https://cert.example.org/sp.pem ES256 shaken
}

func ExampleSigner_SignRequest() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	s, err := stir.NewSigner(key, "https://cert.example.org/sp.pem", stir.SignerConfig{
		// Subscribers authenticated by this element own their numbers: A.
		Attest: func(ctx context.Context, req *sip.Request) (stir.Attestation, error) {
			return stir.AttestationFull, nil
		},
		Clock: func() time.Time { return time.Unix(1700000000, 0) },
	})
	if err != nil {
		panic(err)
	}
	msg, err := sip.NewParser(0).Parse([]byte("INVITE sip:+12155551213@example.com;user=phone SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9\r\n" +
		"From: <sip:alice@example.com>;tag=9fxced76sl\r\n" +
		"To: <sip:+12155551213@example.com;user=phone>\r\n" +
		"P-Asserted-Identity: <tel:+1-215-555-1212>\r\n" +
		"Call-ID: 3848276298220188511@192.0.2.10\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		panic(err)
	}
	req := msg.(*sip.Request)
	if err := s.SignRequest(context.Background(), req); err != nil {
		panic(err)
	}
	fmt.Println("Date:", sip.HeaderValues(req, "Date")[0])
	id, _ := stir.ParseIdentity(sip.HeaderValues(req, "Identity")[0])
	p, _ := stir.ParsePASSporT(id.Token)
	fmt.Println("ppt:", id.PPT, "attest:", p.Claims.Attest, "orig:", p.Claims.Orig, "dest:", p.Claims.Dest)
	// Output:
	// Date: Tue, 14 Nov 2023 22:13:20 GMT
	// ppt: shaken attest: A orig: {"tn":"12155551212"} dest: {"tn":["12155551213"]}
}

func ExampleParseIdentity() {
	id, err := stir.ParseIdentity(`eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cDovL3NoYWtlbi5zaWduYWx3aXJlLmNsb3VkL3NwLnBlbSJ9.eyJhdHRlc3QiOiJBIiwiZGVzdCI6IntcInRuXCI6XCIwMTI1NjUwMDYwMFwifSIsImlhdCI6MTYwMzQ1ODEzMSwib3JpZyI6IntcInRuXCI6XCIwMTI1Njc4OTk5OVwifSIsIm9yaWdpZCI6InJlZiJ9.cNI-uIirMOiT19OcQag2UYjHWTgTqtr5jhSk3KxflqSC7FbrrYDr51zCEvzDMoETpge7eQeQ6ASVzb1dhVVhKQ;info=<http://shaken.signalwire.cloud/sp.pem>;alg=ES256;ppt=shaken`)
	if err != nil {
		panic(err)
	}
	fmt.Println("info:", id.Info)
	fmt.Println("ppt:", id.PPT, "compact:", id.Compact())
	p, err := stir.ParsePASSporT(id.Token) // decodes; a Verifier checks it
	if err != nil {
		panic(err)
	}
	fmt.Println("attest:", p.Claims.Attest, "origid:", p.Claims.OrigID, "iat:", p.Claims.IAT)
	fmt.Println("orig:", p.Claims.Orig, "dest:", p.Claims.Dest)
	// Output:
	// info: http://shaken.signalwire.cloud/sp.pem
	// ppt: shaken compact: false
	// attest: A origid: ref iat: 1603458131
	// orig: {"tn":"01256789999"} dest: {"tn":["01256500600"]}
}

func ExampleApplyVerstat() {
	msg, err := sip.NewParser(0).Parse([]byte("INVITE sip:+12155551213@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9\r\n" +
		"From: <sip:+12155551212@example.com;user=phone>;tag=9fxced76sl\r\n" +
		"To: <sip:+12155551213@example.com>\r\n" +
		"P-Asserted-Identity: <tel:+12155551212;verstat=TN-Validation-Passed>\r\n" +
		"Call-ID: 3848276298220188511@192.0.2.10\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		panic(err)
	}
	req := msg.(*sip.Request)
	// The verstat from upstream is replaced by this element's result.
	if err := stir.ApplyVerstat(req, stir.VerstatNoValidation); err != nil {
		panic(err)
	}
	fmt.Println("P-Asserted-Identity:", sip.HeaderValues(req, "P-Asserted-Identity")[0])
	fmt.Println("From:", req.From().Value())
	// Output:
	// P-Asserted-Identity: <tel:+12155551212;verstat=No-TN-Validation>
	// From: <sip:+12155551212;verstat=No-TN-Validation@example.com;user=phone>;tag=9fxced76sl
}
