package webdav

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// User is one WebDAV login.
type User struct {
	Name     string
	Password string // bcrypt hash, or plain text
	ReadOnly bool
	Mounts   []string // mount paths the user may see; empty means all
}

// IsHashed says whether a configured password is a bcrypt hash.
func IsHashed(p string) bool {
	_, err := bcrypt.Cost([]byte(p))
	return err == nil
}

type userKey struct{}

func withUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

func userFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}

// canSee says whether the user may reach name: inside one of their
// mounts, or a folder on the way to one.
func (u *User) canSee(name string) bool {
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

// AuthOptions tune RequireAuth.
type AuthOptions struct {
	// FailuresPerMinute is how many failed logins one address may make in
	// a minute before it gets 429.
	FailuresPerMinute int
}

// RequireAuth demands HTTP Basic credentials for everything but OPTIONS,
// which Windows' WebDAV client sends before it will authenticate. A
// read-only user gets 403 on every write method, and a user sees only
// their mounts.
func RequireAuth(next http.Handler, users []User, log zerolog.Logger, o AuthOptions) http.Handler {
	if o.FailuresPerMinute <= 0 {
		o.FailuresPerMinute = 10
	}
	a := &auth{next: next, users: map[string]User{}, verified: map[[32]byte]time.Time{}, log: log, o: o, failures: map[string][]time.Time{}}
	for _, u := range users {
		a.users[u.Name] = u
	}
	return a
}

type auth struct {
	next  http.Handler
	users map[string]User
	log   zerolog.Logger
	o     AuthOptions

	mu sync.Mutex
	// verified remembers, briefly, credentials that passed bcrypt, so a
	// client's hundred PROPFINDs do not cost a hundred bcrypt runs. Keys
	// are hashes; no password is kept.
	verified map[[32]byte]time.Time
	failures map[string][]time.Time // by client address, the last minute
}

const verifiedFor = 5 * time.Minute

func (a *auth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions && r.Header.Get("Authorization") == "" {
		// Windows asks OPTIONS before it authenticates. The anonymous
		// answer is the same for every path, so it tells nobody what
		// exists, and costs no cloud call. An OPTIONS with credentials
		// takes the normal path below, failed-login limit included.
		w.Header().Set("DAV", "1, 2")
		w.Header().Set("MS-Author-Via", "DAV")
		w.Header().Set("Allow", "OPTIONS, GET, HEAD, POST, DELETE, PUT, MKCOL, COPY, MOVE, LOCK, UNLOCK, PROPFIND, PROPPATCH")
		w.WriteHeader(http.StatusOK)
		return
	}
	ip := clientIP(r)
	if wait := a.blocked(ip); wait > 0 {
		w.Header().Set("Retry-After", itoa(int(wait.Seconds())+1))
		http.Error(w, "too many failed logins; try again later", http.StatusTooManyRequests)
		return
	}
	name, pass, ok := r.BasicAuth()
	u, good := a.check(name, pass)
	if !ok || !good {
		if ok {
			a.fail(ip)
			a.log.Warn().Str("user", name).Str("remote", ip).Msg("login failed")
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="pandav", charset="UTF-8"`)
		http.Error(w, "authorization required", http.StatusUnauthorized)
		return
	}
	if u.ReadOnly && IsWrite(r.Method) {
		http.Error(w, "this user may not change anything", http.StatusForbidden)
		return
	}
	a.next.ServeHTTP(w, r.WithContext(withUser(r.Context(), &u)))
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *auth) blocked(ip string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	recent := pruneMinute(a.failures[ip])
	a.failures[ip] = recent
	if len(recent) < a.o.FailuresPerMinute {
		return 0
	}
	return time.Until(recent[0].Add(time.Minute))
}

func (a *auth) fail(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failures[ip] = append(pruneMinute(a.failures[ip]), time.Now())
	if len(a.failures) > 10000 { // a flood of addresses must not grow this forever
		for k, v := range a.failures {
			if len(pruneMinute(v)) == 0 {
				delete(a.failures, k)
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

func (a *auth) check(name, pass string) (User, bool) {
	u, known := a.users[name]
	key := sha256.Sum256([]byte(name + "\x00" + pass + "\x00" + u.Password))
	a.mu.Lock()
	until, cached := a.verified[key]
	a.mu.Unlock()
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
		a.mu.Lock()
		a.verified[key] = time.Now().Add(verifiedFor)
		a.mu.Unlock()
	}
	return u, good
}

var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("pandav-dummy"), bcrypt.DefaultCost)
	return h
})
