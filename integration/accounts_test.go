package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pandav/internal/admin"
	"pandav/internal/admin/admintest"
	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// The accounts, end to end: `pandav login` and `pandav check`, the real
// binary, against every cloud's emulator, whose QR codes the tests scan,
// confirm, cancel or let expire in place of the user's phone.

// cliProc is one `pandav login` or `pandav check` running.
type cliProc struct {
	cmd       *exec.Cmd
	out, errs admintest.Buffer
	done      chan struct{}
	code      int
}

// startCLI runs pandav with args. Its stderr joins the package's secret
// check as the test ends; its stdout does not, since `pandav login` shows
// the user the QR code there, as it must.
func startCLI(t testing.TB, args ...string) *cliProc {
	t.Helper()
	c := &cliProc{cmd: exec.Command(pandavBin, args...), done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.errs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.code = exitCode(c.cmd.Wait())
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
		recordLog(t.Name()+" pandav "+args[0]+" stderr", c.errs.String())
	})
	return c
}

// exit waits for the command to end and returns its exit status.
func (c *cliProc) exit(t testing.TB) int {
	t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(2 * time.Minute):
		t.Fatalf("%v did not end within 2 minutes\nstdout:\n%s\nstderr:\n%s", c.cmd.Args[1:], c.out.String(), c.errs.String())
	}
	return 0
}

// waitStdout waits until the command's stdout matches re, and returns
// the match's groups.
func (c *cliProc) waitStdout(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(c.out.String()); m != nil {
			return m
		}
		select {
		case <-c.done:
			if m := re.FindStringSubmatch(c.out.String()); m != nil {
				return m
			}
			t.Fatalf("%v ended (exit %d) without printing %s\nstdout:\n%s\nstderr:\n%s", c.cmd.Args[1:], c.code, re, c.out.String(), c.errs.String())
		default:
		}
	}
	t.Fatalf("%v never printed %s\nstdout:\n%s\nstderr:\n%s", c.cmd.Args[1:], re, c.out.String(), c.errs.String())
	return nil
}

// runCLI runs pandav with args to its end.
func runCLI(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	c := startCLI(t, args...)
	code = c.exit(t)
	return code, c.out.String(), c.errs.String()
}

// codeShown is what `pandav login` prints: the app to scan with, and the
// code drawn, then as text; or, with --no-qr, the text alone.
var codeShown = regexp.MustCompile(`(?:Scan this code with (.+):\n\n[ ▀▄█\n]+\nor open its text with the app|Open this link with (.+)):\n\n  (\S+)\n`)

// loginRun is a `pandav login` showing its code, and the code as the
// cloud keeps it.
type loginRun struct {
	*cliProc
	app  string
	code fakecloud.PendingLogin
}

// startLogin runs `pandav login` with args and finds the code it shows
// among the cloud's pending ones.
func startLogin(t testing.TB, q *fakecloud.QRCodes, args ...string) *loginRun {
	t.Helper()
	c := startCLI(t, append([]string{"login"}, args...)...)
	m := c.waitStdout(t, codeShown)
	p, ok := q.FindLogin(m[3])
	if !ok {
		t.Fatalf("pandav login shows a code the cloud never handed out: %q", m[3])
	}
	return &loginRun{cliProc: c, app: m[1] + m[2], code: p}
}

// lastLine is the last line of text, where a failing command says why.
func lastLine(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return lines[len(lines)-1]
}

// qrCodes is cl's phone, or skips the test for a cloud without QR
// logins.
func qrCodes(t testing.TB, cl fakecloud.Cloud) *fakecloud.QRCodes {
	t.Helper()
	q, ok := cl.(fakecloud.QRLogins)
	if !ok {
		t.Skipf("%s's emulator has no QR login", cl.Name())
	}
	return q.QRCodes()
}

// checkJSON runs `pandav check --json` with args and decodes its report.
func checkJSON(t testing.TB, args ...string) (int, admin.Report, string) {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"check", "--json"}, args...)...)
	var rep admin.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("pandav check --json %v: exit %d, %v\n%s\n%s", args, code, err, out, errs)
	}
	return code, rep, errs
}

// row is mount's row of rep.
func row(t testing.TB, rep admin.Report, mount string) admin.CheckRow {
	t.Helper()
	for _, r := range rep.Mounts {
		if r.Mount == mount {
			return r
		}
	}
	t.Fatalf("the report has no row for %s: %+v", mount, rep)
	return admin.CheckRow{}
}

// loginRig is one cloud's mount with no login, in a config of its own
// (with a share mount that plays through it, when the cloud has share
// links), and the emulator's phone.
type loginRig struct {
	cl             fakecloud.Cloud
	q              *fakecloud.QRCodes
	mount, share   string
	stateDir, dir  string
	configPath     string
	shareFile      string // a file of the share mount, "" without one
	accountOptions map[string]any
}

// newLoginRig writes the config of cl's mount without a refresh token,
// with extra added to its options; with shares, a share of the cloud's
// (when it has share links) plays through it.
func newLoginRig(t testing.TB, cl fakecloud.Cloud, extra map[string]any, shares bool) *loginRig {
	t.Helper()
	r := &loginRig{cl: cl, q: qrCodes(t, cl), mount: demo.MountPath(cl), dir: t.TempDir()}
	r.stateDir = filepath.Join(r.dir, "state")
	r.accountOptions = demo.CloudMount(cl, "").Options
	maps.Copy(r.accountOptions, extra)
	if sh, ok := cl.(demo.ShareHost); ok && shares {
		if err := sample.Fill(sh.Sharer()); err != nil {
			t.Fatal(err)
		}
		movies, err := sh.Sharer().Lookup(path.Dir(sample.VideoPath))
		if err != nil {
			t.Fatal(err)
		}
		if err := sh.AddShare(demo.ShareID, demo.SharePwd, movies.ID); err != nil {
			t.Fatal(err)
		}
		r.share, r.shareFile = demo.SharePath, demo.SharePath+"/"+path.Base(sample.VideoPath)
	}
	r.configPath = r.writeConfig(t, "config.yaml", nil)
	return r
}

// writeConfig writes a config of the rig's mounts, with extra added to
// the account mount's options, into the rig's folder as name.
func (r *loginRig) writeConfig(t testing.TB, name string, extra map[string]any) string {
	t.Helper()
	account := demo.Mount{Path: r.mount, Driver: r.cl.Driver(), Options: maps.Clone(r.accountOptions)}
	maps.Copy(account.Options, extra)
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %s\nlog: {level: debug, format: json}\nmounts:\n", yamlQuote(r.stateDir)) + account.YAML()
	if sh, ok := r.cl.(demo.ShareHost); ok && r.share != "" {
		// Without the web login ShareAccountOptions would hand the account:
		// pandav login gives it one.
		driver, options := sh.ShareMount(demo.ShareID, demo.SharePwd, r.mount)
		yaml += demo.Mount{Path: r.share, Driver: driver, Options: options}.YAML()
	}
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// login runs `pandav login` of the rig's mount with flags, scans and
// confirms its code, and requires it to succeed; it returns what it
// printed.
func (r *loginRig) login(t testing.TB, configPath string, flags ...string) string {
	t.Helper()
	l := startLogin(t, r.q, append(append([]string{"-c", configPath}, flags...), r.mount)...)
	if drawn := !slices.Contains(flags, "--no-qr"); drawn != strings.ContainsAny(l.out.String(), "▀▄") {
		t.Errorf("pandav login %v: want the code drawn: %v\n%s", flags, drawn, l.out.String())
	}
	if err := r.q.ScanLogin(l.code.ID); err != nil {
		t.Fatal(err)
	}
	l.waitStdout(t, regexp.MustCompile("scanned: confirm the login on your phone"))
	if err := r.q.ConfirmLogin(l.code.ID); err != nil {
		t.Fatal(err)
	}
	if code := l.exit(t); code != 0 {
		t.Fatalf("pandav login %v: exit %d\nstdout:\n%s\nstderr:\n%s", flags, code, l.out.String(), l.errs.String())
	}
	out := l.out.String()
	t.Logf("pandav login %v:\n%s", flags, out)
	for _, want := range []string{"waiting for you to scan the code with " + l.app, "scanned: confirm the login on your phone", "confirmed", "Logged in " + r.mount} {
		if !strings.Contains(out, want) {
			t.Errorf("pandav login %v does not say %q:\n%s", flags, want, out)
		}
	}
	if l.app == "the cloud's app" {
		t.Errorf("pandav login does not name the app to scan with")
	}
	return out
}

// listsSample requires the mount to list the sample tree's top folders.
func listsSample(t testing.TB, p *pandavProc, mount string) {
	t.Helper()
	names := childNames(t, propfind(t, p.URL(mount+"/"), "1"), mount+"/")
	for _, sp := range []string{sample.VideoPath, sample.ReadmePath} {
		top, _, _ := strings.Cut(strings.TrimPrefix(sp, "/"), "/")
		if _, ok := names[top]; !ok {
			t.Errorf("%s/ does not list %q; it lists %v", mount, top, names)
		}
	}
}

// checkNoSecrets fails when a secret the cloud issued (its tokens, the QR
// codes it handed out, the verifiers logins were traded with) is in one
// of logs.
func checkNoSecrets(t testing.TB, cl fakecloud.Cloud, logs map[string]string) {
	t.Helper()
	for _, s := range cl.IssuedSecrets() {
		if len(s) < 8 {
			continue
		}
		for what, text := range logs {
			if strings.Contains(text, s) {
				t.Errorf("a secret (%.6s...) is in %s", s, what)
			}
		}
	}
}

// TestLoginEndToEnd logs every cloud's mount in with `pandav login`, the
// real binary, while `pandav serve` runs: check first names the mount as
// not logged in, the login shows the code and says how it stands at each
// step of the user's, and the mount serves at once; every other kind of
// login the mount takes (a web login, which plays shares) goes the same
// way. Codes that expire or are cancelled, and an app the cloud refuses,
// end the command with one sentence and leave the stored logins byte
// for byte. With no server, pandav login works on its own, holding
// state_dir, and a server started afterwards uses what it stored.
func TestLoginEndToEnd(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			r := newLoginRig(t, cl, nil, true)
			p := startServe(t, r.configPath)
			pid := p.cmd.Process.Pid
			through := fmt.Sprintf("through the running pandav (PID %d)", pid)
			var stderrs strings.Builder

			code, out, errs := runCLI(t, "check", "-c", r.configPath, r.mount)
			stderrs.WriteString(errs)
			if code != 1 || !strings.Contains(out, r.mount+" is not logged in: run pandav login "+r.mount) || !strings.Contains(errs, through) {
				t.Fatalf("check before the login: exit %d\n%s\n%s", code, out, errs)
			}
			if resp, _ := davDo(t, "PROPFIND", p.URL(r.mount+"/"), map[string]string{"Depth": "1"}, ""); resp.StatusCode < 400 {
				t.Fatalf("PROPFIND of a mount with no login: %s", resp.Status)
			}

			out = r.login(t, r.configPath, "--no-qr")
			if !strings.Contains(out, "The running pandav uses the new login now.") {
				t.Errorf("pandav login does not say the server took the login up:\n%s", out)
			}
			listsSample(t, p, r.mount)
			code, rep, errs := checkJSON(t, "-c", r.configPath, r.mount)
			stderrs.WriteString(errs)
			m := row(t, rep, r.mount)
			if code != 0 || !m.OK || m.Login != admin.LoginOK || m.Account == "" || m.VIP == "" || m.SpaceTotal == nil || *m.SpaceTotal <= 0 ||
				m.SpaceUsed == nil || !m.RootListed || m.TokenAgeSeconds == nil || !strings.Contains(errs, through) {
				t.Errorf("check after the login: exit %d, %+v\n%s", code, m, errs)
			}
			if n := cl.Login().Reuses(); n != 0 {
				t.Errorf("the cloud saw %d trades of a spent refresh token", n)
			}
			if !anyContains(tokenFiles(r.stateDir, cl.TokenFilePrefix()), cl.Login().Latest()) {
				t.Errorf("no token file under %s/tokens holds the new login", r.stateDir)
			}

			t.Run("other kinds", func(t *testing.T) {
				infos, err := (&admin.Client{BaseURL: "http://" + p.Addr}).Mounts(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				var kinds []string
				for _, info := range infos {
					if info.Path == r.mount {
						kinds = info.LoginKinds
					}
				}
				if len(kinds) == 0 {
					t.Fatalf("the admin API lists no login kinds of %s: %+v", r.mount, infos)
				}
				if r.share != "" {
					code, rep, _ := checkJSON(t, "-c", r.configPath, r.share)
					if s := row(t, rep, r.share); code != 1 || s.OK || s.ShareOK {
						t.Errorf("check of a share whose account has no web login yet: exit %d, %+v", code, s)
					}
				}
				for _, kind := range kinds[1:] {
					r.login(t, r.configPath, "--kind", kind)
				}
				code, rep, errs := checkJSON(t, "-c", r.configPath)
				stderrs.WriteString(errs)
				if code != 0 || !rep.OK {
					t.Fatalf("check after every kind's login: exit %d, %+v", code, rep)
				}
				if ls := row(t, rep, r.mount).Logins; len(kinds) > 1 && len(ls) != len(kinds) {
					t.Errorf("check shows the logins %+v of a mount that takes %v", ls, kinds)
				}
				for _, l := range row(t, rep, r.mount).Logins {
					if l.Login != admin.LoginOK {
						t.Errorf("after every kind's login, %s is %s", l.Kind, l.Login)
					}
				}
				code, out, _ := runCLI(t, "check", "-c", r.configPath)
				t.Logf("pandav check:\n%s", out)
				if code != 0 || (len(kinds) > 1 && !strings.Contains(out, kinds[0]+": ok, "+kinds[1]+": ok")) {
					t.Errorf("check's table after every kind's login: exit %d\n%s", code, out)
				}
				if r.share != "" {
					if s := row(t, rep, r.share); !s.ShareOK || !strings.HasPrefix(s.Share, "ok") {
						t.Errorf("check of the share after the web login: %+v", s)
					}
					resp, body := davDo(t, "GET", p.URL(r.shareFile), map[string]string{"Range": "bytes=0-99"}, "")
					if resp.StatusCode != http.StatusPartialContent || len(body) != 100 {
						t.Errorf("GET of a shared file after the web login: %s, %d bytes", resp.Status, len(body))
					}
				}
			})

			t.Run("code ends", func(t *testing.T) {
				stored := storedLogins(t, r.stateDir)
				for _, end := range []struct {
					name string
					do   func(*fakecloud.QRCodes, string) error
					// says: what the last line may say. A cancelled Open API
					// code of Aliyun answers as expired, as the protocol has
					// no status for it
					// (docs/protocols/accounts-offline-shares.md §3.1).
					says []string
				}{
					{"expired", (*fakecloud.QRCodes).ExpireLogin, []string{"the code expired: run pandav login again"}},
					{"cancelled", (*fakecloud.QRCodes).CancelLogin, []string{"cancelled in the app: the stored login is as it was", "the code expired: run pandav login again"}},
				} {
					l := startLogin(t, r.q, "--no-qr", "-c", r.configPath, r.mount)
					if err := r.q.ScanLogin(l.code.ID); err != nil {
						t.Fatal(err)
					}
					l.waitStdout(t, regexp.MustCompile("scanned: confirm the login on your phone"))
					if err := end.do(r.q, l.code.ID); err != nil {
						t.Fatal(err)
					}
					code := l.exit(t)
					last := lastLine(l.errs.String())
					if code != 1 || !slices.ContainsFunc(end.says, func(s string) bool { return last == "pandav login: "+s }) {
						t.Errorf("%s: exit %d, last line %q; want 1 and one of %q\n%s", end.name, code, last, end.says, l.errs.String())
					}
					stderrs.WriteString(l.errs.String())
				}
				if now := storedLogins(t, r.stateDir); !maps.Equal(now, stored) {
					t.Errorf("a login that ended without a confirmation changed the stored logins")
				}
			})

			t.Run("without a server", func(t *testing.T) {
				if !p.Stop() {
					t.Fatal("pandav serve did not stop on SIGTERM")
				}
				fails, ok := cl.(fakecloud.FailingLogins)
				stored := storedLogins(t, r.stateDir)
				if ok {
					for what, opts := range fails.FailingLoginOptions() {
						cfg := r.writeConfig(t, "failing.yaml", opts)
						code, _, errs := runCLI(t, "login", "--no-qr", "-c", cfg, r.mount)
						stderrs.WriteString(errs)
						line := strings.TrimSpace(errs)
						names := slices.ContainsFunc(slices.Collect(maps.Keys(opts)), func(k string) bool { return strings.Contains(line, k) })
						if code != 1 || strings.Contains(line, "\n") || !strings.HasPrefix(line, "pandav login: ") || !names {
							t.Errorf("%s: exit %d, %q; want 1 and one sentence naming an option of %v", what, code, errs, opts)
						}
					}
				}
				if now := storedLogins(t, r.stateDir); !maps.Equal(now, stored) {
					t.Errorf("a login that could not start changed the stored logins")
				}

				l := startLogin(t, r.q, "-c", r.configPath, r.mount) // the code drawn
				// The command holds state_dir while it runs.
				code, _, errs := runCLI(t, "serve", "-c", r.configPath, "--listen", freeAddr(t))
				if want := fmt.Sprintf("PID %d", l.cmd.Process.Pid); code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "(running login)") {
					t.Errorf("serve while pandav login runs: exit %d, %q; want 1 naming %s", code, errs, want)
				}
				if err := r.q.ConfirmLogin(l.code.ID); err != nil {
					t.Fatal(err)
				}
				if code := l.exit(t); code != 0 || !strings.Contains(l.out.String(), "The login is stored in "+r.stateDir) {
					t.Fatalf("pandav login without a server: exit %d\n%s\n%s", code, l.out.String(), l.errs.String())
				}
				stderrs.WriteString(l.errs.String())
				latest := cl.Login().Latest()
				p2 := startServe(t, r.configPath)
				listsSample(t, p2, r.mount)
				if n := cl.Login().Reuses(); n != 0 {
					t.Errorf("the cloud saw %d trades of a spent refresh token", n)
				}
				if !anyContains(tokenFiles(r.stateDir, cl.TokenFilePrefix()), latest) {
					t.Errorf("the server's token file does not hold the login pandav login stored")
				}
				p2.Stop()
				checkNoSecrets(t, cl, map[string]string{"the second server's log": p2.Stderr()})
			})
			p.Stop()
			checkNoSecrets(t, cl, map[string]string{"pandav serve's log": p.Stderr(), "the commands' stderr": stderrs.String()})

			// The other ways the mount logs in, each with a state_dir of
			// its own.
			if v, ok := cl.(fakecloud.LoginVariants); ok {
				for way, opts := range v.LoginVariantOptions() {
					t.Run(way, func(t *testing.T) {
						r := newLoginRig(t, cl, opts, false)
						p := startServe(t, r.configPath)
						r.login(t, r.configPath)
						listsSample(t, p, r.mount)
						code, rep, _ := checkJSON(t, "-c", r.configPath)
						if m := row(t, rep, r.mount); code != 0 || !m.OK || m.Account == "" {
							t.Errorf("check after a login %s: exit %d, %+v", way, code, m)
						}
						if n := cl.Login().Reuses(); n != 0 {
							t.Errorf("the cloud saw %d trades of a spent refresh token", n)
						}
					})
				}
			}
		})
	}
}

// TestCheckDemo: pandav check against the demo says every mount is fine
// and exits 0, through the running demo. On the same config over
// emulators of its own, a check without a server opens the mounts
// itself; with a server, checks go through it and trade no refresh token
// twice; a login revoked in its cloud makes check name that mount, with
// the cloud's refusal, and exit 1. A second server on the same state_dir
// exits non-zero naming the first's PID.
func TestCheckDemo(t *testing.T) {
	t.Parallel()
	t.Run("the demo", func(t *testing.T) {
		t.Parallel()
		p := startPandav(t, "demo")
		var cfg string
		for deadline := time.Now().Add(30 * time.Second); cfg == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if m := regexp.MustCompile(`pandav check -c (\S+)\n`).FindStringSubmatch(p.Stderr()); m != nil {
				cfg = m[1]
			}
		}
		if cfg == "" {
			t.Fatalf("pandav demo printed no config for pandav check:\n%s", p.Stderr())
		}
		code, out, errs := runCLI(t, "check", "-c", cfg)
		t.Logf("pandav check of the demo:\n%s", out)
		if code != 0 || !strings.Contains(errs, fmt.Sprintf("through the running pandav (PID %d)", p.cmd.Process.Pid)) {
			t.Fatalf("check of the demo: exit %d\n%s\n%s", code, out, errs)
		}
		for _, e := range demo.Clouds {
			if !strings.Contains(out, "/"+e.Name+" ") {
				t.Errorf("check of the demo has no row for /%s:\n%s", e.Name, out)
			}
		}
		if !regexp.MustCompile(`all \d+ mounts are fine`).MatchString(out) {
			t.Errorf("check of the demo does not say every mount is fine:\n%s", out)
		}
	})

	d, err := demo.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	cfg := d.ConfigPath
	code, rep, errs := checkJSON(t, "-c", cfg)
	if code != 0 || !rep.OK || len(rep.Mounts) != len(d.Config.Mounts) || strings.Contains(errs, "through the running pandav") {
		t.Fatalf("check with no server: exit %d, %+v\n%s", code, rep, errs)
	}
	p := startServe(t, cfg)
	through := fmt.Sprintf("through the running pandav (PID %d)", p.cmd.Process.Pid)
	rotations := map[string]int{}
	for _, cl := range d.Clouds {
		rotations[cl.Name()] = cl.Login().Rotations()
	}
	for range 2 {
		code, out, errs := runCLI(t, "check", "-c", cfg)
		if code != 0 || !strings.Contains(errs, through) || strings.Contains(out, "✗") {
			t.Fatalf("check through the server: exit %d\n%s\n%s", code, out, errs)
		}
	}
	for _, cl := range d.Clouds {
		// The server may trade a token once, for itself; a check that
		// traded one too would spend it a second time.
		if n := cl.Login().Rotations() - rotations[cl.Name()]; n > 1 {
			t.Errorf("%s: %d refresh tokens traded during two checks through the server", cl.Name(), n)
		}
		if n := cl.Login().Reuses(); n != 0 {
			t.Errorf("%s: the cloud saw %d trades of a spent refresh token", cl.Name(), n)
		}
	}

	revoked := d.Clouds[len(d.Clouds)-1]
	mount := demo.MountPath(revoked)
	revoked.Login().RevokeAll()
	code, out, errs := runCLI(t, "check", "-c", cfg)
	t.Logf("pandav check with %s's login revoked:\n%s", mount, out)
	problems := regexp.MustCompile(`(?m)^✗ .*$`).FindAllString(out, -1)
	// A cloud pandav can log in says to run pandav login; one it cannot
	// says what its own refusal says.
	_, loginable := revoked.(fakecloud.QRLogins)
	advice := ")"
	if loginable {
		advice = "run pandav login " + mount
	}
	if code != 1 || !strings.Contains(errs, through) || len(problems) != 1 ||
		!strings.HasPrefix(problems[0], "✗ "+mount+": the cloud refused the login (") || !strings.HasSuffix(problems[0], advice) {
		t.Errorf("check with %s's login revoked: exit %d; want 1 and one problem, of %s, with the refusal\n%s\n%s", mount, code, mount, out, errs)
	}
	if n := revoked.Login().Reuses(); n != 0 {
		t.Errorf("the cloud saw %d trades of a spent refresh token", n)
	}
	// The server's log says it too: pandav never sent that token.
	if !strings.Contains(p.Stderr(), "another program used this refresh token") || (loginable && !strings.Contains(p.Stderr(), "pandav login -c <config> "+mount)) {
		t.Errorf("pandav serve's log does not say another program used %s's token, nor to run pandav login:\n%s", mount, tail(p.Stderr(), 3000))
	}

	second := runTool(t, time.Minute, nil, pandavBin, "serve", "-c", cfg, "--listen", freeAddr(t))
	msg := string(second.Stderr) + string(second.Stdout)
	host, _ := os.Hostname()
	if second.Code == 0 || !strings.Contains(msg, fmt.Sprintf("PID %d on %s", p.cmd.Process.Pid, host)) {
		t.Errorf("a second serve on the same state_dir: exit %d, %q; want non-zero naming PID %d", second.Code, msg, p.cmd.Process.Pid)
	}
	p.Stop()
	for _, cl := range d.Clouds {
		checkNoSecrets(t, cl, map[string]string{"pandav serve's log": p.Stderr()})
	}
}
