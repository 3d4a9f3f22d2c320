package fakecloud

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Logins is one token family of an emulated cloud: single-use refresh
// tokens, each traded once for a successor and an access token, as both
// clouds do (docs/protocols/aliyun.md §1, docs/protocols/pan115.md §1).
// An emulator holds one Logins per family (Aliyun's Open API and web
// logins, 115's open-platform login) and answers its token endpoint from
// Rotate and its API calls from Check, in its own wire format.
type Logins struct {
	mint func(kind string, ttl time.Duration) string

	mu        sync.Mutex
	accessTTL time.Duration
	refresh   map[string]tokenState
	access    map[string]time.Time // access token -> expiry
	latest    string
	reuses    int
	rotations int
	issued    []string
}

type tokenState int

const (
	unspent tokenState = iota + 1
	spent
	revoked
)

// Grant is what one login or one trade hands out.
type Grant struct {
	Refresh, Access string
	TTL             time.Duration // of Access
}

// Errors of Rotate and Check; each emulator answers them with its own
// codes.
var (
	ErrUnknownToken = errors.New("token was never issued")
	ErrSpentToken   = errors.New("refresh token already spent")
	ErrRevokedToken = errors.New("login revoked")
	ErrExpiredToken = errors.New("access token expired")
)

// NewLogins makes a token family whose access tokens live accessTTL.
// mint shapes a token ("refresh" or "access", with its lifetime); nil
// gives 32 random hex characters.
func NewLogins(accessTTL time.Duration, mint func(kind string, ttl time.Duration) string) *Logins {
	if mint == nil {
		mint = func(string, time.Duration) string { return RandomHex(16) }
	}
	return &Logins{mint: mint, accessTTL: accessTTL, refresh: map[string]tokenState{}, access: map[string]time.Time{}}
}

// RandomHex is n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Issue makes a new login, as an authorization (a QR scan, a pasted
// token) does.
func (l *Logins) Issue() Grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.issueLocked()
}

func (l *Logins) issueLocked() Grant {
	g := Grant{Refresh: l.mint("refresh", 90*24*time.Hour), Access: l.mint("access", l.accessTTL), TTL: l.accessTTL}
	l.refresh[g.Refresh] = unspent
	l.access[g.Access] = time.Now().Add(g.TTL)
	l.latest = g.Refresh
	l.issued = append(l.issued, g.Refresh, g.Access)
	return g
}

// Rotate spends rt and returns its successor. A spent token is counted as
// a reuse: each one is a driver that lost a rotation, and would have
// locked a real user out.
func (l *Logins) Rotate(rt string) (Grant, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.refresh[rt] {
	case 0:
		return Grant{}, ErrUnknownToken
	case revoked:
		return Grant{}, ErrRevokedToken
	case spent:
		l.reuses++
		return Grant{}, ErrSpentToken
	}
	l.refresh[rt] = spent
	l.rotations++
	return l.issueLocked(), nil
}

// Check says whether an access token may be used now.
func (l *Logins) Check(at string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	exp, known := l.access[at]
	switch {
	case !known:
		return ErrUnknownToken
	case !time.Now().Before(exp):
		return ErrExpiredToken
	}
	return nil
}

// Latest is the refresh token issued last, by Issue or by a trade.
func (l *Logins) Latest() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

// Reuses counts trades that presented a spent refresh token.
func (l *Logins) Reuses() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reuses
}

// Rotations counts successful trades.
func (l *Logins) Rotations() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rotations
}

// ExpireAccess makes every access token issued so far expired, as the
// cloud does when their lifetime runs out.
func (l *Logins) ExpireAccess() {
	l.mu.Lock()
	defer l.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for at := range l.access {
		l.access[at] = past
	}
}

// RevokeAll ends every login, as a user who signs the app out does: its
// refresh tokens are refused (not counted as reuses) and its access
// tokens expire. Only a new Issue logs in again.
func (l *Logins) RevokeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for rt, st := range l.refresh {
		if st == unspent {
			l.refresh[rt] = revoked
		}
	}
	past := time.Now().Add(-time.Second)
	for at := range l.access {
		l.access[at] = past
	}
}

// SetAccessTTL sets the lifetime of access tokens issued from now on.
func (l *Logins) SetAccessTTL(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accessTTL = d
}

// Issued is every token handed out so far.
func (l *Logins) Issued() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.issued...)
}
