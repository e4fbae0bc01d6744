package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Algorithm is a digest algorithm (RFC 7616 §3.3, RFC 8760).
type Algorithm string

// The algorithms this package computes. The -sess variants hash the nonce and
// cnonce into HA1 (RFC 7616 §3.4.2).
const (
	MD5        Algorithm = "MD5"
	MD5Sess    Algorithm = "MD5-sess"
	SHA256     Algorithm = "SHA-256"
	SHA256Sess Algorithm = "SHA-256-sess"
)

// ParseAlgorithm returns the Algorithm named s, compared without regard to
// case; an empty s means MD5 (RFC 2617 §3.2.1). ok is false for an algorithm
// this package does not compute.
func ParseAlgorithm(s string) (Algorithm, bool) {
	switch {
	case s == "" || strings.EqualFold(s, "MD5"):
		return MD5, true
	case strings.EqualFold(s, "MD5-sess"):
		return MD5Sess, true
	case strings.EqualFold(s, "SHA-256"):
		return SHA256, true
	case strings.EqualFold(s, "SHA-256-sess"):
		return SHA256Sess, true
	}
	return "", false
}

// Base returns the algorithm without its -sess suffix: the one HA1 is
// computed with.
func (a Algorithm) Base() Algorithm {
	switch a {
	case MD5Sess:
		return MD5
	case SHA256Sess:
		return SHA256
	}
	return a
}

func (a Algorithm) sess() bool { return a == MD5Sess || a == SHA256Sess }

// hexLen is the length of a hex digest of the algorithm.
func (a Algorithm) hexLen() int {
	if a.Base() == SHA256 {
		return 2 * sha256.Size
	}
	return 2 * md5.Size
}

// HA1 returns H(username ":" realm ":" password) in lower-case hex, the
// secret a Backend stores instead of the password (RFC 7616 §3.4.2). For a
// -sess algorithm it is the base algorithm's HA1.
func HA1(alg Algorithm, username, realm, password string) string {
	return hashHex(alg.Base(), username, realm, password)
}

// hashHex returns the lower-case hex hash of parts joined by ':'.
func hashHex(alg Algorithm, parts ...string) string {
	var scratch [256]byte
	b := joinColon(scratch[:0], parts...)
	var out [2 * sha256.Size]byte
	return string(sumHex(alg, out[:0], b))
}

func joinColon(b []byte, parts ...string) []byte {
	for i, p := range parts {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	return b
}

// sumHex appends the hex hash of data to dst.
func sumHex(alg Algorithm, dst, data []byte) []byte {
	if alg.Base() == SHA256 {
		s := sha256.Sum256(data)
		return hex.AppendEncode(dst, s[:])
	}
	s := md5.Sum(data)
	return hex.AppendEncode(dst, s[:])
}

// digestInput holds what a digest response is computed over.
type digestInput struct {
	alg    Algorithm
	ha1    string // of the base algorithm
	nonce  string
	cnonce string
	nc     string
	qop    string // "", "auth" or "auth-int"
	method string
	uri    string
	body   []byte // for auth-int
}

// response computes the request-digest of RFC 7616 §3.4.1 (RFC 2617 §3.2.2.1
// when qop is absent).
func (in *digestInput) response() string {
	var out [2 * sha256.Size]byte
	return string(in.appendResponse(out[:0]))
}

// appendResponse appends the request-digest to dst, without allocating for
// inputs of usual size.
func (in *digestInput) appendResponse(dst []byte) []byte {
	var scratch [512]byte
	var ha1Buf, ha2Buf [2 * sha256.Size]byte
	ha1 := append(ha1Buf[:0], in.ha1...)
	if in.alg.sess() {
		ha1 = sumHex(in.alg, ha1Buf[:0], joinColon(scratch[:0], in.ha1, in.nonce, in.cnonce))
	}
	var ha2 []byte
	if in.qop == "auth-int" {
		var bodyBuf [2 * sha256.Size]byte
		bh := sumHex(in.alg, bodyBuf[:0], in.body)
		b := joinColon(scratch[:0], in.method, in.uri)
		b = append(append(b, ':'), bh...)
		ha2 = sumHex(in.alg, ha2Buf[:0], b)
	} else {
		ha2 = sumHex(in.alg, ha2Buf[:0], joinColon(scratch[:0], in.method, in.uri))
	}
	b := append(scratch[:0], ha1...)
	if in.qop == "" {
		b = joinColon(append(b, ':'), in.nonce)
	} else {
		b = joinColon(append(b, ':'), in.nonce, in.nc, in.cnonce, in.qop)
	}
	b = append(append(b, ':'), ha2...)
	return sumHex(in.alg, dst, b)
}
