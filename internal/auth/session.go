package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A browser signs in once by a form and then carries a session cookie,
// beside the Basic credentials WebDAV clients send with every request.

const (
	// SessionCookie names the cookie a signed-in browser carries.
	SessionCookie = "pandav_session"
	// TokenHeader carries the session's CSRF token. Every request a
	// session cookie authorises, but GET, HEAD and OPTIONS, must send it:
	// a page elsewhere can make the browser send the cookie, never the
	// token, which only pandav's own pages hold.
	TokenHeader = "X-Pandav-Token"
	// SessionTTL is how long a session lasts from its sign-in.
	SessionTTL = 12 * time.Hour
	// maxSessions bounds the table: a flood of sign-ins forgets the
	// oldest rather than growing it.
	maxSessions = 10000
)

type session struct {
	user    string
	token   string // the CSRF token
	expires time.Time
}

// SignIn checks name and password as Authenticate checks Basic
// credentials, counting a failure against r's address under the same
// limit, and on success starts a session and sets its cookie on w.
func (g *Gate) SignIn(w http.ResponseWriter, r *http.Request, name, pass string) (*User, *Refusal) {
	ip := RemoteHost(r)
	if wait := g.blocked(ip); wait > 0 {
		return nil, &Refusal{Status: http.StatusTooManyRequests, RetryAfter: wait, Msg: "too many failed logins; try again later"}
	}
	u, good := g.check(name, pass)
	if !good {
		g.fail(ip)
		g.log.Warn().Str("user", name).Str("remote", ip).Msg("sign-in failed")
		return nil, &Refusal{Status: http.StatusUnauthorized, Msg: "wrong user name or password"}
	}
	id, token := randomKey(), randomKey()
	expires := time.Now().Add(SessionTTL)
	g.mu.Lock()
	if len(g.sessions) >= maxSessions {
		g.pruneSessionsLocked(true)
	}
	g.sessions[sessionKey(id)] = &session{user: u.Name, token: token, expires: expires}
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", Expires: expires, MaxAge: int(SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	g.log.Info().Str("user", u.Name).Str("remote", ip).Msg("signed in")
	return &u, nil
}

// SignOut ends r's session, if any, and clears its cookie.
func (g *Gate) SignOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		g.mu.Lock()
		delete(g.sessions, sessionKey(c.Value))
		g.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// Session is the user and CSRF token of r's session cookie; ok is false
// when r carries none that is valid.
func (g *Gate) Session(r *http.Request) (u *User, token string, ok bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, "", false
	}
	key := sessionKey(c.Value)
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sessions[key]
	if s == nil {
		return nil, "", false
	}
	user, known := g.users[s.user]
	if !known || time.Now().After(s.expires) {
		delete(g.sessions, key)
		return nil, "", false
	}
	return &user, s.token, true
}

// TokenOK says whether the token sent with r (in TokenHeader, or for a
// form, its "token" field) is the session's.
func TokenOK(r *http.Request, want string) bool {
	got := r.Header.Get(TokenHeader)
	if got == "" && r.Method == http.MethodPost {
		got = r.PostFormValue("token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// needsToken says whether a method can change anything, so that a
// cookie-authorised request of it must carry the CSRF token.
func needsToken(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// bySession authenticates r by its session cookie: handled is false when
// r carries no valid session, and Basic credentials decide.
func (g *Gate) bySession(r *http.Request) (u *User, refused *Refusal, handled bool) {
	u, token, ok := g.Session(r)
	if !ok {
		return nil, nil, false
	}
	if needsToken(r.Method) && !TokenOK(r, token) {
		g.log.Warn().Str("user", u.Name).Str("method", r.Method).Str("remote", RemoteHost(r)).Msg("a change sent with a session cookie but without its CSRF token was refused")
		return nil, &Refusal{Status: http.StatusForbidden, Msg: "this change was sent with a session cookie but without the page's CSRF token; reload the page"}, true
	}
	return u, nil, true
}

func (g *Gate) pruneSessionsLocked(full bool) {
	now := time.Now()
	var oldest string
	var oldestAt time.Time
	for k, s := range g.sessions {
		if now.After(s.expires) {
			delete(g.sessions, k)
			continue
		}
		if oldest == "" || s.expires.Before(oldestAt) {
			oldest, oldestAt = k, s.expires
		}
	}
	if full && len(g.sessions) >= maxSessions {
		delete(g.sessions, oldest)
	}
}

// WantsPage says whether r is a browser's visit: a GET whose Accept
// names text/html. WebDAV clients and scripts do not ask for it.
func WantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}

// signInRedirect sends a browser without credentials to the sign-in
// page, which brings it back to where it was going.
func (g *Gate) signInRedirect(w http.ResponseWriter, r *http.Request) bool {
	if g.o.SignInPage == "" || !WantsPage(r) || r.Header.Get("Authorization") != "" {
		return false
	}
	http.Redirect(w, r, g.o.SignInPage+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	return true
}

func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionKey is what the table keeps of a cookie: its hash, so that the
// table holds no usable secret.
func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return string(h[:])
}
