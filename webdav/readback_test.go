package webdav

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
)

// TestReadBackNeedsNoLink: what pandav just uploaded is read back from
// state_dir with no link call, streamed or spooled, whole or by range;
// a file over read_back's max_file is not kept.
func TestReadBackNeedsNoLink(t *testing.T) {
	e := newEnvWith(t, func(o *Options, _ []MountSpec) { o.ReadBackMaxFile = 1 << 20 })
	small := strings.Repeat("5 KB of a document ", 270)
	e.do(t, "PUT", "/fake/streamed.txt", nil, small)
	e.do(t, "PUT", "/fake/spooled.txt", map[string]string{"OC-Checksum": "SHA1:" + strings.ToLower(fakecloud.BytesBlob([]byte(small)).SHA1())}, small)
	for _, p := range []string{"/fake/streamed.txt", "/fake/spooled.txt"} {
		if got := readAll(t, e.do(t, "GET", p, nil, "")); got != small {
			t.Fatalf("%s read back %d bytes", p, len(got))
		}
		resp := e.do(t, "GET", p, map[string]string{"Range": "bytes=5-9"}, "")
		if got := readAll(t, resp); resp.StatusCode != http.StatusPartialContent || got != small[5:10] {
			t.Fatalf("%s range: %d %q", p, resp.StatusCode, got)
		}
	}
	if n := e.calls(memdrivetest.EndpointLink); n != 0 {
		t.Fatalf("reading back our own uploads cost %d link calls", n)
	}
	if n, _ := e.fs.readBack.kept(); n != 2 {
		t.Fatalf("%d copies kept, want 2", n)
	}
	if left, _ := filepath.Glob(filepath.Join(e.fs.o.StateDir, "spool", "*")); len(left) != 0 {
		t.Fatalf("spool files left: %v", left)
	}
	big := strings.Repeat("b", 2<<20)
	e.do(t, "PUT", "/fake/big.bin", nil, big)
	if got := readAll(t, e.do(t, "GET", "/fake/big.bin", nil, "")); got != big || e.calls(memdrivetest.EndpointLink) != 1 {
		t.Fatalf("a file over max_file: %d bytes, %d link calls", len(got), e.calls(memdrivetest.EndpointLink))
	}
}

// TestReadBackDropped: a kept copy is not served once the file changed in
// the cloud, was overwritten through another path, was deleted, or its
// time is up.
func TestReadBackDropped(t *testing.T) {
	e := newEnvWith(t, func(o *Options, _ []MountSpec) { o.ReadBackTTL = 300 * time.Millisecond })
	e.do(t, "PUT", "/fake/a.txt", nil, "ours")
	// changed in the cloud: another file now has the name
	old := mustLookup(t, e, "/a.txt")
	e.cloud.Tree().Trash(old.ID)
	e.cloud.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("theirs")))
	e.fs.Purge()
	if got := readAll(t, e.do(t, "GET", "/fake/a.txt", nil, "")); got != "theirs" {
		t.Fatalf("after a change in the cloud: %q", got)
	}
	// overwritten by a MOVE from another path
	e.do(t, "PUT", "/fake/b.txt", nil, "first")
	e.do(t, "PUT", "/fake/c.txt", nil, "second")
	e.do(t, "MOVE", "/fake/c.txt", map[string]string{"Destination": "/fake/b.txt"}, "")
	if got := readAll(t, e.do(t, "GET", "/fake/b.txt", nil, "")); got != "second" {
		t.Fatalf("after MOVE over it: %q", got)
	}
	// deleted
	e.do(t, "PUT", "/fake/d.txt", nil, "gone")
	e.do(t, "DELETE", "/fake/d.txt", nil, "")
	if resp := e.do(t, "GET", "/fake/d.txt", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after DELETE: %d", resp.StatusCode)
	}
	// expired
	e.do(t, "PUT", "/fake/e.txt", nil, "short-lived")
	time.Sleep(350 * time.Millisecond)
	e.fs.Tick()
	before := e.calls(memdrivetest.EndpointLink)
	if got := readAll(t, e.do(t, "GET", "/fake/e.txt", nil, "")); got != "short-lived" || e.calls(memdrivetest.EndpointLink) != before+1 {
		t.Fatalf("after the ttl: %q with %d link calls", got, e.calls(memdrivetest.EndpointLink)-before)
	}
	if kept, _ := os.ReadDir(filepath.Join(e.fs.o.StateDir, "readback")); len(kept) > 1 {
		t.Fatalf("%d files left in readback after the ttl", len(kept))
	}
}
