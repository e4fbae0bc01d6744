package registrar

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/siphon-go/siphon/sip"
)

// publicGRUU returns the public GRUU of an instance: the AoR with a gr
// parameter holding the instance ID (RFC 5627 §3.1).
func publicGRUU(aor, instance string) string { return aor + ";gr=" + instance }

// tempPrefix starts the user part of every temporary GRUU.
const tempPrefix = "tgruu."

// gruuCodec makes and reads temporary GRUUs (RFC 5627 §3.2) without storing
// them: the user part is the AoR, the instance ID and a hash of the
// registration's Call-ID, sealed with AES-GCM. Each REGISTER gets a new one
// (random nonce); all stay valid while the binding lives with the same
// Call-ID, and a new Call-ID invalidates the earlier ones (RFC 5627 §5.2).
type gruuCodec struct {
	aead cipher.AEAD
}

func newGRUUCodec(secret []byte) *gruuCodec {
	key := sha256.Sum256(append([]byte("siphon-temp-gruu\x00"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("registrar: AES-256: " + err.Error()) // a 32-byte key cannot fail
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("registrar: GCM: " + err.Error())
	}
	return &gruuCodec{aead: aead}
}

func callHash(callID string) []byte {
	h := sha256.Sum256([]byte(callID))
	return h[:8]
}

// temp returns a new temporary GRUU for the binding of instance under aor
// registered with callID.
func (g *gruuCodec) temp(aor, instance, callID string) string {
	plain := make([]byte, 0, len(aor)+len(instance)+10)
	plain = append(plain, aor...)
	plain = append(plain, 0)
	plain = append(plain, instance...)
	plain = append(plain, 0)
	plain = append(plain, callHash(callID)...)
	nonce := make([]byte, g.aead.NonceSize(), g.aead.NonceSize()+len(plain)+g.aead.Overhead())
	_, _ = rand.Read(nonce)
	sealed := g.aead.Seal(nonce, nonce, plain, nil)
	host := aor[strings.IndexByte(aor, '@')+1:]
	host = strings.TrimPrefix(host, "sip:")
	return "sip:" + tempPrefix + base64.RawURLEncoding.EncodeToString(sealed) + "@" + host + ";gr"
}

// open reads a temporary GRUU.
func (g *gruuCodec) open(uri sip.Uri) (aor, instance string, hash []byte, ok bool) {
	if !strings.HasPrefix(uri.User, tempPrefix) {
		return "", "", nil, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(uri.User[len(tempPrefix):])
	ns := g.aead.NonceSize()
	if err != nil || len(sealed) < ns+g.aead.Overhead() {
		return "", "", nil, false
	}
	plain, err := g.aead.Open(nil, sealed[:ns], sealed[ns:], nil)
	if err != nil {
		return "", "", nil, false
	}
	parts := strings.SplitN(string(plain), "\x00", 3)
	if len(parts) != 3 || len(parts[2]) != 8 {
		return "", "", nil, false
	}
	return parts[0], parts[1], []byte(parts[2]), true
}

func sameCallHash(callID string, h []byte) bool {
	return subtle.ConstantTimeCompare(callHash(callID), h) == 1
}
