package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	qrcode "github.com/skip2/go-qrcode"

	"pandav/config"
	"pandav/internal/admin"
	"pandav/internal/admin/admintest"
	"pandav/internal/app"
	"pandav/internal/demo"
	"pandav/internal/statelock"
)

// testMount is one admintest mount of a test config.
type testMount struct {
	path    string
	acct    *admintest.Account
	refresh string // "" for a mount that waits for pandav login
}

// writeConfig writes a config of mounts, with extra top-level YAML, and
// returns its path.
func writeConfig(t *testing.T, extra string, mounts ...testMount) string {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %q\n%smounts:\n", filepath.Join(dir, "state"), extra)
	for _, m := range mounts {
		text += demo.Mount{Path: m.path, Driver: admintest.Driver, Options: map[string]any{"account": m.acct.Key(), "refresh_token": m.refresh}}.YAML()
	}
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newAccount(t *testing.T, name string) *admintest.Account {
	a := admintest.NewAccount(name)
	t.Cleanup(a.Close)
	return a
}

// runCLI runs pandav with args, as the binary would.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errs admintest.Buffer
	code = run(args, &out, &errs)
	return code, out.String(), errs.String()
}

// cliRun is a command running in the background.
type cliRun struct {
	out, errs admintest.Buffer
	done      chan int
}

func startCLI(args ...string) *cliRun {
	c := &cliRun{done: make(chan int, 1)}
	go func() { c.done <- run(args, &c.out, &c.errs) }()
	return c
}

// waitOutput waits until the command's stdout holds s.
func (c *cliRun) waitOutput(t *testing.T, s string) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(c.out.String(), s) {
			return
		}
	}
	t.Fatalf("the command's output never said %q:\n%s\nstderr:\n%s", s, c.out.String(), c.errs.String())
}

func (c *cliRun) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-c.done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not end:\n%s\nstderr:\n%s", c.out.String(), c.errs.String())
	}
	return 0
}

// testServer is pandav serve in this process, holding the config's
// state_dir as serve does.
type testServer struct {
	app *app.App
	log *admintest.Buffer
	url string
}

func startServer(t *testing.T, configPath string) *testServer {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := statelock.Acquire(cfg.StateDir, statelock.Holder{Command: "serve"})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{log: &admintest.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	if s.app, err = app.New(ctx, cfg, zerolog.New(s.log)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.SetListen(ln.Addr().String(), false); err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String()
	served := make(chan struct{})
	go func() {
		s.app.Serve(ctx, ln, time.Second)
		close(served)
	}()
	t.Cleanup(func() {
		cancel()
		<-served
		lock.Release()
	})
	return s
}

// assertNoSecrets fails when a QR code or a refresh token is in log.
func assertNoSecrets(t *testing.T, what, log string) {
	t.Helper()
	for _, marker := range []string{"admintest.invalid", "rt-"} {
		if strings.Contains(log, marker) {
			t.Errorf("%s holds a secret (%q):\n%s", what, marker, log)
		}
	}
}

// TestCheckInProcess: with no server holding state_dir, check opens the
// mounts itself: every mount fine exits 0; a revoked login names its
// mount and exits 1; --json has the same report.
func TestCheckInProcess(t *testing.T) {
	a, b := newAccount(t, "alpha"), newAccount(t, "beta")
	a.VIP, a.Quota.Used, a.Quota.Total = "vip", 3<<30, 1<<40
	cfg := writeConfig(t, "", testMount{"/a", a, a.Issue()}, testMount{"/b", b, b.Issue()})
	code, out, errs := runCLI("check", "-c", cfg)
	if code != 0 {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"MOUNT", "LOGIN", "TOKEN AGE", "/a ", "/b ", "3.0 GiB / 1.0 TiB", "listed in", "all 2 mounts are fine"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	assertNoSecrets(t, "stderr", errs)

	b.Revoke("the account removed this app's authorization")
	code, out, _ = runCLI("check", "-c", cfg)
	if code != 1 || !strings.Contains(out, "✗ /b: the cloud refused the login (the account removed this app's authorization): run pandav login /b") || strings.Contains(out, "✗ /a") {
		t.Errorf("check with /b revoked: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("check", "--json", "-c", cfg)
	var rep admin.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || rep.OK || len(rep.Mounts) != 2 || !rep.Mounts[0].OK || rep.Mounts[1].Login != admin.LoginRefused {
		t.Errorf("--json: exit %d, %+v", code, rep)
	}
	if code, out, _ = runCLI("check", "-c", cfg, "/a"); code != 0 || strings.Contains(out, "/b") {
		t.Errorf("check of /a alone: exit %d\n%s", code, out)
	}
}

// TestCLIUsage: a bad command line or config exits 2 with one sentence.
func TestCLIUsage(t *testing.T) {
	a := newAccount(t, "alpha")
	cfg := writeConfig(t, "", testMount{"/a", a, a.Issue()})
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:0\nmounts: [{path: /a, driver: admintest, options: {acount: x}}]\n"), 0o600)
	for _, args := range [][]string{
		{"check"},
		{"check", "-c", filepath.Join(t.TempDir(), "missing.yaml")},
		{"check", "-c", bad},
		{"check", "-c", cfg, "/nope"},
		{"login", "-c", cfg},
		{"login", "-c", cfg, "/a", "/b"},
		{"login", "-c", cfg, "/nope"},
		{"login", "-c", cfg, "--kind", "sms", "/a"},
		{"login", "-c", cfg, "--bogus", "/a"},
	} {
		code, out, errs := runCLI(args...)
		if code != 2 || strings.TrimSpace(errs) == "" {
			t.Errorf("pandav %v: exit %d, stderr %q, stdout %q; want 2 and a sentence", args, code, errs, out)
		}
	}
	if a.Refreshes() != 0 {
		t.Errorf("bad usage reached the cloud")
	}
}

// TestServeRefusedWhileStateDirHeld: a second serve (or a check that a
// holder without an admin API blocks) exits 1 naming the holder's PID.
func TestServeRefusedWhileStateDirHeld(t *testing.T) {
	a := newAccount(t, "alpha")
	cfgPath := writeConfig(t, "", testMount{"/a", a, a.Issue()})
	cfg, _ := config.Load(cfgPath)
	lock, err := statelock.Acquire(cfg.StateDir, statelock.Holder{Command: "serve", Listen: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI("serve", "-c", cfgPath)
	want := fmt.Sprintf("state_dir %s is in use by pandav PID %d on ", cfg.StateDir, os.Getpid())
	if code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "(listening on 127.0.0.1:1)") {
		t.Errorf("second serve: exit %d, %q; want 1 and %q", code, errs, want)
	}
	lock.Release()

	lock, err = statelock.Acquire(cfg.StateDir, statelock.Holder{Command: "check"})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if code, _, errs = runCLI("serve", "-c", cfgPath); code != 1 || !strings.Contains(errs, "(running check)") {
		t.Errorf("serve while a check runs: exit %d, %q", code, errs)
	}
	if code, _, errs = runCLI("check", "-c", cfgPath); code != 1 || !strings.Contains(errs, "serves no admin API") {
		t.Errorf("check while a check runs: exit %d, %q", code, errs)
	}
	if a.Refreshes() != 0 {
		t.Errorf("a refused command spent the refresh token")
	}
}

// TestCheckThroughServer: while a server holds state_dir, check asks it
// and never opens a drive: the server's drive alone spends the refresh
// token, once.
func TestCheckThroughServer(t *testing.T) {
	a := newAccount(t, "alpha")
	cfg := writeConfig(t, "", testMount{"/a", a, a.Issue()})
	srv := startServer(t, cfg)
	for range 2 {
		code, out, errs := runCLI("check", "-c", cfg)
		if code != 0 || !strings.Contains(errs, "through the running pandav (PID "+fmt.Sprint(os.Getpid())+") at "+srv.url) {
			t.Fatalf("check: exit %d\n%s\n%s", code, out, errs)
		}
	}
	if n := a.Refreshes(); n != 1 {
		t.Errorf("%d refreshes; want the server's one", n)
	}
	if rep, _ := srv.app.Admin.Check(context.Background()); !rep.OK {
		t.Errorf("the server's own login broke: %+v", rep)
	}
}

// TestLoginThroughServer: pandav login with a server running goes
// through its admin API: the QR code drawn and as text, each state in
// words, and the server uses the login at once, without a restart.
func TestLoginThroughServer(t *testing.T) {
	a := newAccount(t, "alpha")
	a.Name = "Alpha Studio"
	cfg := writeConfig(t, "", testMount{"/a", a, ""})
	srv := startServer(t, cfg)
	if rep, _ := srv.app.Admin.Check(context.Background()); rep.OK || rep.Mounts[0].Login != admin.LoginNone {
		t.Fatalf("before the login: %+v", rep.Mounts)
	}
	c := startCLI("login", "-c", cfg, "/a")
	qr, err := a.NextQR(contextFor(t, 20*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	c.waitOutput(t, "waiting for you to scan the code with the admintest app")
	a.Scan(qr)
	c.waitOutput(t, "scanned: confirm the login on your phone")
	a.Confirm(qr)
	if code := c.exit(t); code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, c.out.String(), c.errs.String())
	}
	out := c.out.String()
	for _, want := range []string{"Scan this code with the admintest app", "▀", qr, "The code is valid until", "confirmed", "Logged in /a as Alpha Studio. The running pandav uses the new login now."} {
		if !strings.Contains(out, want) {
			t.Errorf("the login's output lacks %q:\n%s", want, out)
		}
	}
	if rep, _ := srv.app.Admin.Check(context.Background()); !rep.OK {
		t.Errorf("the server does not use the new login: %+v", rep.Mounts)
	}
	assertNoSecrets(t, "the server's log", srv.log.String())
	assertNoSecrets(t, "the command's stderr", c.errs.String())
}

func contextFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLoginInProcess: with no server, pandav login opens the mount
// itself and stores the login where serve reads it; --no-qr prints only
// the link.
func TestLoginInProcess(t *testing.T) {
	a := newAccount(t, "alpha")
	cfg := writeConfig(t, "", testMount{"/a", a, ""})
	if code, _, _ := runCLI("check", "-c", cfg); code != 1 {
		t.Fatalf("check before the login: exit %d", code)
	}
	c := startCLI("login", "--no-qr", "-c", cfg, "--kind", "app", "/a")
	qr, err := a.NextQR(contextFor(t, 20*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	a.Confirm(qr)
	if code := c.exit(t); code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, c.out.String(), c.errs.String())
	}
	out := c.out.String()
	if !strings.Contains(out, "Open this link with the admintest app:\n\n  "+qr+"\n") || strings.ContainsAny(out, "▀▄█") {
		t.Errorf("--no-qr output:\n%s", out)
	}
	if !strings.Contains(out, "The login is stored in ") {
		t.Errorf("the output does not say where the login went:\n%s", out)
	}
	assertNoSecrets(t, "stderr", c.errs.String())
	if code, out, errs := runCLI("check", "-c", cfg); code != 0 {
		t.Errorf("check after the login: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestLoginFailures: each way a login fails ends the command with exit
// status 1 and one sentence naming the cause, and leaves the stored login
// as it was.
func TestLoginFailures(t *testing.T) {
	for _, c := range []struct {
		name    string
		prepare func(a *admintest.Account)
		user    func(a *admintest.Account, qr string)
		want    string
	}{
		{"cancelled", nil, func(a *admintest.Account, qr string) { a.Cancel(qr) }, "pandav login: cancelled in the app: the stored login is as it was"},
		{"expired", nil, func(a *admintest.Account, qr string) { a.Expire(qr) }, "pandav login: the code expired: run pandav login again"},
		{"verifier refused", func(a *admintest.Account) { a.FailFinish(errors.New("code_verifier 验证失败")) }, func(a *admintest.Account, qr string) { a.Confirm(qr) },
			"pandav login: /a: the login was confirmed, but trading it for tokens failed: code_verifier 验证失败; the stored login is as it was"},
		{"wrong app id", func(a *admintest.Account) { a.FailStart(errors.New("APP ID 无效")) }, nil, "pandav login: /a: the cloud did not start a login: APP ID 无效"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newAccount(t, "alpha")
			cfg := writeConfig(t, "", testMount{"/a", a, a.Issue()})
			if code, _, errs := runCLI("check", "-c", cfg); code != 0 {
				t.Fatalf("check: %s", errs)
			}
			stored, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "state", "admintest-a.json"))
			if c.prepare != nil {
				c.prepare(a)
			}
			run := startCLI("login", "-c", cfg, "/a")
			if c.user != nil {
				qr, err := a.NextQR(contextFor(t, 20*time.Second), 1)
				if err != nil {
					t.Fatal(err)
				}
				c.user(a, qr)
			}
			code := run.exit(t)
			errs := strings.TrimSpace(run.errs.String())
			if code != 1 || errs != c.want {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errs, c.want)
			}
			if now, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "state", "admintest-a.json")); string(now) != string(stored) {
				t.Errorf("the stored login changed")
			}
		})
	}
}

// TestCLIWithUsers: against a server with users, the CLI signs in as an
// admin: the config's only admin by default, the password from
// PANDAV_PASSWORD; a wrong password or a user who is not an admin ends
// it with one sentence.
func TestCLIWithUsers(t *testing.T) {
	a := newAccount(t, "alpha")
	cfg := writeConfig(t, "users:\n  - {name: alice, password: alice-pw, admin: true}\n  - {name: bob, password: bob-pw}\n", testMount{"/a", a, a.Issue()})
	startServer(t, cfg)
	t.Setenv(envUser, "")
	os.Unsetenv(envUser)
	t.Setenv(envPassword, "alice-pw")
	if code, out, errs := runCLI("check", "-c", cfg); code != 0 {
		t.Errorf("check as alice: exit %d\n%s\n%s", code, out, errs)
	}
	t.Setenv(envPassword, "wrong")
	if code, _, errs := runCLI("check", "-c", cfg); code != 1 || !strings.Contains(errs, "it refused the password of user alice") {
		t.Errorf("a wrong password: exit %d, %q", code, errs)
	}
	t.Setenv(envPassword, "bob-pw")
	if code, _, errs := runCLI("check", "-c", cfg, "--user", "bob"); code != 1 || !strings.Contains(errs, "user bob is not an admin") {
		t.Errorf("bob: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI("check", "-c", cfg, "--user", "mallory"); code != 2 || !strings.Contains(errs, `no user "mallory"`) {
		t.Errorf("an unknown user: exit %d, %q", code, errs)
	}
	os.Unsetenv(envPassword)
	if code, _, errs := runCLI("check", "-c", cfg); code != 2 || !strings.Contains(errs, envPassword) {
		t.Errorf("no password and no terminal: exit %d, %q", code, errs)
	}
}

// TestHalfBlocks: two rows of modules to a line; the light modules are
// the blocks.
func TestHalfBlocks(t *testing.T) {
	bm := [][]bool{
		{false, true, false, true},
		{false, false, true, true},
		{true, false, false, true},
	}
	want := "█▄▀ \n ▀▀ \n"
	if got := halfBlocks(bm); got != want {
		t.Errorf("halfBlocks:\n%q\nwant\n%q", got, want)
	}
	// A real code reads back module for module.
	code, err := qrcode.New("https://example.com/login?uid=0123456789abcdef", qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := drawQR(&b, "https://example.com/login?uid=0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	bm = code.Bitmap()
	for y, row := range bm {
		line := []rune(lines[y/2])
		for x, dark := range row {
			r := line[x]
			light := r == '█' || (y%2 == 0 && r == '▀') || (y%2 == 1 && r == '▄')
			if light == dark {
				t.Fatalf("module (%d, %d) is drawn %q, but is dark=%v", x, y, r, dark)
			}
		}
	}
	width := len([]rune(lines[0]))
	// Version 3 or so, plus a quiet zone of 4 on each side.
	if width < 29 || width > 60 || len(lines) != (width+1)/2 {
		t.Errorf("a %d-wide code in %d lines", width, len(lines))
	}
	if lines[0] != strings.Repeat("█", width) {
		t.Errorf("the first line is not quiet zone: %q", lines[0])
	}
}

// TestLoginInterrupted: Ctrl-C while the code is shown cancels the login
// and exits 1, leaving the stored login as it was.
func TestLoginInterrupted(t *testing.T) {
	a := newAccount(t, "alpha")
	cfgPath := writeConfig(t, "", testMount{"/a", a, ""})
	c, ok := parseCLI("login", []string{"-c", cfgPath, "/a"}, os.Stderr, nil)
	if !ok {
		t.Fatal("parse")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, code := openAdmin(ctx, c.cfg, "login", c.flags, os.Stderr)
	if s == nil {
		t.Fatalf("openAdmin: %d", code)
	}
	defer s.close()
	var out, errs admintest.Buffer
	done := make(chan int, 1)
	go func() { done <- login(ctx, s, "/a", "", true, c.cfg.StateDir, &out, &errs) }()
	if _, err := a.NextQR(contextFor(t, 20*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("login did not end on interrupt")
	}
	if code != 1 || !strings.Contains(errs.String(), "interrupted; the stored login is as it was") {
		t.Errorf("exit %d, %q", code, errs.String())
	}
	if ms, _ := s.api.Mounts(context.Background()); ms[0].Login.LoggedIn {
		t.Errorf("an interrupted login logged the mount in")
	}
}
