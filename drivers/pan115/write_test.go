package pan115

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/fakecloud"
)

// testPartSize keeps multipart uploads small in tests.
const testPartSize = 256 << 10

func writeSetup(t *testing.T) *fixture {
	return setup(t, quiet, func(o *Options) { o.UploadPartSize = testPartSize })
}

func seededBytes(seed uint64, n int64) []byte {
	b := make([]byte, n)
	fakecloud.NewSeededBlob(seed, n, "").ReadAt(b, 0)
	return b
}

// calls returns how many calls each endpoint got while fn ran.
func (f *fixture) calls(fn func()) map[string]int64 {
	before := f.srv.Counters().Snapshot()
	fn()
	out := map[string]int64{}
	for k, v := range f.srv.Counters().Snapshot() {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (f *fixture) content(t *testing.T, id string) []byte {
	t.Helper()
	n, err := f.srv.Tree().Get(id)
	if err != nil || n.Trashed {
		t.Fatalf("node %s: %v (trashed %v)", id, err, n.Trashed)
	}
	b := make([]byte, n.Size())
	n.Blob.ReadAt(b, 0)
	return b
}

func TestOSSSignatureKnownAnswer(t *testing.T) {
	// The worked example of Aliyun's OSS V1 signature documentation.
	h := http.Header{}
	h.Set("Content-MD5", "ODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=")
	h.Set("Content-Type", "text/html")
	h.Set("Date", "Thu, 17 Nov 2005 18:49:58 GMT")
	h.Set("X-OSS-Meta-Author", "foo@bar.com")
	h.Set("X-OSS-Magic", "abracadabra")
	want := "PUT\nODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=\ntext/html\nThu, 17 Nov 2005 18:49:58 GMT\nx-oss-magic:abracadabra\nx-oss-meta-author:foo@bar.com\n/oss-example/nelson"
	sts := ossStringToSign(http.MethodPut, h, ossCanonicalResource("oss-example", "nelson", nil))
	if sts != want {
		t.Fatalf("string to sign:\n%q\nwant\n%q", sts, want)
	}
	if sig := ossSignature("OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV", sts); sig != "26NBxoKdsyly4EDv6inkoDft/yA=" {
		t.Fatalf("signature %s", sig)
	}
	// The emulator signs the same request the same way.
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1/oss-example/nelson", nil)
	req.Header = h
	if got := pan115test.OSSStringToSign(req, "oss-example", "nelson"); got != want {
		t.Fatalf("emulator string to sign %q", got)
	}
	// Subresources are sorted and signed; other query keys are not.
	res := ossCanonicalResource("b", "o", []subresource{{"uploadId", "X"}, {"partNumber", "2"}})
	if res != "/b/o?partNumber=2&uploadId=X" {
		t.Fatalf("resource %q", res)
	}
	req, _ = http.NewRequest(http.MethodPut, "http://127.0.0.1/b/o?uploadId=X&partNumber=2&foo=bar", nil)
	if got := pan115test.OSSStringToSign(req, "b", "o"); !strings.HasSuffix(got, "\n"+res) {
		t.Fatalf("emulator resource in %q", got)
	}
}

func TestOSSURLStyle(t *testing.T) {
	u, _ := ossURL("http://127.0.0.1:1234", "fhnfile", "a/b c", []subresource{{key: "uploads"}})
	if u.String() != "http://127.0.0.1:1234/fhnfile/a/b%20c?uploads" {
		t.Fatalf("path style: %s", u)
	}
	u, _ = ossURL("oss-cn-shenzhen.aliyuncs.com", "fhnfile", "obj", []subresource{{"partNumber", "1"}, {"uploadId", "U"}})
	if u.String() != "https://fhnfile.oss-cn-shenzhen.aliyuncs.com/obj?partNumber=1&uploadId=U" {
		t.Fatalf("virtual host: %s", u)
	}
}

func TestUploadMultipartAndFileBackedBlob(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, func(o *Options) { o.UploadPartSize = 4 << 20 })
	data := seededBytes(3, 10<<20+5) // above the emulator's in-memory limit
	var e drivers.Entry
	calls := f.calls(func() {
		var err error
		e, err = f.d.Upload(ctx, dirEntry("0"), "big.bin", drivers.NewBytesSource(data, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
	})
	if calls[pan115test.EndpointOSSInit] != 1 || calls[pan115test.EndpointOSSPart] != 3 || calls[pan115test.EndpointOSSComplete] != 1 || calls[pan115test.EndpointOSSPut] != 0 {
		t.Fatalf("calls %v, want 1 initiate, 3 parts, 1 complete", calls)
	}
	if calls[pan115test.EndpointFiles] != 0 || calls[pan115test.EndpointGetInfo] != 0 {
		t.Fatalf("upload listed or looked up: %v", calls)
	}
	if f.srv.UploadedBytes() != int64(len(data)) {
		t.Fatalf("sent %d bytes, want %d", f.srv.UploadedBytes(), len(data))
	}
	n, err := f.srv.Tree().Get(e.ID)
	if err != nil || n.Name != "big.bin" || n.ParentID != "0" || e.SHA1 != n.Blob.SHA1() || e.Size != n.Size() {
		t.Fatalf("entry %+v, node %+v %v", e, n, err)
	}
	// The pick code from the callback is good for a link at once.
	l, err := f.d.Link(ctx, e, drivers.LinkRequest{UserAgent: "ua"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := drivertest.FetchLink(ctx, l, 5<<20, 1000)
	if err != nil || !bytes.Equal(got, data[5<<20:5<<20+1000]) {
		t.Fatalf("read back: %v", err)
	}
}

func TestRapidUploadProvesPossession(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	data := seededBytes(7, 2<<20+3)
	if _, err := f.srv.Tree().PutPath("/elsewhere/orig.bin", fakecloud.BytesBlob(data)); err != nil {
		t.Fatal(err)
	}
	existing, _ := f.srv.Tree().PutPath("/dst/same.bin", fakecloud.BytesBlob([]byte("older")))
	var e drivers.Entry
	calls := f.calls(func() {
		var err error
		e, err = f.d.Upload(ctx, dirEntry(existing.ParentID), "same.bin", drivers.NewBytesSource(data, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
	})
	if calls[pan115test.EndpointUploadInit] != 2 || calls[pan115test.EndpointUploadToken] != 0 || f.srv.UploadedBytes() != 0 {
		t.Fatalf("calls %v, sent %d: want init twice (sign_check) and nothing sent", calls, f.srv.UploadedBytes())
	}
	if e.Name != "same.bin" || e.ID == existing.ID || !bytes.Equal(f.content(t, e.ID), data) {
		t.Fatalf("rapid upload made %+v", e)
	}
	// The namesake is still there: uploads never replace.
	if string(f.content(t, existing.ID)) != "older" {
		t.Fatal("older namesake replaced")
	}
}

func TestUploadRefreshesExpiredSTS(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	// Each credential is good for two OSS requests; a 5-part upload takes
	// seven.
	f.srv.SetSTSUses(2)
	data := seededBytes(11, 5*testPartSize-100)
	e, err := f.d.Upload(ctx, dirEntry("0"), "long.bin", drivers.NewBytesSource(data, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.content(t, e.ID), data) {
		t.Fatal("content differs")
	}
	if n := f.srv.Counters().Get(pan115test.EndpointUploadToken); n < 4 {
		t.Fatalf("get_token called %d times, want a fresh credential after each expiry", n)
	}
	if f.srv.Counters().Get(pan115test.CounterOSS403) == 0 {
		t.Fatal("no credential ever expired; the test proves nothing")
	}
}

func TestUploadFaultsAreRetried(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	for _, ep := range []string{pan115test.EndpointOSSInit, pan115test.EndpointOSSPart, pan115test.EndpointOSSComplete, pan115test.EndpointUploadInit, pan115test.EndpointUploadToken} {
		f.srv.Faults().Inject(ep, fakecloud.ServerError, 2, 1)
		f.srv.Faults().Inject(ep, fakecloud.Reset, 3, 1)
	}
	f.srv.Faults().Inject(pan115test.EndpointOSSPart, fakecloud.Garbage, 4, 1)
	data := seededBytes(12, 4*testPartSize+1)
	e, err := f.d.Upload(ctx, dirEntry("0"), "faulty.bin", drivers.NewBytesSource(data, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.content(t, e.ID), data) {
		t.Fatal("content differs")
	}
	kids, _ := f.srv.Tree().Children("0")
	if len(kids) != 1 {
		t.Fatalf("%d files after retries, want 1", len(kids))
	}
}

// lyingSource claims a SHA1 its bytes do not have.
type lyingSource struct{ *drivers.BytesSource }

func (lyingSource) SHA1() string { return strings.Repeat("AB", 20) }

func TestUploadContentMismatchFails(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	src := lyingSource{drivers.NewBytesSource([]byte("not what init was told"), time.Time{})}
	_, err := f.d.Upload(ctx, dirEntry("0"), "bad.bin", src)
	if !errors.Is(err, drivers.ErrUpstream) {
		t.Fatalf("mismatched content gave %v, want ErrUpstream", err)
	}
	if kids, _ := f.srv.Tree().Children("0"); len(kids) != 0 {
		t.Fatalf("a file was created: %+v", kids)
	}
}

func TestUploadNeedsRandomAccess(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	needs := f.d.UploadNeeds()
	if !needs.SHA1 || !needs.RandomAccess {
		t.Fatalf("needs %+v", needs)
	}
	calls := f.calls(func() {
		_, err := f.d.Upload(ctx, dirEntry("0"), "x", &drivers.StreamSource{R: strings.NewReader("x"), N: 1})
		if !errors.Is(err, drivers.ErrUnsupported) || !strings.Contains(err.Error(), "random-access") {
			t.Fatalf("stream source gave %v", err)
		}
	})
	if len(calls) != 0 {
		t.Fatalf("calls %v", calls)
	}
}

func TestNamesCheckedBeforeAnyCall(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	file, _ := f.srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	e := drivers.Entry{ID: file.ID, ParentID: "0", Name: "a.txt", Size: 1}
	bad := []string{"", "  ", `say "hi".txt`, "a<b", "a>b", "a/b", ".", "..", strings.Repeat("名", 86)}
	calls := f.calls(func() {
		for _, name := range bad {
			if _, err := f.d.Mkdir(ctx, dirEntry("0"), name); !errors.Is(err, drivers.ErrInvalidName) {
				t.Fatalf("mkdir %q: %v", name, err)
			}
			if _, err := f.d.Rename(ctx, e, name); !errors.Is(err, drivers.ErrInvalidName) {
				t.Fatalf("rename %q: %v", name, err)
			}
			if _, err := f.d.Upload(ctx, dirEntry("0"), name, drivers.NewBytesSource(nil, time.Time{})); !errors.Is(err, drivers.ErrInvalidName) {
				t.Fatalf("upload %q: %v", name, err)
			}
		}
	})
	if len(calls) != 0 {
		t.Fatalf("invalid names reached 115: %v", calls)
	}
	// 115's own refusals map the same way.
	for code, want := range map[int64]error{20001: drivers.ErrInvalidName, 20002: drivers.ErrInvalidName, 20003: drivers.ErrInvalidName, 20004: drivers.ErrExist, 20009: drivers.ErrNotFound} {
		body := fmt.Sprintf(`{"state":false,"code":%d,"message":"msg"}`, code)
		if err := classify("op", upstream.Answer{Status: http.StatusOK, Body: []byte(body)}, nil); !errors.Is(err, want) {
			t.Fatalf("code %d: %v, want %v", code, err, want)
		}
	}
	if body := f.raw(t, http.MethodPost, "/open/folder/add", url.Values{"pid": {"0"}, "file_name": {"a<b"}}); !strings.Contains(body, `"code":20003`) {
		t.Fatalf("emulator: %s", body)
	}
}

func TestRenameAcrossExtensionsIsExact(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	data := seededBytes(21, 1<<20+500) // big enough for a sign_check
	n, _ := f.srv.Tree().PutPath("/v/movie.mkv", fakecloud.BytesBlob(data))
	e, err := drivertest.Resolve(ctx, f.d, "/v/movie.mkv")
	if err != nil {
		t.Fatal(err)
	}
	var got drivers.Entry
	calls := f.calls(func() {
		got, err = f.d.Rename(ctx, e, "movie.mp4")
		if err != nil {
			t.Fatal(err)
		}
	})
	if got.Name != "movie.mp4" || got.ID == n.ID || got.Size != int64(len(data)) || got.SHA1 != e.SHA1 {
		t.Fatalf("renamed entry %+v", got)
	}
	if !bytes.Equal(f.content(t, got.ID), data) {
		t.Fatal("content differs")
	}
	kids, _ := f.srv.Tree().Children(n.ParentID)
	if len(kids) != 1 || kids[0].Name != "movie.mp4" {
		t.Fatalf("folder holds %+v, want only movie.mp4", kids)
	}
	if _, err := f.srv.Tree().Get(n.ID); err == nil {
		t.Fatal("old entry not deleted for good")
	}
	if f.srv.UploadedBytes() != 0 || calls[pan115test.EndpointUploadInit] != 2 || calls[pan115test.EndpointRBDel] != 1 {
		t.Fatalf("calls %v, sent %d", calls, f.srv.UploadedBytes())
	}
}

func TestRenameOntoTakenName(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	a, _ := f.srv.Tree().PutPath("/d/a.txt", fakecloud.BytesBlob([]byte("a")))
	f.srv.Tree().PutPath("/d/b.txt", fakecloud.BytesBlob([]byte("b")))
	f.srv.Tree().PutPath("/d/c.md", fakecloud.BytesBlob([]byte("c")))
	e, err := drivertest.Resolve(ctx, f.d, "/d/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b.txt", "c.md"} {
		if _, err := f.d.Rename(ctx, e, name); !errors.Is(err, drivers.ErrExist) {
			t.Fatalf("rename onto %s: %v, want ErrExist", name, err)
		}
		if n, _ := f.srv.Tree().Get(a.ID); n.Name != "a.txt" {
			t.Fatalf("after a refused rename to %s the file is named %q", name, n.Name)
		}
	}
	d, _ := f.srv.Tree().Lookup("/d")
	if kids, _ := f.srv.Tree().Children(d.ID); len(kids) != 3 {
		t.Fatalf("%d files, want 3", len(kids))
	}
}

func TestMoveOntoTakenNameIsUndone(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	src, _ := f.srv.Tree().PutPath("/src/x.txt", fakecloud.BytesBlob([]byte("x")))
	f.srv.Tree().PutPath("/dst/x.txt", fakecloud.BytesBlob([]byte("other")))
	dst, _ := f.srv.Tree().Lookup("/dst")
	e, _ := drivertest.Resolve(ctx, f.d, "/src/x.txt")
	if _, err := f.d.Move(ctx, e, dirEntry(dst.ID), ""); !errors.Is(err, drivers.ErrExist) {
		t.Fatalf("move onto a taken name: %v", err)
	}
	if n, _ := f.srv.Tree().Get(src.ID); n.ParentID != src.ParentID || n.Name != "x.txt" {
		t.Fatalf("source now %+v", n)
	}
}

func TestCopyEdgeCases(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	f.srv.Tree().PutPath("/c/sub/f.txt", fakecloud.BytesBlob([]byte("f")))
	c, _ := drivertest.Resolve(ctx, f.d, "/c")
	sub, _ := drivertest.Resolve(ctx, f.d, "/c/sub")
	file, _ := drivertest.Resolve(ctx, f.d, "/c/sub/f.txt")
	// Into the same folder under the same name: taken, and nothing made.
	if _, err := f.d.Copy(ctx, file, sub, ""); !errors.Is(err, drivers.ErrExist) {
		t.Fatalf("copy onto itself: %v", err)
	}
	// Into the same folder under another name (with a new extension).
	got, err := f.d.Copy(ctx, file, sub, "g.md")
	if err != nil || got.Name != "g.md" {
		t.Fatalf("copy as g.md: %+v %v", got, err)
	}
	// Into its own subtree: refused by 115 (91002).
	if _, err := f.d.Copy(ctx, c, sub, ""); err == nil {
		t.Fatal("copy into own subtree accepted")
	}
	kids, _ := f.d.List(ctx, sub)
	if len(kids) != 2 {
		t.Fatalf("sub holds %+v, want f.txt and g.md", kids)
	}
}

func TestBusyCodesAreRetried(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	f.srv.Tree().PutPath("/a/x.txt", fakecloud.BytesBlob([]byte("x")))
	b, _ := f.srv.Tree().MkdirAll("/b")
	f.accessToken(t)
	for _, ep := range []string{pan115test.EndpointMove, pan115test.EndpointCopy, pan115test.EndpointDelete, pan115test.EndpointRBDel} {
		f.srv.Faults().Inject(ep, fakecloud.Transient, 1, 2)
	}
	if body := f.raw(t, http.MethodPost, "/open/ufile/copy", url.Values{}); !strings.Contains(body, "990009") {
		t.Fatalf("emulator busy answer: %s", body)
	}
	if body := f.raw(t, http.MethodPost, "/open/ufile/move", url.Values{}); !strings.Contains(body, "990019") {
		t.Fatalf("emulator busy answer: %s", body)
	}
	e, _ := drivertest.Resolve(ctx, f.d, "/a/x.txt")
	moved, err := f.d.Move(ctx, e, dirEntry(b.ID), "")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := f.d.Copy(ctx, moved, dirEntry(b.ID), "y.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.d.Remove(ctx, cp, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Tree().Get(cp.ID); err == nil {
		t.Fatal("removed for good, yet still there")
	}
	if n := f.srv.Counters().Get(pan115test.EndpointRBDel); n != 3 {
		t.Fatalf("rb/del calls %d, want 3 (two busy answers)", n)
	}
}

func TestRemoveToBinAndForGood(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	a, _ := f.srv.Tree().PutPath("/r/a.txt", fakecloud.BytesBlob([]byte("a")))
	b, _ := f.srv.Tree().PutPath("/r/b.txt", fakecloud.BytesBlob([]byte("b")))
	if err := f.d.Remove(ctx, drivers.Entry{ID: a.ID, ParentID: a.ParentID}, false); err != nil {
		t.Fatal(err)
	}
	if n, err := f.srv.Tree().Get(a.ID); err != nil || !n.Trashed {
		t.Fatalf("not in the bin: %+v %v", n, err)
	}
	if err := f.d.Remove(ctx, drivers.Entry{ID: b.ID, ParentID: b.ParentID}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Tree().Get(b.ID); err == nil {
		t.Fatal("still stored")
	}
	if err := f.d.Remove(ctx, drivers.Entry{ID: b.ID}, false); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("removing a gone file: %v, want ErrNotFound", err)
	}
	if err := f.d.Remove(ctx, dirEntry("0"), true); !errors.Is(err, drivers.ErrUnsupported) {
		t.Fatalf("removing the root: %v", err)
	}
}

func TestUploadFailureHidesSecrets(t *testing.T) {
	ctx := ctxT(t)
	f := writeSetup(t)
	f.srv.Faults().Inject(pan115test.EndpointOSSPut, fakecloud.Reset, 1, -1)
	_, err := f.d.Upload(ctx, dirEntry("0"), "x.bin", drivers.NewBytesSource([]byte("xyz"), time.Time{}))
	if !errors.Is(err, drivers.ErrUpstream) {
		t.Fatalf("endless resets gave %v", err)
	}
	f.d.stsMu.Lock()
	c := f.d.sts
	f.d.stsMu.Unlock()
	if c == nil {
		t.Fatal("no credential cached")
	}
	msg := err.Error()
	for _, secret := range []string{c.secret, c.token, c.keyID, f.accessToken(t), "127.0.0.1", "?", pan115test.Bucket} {
		if strings.Contains(msg, secret) {
			t.Fatalf("error %q contains %q", msg, secret)
		}
	}
}
