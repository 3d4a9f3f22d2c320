package webdav

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/memdrive"
	"pandav/internal/fakecloud"
	"pandav/internal/torrent"
)

// downloadDrive is the reference driver with a made-up cloud download:
// tasks are kept here, and finish puts what a task downloaded into the
// emulator's tree and says the folder changed, as a driver does.
type downloadDrive struct {
	*memdrive.Drive
	tree  *fakecloud.Tree
	watch []string

	mu    sync.Mutex
	tasks []drivers.Task
	subs  []func(string)
}

func (d *downloadDrive) CloudDownloadWatch() []string { return d.watch }

func (d *downloadDrive) AddLinks(ctx context.Context, dir drivers.Entry, links []string) ([]drivers.AddResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []drivers.AddResult
	for _, l := range links {
		if !strings.HasPrefix(l, "magnet:") && !strings.HasPrefix(l, "https://") {
			out = append(out, drivers.AddResult{Link: l, Refused: "it is not a link the cloud takes"})
			continue
		}
		id := fmt.Sprintf("task%d", len(d.tasks))
		d.tasks = append(d.tasks, drivers.Task{ID: id, Name: l[strings.LastIndexAny(l, "/=")+1:], URL: l, Status: drivers.TaskDownloading, Percent: 42.5, FolderID: dir.ID})
		out = append(out, drivers.AddResult{Link: l, TaskID: id})
	}
	return out, nil
}

func (d *downloadDrive) AddTorrent(ctx context.Context, dir drivers.Entry, t drivers.Torrent) (drivers.AddResult, error) {
	meta, err := torrent.Parse(t.Data)
	if err != nil {
		return drivers.AddResult{Link: t.Name, Refused: "it is not a torrent file"}, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tasks = append(d.tasks, drivers.Task{ID: meta.InfoHash, Name: meta.Name, Status: drivers.TaskQueued, FolderID: dir.ID})
	return drivers.AddResult{Link: t.Name, TaskID: meta.InfoHash}, nil
}

func (d *downloadDrive) Tasks(ctx context.Context) ([]drivers.Task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]drivers.Task{}, d.tasks...), nil
}

func (d *downloadDrive) RemoveTasks(context.Context, []string, bool) error { return nil }
func (d *downloadDrive) ClearTasks(context.Context, drivers.TaskSet, bool) error {
	return nil
}
func (d *downloadDrive) DownloadQuota(context.Context) (drivers.DownloadQuota, error) {
	return drivers.DownloadQuota{}, nil
}

func (d *downloadDrive) NotifyChanges(f func(string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subs = append(d.subs, f)
}

// finish ends task i done: its file appears in its folder, and the
// folder is announced.
func (d *downloadDrive) finish(t *testing.T, i int, name string) {
	t.Helper()
	d.mu.Lock()
	d.tasks[i].Status, d.tasks[i].Percent = drivers.TaskDone, 100
	folder, subs := d.tasks[i].FolderID, d.subs
	d.mu.Unlock()
	if _, err := d.tree.Put(folder, name, fakecloud.BytesBlob([]byte("downloaded")), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range subs {
		f(folder)
	}
}

// newDownloadEnv mounts a downloadDrive at /fake, with /watch a watch
// folder holding one file and /other an ordinary folder.
func newDownloadEnv(t *testing.T) (*env, *downloadDrive) {
	t.Helper()
	logBuf := &syncBuffer{}
	log := zerolog.New(logBuf)
	c, d := mountCloud(t, log)
	dd := &downloadDrive{Drive: d.(*memdrive.Drive), tree: c.Tree(), watch: []string{"/watch"}}
	for _, p := range []string{"/watch/old.txt", "/watch/sub/x.txt", "/other/x.txt"} {
		if _, err := c.Tree().PutPath(p, fakecloud.BytesBlob([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := NewFileSystem([]MountSpec{{Path: "/fake", Drive: dd}}, Options{Log: log, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(fs))
	t.Cleanup(srv.Close)
	return &env{cloud: c, fs: fs, srv: srv, log: logBuf}, dd
}

func TestWatchFolderDrop(t *testing.T) {
	e, dd := newDownloadEnv(t)
	good := "magnet:?xt=urn:btih:" + strings.Repeat("a", 40) + "&dn=show"
	for _, tc := range []struct {
		path, body string
		status     int
		inBody     []string
	}{
		{"/fake/watch/one.magnet", good + "\n", http.StatusCreated, []string{good}},
		{"/fake/watch/sub/two.links", "# films\nhttps://example.com/a.mkv\n\nftp-nope\n", http.StatusUnprocessableEntity, []string{"ftp-nope: it is not a link the cloud takes", "https://example.com/a.mkv: added"}},
		{"/fake/watch/empty.links", "# nothing\n", http.StatusUnprocessableEntity, []string{"no links"}},
		{"/fake/watch/fake.torrent", "<html>404</html>", http.StatusUnprocessableEntity, []string{"fake.torrent: it is not a torrent file"}},
		// Finder's AppleDouble file of a torrent is held, as elsewhere.
		{"/fake/watch/._fake.torrent", "\x00\x05\x16\x07", http.StatusCreated, nil},
	} {
		resp := e.do(t, http.MethodPut, tc.path, nil, tc.body)
		body := readAll(t, resp)
		if resp.StatusCode != tc.status {
			t.Fatalf("PUT %s: %s %q, want %d", tc.path, resp.Status, body, tc.status)
		}
		for _, want := range tc.inBody {
			if !strings.Contains(body, want) {
				t.Fatalf("PUT %s: %q lacks %q", tc.path, body, want)
			}
		}
		if _, err := e.cloud.Tree().Lookup(strings.TrimPrefix(tc.path, "/fake")); err == nil {
			t.Fatalf("%s was stored", tc.path)
		}
		if resp := e.do(t, "PROPFIND", tc.path, map[string]string{"Depth": "0"}, ""); (resp.StatusCode == http.StatusNotFound) == (tc.inBody == nil) {
			t.Fatalf("PROPFIND %s after the drop: %s", tc.path, resp.Status)
		}
	}
	tasks, _ := dd.Tasks(context.Background())
	sub, _ := e.cloud.Tree().Lookup("/watch/sub")
	if len(tasks) != 2 || tasks[1].FolderID != sub.ID {
		t.Fatalf("tasks %+v; the second should save into /watch/sub (%s)", tasks, sub.ID)
	}
	// Outside a watch folder, such files are files.
	data := torrent.Make("x", []torrent.File{{Path: "x", Size: 1}}, func(int) []byte { return []byte{1} })
	if resp := e.do(t, http.MethodPut, "/fake/other/real.torrent", nil, string(data)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT outside a watch folder: %s", resp.Status)
	}
	if _, err := e.cloud.Tree().Lookup("/other/real.torrent"); err != nil {
		t.Fatalf("a .torrent outside a watch folder was not stored: %v", err)
	}
}

func TestWatchFolderStatusFile(t *testing.T) {
	e, _ := newDownloadEnv(t)
	if resp := e.do(t, http.MethodPut, "/fake/watch/a.links", nil, "https://example.com/film.mkv\n"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("drop: %s", resp.Status)
	}
	resp := e.do(t, http.MethodGet, "/fake/watch/"+statusFileName, nil, "")
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "downloading") || !strings.Contains(body, "42.5%") || !strings.Contains(body, "film.mkv") {
		t.Fatalf("status file: %s\n%s", resp.Status, body)
	}
	if resp := e.do(t, http.MethodGet, "/fake/watch/sub/"+statusFileName, nil, ""); !strings.Contains(readAll(t, resp), "No task saves into this folder") {
		t.Fatal("the status file of a folder below lists another folder's tasks")
	}
	if resp := e.do(t, http.MethodGet, "/fake/other/"+statusFileName, nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a status file outside watch folders: %s", resp.Status)
	}
	listing := readAll(t, e.do(t, "PROPFIND", "/fake/watch/", map[string]string{"Depth": "1"}, ""))
	if !strings.Contains(listing, statusFileName) {
		t.Fatalf("the watch folder's listing lacks %s:\n%s", statusFileName, listing)
	}
	for _, m := range []struct {
		method string
		hdr    map[string]string
	}{
		{http.MethodPut, nil},
		{http.MethodDelete, nil},
		{"PROPPATCH", nil},
		{"MOVE", map[string]string{"Destination": "/fake/watch/moved.txt"}},
		{"COPY", map[string]string{"Destination": "/fake/watch/sub/" + statusFileName}},
	} {
		p := "/fake/watch/" + statusFileName
		if m.method == "COPY" {
			p = "/fake/watch/old.txt"
		}
		if resp := e.do(t, m.method, p, m.hdr, "x"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s %s: %s, want 403", m.method, p, resp.Status)
		}
	}
}

// What a task downloads shows in its folder's listing at once, though
// the listing was cached: the driver said the folder changed.
func TestFinishedTaskRefreshesFolder(t *testing.T) {
	e, dd := newDownloadEnv(t)
	if resp := e.do(t, http.MethodPut, "/fake/watch/a.links", nil, "https://example.com/film.mkv\n"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("drop: %s", resp.Status)
	}
	before := readAll(t, e.do(t, "PROPFIND", "/fake/watch/", map[string]string{"Depth": "1"}, ""))
	if !strings.Contains(before, "old.txt") || strings.Contains(before, "film.mkv\"") {
		t.Fatalf("before: %s", before)
	}
	// Cached now: a file put behind pandav's back does not show.
	e.cloud.Tree().PutPath("/watch/sneaked.txt", fakecloud.BytesBlob([]byte("x")))
	if strings.Contains(readAll(t, e.do(t, "PROPFIND", "/fake/watch/", map[string]string{"Depth": "1"}, "")), "sneaked.txt") {
		t.Fatal("the listing was not cached")
	}
	dd.finish(t, 0, "film.mkv")
	after := readAll(t, e.do(t, "PROPFIND", "/fake/watch/", map[string]string{"Depth": "1"}, ""))
	if !strings.Contains(after, "/fake/watch/film.mkv") {
		t.Fatalf("the downloaded file does not show:\n%s", after)
	}
	if resp := e.do(t, http.MethodGet, "/fake/watch/film.mkv", nil, ""); readAll(t, resp) != "downloaded" {
		t.Fatalf("GET the downloaded file: %s", resp.Status)
	}
}

// A client that LOCKs a new path before its PUT leaves nothing behind.
func TestDropAfterLock(t *testing.T) {
	e, _ := newDownloadEnv(t)
	lock := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	resp := e.do(t, "LOCK", "/fake/watch/x.magnet", map[string]string{"Timeout": "Second-60"}, lock)
	tok := resp.Header.Get("Lock-Token")
	if resp.StatusCode/100 != 2 || tok == "" {
		t.Fatalf("LOCK: %s", resp.Status)
	}
	put := e.do(t, http.MethodPut, "/fake/watch/x.magnet", map[string]string{"If": "(" + tok + ")"}, "magnet:?xt=urn:btih:"+strings.Repeat("b", 40)+"\n")
	if put.StatusCode != http.StatusCreated {
		t.Fatalf("PUT under the lock: %s %s", put.Status, readAll(t, put))
	}
	e.do(t, "UNLOCK", "/fake/watch/x.magnet", map[string]string{"Lock-Token": tok}, "")
	if resp := e.do(t, "PROPFIND", "/fake/watch/x.magnet", map[string]string{"Depth": "0"}, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the locked placeholder stayed: %s", resp.Status)
	}
}
