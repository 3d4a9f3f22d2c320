package pan115

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/fakecloud"
)

// testPolicy keeps backoff at milliseconds so the suite stays fast.
var testPolicy = upstream.Policy{Attempts: 8, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, GiveUpAfter: time.Second}

type fixture struct {
	srv      *pan115test.Server
	d        *Drive
	stateDir string
	shared   *drivers.Shared // the pandav the mount is in
}

// quiet is the emulator for most tests: small pages, no rate check.
var quiet = pan115test.Options{PageCap: 100, QPS: -1}

func setup(t *testing.T, so pan115test.Options, mod func(*Options)) *fixture {
	t.Helper()
	srv := pan115test.NewServer(so)
	t.Cleanup(srv.Close)
	o := Options{
		RefreshToken: srv.Login().Issue().Refresh,
		APIURL:       srv.APIURL(),
		PassportURL:  srv.PassportURL(),
		PageSize:     100,
		QPS:          1000,
		ScanBudget:   60000,
	}
	if mod != nil {
		mod(&o)
	}
	return open(t, srv, o, t.TempDir(), drivers.NewShared())
}

// open mounts o in the pandav whose store is shared.
func open(t *testing.T, srv *pan115test.Server, o Options, stateDir string, shared *drivers.Shared) *fixture {
	t.Helper()
	d, err := New(context.Background(), drivers.Env{MountPath: "/115", StateDir: stateDir, Log: zerolog.Nop(), Shared: shared}, o)
	if err != nil {
		t.Fatal(err)
	}
	d.policy = testPolicy
	return &fixture{srv: srv, d: d, stateDir: stateDir, shared: shared}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func dirEntry(id string) drivers.Entry { return drivers.Entry{ID: id, IsDir: true} }

// TestConformanceSubfolder runs the read suite on a mount of a subfolder,
// with small pages and numbers sent as strings; drivertest's TestClouds
// runs it on the drive's root with the defaults.
func TestConformanceSubfolder(t *testing.T) {
	const root = "/挂载 点/115"
	drivertest.RunRead(t, func(t *testing.T) *drivertest.Fixture {
		// PageCap matches setup's page size, so the suite's folders span
		// several of the driver's pages.
		f := setup(t, pan115test.Options{PageCap: 100, QPS: -1, StringNumbers: true}, func(o *Options) { o.Root = root })
		n, err := f.srv.Tree().MkdirAll(root)
		if err != nil {
			t.Fatal(err)
		}
		return &drivertest.Fixture{Drive: f.d, Cloud: f.srv, RootID: n.ID}
	})
}

func TestLargeFolderPastServerCap(t *testing.T) {
	ctx := ctxT(t)
	// The emulator caps pages at 1150 while the driver asks for 2000: a
	// driver that advanced by its own limit would lose 850 of each 2000.
	f := setup(t, pan115test.Options{QPS: -1}, func(o *Options) { o.PageSize = 2000 })
	dir, err := f.srv.Tree().MkdirAll("/2500 files")
	if err != nil {
		t.Fatal(err)
	}
	const n = 2500
	for i := 0; i < n; i++ {
		if _, err := f.srv.Tree().Put(dir.ID, fmt.Sprintf("file %04d.txt", i), fakecloud.BytesBlob([]byte{byte(i)}), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	before := f.srv.Counters().Get(pan115test.EndpointFiles)
	kids, err := f.d.List(ctx, dirEntry(dir.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != n {
		t.Fatalf("listed %d entries, want %d", len(kids), n)
	}
	names := map[string]bool{}
	for _, k := range kids {
		names[k.Name] = true
	}
	if len(names) != n {
		t.Fatalf("%d distinct names, want %d", len(names), n)
	}
	if calls := f.srv.Counters().Get(pan115test.EndpointFiles) - before; calls != 3 {
		t.Fatalf("listing cost %d calls, want 3 pages of at most 1150", calls)
	}
}

// accessToken returns the driver's current access token, priming it.
func (f *fixture) accessToken(t *testing.T) string {
	t.Helper()
	tok, err := f.d.ts.Access(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// raw calls the emulator directly and returns the body as sent.
func (f *fixture) raw(t *testing.T, method, path string, form url.Values) string {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.APIURL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.accessToken(t))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestIDsAbove2To53RoundTrip(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	file, err := f.srv.Tree().PutPath("/a/b/file.bin", fakecloud.BytesBlob([]byte("data")))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.srv.Tree().Lookup("/a")
	b, _ := f.srv.Tree().Lookup("/a/b")
	for _, id := range []string{a.ID, b.ID, file.ID} {
		v, err := strconv.ParseUint(id, 10, 64)
		if err != nil || v <= 1<<53 || len(id) != 19 {
			t.Fatalf("emulator ID %q is not a 19-digit ID above 2^53", id)
		}
		if strconv.FormatFloat(float64(v), 'f', 0, 64) == id {
			t.Fatalf("ID %s survives float64; the test proves nothing", id)
		}
	}
	// The emulator sends the listing's cid as a bare 19-digit number.
	if body := f.raw(t, http.MethodGet, "/open/ufile/files?show_dir=1&cid="+b.ID, nil); !strings.Contains(body, `"cid":`+b.ID+`,`) {
		t.Fatalf("listing does not carry cid %s as a JSON number: %.300s", b.ID, body)
	}
	got, err := drivertest.Resolve(ctx, f.d, "/a/b/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != file.ID || got.ParentID != b.ID {
		t.Fatalf("listed ID %s parent %s, want %s parent %s", got.ID, got.ParentID, file.ID, b.ID)
	}
	dir, err := drivertest.Resolve(ctx, f.d, "/a/b")
	if err != nil || dir.ID != b.ID {
		t.Fatalf("folder ID %s (%v), want %s", dir.ID, err, b.ID)
	}
	ge, err := f.d.Get(ctx, file.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ge.ID != file.ID || ge.ParentID != b.ID || ge.Size != 4 || ge.SHA1 != file.Blob.SHA1() {
		t.Fatalf("Get: %+v", ge)
	}
	gd, err := f.d.Get(ctx, b.ID)
	if err != nil || gd.ID != b.ID || gd.ParentID != a.ID || !gd.IsDir {
		t.Fatalf("Get folder: %+v, %v", gd, err)
	}
}

func fetchWith(ctx context.Context, l drivers.Link, h http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func TestLinkBoundToUserAgent(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	blob := fakecloud.NewSeededBlob(9, 1<<20+17, "")
	if _, err := f.srv.Tree().PutPath("/v/电影 1.mkv", blob); err != nil {
		t.Fatal(err)
	}
	e, err := drivertest.Resolve(ctx, f.d, "/v/电影 1.mkv")
	if err != nil {
		t.Fatal(err)
	}
	const ua = "VLC/3.0.20 LibVLC/3.0.20"
	if k := f.d.LinkKey(drivers.LinkRequest{UserAgent: ua}); k != ua {
		t.Fatalf("LinkKey %q, want %q", k, ua)
	}
	before := time.Now()
	l, err := f.d.Link(ctx, e, drivers.LinkRequest{UserAgent: ua})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Header) != 1 || l.Header.Get("User-Agent") != ua || l.Header.Get("Referer") != "" {
		t.Fatalf("link header %v, want only User-Agent %q", l.Header, ua)
	}
	// The emulator's t= is 2 h away; the driver trusts an hour at most.
	if l.Expires.Before(before) || l.Expires.After(time.Now().Add(time.Hour)) {
		t.Fatalf("expiry %v not within the hour", l.Expires)
	}
	if l.MaxConns != 2 {
		t.Fatalf("MaxConns %d, want the link's c=2", l.MaxConns)
	}

	got, err := drivertest.FetchLink(ctx, l, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, blob.Size())
	blob.ReadAt(want, 0)
	if string(got) != string(want) {
		t.Fatal("CDN bytes differ")
	}
	if mid, err := drivertest.FetchLink(ctx, l, 1000, 5000); err != nil || string(mid) != string(want[1000:6000]) {
		t.Fatalf("range read: %v", err)
	}
	if n := f.srv.Counters().Get(pan115test.CounterCDN403); n != 0 {
		t.Fatalf("the CDN refused %d fetches made with the link's own headers", n)
	}

	for name, h := range map[string]http.Header{
		"other UA":     {"User-Agent": {"curl/8.5.0"}},
		"with Referer": {"User-Agent": {ua}, "Referer": {"https://115.com/"}},
	} {
		status, body, err := fetchWith(ctx, l, h)
		if err != nil || status != http.StatusForbidden || !strings.Contains(string(body), "no cookie value") {
			t.Fatalf("%s: %d %s %v, want 403 no cookie value", name, status, body, err)
		}
	}

	// A client that sent no User-Agent gets the configured one, on both
	// the downurl call and the link.
	l2, err := f.d.Link(ctx, e, drivers.LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Header.Get("User-Agent") != defaultUserAgent || f.d.LinkKey(drivers.LinkRequest{}) != defaultUserAgent {
		t.Fatalf("default UA not used: %v", l2.Header)
	}
	if _, err := drivertest.FetchLink(ctx, l2, 0, 10); err != nil {
		t.Fatal(err)
	}
}

func TestLinkConcurrencyLimit(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	// Big enough that a response cannot sit whole in socket buffers, so
	// the handlers stay busy while the bodies are open.
	if _, err := f.srv.Tree().PutPath("/big.bin", fakecloud.NewSeededBlob(1, 256<<20, "0000000000000000000000000000000000000000")); err != nil {
		t.Fatal(err)
	}
	e, err := drivertest.Resolve(ctx, f.d, "/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.d.Link(ctx, e, drivers.LinkRequest{UserAgent: "ua"})
	if err != nil {
		t.Fatal(err)
	}
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	for i := 0; i < l.MaxConns; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
		req.Header = l.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("open %d: %v %v", i, resp.Status, err)
		}
		open = append(open, resp)
	}
	status, _, err := fetchWith(ctx, l, l.Header.Clone())
	if err != nil || status != http.StatusForbidden {
		t.Fatalf("open beyond c=%d: %d %v, want 403", l.MaxConns, status, err)
	}
}

func TestExpiredTokenRefreshesOnce(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	if _, err := f.srv.Tree().PutPath("/x/a.txt", fakecloud.BytesBlob([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	root, _ := f.d.Root(ctx)
	if _, err := f.d.List(ctx, root); err != nil {
		t.Fatal(err)
	}
	before := f.srv.Counters().Get(pan115test.EndpointRefresh)
	f.srv.Login().ExpireAccess()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.d.List(ctx, root)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.srv.Counters().Get(pan115test.EndpointRefresh) - before; n != 1 {
		t.Fatalf("%d refreshes after 40140125, want exactly 1", n)
	}
	if f.srv.Login().Reuses() != 0 {
		t.Fatal("a spent refresh token was presented")
	}
	// The rotated token reached the disk.
	stored, ok, err := upstream.NewTokenStore(f.stateDir, "pan115", f.d.o.RefreshToken).Load()
	if err != nil || !ok || stored.Refresh != f.srv.Login().Latest() {
		t.Fatalf("stored refresh token is not the latest (ok=%v err=%v)", ok, err)
	}
}

func TestRefreshTooFrequentWaits(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, pan115test.Options{PageCap: 100, QPS: -1, RefreshMinInterval: 30 * time.Millisecond}, nil)
	f.d.policy = upstream.Policy{Attempts: 20, BaseDelay: 2 * time.Millisecond, MaxDelay: 20 * time.Millisecond, GiveUpAfter: time.Second}
	root, _ := f.d.Root(ctx)
	if _, err := f.d.List(ctx, root); err != nil {
		t.Fatal(err)
	}
	f.srv.Login().ExpireAccess()
	if _, err := f.d.List(ctx, root); err != nil {
		t.Fatalf("refresh refused as too frequent was not waited out: %v", err)
	}
	if f.srv.Login().Reuses() != 0 {
		t.Fatal("a spent refresh token was presented")
	}
}

func TestSpentRefreshTokenAsksToReauthorize(t *testing.T) {
	ctx := ctxT(t)
	a := setup(t, quiet, nil)
	spent := a.d.o.RefreshToken
	if _, err := a.d.List(ctx, dirEntry("0")); err != nil {
		t.Fatal(err)
	}
	// A second process with its own state spends the same token again.
	b := open(t, a.srv, a.d.o, t.TempDir(), drivers.NewShared())
	_, err := b.d.List(ctx, dirEntry("0"))
	if !errors.Is(err, drivers.ErrAuth) {
		t.Fatalf("spent refresh token gave %v, want ErrAuth", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "another program used this refresh token") || !strings.Contains(msg, "pandav login -c <config> /115") {
		t.Fatalf("error does not say what happened and what to do: %s", msg)
	}
	if strings.Contains(msg, spent) || strings.Contains(msg, a.srv.Login().Latest()) {
		t.Fatalf("error leaks a token: %s", msg)
	}
	if n := a.srv.Login().Reuses(); n != 1 {
		t.Fatalf("%d reuses, want 1 (no retry of a spent token)", n)
	}
}

func TestThrottleBurstOnListingEndsInSuccess(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	if _, err := f.srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	f.d.Root(ctx)
	f.accessToken(t)
	// Five throttles in a row; the emulator answers 770004 and, every
	// third time, 406 (daily quota).
	f.srv.Faults().Inject(pan115test.EndpointFiles, fakecloud.Throttle, 1, 5)
	before := f.srv.Counters().Get(pan115test.EndpointFiles)
	kids, err := f.d.List(ctx, dirEntry("0"))
	if err != nil || len(kids) != 1 {
		t.Fatalf("list after a 770004 burst: %v %v", kids, err)
	}
	if n := f.srv.Counters().Get(pan115test.EndpointFiles) - before; n != 6 {
		t.Fatalf("%d list calls, want 6", n)
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	kinds := []fakecloud.FaultKind{fakecloud.Transient, fakecloud.Garbage, fakecloud.ServerError, fakecloud.BadGateway, fakecloud.Reset}
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := ctxT(t)
			f := setup(t, quiet, nil)
			if _, err := f.srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("abc"))); err != nil {
				t.Fatal(err)
			}
			for _, ep := range []string{pan115test.EndpointFiles, pan115test.EndpointDownURL, pan115test.EndpointGetInfo, pan115test.EndpointRefresh} {
				f.srv.Faults().Inject(ep, kind, 1, 2)
			}
			e, err := drivertest.Resolve(ctx, f.d, "/a.txt")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.d.Get(ctx, e.ID); err != nil {
				t.Fatal(err)
			}
			l, err := f.d.Link(ctx, e, drivers.LinkRequest{UserAgent: "ua"})
			if err != nil {
				t.Fatal(err)
			}
			if b, err := drivertest.FetchLink(ctx, l, 0, -1); err != nil || string(b) != "abc" {
				t.Fatalf("read %q %v", b, err)
			}
		})
	}
}

func TestEndlessFailureHidesSecrets(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	tok := f.accessToken(t)
	f.srv.Faults().Inject(pan115test.EndpointFiles, fakecloud.Reset, 1, -1)
	_, err := f.d.List(ctx, dirEntry("0"))
	if !errors.Is(err, drivers.ErrUpstream) {
		t.Fatalf("endless resets gave %v, want ErrUpstream", err)
	}
	msg := err.Error()
	for _, secret := range []string{tok, f.d.o.RefreshToken, f.srv.Login().Latest(), "?", "cid=", "127.0.0.1"} {
		if strings.Contains(msg, secret) {
			t.Fatalf("error %q contains %q", msg, secret)
		}
	}
}

func TestRootPathNotFound(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, func(o *Options) { o.Root = "/no such folder" })
	// By path, 115 says "not found" with state true and data [].
	if body := f.raw(t, http.MethodPost, "/open/folder/get_info", url.Values{"path": {"/no such folder"}}); !strings.Contains(body, `"data":[]`) || !strings.Contains(body, `"state":true`) {
		t.Fatalf("emulator answer for a missing path: %s", body)
	}
	if _, err := f.d.Root(ctx); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("Root of a missing path: %v, want ErrNotFound", err)
	}
	if _, err := f.d.Get(ctx, "3073323042149999999"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("Get of an unknown ID: %v, want ErrNotFound", err)
	}
	if _, err := f.srv.Tree().MkdirAll("/no such folder"); err != nil {
		t.Fatal(err)
	}
	if r, err := f.d.Root(ctx); err != nil || !r.IsDir {
		t.Fatalf("Root after creating it: %+v %v", r, err)
	}
}

func TestUnknownCidIsNotFound(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	if _, err := f.srv.Tree().PutPath("/top.txt", fakecloud.BytesBlob([]byte("t"))); err != nil {
		t.Fatal(err)
	}
	trashed, _ := f.srv.Tree().MkdirAll("/trashed")
	f.srv.Tree().Trash(trashed.ID)
	const unknown = "3073323042149999999"
	// 115 serves an unknown folder as the root, without an error.
	if body := f.raw(t, http.MethodGet, "/open/ufile/files?show_dir=1&cid="+unknown, nil); !strings.Contains(body, `"cid":0,`) || !strings.Contains(body, "top.txt") {
		t.Fatalf("emulator does not serve the root for an unknown cid: %.300s", body)
	}
	for _, id := range []string{unknown, trashed.ID} {
		if _, err := f.d.List(ctx, dirEntry(id)); !errors.Is(err, drivers.ErrNotFound) {
			t.Fatalf("List %s: %v, want ErrNotFound", id, err)
		}
	}
	kids, err := f.d.List(ctx, dirEntry("0"))
	if err != nil || len(kids) != 1 || kids[0].Name != "top.txt" {
		t.Fatalf("root: %+v %v (trashed nodes must not show)", kids, err)
	}
}

func TestStringNumbers(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, pan115test.Options{PageCap: 100, QPS: -1, StringNumbers: true}, nil)
	for i := 0; i < 150; i++ {
		if _, err := f.srv.Tree().PutPath(fmt.Sprintf("/s/f%03d.mp4", i), fakecloud.BytesBlob(make([]byte, i))); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := f.srv.Tree().Lookup("/s")
	body := f.raw(t, http.MethodGet, "/open/ufile/files?show_dir=1&limit=100&cid="+s.ID, nil)
	for _, want := range []string{`"limit":"100"`, `"offset":"0"`, `"fs":"5"`, `"play_long":5.0`} {
		if !strings.Contains(body, want) && !(want == `"play_long":5.0` && strings.Contains(body, `"play_long":12.345`)) {
			t.Fatalf("emulator body lacks %s: %.400s", want, body)
		}
	}
	kids, err := f.d.List(ctx, dirEntry(s.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 150 {
		t.Fatalf("listed %d, want 150", len(kids))
	}
	for _, k := range kids {
		var i int
		fmt.Sscanf(k.Name, "f%03d.mp4", &i)
		if k.Size != int64(i) {
			t.Fatalf("%s: size %d, want %d", k.Name, k.Size, i)
		}
	}
}

func TestQuota(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, nil)
	f.srv.SetSpace(5 << 40)
	f.srv.Tree().PutPath("/q/a.bin", fakecloud.NewSeededBlob(1, 3<<30, "0000000000000000000000000000000000000000"))
	f.srv.Tree().PutPath("/q/b.bin", fakecloud.BytesBlob(make([]byte, 1234)))
	q, err := f.d.Quota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q.Total != 5<<40 || q.Used != 3<<30+1234 || q.Used != f.srv.Tree().Usage() {
		t.Fatalf("quota %+v, want used %d of %d", q, f.srv.Tree().Usage(), int64(5<<40))
	}
}

func TestPacedBelowServerRate(t *testing.T) {
	ctx := ctxT(t)
	// The emulator throttles above 5/s; the driver paced at 4/s never
	// meets a 770004, so every page costs exactly one call.
	f := setup(t, pan115test.Options{PageCap: 100, QPS: 5}, func(o *Options) { o.QPS = 4 })
	dir, _ := f.srv.Tree().MkdirAll("/p")
	for i := 0; i < 250; i++ {
		f.srv.Tree().Put(dir.ID, fmt.Sprintf("f%d", i), fakecloud.BytesBlob(nil), time.Time{})
	}
	f.d.policy = upstream.Policy{Attempts: 1}
	kids, err := f.d.List(ctx, dirEntry(dir.ID))
	if err != nil || len(kids) != 250 {
		t.Fatalf("paced listing: %d entries, %v", len(kids), err)
	}
}

func TestNewValidatesWithoutNetwork(t *testing.T) {
	srv := pan115test.NewServer(quiet)
	defer srv.Close()
	env := drivers.Env{StateDir: t.TempDir(), Log: zerolog.Nop()}
	bad := []Options{
		{},
		{RefreshToken: "x", Root: "relative"},
		{RefreshToken: "x", APIURL: "ftp://host"},
		{RefreshToken: "x", QRCodeURL: "qrcodeapi.115.com"},
		{RefreshToken: "x", PageSize: -1},
	}
	for _, o := range bad {
		if _, err := New(context.Background(), env, o); err == nil {
			t.Fatalf("New(%+v) accepted", o)
		}
	}
	if _, err := New(context.Background(), env, Options{RefreshToken: srv.Login().Issue().Refresh, APIURL: srv.APIURL(), PassportURL: srv.PassportURL(), Root: "/a"}); err != nil {
		t.Fatal(err)
	}
	if c := srv.Counters().Snapshot(); len(c) != 0 {
		t.Fatalf("New made calls: %v", c)
	}
	if _, err := drivers.Lookup("pan115"); err != nil {
		t.Fatal(err)
	}
}
