package integration

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// The web console, driven in headless Chromium (Debian's chromium)
// through the DevTools protocol: one browser for every test of the file,
// one isolated browser context (its own cookies) per test.

// xssName is a file name that would run script if a page put it into
// markup unescaped.
const xssName = `<img src=x onerror=alert(1)>.mp4`

// needChromium is the path of Chromium; a missing one skips the test,
// but fails it under CI, where .ci/run installs it.
func needChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (CI is set; .ci/run installs it)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser is one headless Chromium for the tests, and the folder their
// screenshots go to.
type browser struct {
	ctx   context.Context // the browser's first tab; new contexts come from it
	shots string
}

var (
	browserOnce sync.Once
	theBrowser  *browser
	browserErr  error
	stopBrowser = func() {}
)

// sharedBrowser starts Chromium once, headless, with a fresh profile and
// nothing that calls home; closeBrowser (TestMain) stops it.
func sharedBrowser(t testing.TB) *browser {
	t.Helper()
	path := needChromium(t)
	browserOnce.Do(func() {
		profile, err := os.MkdirTemp("", "pandav-chromium-")
		if err != nil {
			browserErr = err
			return
		}
		shots := os.Getenv("PANDAV_SCREENSHOTS")
		if shots == "" {
			shots, err = os.MkdirTemp("", "pandav-screenshots-")
			if err != nil {
				browserErr = err
				return
			}
		}
		if err := os.MkdirAll(shots, 0o755); err != nil {
			browserErr = err
			return
		}
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.UserDataDir(profile),
			chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("no-default-browser-check", true),
			chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
			chromedp.Flag("mute-audio", true), chromedp.WindowSize(1280, 900),
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		if err := chromedp.Do(ctx); err != nil {
			cancelCtx()
			cancelAlloc()
			os.RemoveAll(profile)
			browserErr = fmt.Errorf("starting chromium: %w", err)
			return
		}
		theBrowser = &browser{ctx: ctx, shots: shots}
		stopBrowser = func() {
			cancelCtx()
			cancelAlloc()
			os.RemoveAll(profile)
		}
		fmt.Fprintf(os.Stderr, "integration: browser screenshots go to %s\n", shots)
	})
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	return theBrowser
}

// closeBrowser stops the shared Chromium, if one started.
func closeBrowser() { stopBrowser() }

// tab is a new tab in a browser context of its own (its own cookies),
// closed with the test; a JavaScript dialog (alert) fails the test.
func (b *browser) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Each step gets a bounded time, so a page that never shows what a
	// test waits for fails it instead of hanging.
	tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(tcancel)
	// What the page did wrong, gathered by the listener and reported when
	// the test ends: a dialog (alert), an uncaught exception, an error in
	// the browser's log (a refused script, a CSP violation).
	var mu sync.Mutex
	var problems []string
	note := func(format string, a ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	err := chromedp.Listen(tctx, func(ev any) {
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			note("a JavaScript dialog opened (%s): %q", e.Type, e.Message)
			go chromedp.Call(tctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			note("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, desc)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				note("browser log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Error(p)
		}
	})
	return tctx
}

// shot saves the page as a PNG under the screenshot folder.
func (b *browser) shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("screenshot: %s", p)
}

// run runs actions, failing the test with what it was doing.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls expr in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// evalJS evaluates expr in the page, awaiting it when it is a promise.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// navigate loads u and returns its HTTP status.
func navigate(t *testing.T, ctx context.Context, u string) int {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(u))
	if err != nil {
		t.Fatalf("loading %s: %v", u, err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// follow clicks the link css names and waits for the page it loads.
func follow(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("following %s: %v", css, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("following %s: status %d", css, resp.Status)
	}
}

// signIn signs the tab in by the form, from a page that sent it there.
func signIn(t *testing.T, ctx context.Context, p *pandavProc, start, user, password string) {
	t.Helper()
	navigate(t, ctx, p.URL(start))
	run(t, ctx, "the sign-in form", chromedp.WaitVisible(chromedp.ID("signin")))
	loc := evalJS[string](t, ctx, "location.href")
	if !strings.Contains(loc, "/.pandav/signin?next=") {
		t.Fatalf("a browser without a session is sent to %s, not to the sign-in form", loc)
	}
	run(t, ctx, "signing in",
		chromedp.SendKeys(chromedp.ID("user"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("signin")),
		chromedp.WaitNotPresent(chromedp.ID("signin")))
}

// consoleRig is one pandav over every emulator, with an admin, a user
// who is not one, the cloud-download and share-link features on, and an
// XSS-named file in every drive.
type consoleRig struct {
	c *clouds
	p *pandavProc
	b *browser
}

const (
	adminUser, adminPassword = "admin", "console-admin-pw"
	plainUser, plainPassword = "bob", "console-bob-pw"
)

func startConsoleRig(t *testing.T) *consoleRig {
	t.Helper()
	b := sharedBrowser(t)
	c := fastClouds(t, map[string]fakecloud.Blob{"/xss/" + xssName: fakecloud.BytesBlob(sample.Video()[:1024])})
	mo := map[string]map[string]any{}
	for _, cl := range c.Each() {
		if h, ok := cl.(demo.ShareHost); ok {
			mo[cl.Name()] = maps.Clone(h.ShareAccountOptions())
		}
	}
	cfg, _ := c.WriteConfigWith(t, serveOptions{
		Fast:         true,
		Users:        fmt.Sprintf(`[{name: %s, password: %s, admin: true}, {name: %s, password: %s}]`, adminUser, adminPassword, plainUser, plainPassword),
		MountOptions: mo,
	})
	return &consoleRig{c: c, p: startServe(t, cfg), b: b}
}

// TestBrowser drives the files pages and the console in Chromium.
func TestBrowser(t *testing.T) {
	r := startConsoleRig(t)
	t.Run("Files", r.testFiles)
	t.Run("PhoneWithoutScript", r.testPhoneWithoutScript)
	t.Run("Video", r.testVideo)
	t.Run("UploadRenameDelete", r.testUpload)
	t.Run("XSS", r.testXSS)
	t.Run("CSRF", r.testCSRF)
	t.Run("NotAdmin", r.testNotAdmin)
	t.Run("Throttled", r.testThrottled)
	t.Run("MountLogin", r.testMountLogin)
	t.Run("CloudDownload", r.testCloudDownload)
	t.Run("Shares", r.testShares)
}

// firstWith is the first cloud that has what T offers, or skips the test.
func firstWith[T any](t *testing.T, c *clouds, what string) (fakecloud.Cloud, T) {
	t.Helper()
	for _, cl := range c.Each() {
		if v, ok := cl.(T); ok {
			return cl, v
		}
	}
	t.Skipf("no emulator has %s", what)
	var zero T
	return nil, zero
}

// testThrottled: a cloud that keeps throttling a WebDAV read shows on
// its mount's card.
func (r *consoleRig) testThrottled(t *testing.T) {
	cl := r.c.Each()[0]
	mount := demo.MountPath(cl)
	cl.Faults().Inject(cl.Endpoints().Link, fakecloud.Throttle, 1, -1)
	req, _ := http.NewRequest(http.MethodGet, r.p.URL(mount+"/Documents/notes with spaces.txt"), nil)
	req.SetBasicAuth(adminUser, adminPassword)
	resp, err := httpClient.Do(req)
	cl.Faults().Clear()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a read the cloud throttles: %d, want 503", resp.StatusCode)
	}
	ctx := r.adminTab(t, "/.pandav/mounts")
	waitJS(t, ctx, "the card says throttled", `(() => {
		const card = document.querySelector('article.card[data-mount="`+mount+`"]');
		return card && Array.from(card.querySelectorAll(".kv")).some(kv => kv.textContent.startsWith("Throttledyes"));
	})()`)
	r.b.shot(t, ctx, "mount-card-throttled")
}

// testMountLogin logs a mount in by its QR code from the mounts page: the
// emulator's control scans and confirms the code, and the card turns
// healthy. This pandav has no users: the console answers its own
// machine's browser.
func (r *consoleRig) testMountLogin(t *testing.T) {
	cl, _ := firstWith[fakecloud.QRLogins](t, r.c, "QR logins")
	rig := newLoginRig(t, cl, nil, false)
	p := startServe(t, rig.configPath)
	ctx := r.b.tab(t)
	navigate(t, ctx, p.URL("/.pandav/mounts"))
	card := `article.card[data-mount="` + rig.mount + `"]`
	run(t, ctx, "the card says not logged in", chromedp.WaitVisible(chromedp.CSS(card+` .badge[data-state="none"]`)))
	run(t, ctx, "log in", chromedp.Click(chromedp.CSS(card+" button.login-button")))
	waitJS(t, ctx, "the QR code", `(() => { const i = document.getElementById("login-qr"); return i.complete && i.naturalWidth > 100 && document.getElementById("login-state").dataset.state === "waiting"; })()`)
	r.b.shot(t, ctx, "login-qr")
	var code fakecloud.PendingLogin
	waitFor(t, 10*time.Second, "the code among the cloud's pending ones", func() bool {
		pending := rig.q.PendingLogins()
		if len(pending) == 0 {
			return false
		}
		code = pending[len(pending)-1]
		return true
	})
	if err := rig.q.ScanLogin(code.ID); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "scanned", `document.getElementById("login-state").dataset.state === "scanned"`)
	if err := rig.q.ConfirmLogin(code.ID); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "finished", `document.getElementById("login-state").dataset.state === "finished"`)
	run(t, ctx, "close", chromedp.Click(chromedp.ID("login-close")))
	run(t, ctx, "the card turns healthy", chromedp.WaitVisible(chromedp.CSS(card+` .badge[data-state="ok"]`)))
	r.b.shot(t, ctx, "mount-card")
	run(t, ctx, "a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	if !evalJS[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Error("the mounts page is wider than a phone")
	}
	r.b.shot(t, ctx, "mount-card-phone")
	listsSample(t, p, rig.mount)
}

// testCloudDownload adds a link on the cloud-download page and watches
// its task reach done by itself, then clears it.
func (r *consoleRig) testCloudDownload(t *testing.T) {
	_, cd := firstWith[fakecloud.CloudDownloads](t, r.c, "cloud download")
	// A task takes about four seconds.
	cd.SetDownloadSpeed(float64(cd.DownloadTime()) / float64(4*time.Second))
	ctx := r.adminTab(t, "/.pandav/downloads")
	waitJS(t, ctx, "the mounts with cloud download", `document.querySelectorAll("#dl-mount option").length > 0`)
	run(t, ctx, "add a link",
		chromedp.SendKeys(chromedp.ID("dl-links"), "https://downloads.example.com/browser-report.pdf"),
		chromedp.Click(chromedp.ID("dl-submit")),
		chromedp.WaitVisible(chromedp.CSS("#dl-results li.ok")),
		chromedp.WaitVisible(chromedp.CSS("tr.task")))
	waitJS(t, ctx, "the task under way", `(() => { const t = document.querySelector("tr.task"); return t && t.dataset.status !== "queued"; })()`)
	r.b.shot(t, ctx, "downloads-tasks")
	waitJS(t, ctx, "the task done", `document.querySelector("tr.task").dataset.status === "done"`)
	if got := evalJS[string](t, ctx, `document.querySelector("tr.task .bar").getAttribute("aria-valuenow")`); got != "100" {
		t.Errorf("a done task's bar is at %s", got)
	}
	r.b.shot(t, ctx, "downloads-done")
	// A .torrent from the computer becomes a task; Delete removes it.
	// Its clock stopped, so that it is still queued when it is deleted.
	cd.SetDownloadSpeed(0)
	_, _, torrentData, torrentName, _ := offlineInputs("browser")
	local := filepath.Join(t.TempDir(), torrentName+".torrent")
	if err := os.WriteFile(local, torrentData, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "add a torrent", chromedp.SetUploadFiles(chromedp.ID("dl-torrent"), []string{local}), chromedp.Click(chromedp.ID("dl-submit")))
	waitJS(t, ctx, "the torrent's task", `document.querySelectorAll("tr.task").length === 2`)
	if got := evalJS[string](t, ctx, `document.querySelector("#dl-results li").textContent`); !strings.Contains(got, torrentName+".torrent: added") {
		t.Errorf("adding the torrent says %q", got)
	}
	bt := `tr.task:not([data-status="done"])`
	run(t, ctx, "delete the torrent's task", chromedp.Click(chromedp.CSS(bt+" button.task-delete")), chromedp.WaitVisible(chromedp.ID("ask-ok")),
		chromedp.Click(chromedp.ID("ask-ok")))
	waitJS(t, ctx, "one task left", `document.querySelectorAll("tr.task").length === 1`)
	run(t, ctx, "clear done", chromedp.Click(chromedp.CSS(`button[data-clear="done"]`)), chromedp.WaitVisible(chromedp.ID("ask-ok")),
		chromedp.Click(chromedp.ID("ask-ok")), chromedp.WaitNotPresent(chromedp.CSS("tr.task")))
}

// testShares makes a share link with a password and an expiry, finds it
// listed, and cancels it.
func (r *consoleRig) testShares(t *testing.T) {
	host, _ := firstWith[demo.ShareHost](t, r.c, "share links")
	ctx := r.adminTab(t, "/.pandav/shares")
	run(t, ctx, "create",
		chromedp.WaitVisible(chromedp.ID("sh-create")),
		chromedp.SendKeys(chromedp.ID("sh-paths"), demo.MountPath(host)+"/Movies"),
		chromedp.SendKeys(chromedp.ID("sh-password"), "ab12"),
		chromedp.Click(chromedp.ID("sh-submit")),
		chromedp.WaitVisible(chromedp.ID("sh-made")),
		chromedp.WaitVisible(chromedp.CSS(`tr.share[data-id]`)))
	text := evalJS[string](t, ctx, `document.getElementById("sh-text").value`)
	if !strings.Contains(text, "ab12") || !strings.Contains(text, "http") {
		t.Errorf("the share text %q lacks the link or its code", text)
	}
	if got := evalJS[string](t, ctx, `document.querySelector("tr.share .pwd").textContent`); got != "ab12" {
		t.Errorf("the listed password is %q", got)
	}
	// One click copies the share text.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
			Origin: strings.TrimSuffix(r.p.URL("/"), "/"), BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		}); err != nil {
			t.Fatalf("granting %s: %v", name, err)
		}
	}
	run(t, ctx, "copy the share text", chromedp.Click(chromedp.ID("sh-copy")))
	waitJS(t, ctx, "the text on the clipboard", `navigator.clipboard.readText().then(c => c === document.getElementById("sh-text").value, () => false)`)
	r.b.shot(t, ctx, "shares")
	run(t, ctx, "change the password", chromedp.Click(chromedp.CSS("tr.share button.share-edit")), chromedp.WaitVisible(chromedp.ID("sh-edit-password")),
		chromedp.SetValue(chromedp.ID("sh-edit-password"), "cd34"), chromedp.Click(chromedp.ID("sh-edit-ok")))
	waitJS(t, ctx, "the new password listed", `(() => { const p = document.querySelector("tr.share .pwd"); return p && p.textContent === "cd34"; })()`)
	run(t, ctx, "cancel", chromedp.Click(chromedp.CSS("tr.share button.share-cancel")), chromedp.WaitVisible(chromedp.ID("ask-ok")),
		chromedp.Click(chromedp.ID("ask-ok")), chromedp.WaitNotPresent(chromedp.CSS("tr.share")))
}

func (r *consoleRig) adminTab(t *testing.T, start string) context.Context {
	t.Helper()
	ctx := r.b.tab(t)
	signIn(t, ctx, r.p, start, adminUser, adminPassword)
	return ctx
}

// testFiles browses from / into the 2,500-entry folder, sorts it by size
// and by date, and filters it.
func (r *consoleRig) testFiles(t *testing.T) {
	mount := demo.MountPath(r.c.Each()[0])
	ctx := r.adminTab(t, "/")
	run(t, ctx, "the root lists the mounts", chromedp.WaitVisible(chromedp.CSS(`tr[data-name="`+mount[1:]+`"] a`)))
	follow(t, ctx, `tr[data-name="`+mount[1:]+`"] a`)
	many := strings.TrimPrefix(sample.ManyDir, "/")
	follow(t, ctx, `tr[data-name="`+many+`"] a`)
	waitJS(t, ctx, "the 2,500 rows", fmt.Sprintf(`document.querySelectorAll("tr.entry").length === %d`, sample.ManyCount))
	if crumbs := evalJS[string](t, ctx, `Array.from(document.querySelectorAll(".crumbs a")).map(a => a.textContent).join("|")`); crumbs != "Home|"+mount[1:]+"|"+many {
		t.Errorf("breadcrumbs %q", crumbs)
	}
	// Every file is the same size; names break the tie, so descending
	// size puts the last name first. Dates rise with the names.
	run(t, ctx, "sort by size", chromedp.Click(chromedp.CSS(`th a[data-sort="size"]`)))
	run(t, ctx, "sort by size, descending", chromedp.Click(chromedp.CSS(`th a[data-sort="size"]`)))
	if got := evalJS[string](t, ctx, `document.querySelector("tr.entry").dataset.name`); got != sample.ManyName(sample.ManyCount-1) {
		t.Errorf("sorted by size, descending, the first row is %q", got)
	}
	if ok := evalJS[bool](t, ctx, `(() => { const s = Array.from(document.querySelectorAll("tr.entry")).map(r => Number(r.dataset.size)); return s.every((v, i) => i === 0 || s[i-1] >= v); })()`); !ok {
		t.Error("the rows are not in descending size")
	}
	if loc := evalJS[string](t, ctx, `location.search`); !strings.Contains(loc, "sort=size") || !strings.Contains(loc, "order=desc") {
		t.Errorf("the address does not keep the sort: %q", loc)
	}
	if got := evalJS[string](t, ctx, `document.querySelector("tr.entry .size span").textContent`); !strings.HasSuffix(got, " B") && !strings.HasSuffix(got, "KiB") {
		t.Errorf("size shown as %q, not a human size", got)
	}
	run(t, ctx, "sort by date", chromedp.Click(chromedp.CSS(`th a[data-sort="date"]`)))
	if got := evalJS[string](t, ctx, `document.querySelector("tr.entry").dataset.name`); got != sample.ManyName(0) {
		t.Errorf("sorted by date, the first row is %q", got)
	}
	run(t, ctx, "filter", chromedp.SendKeys(chromedp.ID("filter"), "file 004"))
	waitJS(t, ctx, "ten rows left", `Array.from(document.querySelectorAll("tr.entry")).filter(r => !r.hidden).length === 10`)
	if got := evalJS[string](t, ctx, `document.getElementById("count").textContent`); got != "10 of 2500" {
		t.Errorf("count says %q", got)
	}
	r.b.shot(t, ctx, "files-2500-filtered")
	// Without script, the server sorts and filters.
	navigate(t, ctx, r.p.URL(mount+sample.ManyDir+"/")+"?sort=date&order=desc&q=file%20249")
	if got := evalJS[int](t, ctx, `document.querySelectorAll("tr.entry").length`); got != 10 {
		t.Errorf("?q=file 249 leaves %d rows", got)
	}
	if got := evalJS[string](t, ctx, `document.querySelector("tr.entry").dataset.name`); got != sample.ManyName(2499) {
		t.Errorf("?sort=date&order=desc puts %q first", got)
	}
	navigate(t, ctx, r.p.URL(mount+"/"))
	run(t, ctx, "the mount's folder", chromedp.WaitVisible(chromedp.ID("listing")))
	if got, want := evalJS[string](t, ctx, `document.getElementById("copy-dav").dataset.url`), r.p.URL(mount+"/"); got != want {
		t.Errorf("the WebDAV address is %q, want %q", got, want)
	}
	r.b.shot(t, ctx, "files-browser")
	// A WebDAV client's GET of a folder is the plain listing it always was.
	resp := basicGet(t, r.p.URL(mount+"/"), "*/*")
	if strings.Contains(resp, "<script") || !strings.Contains(resp, "<ul>") {
		t.Errorf("a GET without text/html is no longer the plain listing:\n%s", tail(resp, 400))
	}
}

// testPhoneWithoutScript browses on a phone-sized screen with script
// off: signing in, sorting and filtering are plain forms and links.
func (r *consoleRig) testPhoneWithoutScript(t *testing.T) {
	mount := demo.MountPath(r.c.Each()[0])
	ctx := r.b.tab(t)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	signIn(t, ctx, r.p, mount+"/", adminUser, adminPassword)
	follow(t, ctx, `tr[data-name="`+strings.TrimPrefix(sample.ManyDir, "/")+`"] a`)
	// The phone's layout leaves the date column out.
	follow(t, ctx, `th a[data-sort="size"]`)
	follow(t, ctx, `th a[data-sort="size"]`)
	if got := evalJS[string](t, ctx, `document.querySelector("tr.entry").dataset.name`); got != sample.ManyName(sample.ManyCount-1) {
		t.Errorf("sorted by size, descending, without script, the first row is %q", got)
	}
	run(t, ctx, "filter", chromedp.SendKeys(chromedp.ID("filter"), "file 12"))
	resp, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.ID("filter")))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("filtering without script: %v", err)
	}
	if got := evalJS[int](t, ctx, `document.querySelectorAll("tr.entry").length`); got != 100 {
		t.Errorf("filtered by \"file 12\" without script: %d rows, want 100", got)
	}
	if got := evalJS[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`); !got {
		t.Errorf("the page is wider than the phone: %d > %d", evalJS[int](t, ctx, `document.documentElement.scrollWidth`), evalJS[int](t, ctx, `window.innerWidth`))
	}
	r.b.shot(t, ctx, "files-phone-noscript")
}

// basicGet GETs u as the admin by Basic credentials with Accept.
func basicGet(t *testing.T, u, accept string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth(adminUser, adminPassword)
	req.Header.Set("Accept", accept)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// testVideo plays the sample video in the page, through pandav's own
// URL, sees it advance, seeks and sees it go on.
func (r *consoleRig) testVideo(t *testing.T) {
	mount := demo.MountPath(r.c.Each()[0])
	ctx := r.adminTab(t, mount+"/Movies/")
	name := filepath.Base(sample.VideoPath)
	run(t, ctx, "play", chromedp.Click(chromedp.CSS(`tr[data-name="`+name+`"] a.play`)))
	waitJS(t, ctx, "the video advances", `(() => { const v = document.getElementById("media"); return v && v.currentTime > 1.5 && !v.paused; })()`)
	if src := evalJS[string](t, ctx, `document.getElementById("media").currentSrc`); !strings.HasPrefix(src, r.p.URL("/")) || !strings.HasSuffix(src, mount+"/Movies/Sample%20Video.mp4") {
		t.Errorf("the video plays from %q, not pandav's own URL", src)
	}
	r.b.shot(t, ctx, "video-playing")
	run(t, ctx, "seek", chromedp.Evaluate[chromedp.Void](`document.getElementById("media").currentTime = 8`))
	waitJS(t, ctx, "the video goes on after the seek", `(() => { const v = document.getElementById("media"); return v.currentTime > 9 && !v.paused && v.error === null; })()`)
}

// testUpload uploads a file by the page's input, sees it listed, renames
// it and deletes it, and the cloud sees each step.
func (r *consoleRig) testUpload(t *testing.T) {
	cl := r.c.Each()[0]
	mount := demo.MountPath(cl)
	ctx := r.adminTab(t, mount+"/Documents/")
	local := filepath.Join(t.TempDir(), "from the browser.txt")
	content := strings.Repeat("uploaded by chromium\n", 5000)
	if err := os.WriteFile(local, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "upload", chromedp.SetUploadFiles(chromedp.ID("upload"), []string{local}))
	row := `tr[data-name="from the browser.txt"]`
	run(t, ctx, "the upload is listed", chromedp.WaitVisible(chromedp.CSS(row)))
	if got := cloudContent(t, cl, "/Documents/from the browser.txt"); got != content {
		t.Fatalf("the cloud holds %d bytes, want %d", len(got), len(content))
	}
	r.b.shot(t, ctx, "files-uploaded")
	run(t, ctx, "rename", chromedp.Click(chromedp.CSS(row+" button.rename")), chromedp.WaitVisible(chromedp.ID("ask-input")),
		chromedp.SetValue(chromedp.ID("ask-input"), "renamed by chromium.txt"), chromedp.Click(chromedp.ID("ask-ok")))
	renamed := `tr[data-name="renamed by chromium.txt"]`
	run(t, ctx, "the renamed file is listed", chromedp.WaitVisible(chromedp.CSS(renamed)))
	if got := evalJS[int](t, ctx, `document.querySelectorAll('`+row+`').length`); got != 0 {
		t.Error("the old name is still listed")
	}
	run(t, ctx, "delete", chromedp.Click(chromedp.CSS(renamed+" button.delete")), chromedp.WaitVisible(chromedp.ID("ask-ok")))
	if text := evalJS[string](t, ctx, `document.getElementById("ask-text").textContent`); !strings.Contains(text, "Delete renamed by chromium.txt") {
		t.Errorf("the confirmation says %q", text)
	}
	run(t, ctx, "confirm", chromedp.Click(chromedp.ID("ask-ok")), chromedp.WaitNotPresent(chromedp.CSS(renamed)))
	waitCloud(t, "the file gone from the cloud", func() error {
		if _, err := cl.Tree().Lookup("/Documents/renamed by chromium.txt"); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	// A new folder, by MKCOL from the page.
	run(t, ctx, "new folder", chromedp.Click(chromedp.ID("mkdir")), chromedp.WaitVisible(chromedp.ID("ask-input")),
		chromedp.SetValue(chromedp.ID("ask-input"), "made in chromium"), chromedp.Click(chromedp.ID("ask-ok")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="made in chromium"][data-dir="true"]`)))
	// Files dropped on the page upload, each with its progress bar.
	run(t, ctx, "drop two files", chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(["dropped one"], "dropped 1.txt", {type: "text/plain"}));
		dt.items.add(new File(["dropped two"], "dropped 2.txt", {type: "text/plain"}));
		document.querySelector("main").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`))
	waitJS(t, ctx, "a progress bar per file", `document.querySelectorAll("#uploads .upload progress").length === 2 || document.querySelectorAll('tr[data-name^="dropped "]').length === 2`)
	run(t, ctx, "the dropped files listed", chromedp.WaitVisible(chromedp.CSS(`tr[data-name="dropped 2.txt"]`)))
	if got := cloudContent(t, cl, "/Documents/dropped 1.txt"); got != "dropped one" {
		t.Errorf("the dropped file holds %q", got)
	}
	// Move, by a path: into the new folder.
	run(t, ctx, "move", chromedp.Click(chromedp.CSS(`tr[data-name="dropped 1.txt"] button.rename`)), chromedp.WaitVisible(chromedp.ID("ask-input")),
		chromedp.SetValue(chromedp.ID("ask-input"), mount+"/Documents/made in chromium/dropped 1.txt"), chromedp.Click(chromedp.ID("ask-ok")),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-name="dropped 1.txt"]`)))
	if got := cloudContent(t, cl, "/Documents/made in chromium/dropped 1.txt"); got != "dropped one" {
		t.Errorf("the moved file holds %q", got)
	}
}

// cloudContent is a file of cl's tree, once it is there.
func cloudContent(t *testing.T, cl fakecloud.Cloud, p string) string {
	t.Helper()
	var got string
	waitCloud(t, p+" in the cloud", func() error {
		n, err := cl.Tree().Lookup(p)
		if err != nil {
			return err
		}
		b := make([]byte, n.Blob.Size())
		if _, err := n.Blob.ReadAt(b, 0); err != nil && int64(len(b)) != n.Blob.Size() {
			return err
		}
		got = string(b)
		return nil
	})
	return got
}

// testXSS lists a file named as markup: it shows as text, and nothing
// runs.
func (r *consoleRig) testXSS(t *testing.T) {
	mount := demo.MountPath(r.c.Each()[0])
	ctx := r.adminTab(t, mount+"/xss/")
	run(t, ctx, "the listing", chromedp.WaitVisible(chromedp.CSS("tr.entry")))
	if got := evalJS[string](t, ctx, `document.querySelector("tr.entry .n").textContent`); got != xssName {
		t.Errorf("the name shows as %q", got)
	}
	if n := evalJS[int](t, ctx, `document.querySelectorAll("img").length`); n != 0 {
		t.Errorf("the name made %d img elements", n)
	}
	// The player and the dialogs put the name in by textContent too.
	run(t, ctx, "play it", chromedp.Click(chromedp.CSS("tr.entry a.play")), chromedp.WaitVisible(chromedp.ID("player-name")))
	run(t, ctx, "ask to delete it", chromedp.Click(chromedp.CSS("tr.entry button.delete")), chromedp.WaitVisible(chromedp.ID("ask-text")))
	if n := evalJS[int](t, ctx, `document.querySelectorAll("img").length`); n != 0 {
		t.Errorf("the page made %d img elements", n)
	}
	r.b.shot(t, ctx, "xss-name-as-text")
	run(t, ctx, "cancel", chromedp.Click(chromedp.ID("ask-cancel")))
	time.Sleep(300 * time.Millisecond) // an onerror would have fired by now
}

// testCSRF: a change a session cookie authorises needs the page's token;
// Basic-auth clients need none.
func (r *consoleRig) testCSRF(t *testing.T) {
	mount := demo.MountPath(r.c.Each()[0])
	ctx := r.adminTab(t, mount+"/")
	status := func(expr string) int {
		t.Helper()
		return evalJS[int](t, ctx, expr)
	}
	put := func(name string, headers string) string {
		return fmt.Sprintf(`fetch(%q, {method: "PUT", body: "x", headers: %s}).then(r => r.status)`, mount+"/"+name, headers)
	}
	if got := status(put("csrf-none.txt", `{}`)); got != http.StatusForbidden {
		t.Errorf("a PUT with the cookie and no token: %d, want 403", got)
	}
	if got := status(put("csrf-wrong.txt", `{"X-Pandav-Token": "wrong"}`)); got != http.StatusForbidden {
		t.Errorf("a PUT with a wrong token: %d, want 403", got)
	}
	if got := status(`fetch("/.pandav/api/v1/logins", {method: "POST", headers: {"X-Pandav-CSRF": "1", "Content-Type": "application/json"}, body: "{\"mount\": \"` + mount + `\"}"}).then(r => r.status)`); got != http.StatusForbidden {
		t.Errorf("an admin API change with the cookie and no token: %d, want 403", got)
	}
	if got := status(put("csrf-token.txt", `{"X-Pandav-Token": document.querySelector('meta[name="pandav-token"]').content}`)); got != http.StatusCreated {
		t.Errorf("a PUT with the page's token: %d, want 201", got)
	}
	// A Basic-auth client sends no token and needs none.
	req, _ := http.NewRequest(http.MethodPut, r.p.URL(mount+"/csrf-basic.txt"), strings.NewReader("x"))
	req.SetBasicAuth(adminUser, adminPassword)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("a Basic-auth PUT: %d, want 201", resp.StatusCode)
	}
	// The cookie is HttpOnly, SameSite=Strict, and expires.
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	cookies := got.Cookies
	if len(cookies) != 1 || !cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict || cookies[0].Expires <= 0 {
		t.Errorf("session cookie: %+v", cookies)
	}
	// A page's headers: the CSP allows no inline script.
	if got := evalJS[string](t, ctx, `document.querySelectorAll("script:not([src])").length + ""`); got != "0" {
		t.Errorf("%s inline scripts", got)
	}
}

// testNotAdmin: a user who is not an admin browses the files but gets
// 403 on the console's pages.
func (r *consoleRig) testNotAdmin(t *testing.T) {
	ctx := r.b.tab(t)
	signIn(t, ctx, r.p, "/", plainUser, plainPassword)
	if n := evalJS[int](t, ctx, `document.querySelectorAll("tr.entry").length`); n == 0 {
		t.Error("the user sees no files")
	}
	for _, p := range []string{"/.pandav/mounts", "/.pandav/downloads", "/.pandav/shares"} {
		if got := navigate(t, ctx, r.p.URL(p)); got != http.StatusForbidden {
			t.Errorf("%s for a user who is not an admin: %d, want 403", p, got)
		}
	}
	r.b.shot(t, ctx, "not-admin-403")
	if got := evalJS[int](t, ctx, `fetch("/.pandav/api/v1/mounts").then(r => r.status)`); got != http.StatusForbidden {
		t.Errorf("the admin API for a user who is not an admin: %d", got)
	}
}
