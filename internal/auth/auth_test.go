package auth

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// rig serves RequireAuth in front of a handler that records who came in.
type rig struct {
	srv     *httptest.Server
	reached atomic.Int64
	seen    atomic.Pointer[User]
	log     *bytes.Buffer
}

func newRig(t *testing.T, users []User, o Options) *rig {
	t.Helper()
	r := &rig{log: &bytes.Buffer{}}
	next := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.reached.Add(1)
		r.seen.Store(FromContext(req.Context()))
		w.WriteHeader(http.StatusMultiStatus)
	})
	r.srv = httptest.NewServer(RequireAuth(next, users, zerolog.New(r.log), o))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rig) do(t *testing.T, method, user, pass string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+"/", nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// anonymousOptions is the fixed answer a WebDAV server gives Windows
// before it authenticates.
var anonymousOptions = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("DAV", "1, 2")
	w.WriteHeader(http.StatusOK)
})

func TestRequireAuth(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	users := []User{
		{Name: "alice", Password: string(hash)},
		{Name: "bob", Password: "plain", ReadOnly: true, Mounts: []string{"/b"}},
	}
	r := newRig(t, users, Options{FailuresPerMinute: 10, AnonymousOptions: anonymousOptions})
	if resp := r.do(t, "OPTIONS", "", ""); resp.StatusCode != 200 || resp.Header.Get("DAV") != "1, 2" {
		t.Fatalf("OPTIONS without auth: %d", resp.StatusCode)
	}
	if r.reached.Load() != 0 {
		t.Fatal("an anonymous OPTIONS reached the handler")
	}
	if resp := r.do(t, "PROPFIND", "", ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	if resp := r.do(t, "PROPFIND", "alice", "s3cret"); resp.StatusCode != 207 || r.seen.Load().Name != "alice" {
		t.Fatalf("alice: %d, handler saw %v", resp.StatusCode, r.seen.Load())
	}
	if resp := r.do(t, "PROPFIND", "bob", "plain"); resp.StatusCode != 207 || r.seen.Load().Name != "bob" {
		t.Fatalf("bob with a plain-text password: %d", resp.StatusCode)
	}
	reached := r.reached.Load()
	if resp := r.do(t, "MKCOL", "bob", "plain"); resp.StatusCode != 403 || r.reached.Load() != reached {
		t.Fatalf("read-only bob wrote: %d", resp.StatusCode)
	}
	// OPTIONS with credentials is a login like any other: a wrong
	// password is refused and counts toward the limit.
	for i := 0; i < 10; i++ {
		method := "PROPFIND"
		if i%2 == 1 {
			method = "OPTIONS"
		}
		if resp := r.do(t, method, "alice", "wrong"); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d (%s): %d", i, method, resp.StatusCode)
		}
	}
	if resp := r.do(t, "OPTIONS", "alice", "s3cret"); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d", resp.StatusCode)
	}
	if bytes.Contains(r.log.Bytes(), []byte("wrong")) || !bytes.Contains(r.log.Bytes(), []byte("login failed")) {
		t.Fatalf("the log must say a login failed, never with the password: %s", r.log)
	}
}

func TestAnonymousOptionsNeedsAnAnswer(t *testing.T) {
	r := newRig(t, []User{{Name: "u", Password: "p"}}, Options{})
	if resp := r.do(t, "OPTIONS", "", ""); resp.StatusCode != 401 {
		t.Fatalf("OPTIONS without credentials and without an anonymous answer: %d", resp.StatusCode)
	}
}

func TestIsWriteDecidesForReadOnlyUsers(t *testing.T) {
	users := []User{{Name: "ro", Password: "p", ReadOnly: true}}
	def := newRig(t, users, Options{})
	for method, want := range map[string]int{"GET": 207, "HEAD": 207, "PROPFIND": 207, "PUT": 403, "LOCK": 403, "POST": 403} {
		if resp := def.do(t, method, "ro", "p"); resp.StatusCode != want {
			t.Errorf("default IsWrite, %s: %d, want %d", method, resp.StatusCode, want)
		}
	}
	own := newRig(t, users, Options{IsWrite: func(m string) bool { return m == "PUT" }})
	if resp := own.do(t, "POST", "ro", "p"); resp.StatusCode != 207 {
		t.Errorf("POST, which this IsWrite allows: %d", resp.StatusCode)
	}
	if resp := own.do(t, "PUT", "ro", "p"); resp.StatusCode != 403 {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
}

// A bcrypt check runs once per credentials, not once per request.
func TestVerifiedCredentialsAreRemembered(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	r := newRig(t, []User{{Name: "a", Password: string(hash)}}, Options{})
	r.do(t, "GET", "a", "pw")
	start := time.Now()
	for i := 0; i < 20; i++ {
		if resp := r.do(t, "GET", "a", "pw"); resp.StatusCode != 207 {
			t.Fatalf("GET %d: %d", i, resp.StatusCode)
		}
	}
	// One bcrypt run at the default cost takes tens of milliseconds.
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20 requests took %v: bcrypt ran for each", d)
	}
	if resp := r.do(t, "GET", "a", "other"); resp.StatusCode != 401 {
		t.Fatalf("a wrong password after a good one: %d", resp.StatusCode)
	}
}

func TestMaySee(t *testing.T) {
	var anonymous *User
	if !anonymous.MaySee("/a/b") {
		t.Fatal("without a login everything is visible")
	}
	u := &User{Name: "bob", Mounts: []string{"/share/b", "c/"}}
	for name, want := range map[string]bool{
		"/":            true, // on the way to every mount
		"/share":       true,
		"/share/b":     true,
		"/share/b/x/y": true,
		"/share/bb":    false,
		"/share/a":     false,
		"/c":           true,
		"/c/d":         true,
		"/a":           false,
	} {
		if got := u.MaySee(name); got != want {
			t.Errorf("MaySee(%q) = %v", name, got)
		}
	}
}

func TestIsHashed(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if !IsHashed(string(hash)) || IsHashed("plain") || IsHashed("") {
		t.Fatal("IsHashed")
	}
}

func TestFailuresAreCountedPerAddress(t *testing.T) {
	g := RequireAuth(http.NotFoundHandler(), []User{{Name: "u", Password: "p"}}, zerolog.Nop(), Options{FailuresPerMinute: 2})
	try := func(addr, pass string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = addr
		req.SetBasicAuth("u", pass)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		return w.Code
	}
	try("10.0.0.1:1000", "bad")
	try("10.0.0.1:1001", "bad") // another port, the same address
	if code := try("10.0.0.1:1002", "p"); code != http.StatusTooManyRequests {
		t.Fatalf("third try from a blocked address: %d", code)
	}
	if code := try("10.0.0.2:1000", "p"); code != http.StatusNotFound {
		t.Fatalf("another address: %d", code)
	}
}
