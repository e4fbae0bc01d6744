package topohide

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// Codec turns the header data hidden from the outside into a token that fits
// in a URI or Via parameter and a Call-ID (base64url characters), and back.
// Seal must be deterministic: the same input gives the same token, so that
// a retransmission, a CANCEL and every message of a dialog carry the same
// masked values. Open must reject a token it did not make; the caller does
// not change what it returns.
type Codec interface {
	Seal(plain []byte) (string, error)
	Open(token string) ([]byte, error)
}

// ErrBadToken is returned by Open for a token that was not made by this
// codec (or, for a Store, has expired).
var ErrBadToken = errors.New("topohide: unknown or forged token")

var b64 = base64.RawURLEncoding

// Cipher is the stateless Codec (Kamailio topoh): the hidden data travels
// in the token itself, encrypted and authenticated with AES-GCM under a
// shared key, so any instance holding the key can restore it and nothing
// is stored. The nonce is derived from the plaintext with HMAC-SHA256 (a
// synthetic IV, as in RFC 5297), which makes Seal deterministic; equal
// tokens reveal only that the hidden data was equal.
type Cipher struct {
	aead cipher.AEAD
	siv  macPool
}

// macPool keeps HMAC-SHA256 states under one key: hmac.New allocates its
// two hash states and key pads on every call.
type macPool struct{ p sync.Pool }

func newMacPool(key []byte) macPool {
	return macPool{p: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// sum appends HMAC(key, b) to dst.
func (m *macPool) sum(dst, b []byte) []byte {
	h := m.p.Get().(hash.Hash)
	h.Reset()
	h.Write(b)
	dst = h.Sum(dst)
	m.p.Put(h)
	return dst
}

const nonceSize = 12

// NewCipher returns a Cipher for key, 16, 24 or 32 bytes of secret shared by
// every instance that must restore what another hid. The encryption and
// nonce keys are derived from it.
func NewCipher(key []byte) (*Cipher, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("topohide: key is %d bytes, want 16, 24 or 32", len(key))
	}
	enc := derive(key, "siphon topohide enc")[:len(key)]
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, fmt.Errorf("topohide: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("topohide: %w", err)
	}
	return &Cipher{aead: aead, siv: newMacPool(derive(key, "siphon topohide nonce"))}, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Seal implements Codec.
func (c *Cipher) Seal(plain []byte) (string, error) {
	var sum [sha256.Size]byte
	nonce := c.siv.sum(sum[:0], plain)[:nonceSize]
	buf := make([]byte, nonceSize, nonceSize+len(plain)+c.aead.Overhead())
	copy(buf, nonce)
	return b64.EncodeToString(c.aead.Seal(buf, nonce, plain, nil)), nil
}

// Open implements Codec.
func (c *Cipher) Open(token string) ([]byte, error) {
	raw, err := b64.DecodeString(token)
	if err != nil || len(raw) < nonceSize+c.aead.Overhead() {
		return nil, ErrBadToken
	}
	plain, err := c.aead.Open(nil, raw[:nonceSize], raw[nonceSize:], nil)
	if err != nil {
		return nil, ErrBadToken
	}
	return plain, nil
}

// StoreConfig configures a Store.
type StoreConfig struct {
	// MaxEntries bounds what is kept; default 200000. When full, the least
	// recently used half is dropped at once.
	MaxEntries int
	// TTL is how long an entry lives after it was last sealed or opened;
	// default 12 h, longer than a call without session refresh usually
	// lasts. An entry goes between TTL/2 and TTL after its last use.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store is the stateful Codec (Kamailio topos): the hidden data stays in
// memory and the token is a short reference to it (20 characters), so the
// outside sees no ciphertext at all and messages stay small. Only the
// instance that sealed a token can open it, and a restart forgets every
// token: in-dialog requests of calls set up before it then fail. Entries
// are kept in two generations, each at most half of MaxEntries: lookups
// promote from the old one, and the old one is dropped when the new one
// fills or is TTL/2 old.
type Store struct {
	mac macPool
	max int
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	cur, old map[string][]byte
	rotated  time.Time

	dropped atomic.Uint64
}

// NewStore returns an empty Store with a fresh random token secret.
func NewStore(cfg StoreConfig) *Store {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 200000
	}
	if cfg.MaxEntries < 2 {
		cfg.MaxEntries = 2
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand documents it)
	return &Store{mac: newMacPool(secret), max: cfg.MaxEntries, ttl: cfg.TTL, now: cfg.Now,
		cur: map[string][]byte{}, old: map[string][]byte{}, rotated: cfg.Now()}
}

// Seal implements Codec.
func (s *Store) Seal(plain []byte) (string, error) {
	var sum [sha256.Size]byte
	token := b64.EncodeToString(s.mac.sum(sum[:0], plain)[:15])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate()
	if _, ok := s.cur[token]; !ok {
		delete(s.old, token)
		s.put(token, append([]byte(nil), plain...))
	}
	return token, nil
}

// Open implements Codec.
func (s *Store) Open(token string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate()
	if v, ok := s.cur[token]; ok {
		return v, nil
	}
	if v, ok := s.old[token]; ok {
		delete(s.old, token)
		s.put(token, v)
		return v, nil
	}
	return nil, ErrBadToken
}

// Len returns how many entries are kept.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.old)
}

// Dropped returns how many entries were dropped, expired or evicted.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

func (s *Store) put(token string, v []byte) {
	if len(s.cur) >= s.max/2 {
		s.shift()
	}
	s.cur[token] = v
}

func (s *Store) rotate() {
	if idle := s.now().Sub(s.rotated); idle >= s.ttl/2 {
		s.shift()
		if idle >= s.ttl {
			s.shift() // both generations are stale
		}
	}
}

// shift drops the old generation and starts a new one.
func (s *Store) shift() {
	s.dropped.Add(uint64(len(s.old)))
	s.old, s.cur = s.cur, make(map[string][]byte, len(s.cur))
	s.rotated = s.now()
}
