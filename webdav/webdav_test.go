package webdav

import (
	"bytes"
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
	"pandav/internal/fakecloud"
)

type env struct {
	d   *fakeDrive
	fs  *FileSystem
	srv *httptest.Server
	log *syncBuffer
}

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

func newEnv(t *testing.T, mounts ...string) *env {
	t.Helper()
	return newEnvWith(t, func(*Options, []MountSpec) {}, mounts...)
}

func newEnvWith(t *testing.T, tune func(*Options, []MountSpec), mounts ...string) *env {
	t.Helper()
	d := newFakeDrive(t)
	d.quota = &drivers.Quota{Used: 300, Total: 1000}
	if len(mounts) == 0 {
		mounts = []string{"/fake"}
	}
	var specs []MountSpec
	for _, m := range mounts {
		specs = append(specs, MountSpec{Path: m, Drive: quotaDrive{d}})
	}
	logBuf := &syncBuffer{}
	o := Options{Log: zerolog.New(logBuf), StateDir: t.TempDir()}
	tune(&o, specs)
	fs, err := NewFileSystem(specs, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(fs))
	t.Cleanup(srv.Close)
	return &env{d: d, fs: fs, srv: srv, log: logBuf}
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
	dir, _ := e.d.tree.MkdirAll("/films")
	for i := 0; i < 50; i++ {
		e.d.tree.Put(dir.ID, fmt.Sprintf("film %02d.mkv", i), fakecloud.BytesBlob([]byte("x")), time.Time{})
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
	if got := e.d.counters.Get("list"); got != 2 {
		t.Fatalf("%d list calls, want 2", got)
	}
	if got := e.d.counters.Get("link"); got != 0 {
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
	e.d.tree.PutPath("/v/a.mkv", blob)
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
	e.d.tree.PutPath("/a.bin", fakecloud.BytesBlob(make([]byte, 1234)))
	resp := e.do(t, "HEAD", "/fake/a.bin", nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "1234" {
		t.Fatalf("HEAD %d %q", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	if n := e.d.counters.Get("link") + e.d.counters.Get("cdn"); n != 0 {
		t.Fatalf("HEAD cost %d link/CDN calls", n)
	}
}

func TestLinkReusedAndRenewedOnExpiry(t *testing.T) {
	e := newEnv(t)
	blob := fakecloud.NewSeededBlob(2, 300000, "")
	e.d.tree.PutPath("/a.bin", blob)
	for i := 0; i < 3; i++ {
		readAll(t, e.do(t, "GET", "/fake/a.bin", map[string]string{"Range": "bytes=10-20"}, ""))
	}
	if n := e.d.counters.Get("link"); n != 1 {
		t.Fatalf("%d link calls for 3 reads, want 1", n)
	}
	e.d.expireLinks()
	resp := e.do(t, "GET", "/fake/a.bin", map[string]string{"Range": "bytes=1000-"}, "")
	body := readAll(t, resp)
	want := make([]byte, blob.Size()-1000)
	blob.ReadAt(want, 1000)
	if resp.StatusCode != 206 || body != string(want) {
		t.Fatalf("after expiry: %d, %d bytes", resp.StatusCode, len(body))
	}
	if n := e.d.counters.Get("link"); n != 2 {
		t.Fatalf("%d link calls, want 2 (one renewal)", n)
	}
}

func TestResumeAfterResets(t *testing.T) {
	e := newEnv(t)
	blob := fakecloud.NewSeededBlob(3, 5<<20, "")
	e.d.tree.PutPath("/big.bin", blob)
	e.d.faults.SetResetEvery(700 << 10)
	resp := e.do(t, "GET", "/fake/big.bin", nil, "")
	body := readAll(t, resp)
	want := make([]byte, blob.Size())
	blob.ReadAt(want, 0)
	if body != string(want) {
		t.Fatalf("got %d bytes, want %d, or content differs", len(body), len(want))
	}
	if n := e.d.counters.Get("cdn"); n < 7 {
		t.Fatalf("only %d CDN fetches; resets not exercised", n)
	}
}

func TestThrottlingIs503(t *testing.T) {
	e := newEnv(t)
	e.d.tree.PutPath("/dir/a.txt", fakecloud.BytesBlob([]byte("a")))
	e.d.faults.Inject("list", fakecloud.Throttle, 1, -1)
	for _, m := range []string{"PROPFIND", "GET"} {
		resp := e.do(t, m, "/fake/dir/a.txt", map[string]string{"Depth": "0"}, "")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("%s: %d Retry-After %q", m, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if !strings.Contains(e.log.String(), "rate limited") {
		t.Fatalf("log does not say why:\n%s", e.log)
	}
	e.d.faults.Clear()
	e.d.faults.Inject("link", fakecloud.Throttle, 1, -1)
	resp := e.do(t, "GET", "/fake/dir/a.txt", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("throttled link: %d", resp.StatusCode)
	}
	e.d.faults.Clear()
	e.d.faults.Inject("link", fakecloud.ServerError, 1, -1)
	resp = e.do(t, "GET", "/fake/dir/a.txt", nil, "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("failing link: %d", resp.StatusCode)
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t)
	e.d.tree.PutPath("/dir/a.txt", fakecloud.BytesBlob([]byte("a")))
	for _, p := range []string{"/fake/nope", "/fake/dir/nope.txt", "/fake/dir/a.txt/x", "/elsewhere"} {
		for _, m := range []string{"GET", "HEAD", "PROPFIND"} {
			if resp := e.do(t, m, p, nil, ""); resp.StatusCode != 404 {
				t.Fatalf("%s %s: %d", m, p, resp.StatusCode)
			}
		}
	}
	// the misses are remembered: no new listing for a repeat
	before := e.d.counters.Get("list")
	e.do(t, "GET", "/fake/dir/nope.txt", nil, "")
	if e.d.counters.Get("list") != before {
		t.Fatalf("a repeated miss listed again")
	}
}

func TestQuotaOnMountRoot(t *testing.T) {
	e := newEnv(t)
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
	e.d.tree.PutPath("/a.bin", fakecloud.BytesBlob(make([]byte, 100)))
	readAll(t, e.do(t, "GET", "/fake/a.bin", map[string]string{"Range": "bytes=0-9"}, ""))
	line := e.log.String()
	for _, want := range []string{`"method":"GET"`, `"path":"/fake/a.bin"`, `"status":206`, `"bytes":10`, `"range":"bytes=0-9"`, `"duration"`} {
		if !strings.Contains(line, want) {
			t.Fatalf("log lacks %s: %s", want, line)
		}
	}
	if strings.Contains(line, "tok=") {
		t.Fatalf("log leaks a link: %s", line)
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
	e.d.tree.PutPath("/c.bin", blob)
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
	e.d.tree.PutPath("/v.mkv", fakecloud.BytesBlob([]byte("video bytes")))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", e.srv.URL+"/fake/v.mkv", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Location"), e.d.cdn.URL) {
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
	e.d.tree.PutPath("/c.bin", fakecloud.BytesBlob([]byte("content")))
	head := e.do(t, "HEAD", "/fake/c.bin", nil, "")
	for _, h := range []map[string]string{
		{"If-None-Match": head.Header.Get("ETag")},
		{"If-Modified-Since": head.Header.Get("Last-Modified")},
	} {
		if resp := e.do(t, "GET", "/fake/c.bin", h, ""); resp.StatusCode != http.StatusNotModified {
			t.Fatalf("%v: %d", h, resp.StatusCode)
		}
	}
	if n := e.d.counters.Get("link"); n != 0 {
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
