package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// ErrUnknownUser is returned by a Backend that has no credentials for the
// user. The Authenticator answers it exactly as it answers a wrong password.
var ErrUnknownUser = errors.New("auth: unknown user")

// Backend looks up digest credentials. The Authenticator calls it once per
// request that carries credentials for its realm.
//
// HA1 returns H(username:realm:password) for the base algorithm alg (MD5 or
// SHA256) as lower-case hex (see the HA1 function), or ErrUnknownUser.
// Any other error is a backend failure, answered 503 with Retry-After.
// HA1 must be safe for concurrent use.
type Backend interface {
	HA1(ctx context.Context, username, realm string, alg Algorithm) (string, error)
}

// BackendFunc adapts a function to a Backend, for custom credential stores.
type BackendFunc func(ctx context.Context, username, realm string, alg Algorithm) (string, error)

// HA1 calls f.
func (f BackendFunc) HA1(ctx context.Context, username, realm string, alg Algorithm) (string, error) {
	return f(ctx, username, realm, alg)
}

// Static is a Backend holding plain-text passwords in memory, for small
// deployments, tests and examples. HA1 values are computed on demand for the
// realm asked. It is safe for concurrent use.
type Static struct {
	mu    sync.RWMutex
	users map[string]string
}

var _ Backend = (*Static)(nil)

// NewStatic returns a Static backend with the given user → password map,
// which it copies.
func NewStatic(users map[string]string) *Static {
	s := &Static{users: make(map[string]string, len(users))}
	for u, p := range users {
		s.users[u] = p
	}
	return s
}

// ReadStatic reads a Static backend from r: one "user:password" per line
// (the password may contain ':'), blank lines and lines starting with '#'
// ignored.
func ReadStatic(r io.Reader) (*Static, error) {
	s := &Static{users: make(map[string]string)}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		u, p, ok := strings.Cut(line, ":")
		if !ok || u == "" {
			return nil, fmt.Errorf("auth: users line %d: want user:password", n)
		}
		s.users[u] = p
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: reading users: %w", err)
	}
	return s, nil
}

// Set adds or replaces a user.
func (s *Static) Set(username, password string) {
	s.mu.Lock()
	s.users[username] = password
	s.mu.Unlock()
}

// Delete removes a user.
func (s *Static) Delete(username string) {
	s.mu.Lock()
	delete(s.users, username)
	s.mu.Unlock()
}

// Len returns the number of users.
func (s *Static) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users)
}

// HA1 implements Backend.
func (s *Static) HA1(_ context.Context, username, realm string, alg Algorithm) (string, error) {
	s.mu.RLock()
	p, ok := s.users[username]
	s.mu.RUnlock()
	if !ok {
		return "", ErrUnknownUser
	}
	return HA1(alg, username, realm, p), nil
}
