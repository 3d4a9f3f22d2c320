package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/internal/admin"
)

type fakeInfo struct {
	name string
	size int64
	dir  bool
}

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0 }
func (f fakeInfo) ModTime() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return nil }

func TestFolderPage(t *testing.T) {
	c := New(admin.NewService(nil, zerolog.New(io.Discard)), nil, zerolog.New(io.Discard))
	infos := []os.FileInfo{
		fakeInfo{name: "<img src=x onerror=alert(1)>.mp4", size: 3 << 20},
		fakeInfo{name: "b.txt", size: 10},
		fakeInfo{name: "Sub & dir", dir: true},
	}
	r := httptest.NewRequest("GET", "/m/a%20b/?sort=size&order=desc", nil)
	w := httptest.NewRecorder()
	c.ServeFolder(w, r, "/m/a b/", infos)
	body := w.Body.String()
	if strings.Contains(body, "<img src=x") {
		t.Error("the name reached the page as markup")
	}
	for _, want := range []string{
		"&lt;img src=x onerror=alert(1)&gt;.mp4", "3.0 MiB", `href="/m/a%20b/Sub%20&amp;%20dir/"`, `data-play="video"`,
		`aria-sort="descending"`, `<time datetime="2026-01-02T03:04:05Z">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(body, "<script>") {
		t.Error("inline script")
	}
	// Folders first, then by size, largest first.
	dir, big, small := strings.Index(body, "Sub &amp; dir"), strings.Index(body, ".mp4"), strings.Index(body, "b.txt")
	if !(dir < big && big < small) {
		t.Errorf("order: %d %d %d", dir, big, small)
	}
}

func TestConsolePaths(t *testing.T) {
	for p, want := range map[string]bool{
		"/.pandav": true, "/.pandav/mounts": true, "/.pandav/static/app.css": true, "/.pandav/qr/x.png": true,
		"/.pandav/api/v1/mounts": false, "/.pandavx": false, "/": false, "/.pandav/mount/aliyun-share/seg/1.ts": false,
		"/.pandav/strm/x": false, "/.pandav/healthz": false, "/.pandav/other": false,
	} {
		if IsConsolePath(p) != want {
			t.Errorf("IsConsolePath(%q) = %v", p, !want)
		}
	}
	for in, want := range map[string]string{"": "/", "/a/b?c": "/a/b?c", "//evil.example": "/", "https://evil.example/": "/", "/\\evil": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q", in, got)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 123 << 20: "123 MiB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q", n, got)
		}
	}
}

// With no users, the admin pages answer only this machine's browser.
func TestConsoleLocalOnly(t *testing.T) {
	c := New(admin.NewService(nil, zerolog.New(io.Discard)), nil, zerolog.New(io.Discard))
	for _, tc := range []struct {
		remote, host string
		want         int
	}{{"127.0.0.1:5000", "127.0.0.1:8080", 200}, {"10.0.0.2:5000", "nas:8080", 403}, {"127.0.0.1:5000", "evil.example", 403}} {
		r := httptest.NewRequest("GET", "/.pandav/mounts", nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s asking %s: %d, want %d", tc.remote, tc.host, w.Code, tc.want)
		}
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest("GET", "/.pandav/static/files.js", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Errorf("static: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}
