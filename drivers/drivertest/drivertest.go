// Package drivertest is the conformance suite every driver passes against
// its emulator, as rclone's fstests is for its backends. TestClouds
// (clouds_test.go) runs it on every cloud of internal/demo's list; a
// driver's own test calls RunRead or RunWrite with a Harness of its own
// for a variant the list does not cover (another API, a subfolder root).
package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// Fixture is one driver wired to one fresh emulator.
type Fixture struct {
	Drive drivers.Drive
	// Cloud is the emulator Drive speaks to. The suite seeds content
	// through its Tree, arms its Faults, counts calls at its Endpoints,
	// makes folders of several of its PageSize, expires its tokens and
	// links, and reads its UploadedBytes. A harness whose driver sees the
	// emulator differently (another API, another tree) wraps it and
	// overrides those methods.
	Cloud fakecloud.Cloud
	// RootID is the folder of Cloud.Tree that Drive.Root maps to; ""
	// means the tree's root.
	RootID string
	// UserAgent is sent with links; clouds may bind links to it.
	UserAgent string

	// For the write part:
	// MultipartSize is an upload size at or above which the driver, as
	// configured by the harness, sends several parts.
	MultipartSize int64
	// MaxFileSize is the largest file the harness made the cloud take
	// (fakecloud.FileSizeLimited); 0: the cloud's own limit, which no test
	// reaches.
	MaxFileSize int64
}

// AccessExpirer is a Cloud whose drivers hold more tokens than its main
// login's access tokens (a second login, a share's token); the suite
// expires them all with ExpireAccessTokens instead of
// Login().ExpireAccess.
type AccessExpirer interface {
	ExpireAccessTokens()
}

// expireAccessTokens makes every access token f's driver holds invalid,
// as the cloud does when a token's TTL runs out.
func (f *Fixture) expireAccessTokens() {
	if e, ok := f.Cloud.(AccessExpirer); ok {
		e.ExpireAccessTokens()
		return
	}
	f.Cloud.Login().ExpireAccess()
}

// getter is a driver that fetches one entry by ID. It is no capability of
// the drivers contract (nothing above the drivers asks for it), but a
// driver that has it is checked against its listings.
type getter interface {
	Get(ctx context.Context, id string) (drivers.Entry, error)
}

// LogBuffer is a log sink that tests read back while the driver writes,
// to check what reached the log.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Harness starts a fresh emulator and driver for one test. It registers
// its own cleanup with t.
type Harness func(t *testing.T) *Fixture

// suiteTest is one conformance test; each gets a fresh Fixture.
type suiteTest struct {
	name string
	run  func(t *testing.T, f *Fixture)
}

func runSuite(t *testing.T, h Harness, tests []suiteTest) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := h(t)
			if f.RootID == "" {
				f.RootID = f.Cloud.Tree().RootID()
			}
			if f.UserAgent == "" {
				f.UserAgent = "pandav-drivertest/1.0"
			}
			tc.run(t, f)
		})
	}
}

// RunRead runs the read part of the suite.
func RunRead(t *testing.T, h Harness) {
	runSuite(t, h, []suiteTest{
		{"ListAcrossPages", testListAcrossPages},
		{"StatByPath", testStatByPath},
		{"ReadWholeAndRanges", testReadWholeAndRanges},
		{"RelinkAfterExpiry", testRelinkAfterExpiry},
		{"RefreshAfterTokenExpiry", testRefreshAfterTokenExpiry},
		{"SucceedAfterThrottling", testSucceedAfterThrottling},
		{"ThrottlingIsNotNotFound", testThrottlingIsNotNotFound},
		{"OddListingsNeverShort", testOddListingsNeverShort},
		{"NotFound", testNotFound},
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustMkdir(t *testing.T, f *Fixture, rel string) fakecloud.Node {
	t.Helper()
	p, err := f.Cloud.Tree().Path(f.RootID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Cloud.Tree().MkdirAll(path.Join(p, rel))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustPut(t *testing.T, f *Fixture, rel string, blob fakecloud.Blob) fakecloud.Node {
	t.Helper()
	dir := mustMkdir(t, f, path.Dir(rel))
	n, err := f.Cloud.Tree().Put(dir.ID, path.Base(rel), blob, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Resolve walks rel from the drive's root with List, as the WebDAV layer
// does, and returns the entry.
func Resolve(ctx context.Context, d drivers.Drive, rel string) (drivers.Entry, error) {
	return drivers.Walk(ctx, d, rel)
}

// Fetch reads [off, off+n) of e through a fresh link (n < 0: to the end).
func Fetch(ctx context.Context, f *Fixture, e drivers.Entry, off, n int64) ([]byte, error) {
	l, err := f.Drive.Link(ctx, e, drivers.LinkRequest{UserAgent: f.UserAgent})
	if err != nil {
		return nil, err
	}
	return FetchLink(ctx, l, off, n)
}

// FetchLink reads a range of a link, sending exactly the headers it
// demands.
func FetchLink(ctx context.Context, l drivers.Link, off, n int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range l.Header {
		req.Header[k] = vs
	}
	if off > 0 || n >= 0 {
		if n >= 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		} else {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("CDN answered %s: %s", resp.Status, b)
	}
	return io.ReadAll(resp.Body)
}

func blobBytes(t *testing.T, b fakecloud.Blob, off, n int64) []byte {
	t.Helper()
	out := make([]byte, n)
	if _, err := b.ReadAt(out, off); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return out
}

func testListAcrossPages(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	tree, list, pageSize := f.Cloud.Tree(), f.Cloud.Endpoints().List, f.Cloud.PageSize()
	n := 2*pageSize + 7
	dir := mustMkdir(t, f, "many")
	for i := 0; i < n; i++ {
		if _, err := tree.Put(dir.ID, fmt.Sprintf("f%05d.txt", i), fakecloud.BytesBlob([]byte{byte(i)}), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tree.Mkdir(dir.ID, "sub folder"); err != nil {
		t.Fatal(err)
	}
	e, err := Resolve(ctx, f.Drive, "many")
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsDir {
		t.Fatalf("many: IsDir false")
	}
	before := f.Cloud.Counters().Get(list)
	kids, err := f.Drive.List(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	calls := f.Cloud.Counters().Get(list) - before
	if len(kids) != n+1 {
		t.Fatalf("listed %d entries, want %d", len(kids), n+1)
	}
	seen := map[string]bool{}
	for _, k := range kids {
		if seen[k.Name] {
			t.Fatalf("%q listed twice", k.Name)
		}
		seen[k.Name] = true
		if k.ParentID != e.ID {
			t.Fatalf("%q: ParentID %q, want %q", k.Name, k.ParentID, e.ID)
		}
		if k.Name == "sub folder" {
			if !k.IsDir || k.Size != 0 {
				t.Fatalf("sub folder: IsDir=%v Size=%d", k.IsDir, k.Size)
			}
		} else if k.IsDir || k.Size != 1 {
			t.Fatalf("%q: IsDir=%v Size=%d", k.Name, k.IsDir, k.Size)
		}
	}
	pages := int64((n + 1 + pageSize - 1) / pageSize)
	if calls != pages {
		t.Fatalf("listing cost %d list calls, want %d pages", calls, pages)
	}
}

func testStatByPath(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	names := []string{"plain.txt", "有 空格/视频 文件.mkv", "emoji 🎬 dir/a b c.srt", "Ünïcödé/ß.ass"}
	for i, name := range names {
		mustPut(t, f, name, fakecloud.BytesBlob([]byte(strings.Repeat("x", i+10))))
	}
	for i, name := range names {
		e, err := Resolve(ctx, f.Drive, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.Name != path.Base(name) || e.IsDir || e.Size != int64(i+10) {
			t.Fatalf("%s: got %+v", name, e)
		}
		if e.ModTime.IsZero() {
			t.Fatalf("%s: no ModTime", name)
		}
		want := fakecloud.BytesBlob([]byte(strings.Repeat("x", i+10))).SHA1()
		if e.SHA1 != "" && e.SHA1 != want {
			t.Fatalf("%s: SHA1 %s, want %s", name, e.SHA1, want)
		}
		if g, ok := f.Drive.(getter); ok {
			ge, err := g.Get(ctx, e.ID)
			if err != nil {
				t.Fatalf("Get %s: %v", name, err)
			}
			if ge.ID != e.ID || ge.Name != e.Name || ge.Size != e.Size || ge.IsDir {
				t.Fatalf("Get %s: %+v, listed as %+v", name, ge, e)
			}
		}
	}
	if _, err := Resolve(ctx, f.Drive, "有 空格/missing.mkv"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("missing: %v, want ErrNotFound", err)
	}
}

func testReadWholeAndRanges(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	big := fakecloud.NewSeededBlob(42, 3<<20+123, "")
	mustPut(t, f, "read/big.bin", big)
	mustPut(t, f, "read/empty.bin", fakecloud.BytesBlob(nil))
	e, err := Resolve(ctx, f.Drive, "read/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Fetch(ctx, f, e, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if string(whole) != string(blobBytes(t, big, 0, big.Size())) {
		t.Fatalf("whole read differs (%d bytes)", len(whole))
	}
	for _, r := range [][2]int64{{0, 1}, {1 << 20, 4096}, {big.Size() - 100, 100}, {12345, 1 << 20}} {
		got, err := Fetch(ctx, f, e, r[0], r[1])
		if err != nil {
			t.Fatalf("range %v: %v", r, err)
		}
		if string(got) != string(blobBytes(t, big, r[0], r[1])) {
			t.Fatalf("range %v differs", r)
		}
	}
	empty, err := Resolve(ctx, f.Drive, "read/empty.bin")
	if err != nil {
		t.Fatal(err)
	}
	if empty.Size != 0 {
		t.Fatalf("empty.bin size %d", empty.Size)
	}
}

func testRelinkAfterExpiry(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	blob := fakecloud.NewSeededBlob(7, 100000, "")
	mustPut(t, f, "expiry/a.bin", blob)
	e, err := Resolve(ctx, f.Drive, "expiry/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.Drive.Link(ctx, e, drivers.LinkRequest{UserAgent: f.UserAgent})
	if err != nil {
		t.Fatal(err)
	}
	if l.Expires.IsZero() || time.Until(l.Expires) <= 0 {
		t.Fatalf("link expiry %v not read from the link", l.Expires)
	}
	f.Cloud.ExpireLinks()
	if _, err := FetchLink(ctx, l, 0, 10); err == nil {
		t.Fatalf("expired link still served")
	}
	got, err := Fetch(ctx, f, e, 500, 1000)
	if err != nil {
		t.Fatalf("fresh link after expiry: %v", err)
	}
	if string(got) != string(blobBytes(t, blob, 500, 1000)) {
		t.Fatalf("bytes differ after relink")
	}
}

func testRefreshAfterTokenExpiry(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	mustPut(t, f, "tok/a.txt", fakecloud.BytesBlob([]byte("hello")))
	if _, err := Resolve(ctx, f.Drive, "tok/a.txt"); err != nil {
		t.Fatal(err)
	}
	f.expireAccessTokens()
	e, err := Resolve(ctx, f.Drive, "tok/a.txt")
	if err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	got, err := Fetch(ctx, f, e, 0, -1)
	if err != nil || string(got) != "hello" {
		t.Fatalf("read after token expiry: %q, %v", got, err)
	}
}

func testSucceedAfterThrottling(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	mustPut(t, f, "throttle/a.txt", fakecloud.BytesBlob([]byte("abc")))
	ep := f.Cloud.Endpoints()
	f.Cloud.Faults().Inject(ep.List, fakecloud.Throttle, 1, 3)
	e, err := Resolve(ctx, f.Drive, "throttle/a.txt")
	if err != nil {
		t.Fatalf("list through 3 throttled calls: %v", err)
	}
	f.Cloud.Faults().Inject(ep.Link, fakecloud.Throttle, 1, 2)
	got, err := Fetch(ctx, f, e, 0, -1)
	if err != nil || string(got) != "abc" {
		t.Fatalf("link through 2 throttled calls: %q, %v", got, err)
	}
}

func testThrottlingIsNotNotFound(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	mustPut(t, f, "storm/a.txt", fakecloud.BytesBlob([]byte("abc")))
	root, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Cloud.Faults().Inject(f.Cloud.Endpoints().List, fakecloud.Throttle, 1, -1)
	_, err = f.Drive.List(ctx, root)
	if !errors.Is(err, drivers.ErrRateLimited) || errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("endless throttling gave %v, want ErrRateLimited", err)
	}
	if d, ok := drivers.RetryAfter(err); !ok || d <= 0 {
		t.Fatalf("no Retry-After in %v", err)
	}
}

func testNotFound(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	mustPut(t, f, "gone/a.txt", fakecloud.BytesBlob([]byte("abc")))
	dir, err := Resolve(ctx, f.Drive, "gone")
	if err != nil {
		t.Fatal(err)
	}
	file, err := Resolve(ctx, f.Drive, "gone/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Cloud.Tree().Delete(dir.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Drive.List(ctx, dir); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("List of a deleted folder: %v, want ErrNotFound", err)
	}
	if _, err := f.Drive.Link(ctx, file, drivers.LinkRequest{UserAgent: f.UserAgent}); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("Link of a deleted file: %v, want ErrNotFound", err)
	}
	if g, ok := f.Drive.(getter); ok {
		if _, err := g.Get(ctx, file.ID); !errors.Is(err, drivers.ErrNotFound) {
			t.Fatalf("Get of a deleted file: %v, want ErrNotFound", err)
		}
	}
}
