package webdav

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/auth"
	"pandav/internal/fakecloud"
)

// producingDrive is memdrive plus what a drive that makes some of its
// files itself offers: beside each file, while notes are on, NAME.m3u8,
// whose text it writes; routes answering part/N; and a file whose
// link is unavailable.
type producingDrive struct {
	drivers.Drive
	mu      sync.Mutex
	notes   bool
	changed func(folderID string)
}

type noteOf struct{ name string }

func (d *producingDrive) setNotes(on bool) {
	d.mu.Lock()
	d.notes = on
	changed := d.changed
	d.mu.Unlock()
	changed("")
}

func (d *producingDrive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	kids, err := d.Drive.List(ctx, dir)
	d.mu.Lock()
	on := d.notes
	d.mu.Unlock()
	if err != nil || !on {
		return kids, err
	}
	for _, k := range kids {
		if !k.IsDir {
			kids = append(kids, drivers.Entry{ID: "note:" + k.ID, ParentID: dir.ID, Name: k.Name + ".m3u8",
				Size: int64(len(noteText(k.Name))), ModTime: k.ModTime, Extra: noteOf{k.Name}})
		}
	}
	return kids, nil
}

func noteText(name string) string { return "#EXTM3U\n# a note on " + name + "\n" }

func (d *producingDrive) Link(ctx context.Context, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	if f.Name == "unavailable.bin" {
		return drivers.Link{}, &drivers.UnavailableError{Msg: "unavailable.bin cannot be played now: play unavailable.bin.m3u8 instead.", RetryAfter: 90 * time.Second}
	}
	return d.Drive.Link(ctx, f, req)
}

func (d *producingDrive) ProducedContent(ctx context.Context, f drivers.Entry) ([]byte, bool, error) {
	n, ok := f.Extra.(noteOf)
	if !ok {
		return nil, false, nil
	}
	return []byte(noteText(n.name)), true, nil
}

func (d *producingDrive) ServeRoute(ctx context.Context, w http.ResponseWriter, r *http.Request, rest string) error {
	var n int
	if _, err := fmt.Sscanf(rest, "part/%d", &n); err != nil {
		return fmt.Errorf("%s: %w", rest, drivers.ErrNotFound)
	}
	w.Header().Set("Content-Type", "video/mp2t")
	fmt.Fprintf(w, "part %d of %s", n, r.Method)
	return nil
}

func (d *producingDrive) NotifyChanges(changed func(folderID string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.changed = changed
}

func newProducingEnv(t *testing.T) (*env, *producingDrive) {
	var pd *producingDrive
	e := newEnvWith(t, func(o *Options, specs []MountSpec) {
		pd = &producingDrive{Drive: specs[0].Drive}
		specs[0].Drive = pd
	}, "/fake", "/other")
	for _, p := range []string{"/films/a.mkv", "/films/unavailable.bin"} {
		if _, err := e.cloud.Tree().PutPath(p, fakecloud.BytesBlob([]byte("film bytes"))); err != nil {
			t.Fatal(err)
		}
	}
	return e, pd
}

func TestProducedContent(t *testing.T) {
	e, pd := newProducingEnv(t)
	names := func() map[string]string {
		resp := e.do(t, "PROPFIND", "/fake/films/", map[string]string{"Depth": "1"}, "")
		out := map[string]string{}
		for _, r := range parseMS(t, readAll(t, resp)).Responses {
			out[r.Href] = r.Props[0].Prop.Length + " " + r.Props[0].Prop.Type
		}
		return out
	}
	if got := names(); len(got) != 3 {
		t.Fatalf("before: %v", got)
	}
	lists := e.calls(memdrivetest.EndpointChildren)
	pd.setNotes(true)
	got := names()
	want := fmt.Sprintf("%d application/vnd.apple.mpegurl", len(noteText("a.mkv")))
	if got["/fake/films/a.mkv.m3u8"] != want || len(got) != 5 {
		t.Fatalf("after the drive said its listings changed: %v", got)
	}
	if e.calls(memdrivetest.EndpointChildren) == lists {
		t.Error("the change did not list the folder again")
	}
	resp := e.do(t, "GET", "/fake/films/a.mkv.m3u8", nil, "")
	if body := readAll(t, resp); resp.StatusCode != 200 || body != noteText("a.mkv") || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Errorf("GET of a produced file: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	resp = e.do(t, "GET", "/fake/films/a.mkv.m3u8", map[string]string{"Range": "bytes=0-6"}, "")
	if body := readAll(t, resp); resp.StatusCode != 206 || body != "#EXTM3U" {
		t.Errorf("a range of a produced file: %d %q", resp.StatusCode, body)
	}
	if resp := e.do(t, "HEAD", "/fake/films/a.mkv.m3u8", nil, ""); resp.StatusCode != 200 || resp.ContentLength != int64(len(noteText("a.mkv"))) {
		t.Errorf("HEAD of a produced file: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}
	f, err := e.fs.OpenFile(context.Background(), "/fake/films/a.mkv.m3u8", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(f); string(b) != noteText("a.mkv") {
		t.Errorf("OpenFile of a produced file reads %q", b)
	}
	f.Close()
	if n := e.calls(memdrivetest.EndpointLink); n != 0 {
		t.Errorf("produced files cost %d links", n)
	}

	resp = e.do(t, "GET", "/fake/films/unavailable.bin", nil, "")
	if body := readAll(t, resp); resp.StatusCode != 503 || !strings.Contains(body, "play unavailable.bin.m3u8 instead") ||
		resp.Header.Get("Retry-After") != "90" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET of an unavailable file: %d %q, Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

func TestDriveRoutes(t *testing.T) {
	e, _ := newProducingEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", drivers.RouteURL("/fake", "part/3"), 200, "part 3 of GET"},
		{"HEAD", drivers.RouteURL("/fake", "part/3"), 200, ""},
		{"PUT", drivers.RouteURL("/fake", "part/3"), 405, ""},
		{"GET", drivers.RouteURL("/fake", "nothing"), 404, ""},
		{"GET", drivers.RouteURL("/other", "part/3"), 404, ""},
		{"GET", drivers.RouteURL("/nomount", "part/3"), 404, ""},
		{"GET", drivers.RoutePrefix + "/", 404, ""},
	} {
		resp := e.do(t, tc.method, tc.path, nil, "")
		body := readAll(t, resp)
		if resp.StatusCode != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	if got := drivers.RouteURL("/share/中 文", "preview/a b/0.ts"); got != "/.pandav/mount/share/%E4%B8%AD%20%E6%96%87/preview/a%20b/0.ts" {
		t.Errorf("RouteURL escapes as %s", got)
	}
}

// TestDriveRoutesNeedTheMount: a user who may not see the mount gets
// 404 from its routes, as from its files.
func TestDriveRoutesNeedTheMount(t *testing.T) {
	e, _ := newProducingEnv(t)
	h := NewHandler(e.fs)
	for _, tc := range []struct {
		mounts []string
		status int
	}{{[]string{"/other"}, 404}, {[]string{"/fake"}, 200}, {nil, 200}} {
		u := &auth.User{Name: "u", Mounts: tc.mounts}
		req, _ := http.NewRequest("GET", drivers.RouteURL("/fake", "part/1"), nil)
		req = req.WithContext(auth.WithUser(req.Context(), u))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("a user of %v: %d, want %d", tc.mounts, w.Code, tc.status)
		}
	}
}
