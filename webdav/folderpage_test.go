package webdav

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
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
