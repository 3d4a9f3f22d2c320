package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"pandav/internal/admin/admintest"
)

// request makes a request of url, as user when one is given (a PROPFIND
// asks for depth 1), and returns the answer with its body read.
func request(t *testing.T, method, url, user, pass string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if method == "PROPFIND" {
		req.Header.Set("Depth", "1")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// get is request's status and body.
func get(t *testing.T, method, url, user, pass string) (int, string) {
	t.Helper()
	resp, body := request(t, method, url, user, pass)
	return resp.StatusCode, body
}

// TestReadyz: /readyz is 200 only while every mount's login works. A
// mount with no login, and one whose login the cloud refused at its last
// call, make it 503, naming the mount and what to do but nothing the
// cloud said; a login mends it. It answers without a password and
// without a cloud call.
func TestReadyz(t *testing.T) {
	a, b := admintest.NewAccount("alpha"), admintest.NewAccount("beta")
	defer a.Close()
	defer b.Close()
	token := a.Issue()
	app, srv := serveConfig(t, fmt.Sprintf(`listen: 127.0.0.1:0
users: [{name: u, password: pw}]
mounts:
  - {path: /a, driver: admintest, options: {account: %q, refresh_token: %q}}
  - {path: /b, driver: admintest, options: {account: %q}}
`, a.Key(), token, b.Key()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	code, body := get(t, "GET", srv.URL+"/readyz", "", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "/b: no login yet; run `pandav login /b`") || strings.Contains(body, "/a") {
		t.Errorf("/readyz with /b not logged in: %d %q; want 503 naming /b only", code, body)
	}
	if _, err := admintest.DriveLogin(ctx, app.Admin, "/b", b.Confirm); err != nil {
		t.Fatal(err)
	}
	for _, p := range ReadyPaths {
		if code, body := get(t, "GET", srv.URL+p, "", ""); code != http.StatusOK || body != "ready\n" {
			t.Errorf("GET %s once every mount is logged in: %d %q; want 200 ready", p, code, body)
		}
	}
	if n := a.Refreshes(); n != 0 {
		t.Errorf("/readyz traded %d refresh tokens; it must make no cloud call", n)
	}

	a.Revoke("the user removed the app's access")
	if code, _ := get(t, "PROPFIND", srv.URL+"/a/", "u", "pw"); code < 400 {
		t.Fatalf("PROPFIND of a mount whose login is revoked: %d", code)
	}
	code, body = get(t, "GET", srv.URL+"/readyz", "", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "/a: the cloud refused the login; run `pandav login /a`") {
		t.Errorf("/readyz after the cloud refused /a's login: %d %q; want 503 naming /a", code, body)
	}
	if strings.Contains(body, "removed the app") || strings.Contains(body, token) {
		t.Errorf("/readyz repeats what the cloud said, or a token: %q", body)
	}
	if code, body := get(t, "HEAD", srv.URL+"/readyz", "", ""); code != http.StatusServiceUnavailable || body != "" {
		t.Errorf("HEAD /readyz: %d %q; want 503 with no body", code, body)
	}
	if _, err := admintest.DriveLogin(ctx, app.Admin, "/a", a.Confirm); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, "GET", srv.URL+"/readyz", "", ""); code != http.StatusOK {
		t.Errorf("/readyz after /a logged in again: %d %q; want 200", code, body)
	}
}

// TestMetricsAccess: /metrics is for admins, or for this machine's
// clients when there are no users, or for anyone with metrics: {public:
// true}; other methods on the path are WebDAV's.
func TestMetricsAccess(t *testing.T) {
	users := "users: [{name: root, password: root-pw, admin: true}, {name: user, password: user-pw}]\n"
	for _, c := range []struct {
		name, config, user, pass string
		want                     int
	}{
		{"admin", users, "root", "root-pw", 200},
		{"not an admin", users, "user", "user-pw", 403},
		{"no password", users, "", "", 401},
		{"wrong password", users, "root", "nope", 401},
		{"public", users + "metrics: {public: true}\n", "", "", 200},
		{"no users, this machine", "", "", "", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, srv := serveConfig(t, "listen: 127.0.0.1:0\n"+c.config+"mounts: []\n")
			for _, p := range MetricsPaths {
				code, body := get(t, "GET", srv.URL+p, c.user, c.pass)
				if code != c.want {
					t.Errorf("GET %s: %d, want %d\n%s", p, code, c.want, body)
				}
				if code == 200 && !strings.Contains(body, "# TYPE pandav_streams_active gauge") {
					t.Errorf("GET %s serves no stream gauge:\n%.500s", p, body)
				}
			}
		})
	}
}
