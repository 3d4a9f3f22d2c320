package webdav

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
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
	Mounts   []string
}

// IsHashed says whether a configured password is a bcrypt hash.
func IsHashed(p string) bool {
	_, err := bcrypt.Cost([]byte(p))
	return err == nil
}

// RequireAuth demands HTTP Basic credentials for everything but OPTIONS,
// which Windows' WebDAV client sends before it will authenticate.
func RequireAuth(next http.Handler, users []User, log zerolog.Logger) http.Handler {
	a := &auth{next: next, users: map[string]User{}, verified: map[[32]byte]time.Time{}, log: log}
	for _, u := range users {
		a.users[u.Name] = u
	}
	return a
}

type auth struct {
	next  http.Handler
	users map[string]User
	log   zerolog.Logger

	mu sync.Mutex
	// verified remembers, briefly, credentials that passed bcrypt, so a
	// client's hundred PROPFINDs do not cost a hundred bcrypt runs. Keys
	// are hashes; no password is kept.
	verified map[[32]byte]time.Time
}

const verifiedFor = 5 * time.Minute

func (a *auth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		a.next.ServeHTTP(w, r)
		return
	}
	name, pass, ok := r.BasicAuth()
	if !ok || !a.check(name, pass) {
		if ok {
			a.log.Warn().Str("user", name).Str("remote", r.RemoteAddr).Msg("login failed")
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="pandav", charset="UTF-8"`)
		http.Error(w, "authorization required", http.StatusUnauthorized)
		return
	}
	a.next.ServeHTTP(w, r)
}

func (a *auth) check(name, pass string) bool {
	u, known := a.users[name]
	key := sha256.Sum256([]byte(name + "\x00" + pass + "\x00" + u.Password))
	a.mu.Lock()
	until, cached := a.verified[key]
	a.mu.Unlock()
	if cached && time.Now().Before(until) {
		return true
	}
	var good bool
	switch {
	case !known:
		// Spend the same time as a real check, so names cannot be probed.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(pass))
	case IsHashed(u.Password):
		good = bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(pass)) == nil
	default:
		good = subtle.ConstantTimeCompare([]byte(strings.Clone(u.Password)), []byte(pass)) == 1
	}
	if good {
		a.mu.Lock()
		a.verified[key] = time.Now().Add(verifiedFor)
		a.mu.Unlock()
	}
	return good
}

var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("pandav-dummy"), bcrypt.DefaultCost)
	return h
})
