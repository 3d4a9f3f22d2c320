package webdav

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
)

type recordingPage struct {
	folder string
	names  []string
}

func (p *recordingPage) ServeFolder(w http.ResponseWriter, r *http.Request, folder string, entries []os.FileInfo) {
	p.folder, p.names = folder, nil
	for _, e := range entries {
		p.names = append(p.names, e.Name())
	}
	w.Write([]byte("the page"))
}

// Only a browser's GET of a folder reaches the FolderPage; every other
// request gets what it got before it existed.
func TestFolderPage(t *testing.T) {
	e := newEnv(t)
	page := &recordingPage{}
	h := NewHandler(e.fs)
	h.SetFolderPage(page)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.srv = srv
	if resp := e.do(t, "MKCOL", "/fake/dir/", nil, ""); resp.StatusCode != http.StatusCreated {
		t.Fatalf("MKCOL: %d", resp.StatusCode)
	}
	if resp := e.do(t, "PUT", "/fake/dir/a.txt", nil, "a"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	for _, c := range []struct {
		method, accept string
		page           bool
	}{
		{"GET", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", true},
		{"GET", "TEXT/HTML", true},
		{"GET", "*/*", false},
		{"GET", "", false},
		{"GET", "application/xhtml+xml", false},
		{"HEAD", "text/html", false},
	} {
		page.folder = ""
		resp := e.do(t, c.method, "/fake/dir", map[string]string{"Accept": c.accept}, "")
		body := readAll(t, resp)
		if got := page.folder != ""; got != c.page {
			t.Errorf("%s with Accept %q: page %v, want %v", c.method, c.accept, got, c.page)
		}
		if c.page && (body != "the page" || page.folder != "/fake/dir/" || len(page.names) != 1 || page.names[0] != "a.txt") {
			t.Errorf("the page got %q %v and wrote %q", page.folder, page.names, body)
		}
		if !c.page && c.method == "GET" && !strings.Contains(body, "<ul>") {
			t.Errorf("Accept %q: not the plain listing: %q", c.accept, body)
		}
	}
	// A file is served as ever, whatever the Accept.
	if body := readAll(t, e.do(t, "GET", "/fake/dir/a.txt", map[string]string{"Accept": "text/html"}, "")); body != "a" {
		t.Errorf("file: %q", body)
	}
}

// A request the cloud kept throttling tells OnThrottled its mount and
// the wait.
func TestOnThrottled(t *testing.T) {
	e := newEnv(t)
	h := NewHandler(e.fs)
	type note struct {
		mount string
		wait  time.Duration
	}
	notes := make(chan note, 4)
	h.OnThrottled(func(mount string, until time.Time) { notes <- note{mount, time.Until(until)} })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.srv = srv
	e.cloud.Tree().PutPath("/dir/a.txt", fakecloud.BytesBlob([]byte("a")))
	if resp := e.do(t, "PROPFIND", "/fake/dir/", map[string]string{"Depth": "1"}, ""); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND: %d", resp.StatusCode)
	}
	select {
	case n := <-notes:
		t.Fatalf("a request that passed noted %v", n)
	default:
	}
	e.cloud.Faults().Inject(memdrivetest.EndpointLink, fakecloud.Throttle, 1, -1)
	if resp := e.do(t, "GET", "/fake/dir/a.txt", nil, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	select {
	case n := <-notes:
		if n.mount != "/fake" || n.wait < cloudRetryAfter-time.Second || n.wait > cloudRetryAfter {
			t.Errorf("noted %+v, want /fake for %v", n, cloudRetryAfter)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing noted")
	}
}
