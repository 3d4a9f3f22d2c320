package webdav

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/memdrive"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
)

// env is a FileSystem served over HTTP with the reference driver,
// memdrive, mounted on its emulator: a test seeds and inspects the cloud
// through cloud, and counts what a request cost it there.
type env struct {
	cloud *memdrivetest.Server
	fs    *FileSystem
	srv   *httptest.Server
	log   *syncBuffer
}

// calls is how many calls the cloud counted at endpoint.
func (e *env) calls(endpoint string) int64 { return e.cloud.Counters().Get(endpoint) }

// syncBuffer is a log sink that concurrent requests can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cloudRetryAfter is the wait the emulator's 429s ask for: one that no
// other part of the chain would invent, so a test that sees it in a
// Retry-After knows the cloud's own hint reached the client.
const cloudRetryAfter = 7 * time.Second

// mountCloud starts a memdrive emulator for the test, and a drive logged
// in to it that logs to log.
//
// The emulator throttles only when a test injects it, and the drive's
// pace is far above anything a test asks, so that call counts are exact
// and no test waits on pacing. The drive makes each call once
// (options.attempts): these tests are about what the WebDAV layer does
// with a driver's final answer, memdrive's own tests cover its retries,
// and with one attempt an injected fault is that final answer at once,
// without the waits of a retry.
func mountCloud(tb testing.TB, log zerolog.Logger) (*memdrivetest.Server, drivers.Drive) {
	tb.Helper()
	c := memdrivetest.NewServer(memdrivetest.Options{Rate: -1, RetryAfter: cloudRetryAfter})
	tb.Cleanup(c.Close)
	d, err := memdrive.New(context.Background(),
		drivers.Env{MountPath: "/fake", StateDir: tb.TempDir(), Log: log},
		memdrive.Options{RefreshToken: c.Login().Issue().Refresh, APIURL: c.APIURL(), QPS: 1000, Attempts: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close(context.Background()) })
	return c, d
}

func newEnv(t testing.TB, mounts ...string) *env {
	t.Helper()
	return newEnvWith(t, func(*Options, []MountSpec) {}, mounts...)
}

// newEnvWith mounts one drive of one cloud at every path in mounts
// (default /fake), with tune applied to the FileSystem's options.
func newEnvWith(t testing.TB, tune func(*Options, []MountSpec), mounts ...string) *env {
	t.Helper()
	logBuf := &syncBuffer{}
	log := zerolog.New(logBuf)
	c, d := mountCloud(t, log)
	if len(mounts) == 0 {
		mounts = []string{"/fake"}
	}
	var specs []MountSpec
	for _, m := range mounts {
		specs = append(specs, MountSpec{Path: m, Drive: d})
	}
	o := Options{Log: log, StateDir: t.TempDir()}
	tune(&o, specs)
	fs, err := NewFileSystem(specs, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(fs))
	t.Cleanup(srv.Close)
	return &env{cloud: c, fs: fs, srv: srv, log: logBuf}
}

func (e *env) do(t *testing.T, method, p string, hdr map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+p, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type multistatus struct {
	Responses []struct {
		Href  string `xml:"href"`
		Props []struct {
			Status string `xml:"status"`
			Prop   struct {
				Length string `xml:"getcontentlength"`
				Type   string `xml:"getcontenttype"`
				ETag   string `xml:"getetag"`
				Avail  string `xml:"quota-available-bytes"`
				Used   string `xml:"quota-used-bytes"`
			} `xml:"prop"`
		} `xml:"propstat"`
	} `xml:"response"`
}

func parseMS(t *testing.T, body string) multistatus {
	t.Helper()
	var ms multistatus
	if err := xml.Unmarshal([]byte(body), &ms); err != nil {
		t.Fatalf("bad multistatus: %v\n%s", err, body)
	}
	return ms
}

func TestRootListsMounts(t *testing.T) {
	e := newEnv(t, "/aliyun", "/115", "/share/demo")
	resp := e.do(t, "PROPFIND", "/", map[string]string{"Depth": "1"}, "")
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ms := parseMS(t, readAll(t, resp))
	var hrefs []string
	for _, r := range ms.Responses {
		hrefs = append(hrefs, r.Href)
	}
	got := strings.Join(hrefs, " ")
	if got != "/ /115/ /aliyun/ /share/" {
		t.Fatalf("hrefs %q", got)
	}
	resp = e.do(t, "PROPFIND", "/share/", map[string]string{"Depth": "1"}, "")
	if b := readAll(t, resp); !strings.Contains(b, "/share/demo/") {
		t.Fatalf("/share/ lacks demo: %s", b)
	}
}

func TestPropfindCostsOneListing(t *testing.T) {
	e := newEnv(t)
	dir, _ := e.cloud.Tree().MkdirAll("/films")
	for i := 0; i < 50; i++ {
		e.cloud.Tree().Put(dir.ID, fmt.Sprintf("film %02d.mkv", i), fakecloud.BytesBlob([]byte("x")), time.Time{})
	}
	for i := 0; i < 3; i++ {
		resp := e.do(t, "PROPFIND", "/fake/films/", map[string]string{"Depth": "1"}, "")
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusMultiStatus {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		ms := parseMS(t, body)
		if len(ms.Responses) != 51 {
			t.Fatalf("%d responses", len(ms.Responses))
		}
		if !strings.Contains(body, "video/x-matroska") {
			t.Fatalf("no mkv content type")
		}
	}
	// one listing of the root (to find films) and one of films
	if got := e.calls(memdrivetest.EndpointChildren); got != 2 {
		t.Fatalf("%d list calls, want 2", got)
	}
	if got := e.calls(memdrivetest.EndpointLink); got != 0 {
		t.Fatalf("%d link calls for PROPFIND", got)
	}
}

func TestDepthRules(t *testing.T) {
	e := newEnv(t)
	resp := e.do(t, "PROPFIND", "/fake/", map[string]string{"Depth": "infinity"}, "")
	if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "propfind-finite-depth") {
		t.Fatalf("infinity: %d %s", resp.StatusCode, body)
	}
	resp = e.do(t, "PROPFIND", "/fake/", nil, "")
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("no Depth: %d", resp.StatusCode)
	}
}

func TestGetRanges(t *testing.T) {
	e := newEnv(t)
	blob := fakecloud.NewSeededBlob(1, 1<<20, "")
	e.cloud.Tree().PutPath("/v/a.mkv", blob)
	want := make([]byte, blob.Size())
	blob.ReadAt(want, 0)
	tests := []struct {
		rng        string
		status     int
		start, end int64 // inclusive
	}{
		{"", 200, 0, blob.Size() - 1},
		{"bytes=0-", 206, 0, blob.Size() - 1},
		{"bytes=100-199", 206, 100, 199},
		{"bytes=-500", 206, blob.Size() - 500, blob.Size() - 1},
		{"bytes=1048000-", 206, 1048000, blob.Size() - 1},
		{"bytes=2000000-", 416, 0, -1},
	}
	for _, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			h := map[string]string{}
			if tc.rng != "" {
				h["Range"] = tc.rng
			}
			resp := e.do(t, "GET", "/fake/v/a.mkv", h, "")
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.end >= tc.start && body != string(want[tc.start:tc.end+1]) {
				t.Fatalf("body differs (%d bytes)", len(body))
			}
			if ct := resp.Header.Get("Content-Type"); tc.status < 300 && ct != "video/x-matroska" {
				t.Fatalf("content type %q", ct)
			}
			if et := resp.Header.Get("ETag"); tc.status < 300 && et != `"`+strings.ToLower(blob.SHA1())+`"` {
				t.Fatalf("etag %q", et)
			}
		})
	}
}

func TestHeadNeedsNoLink(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().PutPath("/a.bin", fakecloud.BytesBlob(make([]byte, 1234)))
	resp := e.do(t, "HEAD", "/fake/a.bin", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "1234" {
		t.Fatalf("HEAD %d %q", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	if n := e.calls(memdrivetest.EndpointLink) + e.calls(memdrivetest.EndpointCDN); n != 0 {
		t.Fatalf("HEAD cost %d link/CDN calls", n)
	}
}

func TestLinkReusedAndRenewedOnExpiry(t *testing.T) {
	e := newEnv(t)
	blob := fakecloud.NewSeededBlob(2, 300000, "")
	e.cloud.Tree().PutPath("/a.bin", blob)
	for i := 0; i < 3; i++ {
		readAll(t, e.do(t, "GET", "/fake/a.bin", map[string]string{"Range": "bytes=10-20"}, ""))
	}
	if n := e.calls(memdrivetest.EndpointLink); n != 1 {
		t.Fatalf("%d link calls for 3 reads, want 1", n)
	}
	e.cloud.ExpireLinks()
	resp := e.do(t, "GET", "/fake/a.bin", map[string]string{"Range": "bytes=1000-"}, "")
	body := readAll(t, resp)
	want := make([]byte, blob.Size()-1000)
	blob.ReadAt(want, 1000)
	if resp.StatusCode != 206 || body != string(want) {
		t.Fatalf("after expiry: %d, %d bytes", resp.StatusCode, len(body))
	}
	if n := e.calls(memdrivetest.EndpointLink); n != 2 {
		t.Fatalf("%d link calls, want 2 (one renewal)", n)
	}
}

func TestResumeAfterResets(t *testing.T) {
	e := newEnv(t)
	blob := fakecloud.NewSeededBlob(3, 5<<20, "")
	e.cloud.Tree().PutPath("/big.bin", blob)
	e.cloud.Faults().SetResetEvery(700 << 10)
	resp := e.do(t, "GET", "/fake/big.bin", nil, "")
	body := readAll(t, resp)
	want := make([]byte, blob.Size())
	blob.ReadAt(want, 0)
	if body != string(want) {
		t.Fatalf("got %d bytes, want %d, or content differs", len(body), len(want))
	}
	if n := e.calls(memdrivetest.EndpointCDN); n < 7 {
		t.Fatalf("only %d CDN fetches; resets not exercised", n)
	}
}

// TestThrottlingIs503: a cloud that keeps throttling is a 503 carrying the
// cloud's own Retry-After (cloudRetryAfter), never a 404; one that fails
// is a 502.
func TestThrottlingIs503(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().PutPath("/dir/a.txt", fakecloud.BytesBlob([]byte("a")))
	e.cloud.Faults().Inject(memdrivetest.EndpointChildren, fakecloud.Throttle, 1, -1)
	for _, m := range []string{"PROPFIND", "GET"} {
		resp := e.do(t, m, "/fake/dir/a.txt", map[string]string{"Depth": "0"}, "")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("%s: %d Retry-After %q", m, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if !strings.Contains(e.log.String(), "rate limited") {
		t.Fatalf("log does not say why:\n%s", e.log)
	}
	e.cloud.Faults().Clear()
	e.cloud.Faults().Inject(memdrivetest.EndpointLink, fakecloud.Throttle, 1, -1)
	resp := e.do(t, "GET", "/fake/dir/a.txt", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("throttled link: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.cloud.Faults().Clear()
	e.cloud.Faults().Inject(memdrivetest.EndpointLink, fakecloud.ServerError, 1, -1)
	resp = e.do(t, "GET", "/fake/dir/a.txt", nil, "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("failing link: %d", resp.StatusCode)
	}
}

// TestFailedListingIs503: a folder the cloud fails to list is "try again
// later", never a final answer a library tool would act on.
func TestFailedListingIs503(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().PutPath("/dir/a.txt", fakecloud.BytesBlob([]byte("a")))
	e.cloud.Faults().Inject(memdrivetest.EndpointChildren, fakecloud.ServerError, 1, -1)
	for _, tc := range []struct{ method, path, depth string }{
		{"PROPFIND", "/fake/dir/", "1"},
		{"PROPFIND", "/fake/dir/a.txt", "0"},
		{"GET", "/fake/dir/a.txt", ""},
	} {
		resp := e.do(t, tc.method, tc.path, map[string]string{"Depth": tc.depth}, "")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s %s: %d Retry-After %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().PutPath("/dir/a.txt", fakecloud.BytesBlob([]byte("a")))
	for _, p := range []string{"/fake/nope", "/fake/dir/nope.txt", "/fake/dir/a.txt/x", "/elsewhere"} {
		for _, m := range []string{"GET", "HEAD", "PROPFIND"} {
			if resp := e.do(t, m, p, nil, ""); resp.StatusCode != 404 {
				t.Fatalf("%s %s: %d", m, p, resp.StatusCode)
			}
		}
	}
	// the misses are remembered: no new listing for a repeat
	before := e.calls(memdrivetest.EndpointChildren)
	e.do(t, "GET", "/fake/dir/nope.txt", nil, "")
	if e.calls(memdrivetest.EndpointChildren) != before {
		t.Fatalf("a repeated miss listed again")
	}
}

func TestQuotaOnMountRoot(t *testing.T) {
	e := newEnv(t)
	e.cloud.SetSpace(1000)
	e.cloud.Tree().PutPath("/used.bin", fakecloud.BytesBlob(make([]byte, 300)))
	body := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>`
	resp := e.do(t, "PROPFIND", "/fake/", map[string]string{"Depth": "0"}, body)
	ms := parseMS(t, readAll(t, resp))
	p := ms.Responses[0].Props[0].Prop
	if p.Avail != "700" || p.Used != "300" {
		t.Fatalf("quota %+v", p)
	}
}

func TestLogLine(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().PutPath("/a.bin", fakecloud.BytesBlob(make([]byte, 100)))
	readAll(t, e.do(t, "GET", "/fake/a.bin", map[string]string{"Range": "bytes=0-9"}, ""))
	line := e.log.String()
	for _, want := range []string{`"method":"GET"`, `"path":"/fake/a.bin"`, `"status":206`, `"bytes":10`, `"range":"bytes=0-9"`, `"duration"`} {
		if !strings.Contains(line, want) {
			t.Fatalf("log lacks %s: %s", want, line)
		}
	}
	for _, secret := range append(e.cloud.IssuedSecrets(), "sig=") {
		if strings.Contains(line, secret) {
			t.Fatalf("log leaks a link or a token (%q): %s", secret, line)
		}
	}
}

func TestBoundedRangeEnd(t *testing.T) {
	tests := []struct {
		h    string
		end  int64
		want bool
	}{
		{"bytes=0-99", 100, true},
		{"bytes=10-", 0, false},
		{"bytes=-10", 0, false},
		{"bytes=0-1,5-6", 0, false},
		{"items=0-1", 0, false},
		{"bytes=9-3", 0, false},
	}
	for _, tc := range tests {
		end, ok := boundedRangeEnd(tc.h)
		if ok != tc.want || end != tc.end {
			t.Errorf("%q: %d %v", tc.h, end, ok)
		}
	}
}

func TestConcurrentStreamsStayInBudget(t *testing.T) {
	e := newEnv(t)
	blob := fakecloud.NewSeededBlob(11, 9<<20, "")
	e.cloud.Tree().PutPath("/c.bin", blob)
	want := make([]byte, blob.Size())
	blob.ReadAt(want, 0)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(e.srv.URL + "/fake/c.bin")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if !bytes.Equal(got, want) {
				t.Errorf("stream differs (%d bytes)", len(got))
			}
		}()
	}
	wg.Wait()
	// every chunk's memory is returned
	deadline := time.Now().Add(2 * time.Second)
	for e.fs.streams.BudgetInUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("memory budget not returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedirectMode(t *testing.T) {
	e := newEnvWith(t, func(o *Options, specs []MountSpec) { specs[0].Redirect = true })
	e.cloud.Tree().PutPath("/v.mkv", fakecloud.BytesBlob([]byte("video bytes")))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", e.srv.URL+"/fake/v.mkv", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Location"), e.cloud.CDNURL()) {
		t.Fatalf("redirect: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := e.do(t, "HEAD", "/fake/v.mkv", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("HEAD in redirect mode: %d", resp.StatusCode)
	}
	// a link that needs a header the client would not send is proxied
	for _, tc := range []struct {
		h    http.Header
		ua   string
		want bool
	}{
		{nil, "vlc", true},
		{http.Header{"User-Agent": {"vlc"}}, "vlc", true},
		{http.Header{"User-Agent": {"pandav"}}, "vlc", false},
		{http.Header{"Referer": {"https://www.alipan.com/"}}, "vlc", false},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("User-Agent", tc.ua)
		if got := redirectable(drivers.Link{URL: "u", Header: tc.h}, r); got != tc.want {
			t.Errorf("%v for %s: %v", tc.h, tc.ua, got)
		}
	}
}

func TestConditionalGetNeedsNoLink(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().PutPath("/c.bin", fakecloud.BytesBlob([]byte("content")))
	head := e.do(t, "HEAD", "/fake/c.bin", nil, "")
	for _, h := range []map[string]string{
		{"If-None-Match": head.Header.Get("ETag")},
		{"If-Modified-Since": head.Header.Get("Last-Modified")},
	} {
		if resp := e.do(t, "GET", "/fake/c.bin", h, ""); resp.StatusCode != http.StatusNotModified {
			t.Fatalf("%v: %d", h, resp.StatusCode)
		}
	}
	if n := e.calls(memdrivetest.EndpointLink); n != 0 {
		t.Fatalf("304s cost %d link calls", n)
	}
}

func TestFinderHints(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/.metadata_never_index", "/.ql_disablethumbnails"} {
		if resp := e.do(t, "PROPFIND", p, map[string]string{"Depth": "0"}, ""); resp.StatusCode != http.StatusMultiStatus {
			t.Fatalf("PROPFIND %s: %d", p, resp.StatusCode)
		}
		if resp := e.do(t, "GET", p, nil, ""); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if body := readAll(t, e.do(t, "PROPFIND", "/", map[string]string{"Depth": "1"}, "")); strings.Contains(body, "metadata_never_index") {
		t.Fatalf("hints are listed: %s", body)
	}
}
