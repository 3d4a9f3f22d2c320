package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/admin"
	"pandav/internal/admin/admintest"
	"pandav/internal/auth"
)

// mountOf is one admintest mount of a rig.
type mountOf struct {
	path    string
	acct    *admintest.Account
	refresh string
	share   bool
}

// rig is a Service over admintest mounts, served by a Handler on
// loopback.
type rig struct {
	svc    *admin.Service
	srv    *httptest.Server
	log    *admintest.Buffer
	state  string
	drives map[string]drivers.Drive
}

var users = []auth.User{
	{Name: "alice", Password: "alice-pw", Admin: true},
	{Name: "carol", Password: "carol-pw", Admin: true},
	{Name: "bob", Password: "bob-pw"},
}

// newRig serves mounts; withUsers puts the users above in front.
func newRig(t *testing.T, withUsers bool, mounts ...mountOf) *rig {
	t.Helper()
	r := &rig{log: &admintest.Buffer{}, state: t.TempDir(), drives: map[string]drivers.Drive{}}
	log := zerolog.New(r.log)
	var ms []admin.Mount
	for _, m := range mounts {
		d, err := admintest.Open(context.Background(), drivers.Env{MountPath: m.path, StateDir: r.state}, admintest.Options{Account: m.acct.Key(), RefreshToken: m.refresh, Share: m.share})
		if err != nil {
			t.Fatal(err)
		}
		r.drives[m.path] = d
		ms = append(ms, admin.Mount{Path: m.path, Driver: admintest.Driver, Drive: d})
	}
	r.svc = admin.NewService(ms, log)
	var gate admin.Authenticator
	if withUsers {
		gate = auth.NewGate(users, log, auth.Options{})
	}
	r.srv = httptest.NewServer(admin.NewHandler(r.svc, gate, log))
	t.Cleanup(func() {
		r.srv.Close()
		r.svc.Close()
	})
	return r
}

func newAccount(t *testing.T, name string) *admintest.Account {
	a := admintest.NewAccount(name)
	a.LoginTTL = time.Minute
	t.Cleanup(a.Close)
	return a
}

func (r *rig) client(user string) *admin.Client {
	c := &admin.Client{BaseURL: r.srv.URL}
	for _, u := range users {
		if u.Name == user {
			c.User, c.Password = u.Name, u.Password
		}
	}
	return c
}

// call sends one raw request and returns the status, headers and body.
func (r *rig) call(t *testing.T, method, path, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "user" {
			for _, u := range users {
				if u.Name == v {
					req.SetBasicAuth(u.Name, u.Password)
				}
			}
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestAccess: admins get in, other users get 403, no credentials 401;
// every answer, refusals and unknown routes included, is JSON and
// no-store.
func TestAccess(t *testing.T) {
	acct := newAccount(t, "acme")
	r := newRig(t, true, mountOf{path: "/a", acct: acct, refresh: acct.Issue()})
	for _, c := range []struct {
		method, path, user string
		want               int
	}{
		{"GET", "/.pandav/api/v1/mounts", "alice", 200},
		{"GET", "/.pandav/api/v1/mounts", "bob", 403},
		{"GET", "/.pandav/api/v1/mounts", "", 401},
		{"GET", "/.pandav/api/v1/check", "bob", 403},
		{"POST", "/.pandav/api/v1/logins", "bob", 403},
		{"GET", "/.pandav/api/v1/nothing", "alice", 404},
		{"GET", "/.pandav/api/v2/mounts", "alice", 404},
		{"PUT", "/.pandav/api/v1/mounts", "alice", 403}, // a change without the CSRF header
		{"GET", "/.pandav/api/v1/logins/0123", "alice", 404},
	} {
		code, h, body := r.call(t, c.method, c.path, "", map[string]string{"user": c.user})
		if code != c.want {
			t.Errorf("%s %s as %q: %d %s, want %d", c.method, c.path, c.user, code, body, c.want)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s as %q: Cache-Control %q, want no-store", c.method, c.path, c.user, h.Get("Cache-Control"))
		}
		var e struct{ Error string }
		if code >= 400 && (json.Unmarshal([]byte(body), &e) != nil || e.Error == "") {
			t.Errorf("%s %s as %q: %d with body %q, want {\"error\": sentence}", c.method, c.path, c.user, code, body)
		}
		if code == 401 && h.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	code, h, _ := r.call(t, "PUT", "/.pandav/api/v1/mounts", "", map[string]string{"user": "alice", admin.CSRFHeader: "1"})
	if code != 405 || h.Get("Allow") != "GET" {
		t.Errorf("PUT mounts: %d, Allow %q; want 405, Allow GET", code, h.Get("Allow"))
	}
	_, _, body := r.call(t, "GET", "/.pandav/api/v1/mounts", "", map[string]string{"user": "bob"})
	if !strings.Contains(body, "admin: true") {
		t.Errorf("a non-admin's refusal %s does not say how to become one", body)
	}
}

// TestNoUsersLoopbackOnly: without users, only this machine's clients
// get in: not another address, not through a proxy, not under a Host
// name a rebinding page would send.
func TestNoUsersLoopbackOnly(t *testing.T) {
	acct := newAccount(t, "acme")
	r := newRig(t, false, mountOf{path: "/a", acct: acct, refresh: acct.Issue()})
	h := admin.NewHandler(r.svc, nil, zerolog.Nop())
	for _, c := range []struct {
		name, remote, host string
		header             map[string]string
		want               int
	}{
		{"loopback", "127.0.0.1:5000", "127.0.0.1:8080", nil, 200},
		{"localhost", "[::1]:5000", "localhost:8080", nil, 200},
		{"another machine", "192.0.2.7:5000", "127.0.0.1:8080", nil, 403},
		{"through a proxy", "127.0.0.1:5000", "127.0.0.1:8080", map[string]string{"X-Forwarded-For": "192.0.2.7"}, 403},
		{"rebound name", "127.0.0.1:5000", "evil.example:8080", nil, 403},
	} {
		req := httptest.NewRequest("GET", "/.pandav/api/v1/mounts", nil)
		req.RemoteAddr, req.Host = c.remote, c.host
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: no Cache-Control: no-store", c.name)
		}
	}
}

// TestChangesNeedCSRFHeader: a request that changes anything needs the
// custom header and a JSON body; a plain form post never gets through.
func TestChangesNeedCSRFHeader(t *testing.T) {
	acct := newAccount(t, "acme")
	r := newRig(t, true, mountOf{path: "/a", acct: acct, refresh: acct.Issue()})
	for _, c := range []struct {
		name, method, path, body string
		header                   map[string]string
		want                     int
	}{
		{"form post", "POST", "/.pandav/api/v1/logins", "mount=/a", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"JSON without the header", "POST", "/.pandav/api/v1/logins", `{"mount":"/a"}`, map[string]string{"Content-Type": "application/json"}, 403},
		{"form with the header", "POST", "/.pandav/api/v1/logins", "mount=/a", map[string]string{"Content-Type": "application/x-www-form-urlencoded", admin.CSRFHeader: "1"}, 415},
		{"text/plain with the header", "POST", "/.pandav/api/v1/logins", `{"mount":"/a"}`, map[string]string{"Content-Type": "text/plain", admin.CSRFHeader: "1"}, 415},
		{"delete without the header", "DELETE", "/.pandav/api/v1/logins/x", "", nil, 403},
		{"unknown field", "POST", "/.pandav/api/v1/logins", `{"mount":"/a","evil":1}`, map[string]string{"Content-Type": "application/json", admin.CSRFHeader: "1"}, 400},
	} {
		c.header = mapWith(c.header, "user", "alice")
		code, _, body := r.call(t, c.method, c.path, c.body, c.header)
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if got := acct.Refreshes(); got != 0 {
		t.Errorf("refused requests reached the cloud: %d refreshes", got)
	}
	if _, err := acct.NextQR(expired(), 1); err == nil {
		t.Error("a refused request started a login")
	}
}

func mapWith(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

// expired is a context that has ended.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestLoginThroughAPI: a login started over HTTP shows its QR code to its
// admin, long polls report each state, and once confirmed the Service
// trades it, the drive stores and uses the new login, and the mount
// reports it. Another admin cannot see the login.
func TestLoginThroughAPI(t *testing.T) {
	acct := newAccount(t, "acme")
	acct.Name = "ACME Ltd"
	r := newRig(t, true, mountOf{path: "/a", acct: acct}) // no login yet
	ctx := context.Background()
	alice := r.client("alice")
	ms, err := alice.Mounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Login == nil || ms[0].Login.LoggedIn || ms[0].LoginApp != "the admintest app" || strings.Join(ms[0].LoginKinds, ",") != "qr,app" {
		t.Fatalf("mounts before the login: %+v", ms)
	}
	l, err := alice.StartLogin(ctx, "/a", "")
	if err != nil {
		t.Fatal(err)
	}
	if l.State != admin.StateWaiting || l.Kind != "qr" || !strings.HasPrefix(l.QR, "https://admintest.invalid/") || l.Expires == nil {
		t.Fatalf("started: %+v", l)
	}
	if _, err := r.client("carol").Login(ctx, l.ID, "", 0); !isStatus(err, 404) {
		t.Errorf("another admin reads the login: %v, want 404", err)
	}
	// A long poll ends early when the state changes.
	polled := make(chan admin.Login, 1)
	go func() {
		next, err := alice.Login(ctx, l.ID, admin.StateWaiting, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		polled <- next
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := acct.Scan(l.QR); err != nil {
		t.Fatal(err)
	}
	next := <-polled
	if next.State != admin.StateScanned || time.Since(start) > 10*time.Second {
		t.Fatalf("long poll: %+v after %v, want scanned at once", next, time.Since(start))
	}
	if err := acct.Confirm(l.QR); err != nil {
		t.Fatal(err)
	}
	for !admin.Ended(next.State) {
		if next, err = alice.Login(ctx, l.ID, next.State, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if next.State != admin.StateFinished || next.Account != "ACME Ltd" || next.QR != "" {
		t.Fatalf("ended: %+v, want finished as ACME Ltd, without its QR", next)
	}
	st := r.drives["/a"].(drivers.LoginStatuser).LoginStatus()
	if !st.LoggedIn || st.Refused != "" || time.Since(st.Since) > time.Minute {
		t.Errorf("the drive's login after Finish: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(r.state, "admintest-a.json")); err != nil {
		t.Errorf("the new login was not stored: %v", err)
	}
	rep, err := alice.Check(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("check after the login: %+v %v", rep, err)
	}
	if acct.Refreshes() != 0 {
		t.Errorf("%d refreshes: the drive should use the login's own access", acct.Refreshes())
	}
	assertNoSecrets(t, r.log.String(), l.QR)
}

func isStatus(err error, status int) bool {
	var e *admin.Error
	return errors.As(err, &e) && e.Status == status
}

// assertNoSecrets fails when a QR code or a refresh token reached the log.
func assertNoSecrets(t *testing.T, log string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("a secret (%.12s...) is in the log", s)
		}
	}
	for _, marker := range []string{"admintest.invalid", "rt-"} {
		if strings.Contains(log, marker) {
			t.Errorf("the log holds %q:\n%s", marker, log)
		}
	}
}

// TestLoginEndings: every way a login can end without a new login, and
// each leaves the stored login as it was.
func TestLoginEndings(t *testing.T) {
	refused := errors.New("code_verifier 验证失败")
	for _, c := range []struct {
		name      string
		prepare   func(a *admintest.Account)
		user      func(a *admintest.Account, qr string) error
		wantState string
		wantError string
	}{
		{"cancelled in the app", nil, func(a *admintest.Account, qr string) error { return a.Cancel(qr) }, admin.StateCancelled, ""},
		{"expired", nil, func(a *admintest.Account, qr string) error { return a.Expire(qr) }, admin.StateExpired, ""},
		{"verifier refused", func(a *admintest.Account) { a.FailFinish(refused) }, func(a *admintest.Account, qr string) error { return a.Confirm(qr) }, admin.StateFailed, "code_verifier 验证失败"},
		{"expired by the clock", func(a *admintest.Account) { a.LoginTTL = 300 * time.Millisecond }, func(*admintest.Account, string) error { return nil }, admin.StateExpired, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			acct := newAccount(t, "acme")
			if c.prepare != nil {
				c.prepare(acct)
			}
			r := newRig(t, false, mountOf{path: "/a", acct: acct, refresh: acct.Issue()})
			ctx := context.Background()
			if _, err := r.svc.Check(ctx); err != nil { // the drive stores its login
				t.Fatal(err)
			}
			stored := readFile(t, filepath.Join(r.state, "admintest-a.json"))
			l, err := admintest.DriveLogin(ctx, r.client(""), "/a", func(qr string) error { return c.user(acct, qr) })
			if err == nil || l.State != c.wantState || !strings.Contains(l.Error, c.wantError) {
				t.Fatalf("login: %+v, %v; want it to end %s", l, err, c.wantState)
			}
			if got := readFile(t, filepath.Join(r.state, "admintest-a.json")); got != stored {
				t.Errorf("the stored login changed: %s, was %s", got, stored)
			}
			if rep, _ := r.svc.Check(ctx); !rep.OK {
				t.Errorf("the old login stopped working: %+v", rep.Mounts[0])
			}
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStartLoginRefusals: what the cloud or the request gets wrong
// before a login starts is one sentence, with the API's status.
func TestStartLoginRefusals(t *testing.T) {
	acct := newAccount(t, "acme")
	r := newRig(t, false, mountOf{path: "/a", acct: acct, refresh: acct.Issue()})
	ctx := context.Background()
	c := r.client("")
	if _, err := c.StartLogin(ctx, "/nope", ""); !isStatus(err, 404) {
		t.Errorf("unknown mount: %v", err)
	}
	if _, err := c.StartLogin(ctx, "/a", "sms"); !isStatus(err, 400) {
		t.Errorf("unknown kind: %v", err)
	}
	acct.FailStart(errors.New("APP ID 无效"))
	_, err := c.StartLogin(ctx, "/a", "")
	if !isStatus(err, 502) || !strings.Contains(err.Error(), "APP ID 无效") {
		t.Errorf("the cloud refused to start: %v", err)
	}
	ms, _ := c.Mounts(ctx)
	if ms[0].LastError == nil || !strings.Contains(ms[0].LastError.Message, "APP ID 无效") {
		t.Errorf("mounts does not show the last cloud error: %+v", ms[0])
	}
}

// TestNewLoginReplacesOld: a second login of a mount ends the first.
func TestNewLoginReplacesOld(t *testing.T) {
	acct := newAccount(t, "acme")
	r := newRig(t, false, mountOf{path: "/a", acct: acct})
	ctx := context.Background()
	c := r.client("")
	first, err := c.StartLogin(ctx, "/a", "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartLogin(ctx, "/a", ""); err != nil {
		t.Fatal(err)
	}
	l := first
	for !admin.Ended(l.State) {
		if l, err = c.Login(ctx, first.ID, l.State, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if l.State != admin.StateFailed || !strings.Contains(l.Error, "replaced") {
		t.Errorf("the first login: %+v", l)
	}
	if err := c.CancelLogin(ctx, first.ID); err != nil {
		t.Errorf("deleting an ended login: %v", err)
	}
	if _, err := c.Login(ctx, first.ID, "", 0); !isStatus(err, 404) {
		t.Errorf("a deleted login is still there: %v", err)
	}
}

// TestCheckRows: one row per mount, each saying what is wrong in its own
// words, and the report is OK only when every row is.
func TestCheckRows(t *testing.T) {
	good, revoked, sharer := newAccount(t, "good"), newAccount(t, "revoked"), newAccount(t, "sharer")
	good.Name, good.VIP, good.Quota = "Good Co", "svip", drivers.Quota{Used: 5 << 30, Total: 2 << 40}
	good.VIPExpires = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	r := newRig(t, false,
		mountOf{path: "/good", acct: good, refresh: good.Issue()},
		mountOf{path: "/none", acct: newAccount(t, "none")},
		mountOf{path: "/revoked", acct: revoked, refresh: revoked.Issue()},
		mountOf{path: "/share", acct: sharer, refresh: sharer.Issue(), share: true},
	)
	revoked.Revoke("refresh_token 无效（已解除授权）")
	sharer.FailShare(errors.New("share_link is cancelled by the creator"))
	rep, err := r.client("").Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Mounts) != 4 {
		t.Fatalf("report: ok %v with %d rows", rep.OK, len(rep.Mounts))
	}
	rows := map[string]admin.CheckRow{}
	for _, row := range rep.Mounts {
		rows[row.Mount] = row
	}
	g := rows["/good"]
	if !g.OK || g.Login != "ok" || g.Account != "Good Co" || g.VIP != "svip" || g.VIPExpires == nil || *g.SpaceTotal != 2<<40 || !g.RootListed || g.RootEntries != 2 || g.TokenAgeSeconds == nil {
		t.Errorf("/good: %+v", g)
	}
	if n := rows["/none"]; n.OK || n.Login != "none" || !strings.Contains(n.Problem, "pandav login /none") {
		t.Errorf("/none: %+v", n)
	}
	if v := rows["/revoked"]; v.OK || v.Login != "refused" || !strings.Contains(v.LoginReason, "已解除授权") || !strings.Contains(v.Problem, "pandav login /revoked") {
		t.Errorf("/revoked: %+v", v)
	}
	if s := rows["/share"]; s.OK || s.ShareOK || !strings.Contains(s.Share, "cancelled by the creator") || s.Login != "ok" {
		t.Errorf("/share: %+v", s)
	}
	one, err := r.client("").Check(context.Background(), "/good")
	if err != nil || len(one.Mounts) != 1 || !one.OK {
		t.Errorf("check of /good alone: %+v %v", one, err)
	}
}

// TestCloseEndsLogins: a stopping pandav ends the logins in progress.
func TestCloseEndsLogins(t *testing.T) {
	acct := newAccount(t, "acme")
	r := newRig(t, false, mountOf{path: "/a", acct: acct})
	ctx := context.Background()
	l, err := r.svc.StartLogin(ctx, "/a", "")
	if err != nil {
		t.Fatal(err)
	}
	r.svc.Close()
	if l, err = r.svc.Login(ctx, l.ID, "", 0); err != nil || l.State != admin.StateFailed || !strings.Contains(l.Error, "stopping") {
		t.Errorf("after Close: %+v %v", l, err)
	}
	if _, err := r.svc.StartLogin(ctx, "/a", ""); !isStatus(err, 503) {
		t.Errorf("a login started after Close: %v", err)
	}
}

// kindsDrive is an admintest drive that holds a second login, of kind
// "app", whose status the test sets.
type kindsDrive struct {
	*admintest.Drive
	app drivers.LoginStatus
}

func (d kindsDrive) KindLoginStatuses() []drivers.KindLogin {
	return []drivers.KindLogin{{Kind: "qr", LoginStatus: d.LoginStatus()}, {Kind: "app", LoginStatus: d.app}}
}

// TestLoginsByKind: a mount that holds a login per kind shows each in
// mounts and in its check row, the first as the check found it; a
// refused other login fails the row, saying which kind to log in again,
// and one that is missing does not.
func TestLoginsByKind(t *testing.T) {
	state := t.TempDir()
	var ms []admin.Mount
	for _, m := range []struct {
		path string
		app  drivers.LoginStatus
	}{
		{"/none", drivers.LoginStatus{}},
		{"/ok", drivers.LoginStatus{LoggedIn: true}},
		{"/refused", drivers.LoginStatus{LoggedIn: true, Refused: "web token revoked"}},
	} {
		acct := newAccount(t, m.path[1:])
		d, err := admintest.Open(context.Background(), drivers.Env{MountPath: m.path, StateDir: state}, admintest.Options{Account: acct.Key(), RefreshToken: acct.Issue()})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, admin.Mount{Path: m.path, Driver: admintest.Driver, Drive: kindsDrive{d.(*admintest.Drive), m.app}})
	}
	svc := admin.NewService(ms, zerolog.Nop())
	defer svc.Close()
	ctx := context.Background()
	infos, _ := svc.Mounts(ctx)
	if l := infos[2].Logins; len(l) != 2 || l[0].Kind != "qr" || !l[0].LoggedIn || l[1].Kind != "app" || l[1].Refused != "web token revoked" {
		t.Errorf("mounts: logins of /refused: %+v", l)
	}
	rep, err := svc.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/none": "qr ok, app none", "/ok": "qr ok, app ok", "/refused": "qr ok, app refused"}
	for _, row := range rep.Mounts {
		var got []string
		for _, k := range row.Logins {
			got = append(got, k.Kind+" "+k.Login)
		}
		if strings.Join(got, ", ") != want[row.Mount] {
			t.Errorf("%s: logins %v, want %s", row.Mount, got, want[row.Mount])
		}
		if fine := row.Mount != "/refused"; row.OK != fine {
			t.Errorf("%s: ok %v, want %v (%s)", row.Mount, row.OK, fine, row.Problem)
		}
	}
	if p := rep.Mounts[2].Problem; !strings.Contains(p, "web token revoked") || !strings.Contains(p, "pandav login --kind app /refused") {
		t.Errorf("/refused: problem %q", p)
	}
}

// TestOnLogin: the Service tells who asked for it of every login that
// finished, and of no other.
func TestOnLogin(t *testing.T) {
	acct := newAccount(t, "acme")
	r := newRig(t, false, mountOf{path: "/a", acct: acct}, mountOf{path: "/b", acct: newAccount(t, "other")})
	var told []string
	r.svc.OnLogin(func(mount string) { told = append(told, mount) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := r.client("")
	l, err := c.StartLogin(ctx, "/a", "")
	if err != nil {
		t.Fatal(err)
	}
	acct.Cancel(l.QR)
	for !admin.Ended(l.State) {
		l, _ = c.Login(ctx, l.ID, l.State, 5*time.Second)
	}
	if _, err := admintest.DriveLogin(ctx, c, "/a", acct.Confirm); err != nil {
		t.Fatal(err)
	}
	if strings.Join(told, " ") != "/a" {
		t.Errorf("told of %v; want the one finished login of /a", told)
	}
}
