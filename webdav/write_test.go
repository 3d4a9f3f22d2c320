package webdav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
)

func TestPutStreamsAndOverwrites(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().MkdirAll("/dir")
	body := strings.Repeat("a", 100000)
	resp := e.do(t, "PUT", "/fake/dir/new.txt", nil, body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d %s", resp.StatusCode, readAll(t, resp))
	}
	if got := readAll(t, e.do(t, "GET", "/fake/dir/new.txt", nil, "")); got != body {
		t.Fatalf("read back %d bytes", len(got))
	}
	old, _ := e.cloud.Tree().Lookup("/dir/new.txt")
	resp = e.do(t, "PUT", "/fake/dir/new.txt", nil, "replaced")
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("overwrite: %d", resp.StatusCode)
	}
	if got := readAll(t, e.do(t, "GET", "/fake/dir/new.txt", nil, "")); got != "replaced" {
		t.Fatalf("after overwrite: %q", got)
	}
	if n, _ := e.cloud.Tree().Get(old.ID); !n.Trashed {
		t.Fatalf("the old file was not moved to the trash")
	}
	kids, _ := e.cloud.Tree().Children(mustLookup(t, e, "/dir").ID)
	if len(kids) != 1 {
		t.Fatalf("%d files in /dir after overwrite", len(kids))
	}
}

func mustLookup(t *testing.T, e *env, p string) fakecloud.Node {
	t.Helper()
	n, err := e.cloud.Tree().Lookup(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return n
}

func TestPutChunkedWithExpectedLength(t *testing.T) {
	e := newEnv(t)
	data := bytes.Repeat([]byte("finder"), 5000)
	for _, hdr := range []map[string]string{{"X-Expected-Entity-Length": "30000"}, {}} {
		req, _ := http.NewRequest("PUT", e.srv.URL+"/fake/chunked.bin", io.NopCloser(bytes.NewReader(data)))
		req.ContentLength = -1 // chunked, as Finder sends
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("chunked PUT %v: %d", hdr, resp.StatusCode)
		}
		if got := readAll(t, e.do(t, "GET", "/fake/chunked.bin", nil, "")); got != string(data) {
			t.Fatalf("chunked PUT %v read back %d bytes", hdr, len(got))
		}
	}
}

func TestFailedOverwriteKeepsOldFile(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().PutPath("/keep.txt", fakecloud.BytesBlob([]byte("precious")))
	readAll(t, e.do(t, "GET", "/fake/keep.txt", nil, "")) // warm the cache
	// a client that promises 1 MB and hangs up after 1000 bytes
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "PUT /fake/keep.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("z", 1000))
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	time.Sleep(200 * time.Millisecond)
	// the upload was refused by the cloud too: old file intact
	e.cloud.Faults().Inject(memdrivetest.EndpointUpload, fakecloud.ServerError, 1, 1)
	if resp := e.do(t, "PUT", "/fake/keep.txt", nil, "new content"); resp.StatusCode < 500 {
		t.Fatalf("failed upload answered %d", resp.StatusCode)
	}
	if got := readAll(t, e.do(t, "GET", "/fake/keep.txt", nil, "")); got != "precious" {
		t.Fatalf("old file became %q", got)
	}
	kids, _ := e.cloud.Tree().Children(e.cloud.Tree().RootID())
	if len(kids) != 1 {
		t.Fatalf("%d entries after failed uploads, want only the old file", len(kids))
	}
}

func TestPlaceholderCostsOneUpload(t *testing.T) {
	e := newEnv(t)
	// Windows Explorer: PUT 0 bytes, LOCK, PUT content, UNLOCK
	if resp := e.do(t, "PUT", "/fake/doc.docx", nil, ""); resp.StatusCode != http.StatusCreated {
		t.Fatalf("empty PUT: %d", resp.StatusCode)
	}
	if resp := e.do(t, "PROPFIND", "/fake/doc.docx", map[string]string{"Depth": "0"}, ""); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("placeholder not visible: %d", resp.StatusCode)
	}
	lock := e.do(t, "LOCK", "/fake/doc.docx", map[string]string{"Timeout": "Infinite"}, lockBody)
	if lock.StatusCode != http.StatusOK {
		t.Fatalf("LOCK: %d", lock.StatusCode)
	}
	token := lock.Header.Get("Lock-Token")
	if to := readAll(t, lock); !strings.Contains(to, "Second-3600") {
		t.Fatalf("Infinite lock not clamped: %s", to)
	}
	if resp := e.do(t, "PUT", "/fake/doc.docx", map[string]string{"If": "(" + token + ")"}, "content"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT content: %d", resp.StatusCode)
	}
	e.do(t, "UNLOCK", "/fake/doc.docx", map[string]string{"Lock-Token": token}, "")
	if got := e.calls(memdrivetest.EndpointUpload); got != 1 {
		t.Fatalf("%d cloud uploads, want 1", got)
	}
	// LOCK on an unmapped URL makes a placeholder that is stored as an
	// empty file once idle and unlocked
	lock = e.do(t, "LOCK", "/fake/empty.txt", nil, lockBody)
	token = lock.Header.Get("Lock-Token")
	e.fs.o.PlaceholderGrace = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	e.fs.Tick()
	if _, err := e.cloud.Tree().Lookup("/empty.txt"); err == nil {
		t.Fatalf("a locked placeholder was uploaded")
	}
	e.do(t, "UNLOCK", "/fake/empty.txt", map[string]string{"Lock-Token": token}, "")
	time.Sleep(5 * time.Millisecond)
	e.fs.Tick()
	if _, err := e.cloud.Tree().Lookup("/empty.txt"); err != nil {
		t.Fatalf("idle placeholder not stored: %v", err)
	}
}

const lockBody = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>test</D:owner></D:lockinfo>`

func TestSystemFilesStayLocal(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{".DS_Store", "._movie.mkv", "Thumbs.db", "desktop.ini"} {
		if resp := e.do(t, "PUT", "/fake/"+name, nil, "meta"); resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %s: %d", name, resp.StatusCode)
		}
		if got := readAll(t, e.do(t, "GET", "/fake/"+name, nil, "")); got != "meta" {
			t.Fatalf("%s read back %q", name, got)
		}
	}
	if n := e.calls(memdrivetest.EndpointUpload); n != 0 {
		t.Fatalf("%d system files reached the cloud", n)
	}
	if resp := e.do(t, "DELETE", "/fake/._movie.mkv", nil, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE system file: %d", resp.StatusCode)
	}
}

func TestMkcolDeleteMoveCopy(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"MKCOL", "/fake/a", nil, 201},
		{"MKCOL", "/fake/a", nil, 405},
		{"MKCOL", "/fake/missing/b", nil, 409},
		{"PUT", "/fake/a/f.txt", nil, 201},
		{"MOVE", "/fake/a/f.txt", map[string]string{"Destination": "http://other-host/fake/a/g.txt"}, 201},
		{"MKCOL", "/fake/b", nil, 201},
		{"MOVE", "/fake/a/g.txt", map[string]string{"Destination": "/fake/b/h.txt"}, 201},
		{"COPY", "/fake/b/h.txt", map[string]string{"Destination": "/fake/a/h copy.txt"}, 201},
		{"COPY", "/fake/b", map[string]string{"Destination": "/fake/c"}, 201},
		{"COPY", "/fake/b/h.txt", map[string]string{"Destination": "/fake/c/h.txt", "Overwrite": "F"}, 412},
		{"COPY", "/fake/b/h.txt", map[string]string{"Destination": "/fake/c/h.txt"}, 204},
		{"MOVE", "/fake/b", map[string]string{"Destination": "/fake/a/b"}, 201},
		{"MOVE", "/fake", map[string]string{"Destination": "/fake2"}, 403},
		{"DELETE", "/fake/a/b", nil, 204},
		{"DELETE", "/fake/a/b", nil, 404},
	}
	for _, s := range steps {
		body := ""
		if s.method == "PUT" {
			body = "data"
		}
		resp := e.do(t, s.method, s.path, s.hdr, body)
		if resp.StatusCode != s.want {
			t.Fatalf("%s %s: %d, want %d: %s", s.method, s.path, resp.StatusCode, s.want, readAll(t, resp))
		}
	}
	for p, want := range map[string]string{"/fake/a/h copy.txt": "data", "/fake/c/h.txt": "data"} {
		if got := readAll(t, e.do(t, "GET", p, nil, "")); got != want {
			t.Fatalf("%s: %q", p, got)
		}
	}
	if n := e.calls(memdrivetest.EndpointCDN); n != 2 {
		t.Fatalf("COPY read %d files through pandav; want only the 2 GETs above", n)
	}
}

func TestMoveWithSourceTokenOnly(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/src.txt", nil, "x")
	lock := e.do(t, "LOCK", "/fake/src.txt", map[string]string{"Timeout": "Second-60"}, lockBody)
	token := lock.Header.Get("Lock-Token")
	if token == "" {
		t.Fatalf("LOCK: %d", lock.StatusCode)
	}
	resp := e.do(t, "MOVE", "/fake/src.txt", map[string]string{"Destination": "/fake/dst.txt", "If": "(" + token + ")"}, "")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("MOVE with the source's token: %d (golang/go#43556)", resp.StatusCode)
	}
}

func TestProppatch(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/p.txt", nil, "x")
	body := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>
<Z:Win32LastModifiedTime>Wed, 01 Jan 2025 00:00:00 GMT</Z:Win32LastModifiedTime>
<D:getlastmodified>Wed, 01 Jan 2025 00:00:00 GMT</D:getlastmodified>
<x:color xmlns:x="urn:test">blue</x:color></D:prop></D:set></D:propertyupdate>`
	resp := e.do(t, "PROPPATCH", "/fake/p.txt", nil, body)
	out := readAll(t, resp)
	if resp.StatusCode != http.StatusMultiStatus || strings.Contains(out, "403") || !strings.Contains(out, "getlastmodified") || strings.Contains(out, "pandav-") {
		t.Fatalf("PROPPATCH: %d %s", resp.StatusCode, out)
	}
	// moved files keep their dead properties, and they survive a restart
	e.do(t, "MOVE", "/fake/p.txt", map[string]string{"Destination": "/fake/q.txt"}, "")
	props := newPropStore(e.fs.o.State) // nothing cached: what the store holds
	n := mustLookup(t, e, "/q.txt")
	got, err := props.get("/fake", n.ID)
	if err != nil || len(got) != 2 {
		t.Fatalf("stored props after move and reload: %v", got)
	}
	pf := e.do(t, "PROPFIND", "/fake/q.txt", map[string]string{"Depth": "0"}, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><x:color xmlns:x="urn:test"/></D:prop></D:propfind>`)
	if out := readAll(t, pf); !strings.Contains(out, "blue") {
		t.Fatalf("PROPFIND of a dead property: %s", out)
	}
}

func TestReadOnlyMountMakesNoUpstreamCall(t *testing.T) {
	e := newEnvWith(t, func(o *Options, specs []MountSpec) { specs[0].ReadOnly = true })
	before := e.cloud.Counters().Snapshot()
	for _, m := range []string{"PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH", "LOCK"} {
		resp := e.do(t, m, "/fake/x", map[string]string{"Destination": "/fake/y"}, "data")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %d", m, resp.StatusCode)
		}
	}
	if after := e.cloud.Counters().Snapshot(); len(after) != len(before) {
		t.Fatalf("upstream calls on a read-only mount: %v", after)
	}
}

func TestThrottledWriteIs503(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PROPFIND", "/fake/", map[string]string{"Depth": "1"}, "")
	e.cloud.Faults().Inject(memdrivetest.EndpointMkdir, fakecloud.Throttle, 1, -1)
	resp := e.do(t, "MKCOL", "/fake/newdir", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("throttled MKCOL: %d Retry-After %q, want the cloud's 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestClampTimeout(t *testing.T) {
	tests := map[string]string{
		"":                               "Second-3600",
		"Infinite":                       "Second-3600",
		"Infinite, Second-4100000000":    "Second-3600",
		"Second-60":                      "Second-60",
		"Second-99999":                   "Second-3600",
		"Extend-3, Second-120, Infinite": "Second-120",
	}
	for in, want := range tests {
		if got := clampTimeout(in, time.Hour); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestSubmittedTokens(t *testing.T) {
	lists, ok := parseIfHeader(`<http://h/a> (<opaquelocktoken:1> ["etag"]) (Not <2>)`)
	var got []string
	for _, c := range submittedTokens(lists) {
		got = append(got, c.Token)
	}
	if !ok || strings.Join(got, ",") != "opaquelocktoken:1,2" {
		t.Fatalf("%v", got)
	}
}

// A throttled cloud in the middle of an overwriting COPY or MOVE must
// leave the destination as it was (the Office "save": PUT tmp, MOVE tmp
// over the original).
func TestFailedOverwritingMoveKeepsDestination(t *testing.T) {
	for method, endpoint := range map[string]string{"COPY": memdrivetest.EndpointCopy, "MOVE": memdrivetest.EndpointPatch} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t)
			e.do(t, "PUT", "/fake/dst.txt", nil, "original")
			e.do(t, "PUT", "/fake/src.txt", nil, "new")
			e.cloud.Faults().Inject(endpoint, fakecloud.Throttle, 1, -1)
			resp := e.do(t, method, "/fake/src.txt", map[string]string{"Destination": "/fake/dst.txt"}, "")
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("%s under throttling: %d", method, resp.StatusCode)
			}
			e.cloud.Faults().Clear()
			if got := readAll(t, e.do(t, "GET", "/fake/dst.txt", nil, "")); got != "original" {
				t.Fatalf("destination became %q", got)
			}
			resp = e.do(t, method, "/fake/src.txt", map[string]string{"Destination": "/fake/dst.txt"}, "")
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("%s after the cloud recovered: %d", method, resp.StatusCode)
			}
			if got := readAll(t, e.do(t, "GET", "/fake/dst.txt", nil, "")); got != "new" {
				t.Fatalf("destination after %s: %q", method, got)
			}
			out := readAll(t, e.do(t, "PROPFIND", "/fake/", map[string]string{"Depth": "1"}, ""))
			if strings.Contains(out, tempPrefix) {
				t.Fatalf("a temporary name is listed: %s", out)
			}
		})
	}
}

// A GET that streams for longer than any body timeout must not be cut.
func TestLongGetOutlivesBodyTimeout(t *testing.T) {
	old := bodyTimeout
	bodyTimeout = 200 * time.Millisecond
	defer func() { bodyTimeout = old }()
	e := newEnv(t)
	blob := fakecloud.NewSeededBlob(4, 2<<20, "")
	e.cloud.Tree().PutPath("/slow.bin", blob)
	resp, err := http.Get(e.srv.URL + "/fake/slow.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	buf := make([]byte, 256<<10)
	for {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // the whole read takes ~1 s
	}
	want := make([]byte, blob.Size())
	blob.ReadAt(want, 0)
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("slow GET got %d of %d bytes", got.Len(), len(want))
	}
}

func TestPutETagMatchesLaterReads(t *testing.T) {
	e := newEnv(t)
	resp := e.do(t, "PUT", "/fake/e.txt", nil, "hello")
	put := resp.Header.Get("ETag")
	head := e.do(t, "HEAD", "/fake/e.txt", nil, "").Header.Get("ETag")
	if put == "" || put != head {
		t.Fatalf("PUT gave ETag %s, HEAD %s", put, head)
	}
}

func TestEmptyFolderListedOncePerPropfind(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().MkdirAll("/empty")
	e.do(t, "PROPFIND", "/fake/", map[string]string{"Depth": "1"}, "")
	before := e.calls(memdrivetest.EndpointChildren)
	for i := 0; i < 3; i++ {
		e.do(t, "PROPFIND", "/fake/empty/", map[string]string{"Depth": "1"}, "")
	}
	if got := e.calls(memdrivetest.EndpointChildren) - before; got != 3 {
		t.Fatalf("3 PROPFINDs of an empty folder cost %d listings", got)
	}
}

func TestConcurrentPutsOfOnePathLeaveOneFile(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/same.bin", nil, "v0")
	// Through the FileSystem itself: over HTTP, x/net/webdav's own
	// per-request lock answers all but one of them 423 before they get
	// here, and the path lock would go untested.
	var wg sync.WaitGroup
	for i := 1; i <= 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := withRequest(context.Background(), &request{put: &putInfo{size: -1}})
			f, err := e.fs.OpenFile(ctx, "/fake/same.bin", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte(strings.Repeat("x", 100000*i)))
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	kids, _ := e.cloud.Tree().Children(e.cloud.Tree().RootID())
	if len(kids) != 1 {
		t.Fatalf("%d files named same.bin after 4 concurrent uploads", len(kids))
	}
}

// When the old file cannot be removed after an overwrite, the new one is
// shown, and the old one is removed later, so a DELETE cannot bring it
// back.
func TestOldFileRemovedLaterAfterOverwrite(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/o.txt", nil, "old")
	e.cloud.Faults().Inject(memdrivetest.EndpointDelete, fakecloud.ServerError, 1, 1)
	e.do(t, "PUT", "/fake/o.txt", nil, "new")
	if got := readAll(t, e.do(t, "GET", "/fake/o.txt", nil, "")); got != "new" {
		t.Fatalf("after overwrite: %q", got)
	}
	if kids, _ := e.cloud.Tree().Children(e.cloud.Tree().RootID()); len(kids) != 2 {
		t.Fatalf("%d files; the failed removal should leave both for now", len(kids))
	}
	e.fs.Tick()
	if kids, _ := e.cloud.Tree().Children(e.cloud.Tree().RootID()); len(kids) != 1 {
		t.Fatalf("%d files after the retry", len(kids))
	}
	e.do(t, "DELETE", "/fake/o.txt", nil, "")
	if resp := e.do(t, "GET", "/fake/o.txt", nil, ""); resp.StatusCode != 404 {
		t.Fatalf("the old content resurfaced: %d", resp.StatusCode)
	}
}

// A removal the cloud keeps refusing is retried after a growing wait, not
// on every Tick.
func TestPendingRemovalBacksOff(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/o.txt", nil, "old")
	e.cloud.Faults().Inject(memdrivetest.EndpointDelete, fakecloud.ServerError, 1, 2) // the overwrite's, then the first retry's
	e.do(t, "PUT", "/fake/o.txt", nil, "new")
	e.fs.Tick() // fails: next try in 5 s
	e.fs.Tick() // too soon: not tried, though the cloud would now say yes
	if kids, _ := e.cloud.Tree().Children(e.cloud.Tree().RootID()); len(kids) != 2 {
		t.Fatalf("%d files: the removal was retried at once after failing", len(kids))
	}
	e.fs.pending.mu.Lock()
	if len(e.fs.pending.wait) != 1 {
		t.Fatalf("%d removals waiting", len(e.fs.pending.wait))
	}
	for id, w := range e.fs.pending.wait {
		if w.wait != pendingFirstWait {
			t.Errorf("wait after one failure: %v", w.wait)
		}
		w.next = time.Time{} // as if the wait had passed
		e.fs.pending.wait[id] = w
	}
	e.fs.pending.mu.Unlock()
	e.fs.Tick()
	if kids, _ := e.cloud.Tree().Children(e.cloud.Tree().RootID()); len(kids) != 1 {
		t.Fatalf("%d files after the wait", len(kids))
	}
}

// Uploads finishing together in one folder must all stay in its cached
// listing (rclone copies 4 files at a time).
func TestConcurrentUploadsAllListed(t *testing.T) {
	e := newEnv(t)
	e.cloud.Tree().MkdirAll("/many")
	e.do(t, "PROPFIND", "/fake/many/", map[string]string{"Depth": "1"}, "") // empty: not cached
	e.do(t, "PUT", "/fake/many/first.txt", nil, "x")
	e.do(t, "PROPFIND", "/fake/many/", map[string]string{"Depth": "1"}, "") // now cached
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/fake/many/f%02d.txt", e.srv.URL, i), strings.NewReader("data"))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	body := readAll(t, e.do(t, "PROPFIND", "/fake/many/", map[string]string{"Depth": "1"}, ""))
	for i := 0; i < 40; i++ {
		if !strings.Contains(body, fmt.Sprintf("f%02d.txt", i)) {
			t.Fatalf("f%02d.txt missing from the listing after concurrent uploads", i)
		}
	}
}

// TestNoTrashRemovesForGood: on a no_trash mount a DELETE, and the
// removal of the file an overwrite replaced, remove for good; by default
// both go to the cloud's trash.
func TestNoTrashRemovesForGood(t *testing.T) {
	for _, noTrash := range []bool{false, true} {
		t.Run(fmt.Sprint("no_trash=", noTrash), func(t *testing.T) {
			e := newEnvWith(t, func(o *Options, specs []MountSpec) { specs[0].NoTrash = noTrash })
			e.do(t, "PUT", "/fake/r.txt", nil, "old")
			old := mustLookup(t, e, "/r.txt")
			e.do(t, "PUT", "/fake/r.txt", nil, "new")
			replacement := mustLookup(t, e, "/r.txt")
			if resp := e.do(t, "DELETE", "/fake/r.txt", nil, ""); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE: %d", resp.StatusCode)
			}
			for _, id := range []string{old.ID, replacement.ID} {
				n, err := e.cloud.Tree().Get(id)
				if gone := errors.Is(err, fakecloud.ErrNotFound); gone != noTrash || !gone && !n.Trashed {
					t.Fatalf("%s: gone %v, trashed %v", id, gone, n.Trashed)
				}
			}
		})
	}
}

// TestNewestNamesakeServed: of two files of one name with the same time,
// as a cloud that keeps whole seconds or milliseconds gives two quick
// uploads, the one the cloud lists first, its newest (docs/protocols/memdrive.md §2),
// is the one served, and the name is listed once.
func TestNewestNamesakeServed(t *testing.T) {
	e := newEnv(t)
	at := time.Now().UTC().Truncate(time.Second)
	root := e.cloud.Tree().RootID()
	e.cloud.Tree().Put(root, "dup.txt", fakecloud.BytesBlob([]byte("older")), at)
	e.cloud.Tree().Put(root, "dup.txt", fakecloud.BytesBlob([]byte("newer")), at)
	if got := readAll(t, e.do(t, "GET", "/fake/dup.txt", nil, "")); got != "newer" {
		t.Fatalf("served %q", got)
	}
	if body := readAll(t, e.do(t, "PROPFIND", "/fake/", map[string]string{"Depth": "1"}, "")); strings.Count(body, "/fake/dup.txt<") != 1 {
		t.Fatalf("dup.txt is not listed once: %s", body)
	}
}

// TestUsableKeepsTheDriversFirst: of equal names the first listed is
// served, even when a later one carries a newer modification time, as an
// old copy does after an overwrite with an older file whose old copy the
// cloud has not removed yet.
func TestUsableKeepsTheDriversFirst(t *testing.T) {
	now := time.Now()
	got := usable([]drivers.Entry{
		{ID: "new", Name: "a.txt", ModTime: now.Add(-time.Hour)},
		{ID: "old", Name: "a.txt", ModTime: now},
		{ID: "b", Name: "b.txt"},
	})
	if len(got) != 2 || got[0].ID != "new" || got[1].ID != "b" {
		t.Fatalf("usable kept %+v", got)
	}
}

// TestFullDriveAndTooLarge: a PUT to a full drive is 507 Insufficient
// Storage and one over the cloud's largest file 413, each with nothing
// written and the old file intact.
func TestFullDriveAndTooLarge(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/keep.txt", nil, "precious")
	e.cloud.SetSpace(e.cloud.Tree().Usage() + 10)
	for _, p := range []string{"/fake/new.bin", "/fake/keep.txt"} {
		resp := e.do(t, "PUT", p, nil, strings.Repeat("x", 100))
		if body := readAll(t, resp); resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(body, "full") {
			t.Fatalf("PUT %s to a full drive: %d %s", p, resp.StatusCode, body)
		}
	}
	e.cloud.SetSpace(1 << 40)
	e.cloud.LimitFileSize(50)
	if resp := e.do(t, "PUT", "/fake/new.bin", nil, strings.Repeat("x", 100)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("PUT over the largest file: %d", resp.StatusCode)
	}
	if got := readAll(t, e.do(t, "GET", "/fake/keep.txt", nil, "")); got != "precious" {
		t.Fatalf("the old file became %q", got)
	}
	if kids, _ := e.cloud.Tree().Children(e.cloud.Tree().RootID()); len(kids) != 1 {
		t.Fatalf("%d entries after refused uploads, want only the old file", len(kids))
	}
}
