package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSessions(t *testing.T) {
	g := NewGate([]User{{Name: "alice", Password: "pw"}}, zerolog.New(io.Discard), Options{FailuresPerMinute: 3, SignInPage: "/signin"})
	reached := 0
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		if FromContext(r.Context()).Name != "alice" {
			t.Error("no user in the context")
		}
	}))

	// A wrong password counts against the address, as Basic's do.
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		if _, refused := g.SignIn(rec, httptest.NewRequest("POST", "/signin", nil), "alice", "wrong"); refused == nil || refused.Status != 401 {
			t.Fatalf("wrong password: %+v", refused)
		}
	}
	if _, refused := g.SignIn(httptest.NewRecorder(), httptest.NewRequest("POST", "/signin", nil), "alice", "pw"); refused == nil || refused.Status != 429 {
		t.Fatalf("after the limit: %+v", refused)
	}
	g.failures = map[string][]time.Time{}

	rec := httptest.NewRecorder()
	if _, refused := g.SignIn(rec, httptest.NewRequest("POST", "/signin", nil), "alice", "pw"); refused != nil {
		t.Fatal(refused.Msg)
	}
	// Under TLS the cookie is Secure.
	tlsRec := httptest.NewRecorder()
	tlsReq := httptest.NewRequest("POST", "https://pandav.example/signin", nil)
	if _, refused := g.SignIn(tlsRec, tlsReq, "alice", "pw"); refused != nil || tlsReq.TLS == nil || !tlsRec.Result().Cookies()[0].Secure {
		t.Errorf("a sign-in over TLS: %+v %+v", refused, tlsRec.Result().Cookies())
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].MaxAge <= 0 || cookies[0].Secure {
		t.Fatalf("cookie: %+v", cookies)
	}
	req := func(method string, token string) int {
		r := httptest.NewRequest(method, "/x", strings.NewReader("x"))
		r.AddCookie(cookies[0])
		if token != "" {
			r.Header.Set(TokenHeader, token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	_, token, ok := g.Session(func() *http.Request { r := httptest.NewRequest("GET", "/", nil); r.AddCookie(cookies[0]); return r }())
	if !ok {
		t.Fatal("no session")
	}
	for _, c := range []struct {
		method, token string
		want          int
	}{
		{"GET", "", 200}, {"PROPFIND", "", 403}, {"PUT", "", 403}, {"DELETE", "nope", 403}, {"PUT", token, 200}, {"MOVE", token, 200},
	} {
		if got := req(c.method, c.token); got != c.want {
			t.Errorf("%s with token %q: %d, want %d", c.method, c.token, got, c.want)
		}
	}
	// Basic credentials need no token.
	r := httptest.NewRequest("PUT", "/x", nil)
	r.SetBasicAuth("alice", "pw")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("Basic PUT: %d", w.Code)
	}
	// A browser without credentials goes to the sign-in page; a WebDAV
	// client gets 401.
	r = httptest.NewRequest("GET", "/a%20b/", nil)
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 303 || w.Header().Get("Location") != "/signin?next=%2Fa%2520b%2F" {
		t.Errorf("browser without credentials: %d %q", w.Code, w.Header().Get("Location"))
	}
	r = httptest.NewRequest("GET", "/", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("client without credentials: %d", w.Code)
	}
	// Signed out, the cookie is nothing.
	r = httptest.NewRequest("POST", "/signout", nil)
	r.AddCookie(cookies[0])
	g.SignOut(httptest.NewRecorder(), r)
	if got := req("GET", ""); got != 401 {
		t.Errorf("after sign-out: %d", got)
	}
	if reached == 0 {
		t.Error("nothing reached the handler")
	}
}
