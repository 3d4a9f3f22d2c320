// Package auth is pandav's HTTP Basic login: the configured users, the
// middleware that demands credentials, the per-address limit on failed
// logins, and the mounts each user may see. It knows nothing of WebDAV
// beyond what its Options are told.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// User is one login.
type User struct {
	Name     string
	Password string // bcrypt hash, or plain text
	ReadOnly bool
	Mounts   []string // mount paths the user may see; empty means all
	// Admin may use pandav's admin API: see the mounts' logins, log
	// accounts in, run checks.
	Admin bool
}

// IsHashed says whether a configured password is a bcrypt hash.
func IsHashed(p string) bool {
	_, err := bcrypt.Cost([]byte(p))
	return err == nil
}

type userKey struct{}

// FromContext returns the user RequireAuth let in, or nil when the
// request came in without a login (no users are configured).
func FromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}

// MaySee says whether the user may reach the cleaned path name: inside
// one of their mounts, or a folder on the way to one. A nil user (no
// login) sees everything.
func (u *User) MaySee(name string) bool {
	if u == nil || len(u.Mounts) == 0 {
		return true
	}
	for _, m := range u.Mounts {
		m = path.Clean("/" + m)
		if name == m || strings.HasPrefix(name, m+"/") || name == "/" || strings.HasPrefix(m, name+"/") {
			return true
		}
	}
	return false
}

// Options tune RequireAuth.
type Options struct {
	// FailuresPerMinute is how many failed logins one address may make in
	// a minute before it gets 429. 0 means 10.
	FailuresPerMinute int
	// IsWrite says whether a method changes anything; a read-only user
	// gets 403 for those. nil counts every method but GET, HEAD, OPTIONS
	// and PROPFIND as a write.
	IsWrite func(method string) bool
	// AnonymousOptions answers an OPTIONS request that carries no
	// credentials, which Windows' WebDAV client sends before it will
	// authenticate. It must answer alike for every path, so that it tells
	// nobody what exists. nil: such a request gets 401 like any other.
	AnonymousOptions http.Handler
	// SignInPage is where a browser that asks for a page without
	// credentials is sent (with ?next=), rather than answered 401, which
	// would show the browser's own login box. "" answers 401.
	SignInPage string
}

// RequireAuth demands HTTP Basic credentials from every request, but an
// OPTIONS without any when o.AnonymousOptions is set. A read-only user
// gets 403 on every write method. The user let in is in the request's
// context (FromContext).
func RequireAuth(next http.Handler, users []User, log zerolog.Logger, o Options) http.Handler {
	return NewGate(users, log, o).Wrap(next)
}

// Gate checks credentials against the users and counts failed logins
// per address. One Gate in front of several handlers makes them share
// that count.
type Gate struct {
	users map[string]User
	log   zerolog.Logger
	o     Options

	mu sync.Mutex
	// verified remembers, briefly, credentials that passed bcrypt, so a
	// client's hundred PROPFINDs do not cost a hundred bcrypt runs. Keys
	// are hashes; no password is kept.
	verified map[[32]byte]time.Time
	failures map[string][]time.Time // by client address, the last minute
	sessions map[string]*session    // by the hash of the cookie
}

// NewGate makes a Gate for users.
func NewGate(users []User, log zerolog.Logger, o Options) *Gate {
	if o.FailuresPerMinute <= 0 {
		o.FailuresPerMinute = 10
	}
	if o.IsWrite == nil {
		o.IsWrite = changesAnything
	}
	g := &Gate{users: map[string]User{}, verified: map[[32]byte]time.Time{}, log: log, o: o, failures: map[string][]time.Time{}, sessions: map[string]*session{}}
	for _, u := range users {
		g.users[u.Name] = u
	}
	return g
}

func changesAnything(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "PROPFIND":
		return false
	}
	return true
}

// Refusal is why Authenticate let a request not in, as an HTTP answer.
type Refusal struct {
	Status int // 401 or 429
	// RetryAfter is set with 429: when the address may try again.
	RetryAfter time.Duration
	Msg        string
}

// Header sets the headers the refusal's status goes with.
func (f *Refusal) Header(h http.Header) {
	switch f.Status {
	case http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Seconds())+1))
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Basic realm="pandav", charset="UTF-8"`)
	}
}

// Authenticate checks r's session cookie (a change it authorises must
// carry the session's CSRF token) or else its Basic credentials, counting
// a wrong password against r's address. It returns the user, or why r is
// refused.
func (g *Gate) Authenticate(r *http.Request) (*User, *Refusal) {
	if u, refused, ok := g.bySession(r); ok {
		return u, refused
	}
	ip := RemoteHost(r)
	if wait := g.blocked(ip); wait > 0 {
		return nil, &Refusal{Status: http.StatusTooManyRequests, RetryAfter: wait, Msg: "too many failed logins; try again later"}
	}
	name, pass, ok := r.BasicAuth()
	u, good := g.check(name, pass)
	if !ok || !good {
		if ok {
			g.fail(ip)
			g.log.Warn().Str("user", name).Str("remote", ip).Msg("login failed")
		}
		return nil, &Refusal{Status: http.StatusUnauthorized, Msg: "authorization required"}
	}
	return &u, nil
}

// Wrap demands credentials in front of next, as RequireAuth describes.
func (g *Gate) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.Header.Get("Authorization") == "" && g.o.AnonymousOptions != nil {
			// An OPTIONS with credentials takes the normal path below,
			// failed-login limit included.
			g.o.AnonymousOptions.ServeHTTP(w, r)
			return
		}
		u, refused := g.Authenticate(r)
		if refused != nil && refused.Status == http.StatusUnauthorized && g.signInRedirect(w, r) {
			return
		}
		if refused != nil {
			refused.Header(w.Header())
			http.Error(w, refused.Msg, refused.Status)
			return
		}
		if u.ReadOnly && g.o.IsWrite(r.Method) {
			http.Error(w, "this user may not change anything", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
	})
}

// WithUser is ctx carrying u, as FromContext reads it.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

const verifiedFor = 5 * time.Minute

// RemoteHost is the address a request came from, without its port: what
// failed logins are counted by.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (g *Gate) blocked(ip string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	recent := pruneMinute(g.failures[ip])
	g.failures[ip] = recent
	if len(recent) < g.o.FailuresPerMinute {
		return 0
	}
	return time.Until(recent[0].Add(time.Minute))
}

func (g *Gate) fail(ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures[ip] = append(pruneMinute(g.failures[ip]), time.Now())
	if len(g.failures) > 10000 { // a flood of addresses must not grow this forever
		for k, v := range g.failures {
			if len(pruneMinute(v)) == 0 {
				delete(g.failures, k)
			}
		}
	}
}

func pruneMinute(ts []time.Time) []time.Time {
	cut := time.Now().Add(-time.Minute)
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	return ts[i:]
}

func (g *Gate) check(name, pass string) (User, bool) {
	u, known := g.users[name]
	key := sha256.Sum256([]byte(name + "\x00" + pass + "\x00" + u.Password))
	g.mu.Lock()
	until, cached := g.verified[key]
	g.mu.Unlock()
	if cached && time.Now().Before(until) {
		return u, true
	}
	var good bool
	switch {
	case !known:
		// Spend the same time as a real check, so names cannot be probed.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(pass))
	case IsHashed(u.Password):
		good = bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(pass)) == nil
	default:
		want := sha256.Sum256([]byte(u.Password))
		got := sha256.Sum256([]byte(pass))
		good = subtle.ConstantTimeCompare(want[:], got[:]) == 1
	}
	if good {
		g.mu.Lock()
		g.verified[key] = time.Now().Add(verifiedFor)
		g.mu.Unlock()
	}
	return u, good
}

var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("pandav-dummy"), bcrypt.DefaultCost)
	return h
})
