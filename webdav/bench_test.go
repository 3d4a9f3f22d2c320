package webdav

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"pandav/internal/fakecloud"
)

// BenchmarkPropfindWarm is a warm Depth 1 PROPFIND of 10,000 files, the
// figure bench/ (d) compares with x/net/webdav over NewMemFS.
func BenchmarkPropfindWarm(b *testing.B) {
	e := newEnv(b)
	dir, _ := e.cloud.Tree().MkdirAll("/big")
	for i := 0; i < 10000; i++ {
		e.cloud.Tree().Put(dir.ID, fmt.Sprintf("file %05d.mkv", i), fakecloud.BytesBlob([]byte("x")), time.Time{})
	}
	propfind := func(url string) {
		req, _ := http.NewRequest("PROPFIND", url, strings.NewReader(""))
		req.Header.Set("Depth", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	propfind(e.srv.URL + "/fake/big/")
	b.Run("pandav", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			propfind(e.srv.URL + "/fake/big/")
		}
	})
	mem := webdav.NewMemFS()
	mem.Mkdir(b.Context(), "/big", 0o755)
	for i := 0; i < 10000; i++ {
		f, _ := mem.OpenFile(b.Context(), fmt.Sprintf("/big/file %05d.mkv", i), 0x42, 0o644)
		f.Write([]byte("x"))
		f.Close()
	}
	ms := httptest.NewServer(&webdav.Handler{FileSystem: mem, LockSystem: webdav.NewMemLS()})
	defer ms.Close()
	b.Run("memfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			propfind(ms.URL + "/big/")
		}
	})
}
