package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/config"
	"pandav/internal/admin/admintest"
)

// newApp assembles pandav from the config text, with a state_dir of the
// test's.
func newApp(t *testing.T, text string) *App {
	t.Helper()
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	a, err := New(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serveConfig is newApp, served until the test ends.
func serveConfig(t *testing.T, text string) (*App, *httptest.Server) {
	t.Helper()
	a := newApp(t, text)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return a, srv
}

// TestAdminAPIBesideWebDAV: the admin API answers under its prefix, to
// admins only, and WebDAV answers everything else; failed logins count
// against an address whichever of the two it tries.
func TestAdminAPIBesideWebDAV(t *testing.T) {
	acct := admintest.NewAccount("acme")
	defer acct.Close()
	_, srv := serveConfig(t, fmt.Sprintf(`listen: 127.0.0.1:0
users:
  - {name: root, password: root-pw, admin: true}
  - {name: user, password: user-pw}
mounts:
  - {path: /a, driver: admintest, options: {account: %q, refresh_token: %q}}
`, acct.Key(), acct.Issue()))
	do := func(method, path, user, pass string) int {
		t.Helper()
		resp, _ := request(t, method, srv.URL+path, user, pass)
		if strings.HasPrefix(path, "/.pandav/api/") && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", method, path, resp.Header.Get("Cache-Control"))
		}
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, user, pass string
		want                     int
	}{
		{"GET", "/.pandav/api/v1/mounts", "root", "root-pw", 200},
		{"GET", "/.pandav/api/v1/mounts", "user", "user-pw", 403},
		{"GET", "/.pandav/api/v1/mounts", "", "", 401},
		{"PROPFIND", "/a/", "user", "user-pw", 207},
		{"GET", "/.pandav/api/v1/", "root", "root-pw", 404},
		{"PROPFIND", "/.pandav/api/v1/mounts", "root", "root-pw", 403}, // not a GET: needs the CSRF header
	} {
		if got := do(c.method, c.path, c.user, c.pass); got != c.want {
			t.Errorf("%s %s as %q: %d, want %d", c.method, c.path, c.user, got, c.want)
		}
	}
	for range 10 {
		do("PROPFIND", "/a/", "user", "wrong")
	}
	if got := do("GET", "/.pandav/api/v1/mounts", "root", "root-pw"); got != http.StatusTooManyRequests {
		t.Errorf("the admin API after 10 failed WebDAV logins from the address: %d, want 429", got)
	}
}

// TestLoginPurgesMountCache: once a login of a mount finishes, WebDAV
// lists the mount afresh, as the login may be another account's; the
// other mounts keep their cache.
func TestLoginPurgesMountCache(t *testing.T) {
	a, b := admintest.NewAccount("alpha"), admintest.NewAccount("beta")
	defer a.Close()
	defer b.Close()
	app, srv := serveConfig(t, fmt.Sprintf(`listen: 127.0.0.1:0
mounts:
  - {path: /a, driver: admintest, options: {account: %q, refresh_token: %q}}
  - {path: /b, driver: admintest, options: {account: %q, refresh_token: %q}}
`, a.Key(), a.Issue(), b.Key(), b.Issue()))
	list := func(mount string) {
		t.Helper()
		req, _ := http.NewRequest("PROPFIND", srv.URL+mount+"/", nil)
		req.Header.Set("Depth", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMultiStatus {
			t.Fatalf("PROPFIND %s/: %s", mount, resp.Status)
		}
	}
	for range 2 {
		list("/a")
		list("/b")
	}
	if a.Lists() != 1 || b.Lists() != 1 {
		t.Fatalf("two listings of each mount listed /a %d and /b %d times; want once each, then the cache", a.Lists(), b.Lists())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := admintest.DriveLogin(ctx, app.Admin, "/a", a.Confirm); err != nil {
		t.Fatal(err)
	}
	list("/a")
	list("/b")
	if a.Lists() != 2 {
		t.Errorf("after the login, /a was listed %d times in all; want a new listing, past the cache", a.Lists())
	}
	if b.Lists() != 1 {
		t.Errorf("a login of /a made /b list again")
	}
}
