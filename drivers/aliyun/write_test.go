package aliyun

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"

	"pandav/drivers/aliyun/aliyuntest"
)

// testPartSize is small so that multipart uploads stay small.
const testPartSize = 64 << 10

// writeTuning paces nothing and polls async tasks quickly: the write
// suite resolves paths by listing, and the rates are exercised by
// TestConformanceRead.
var writeTuning = tuning{rates: map[string]float64{}, policy: defaultTuning.policy, taskPoll: 5 * time.Millisecond}

// unpaced is an emulator with its rate limits off, for drivers that pace
// nothing either.
var unpaced = aliyuntest.Options{RateList: -1, RateLink: -1, RateOther: -1}

// hookTransport lets a test see and interfere with the requests a driver
// makes.
type hookTransport struct {
	mu   sync.Mutex
	hook func(r *http.Request) (*http.Response, error, bool) // handled?
}

func (h *hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	hook := h.hook
	h.mu.Unlock()
	if hook != nil {
		if resp, err, done := hook(r); done {
			return resp, err
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// writeDrive is a driver on a fresh unpaced emulator, with a hook on its
// HTTP client.
func writeDrive(t *testing.T) (*Drive, *aliyuntest.Server, *hookTransport) {
	t.Helper()
	srv := newEmulator(t, unpaced)
	o := openOptions(srv)
	o.UploadPartSize = testPartSize
	env := testEnv(t)
	ht := &hookTransport{}
	env.HTTPClient = &http.Client{Transport: ht}
	tn := fast
	tn.taskPoll = time.Millisecond
	return mustDrive(t, env, o, tn), srv, ht
}

func seededBytes(seed uint64, n int64) []byte {
	b := make([]byte, n)
	fakecloud.NewSeededBlob(seed, n, "").ReadAt(b, 0)
	return b
}

func stream(b []byte) drivers.UploadSource {
	return &drivers.StreamSource{R: bytes.NewReader(b), N: int64(len(b))}
}

func storedBytes(t *testing.T, srv *aliyuntest.Server, id string) []byte {
	t.Helper()
	n, err := srv.Tree().Get(id)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n.Size())
	if _, err := n.Blob.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

func TestUploadPartsSendNoContentTypeAndRenewExpiredURLs(t *testing.T) {
	d, srv, ht := writeDrive(t)
	var puts, withType atomic.Int64
	ht.hook = func(r *http.Request) (*http.Response, error, bool) {
		if r.Method == http.MethodPut {
			if _, has := r.Header["Content-Type"]; has {
				withType.Add(1)
			}
			if puts.Add(1) == 2 {
				srv.ExpireUploadURLs() // expires the URLs of parts 2 and 3 too
			}
		}
		return nil, nil, false
	}
	data := seededBytes(1, 3*testPartSize-100)
	e, err := d.Upload(ctxT(t), rootEntry(t, d), "v.bin", stream(data))
	if err != nil {
		t.Fatal(err)
	}
	if withType.Load() != 0 {
		t.Fatalf("%d PUTs carried a Content-Type", withType.Load())
	}
	if !bytes.Equal(storedBytes(t, srv, e.ID), data) || e.Size != int64(len(data)) || e.Name != "v.bin" {
		t.Fatalf("upload returned %+v, or the content differs", e)
	}
	if got := srv.Counters().Get("openFile/getUploadUrl"); got != 1 {
		t.Fatalf("getUploadUrl called %d times, want 1 (renewing every later part at once)", got)
	}
	if got := srv.Counters().Get("openFile/list"); got != 0 {
		t.Fatalf("upload listed %d times; the entry comes from complete", got)
	}
}

func TestUploadPartAlreadyExistIsSuccess(t *testing.T) {
	d, srv, ht := writeDrive(t)
	var puts atomic.Int64
	ht.hook = func(r *http.Request) (*http.Response, error, bool) {
		if r.Method != http.MethodPut || puts.Add(1) != 1 {
			return nil, nil, false
		}
		// The part gets through but its answer is lost.
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
		}
		return nil, errors.New("connection reset by peer"), true
	}
	data := seededBytes(2, testPartSize+5)
	e, err := d.Upload(ctxT(t), rootEntry(t, d), "a.bin", stream(data))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(storedBytes(t, srv, e.ID), data) {
		t.Fatal("content differs")
	}
	if got := srv.Counters().Get("oss/put"); got != 3 {
		t.Fatalf("oss/put %d times, want 3 (one answered 409 PartAlreadyExist)", got)
	}
}

func TestUploadRetriesFailedParts(t *testing.T) {
	d, srv, _ := writeDrive(t)
	srv.Faults().Inject("oss/put", fakecloud.ServerError, 1, 1)
	srv.Faults().Inject("oss/put", fakecloud.Reset, 1, 1)
	data := seededBytes(3, 2*testPartSize)
	for _, src := range []drivers.UploadSource{stream(data), drivers.NewBytesSource(data, time.Time{})} {
		e, err := d.Upload(ctxT(t), rootEntry(t, d), "r.bin", src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(storedBytes(t, srv, e.ID), data) {
			t.Fatalf("%T: content differs", src)
		}
	}
}

func TestRapidUploadAndItsProof(t *testing.T) {
	d, srv, ht := writeDrive(t)
	data := seededBytes(4, 300<<10)
	srv.Tree().PutPath("/orig.bin", fakecloud.BytesBlob(data))
	// The first proof goes out with a token other than the one it was
	// made for (refused, then made again); the second finds its token
	// expired (refreshed, then made again).
	other := otherAccessToken(t, srv)
	var proofs atomic.Int64
	ht.hook = func(r *http.Request) (*http.Response, error, bool) {
		if !strings.HasSuffix(r.URL.Path, "/openFile/create") {
			return nil, nil, false
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"proof_code"`)) {
			switch proofs.Add(1) {
			case 1:
				r.Header.Set("Authorization", "Bearer "+other)
			case 2:
				srv.ExpireAccessTokens()
			}
		}
		return nil, nil, false
	}
	ra := struct {
		*drivers.StreamSource
		io.ReaderAt
	}{&drivers.StreamSource{N: int64(len(data))}, bytes.NewReader(data)} // random access, hash unknown
	e, err := d.Upload(ctxT(t), rootEntry(t, d), "copy.bin", ra)
	if err != nil {
		t.Fatal(err)
	}
	if srv.UploadedBytes() != 0 || e.Size != int64(len(data)) || e.SHA1 != drivers.NewBytesSource(data, time.Time{}).SHA1() {
		t.Fatalf("rapid upload: %d bytes sent, entry %+v", srv.UploadedBytes(), e)
	}
	if got := srv.Counters().Get("openFile/create"); got != 4 || proofs.Load() != 3 {
		t.Fatalf("openFile/create called %d times (%d with a proof), want the probe and three proofs", got, proofs.Load())
	}
	ht.hook = nil
	// Without random access the content is sent.
	if _, err := d.Upload(ctxT(t), rootEntry(t, d), "streamed.bin", stream(data)); err != nil {
		t.Fatal(err)
	}
	if srv.UploadedBytes() != int64(len(data)) {
		t.Fatalf("streamed upload sent %d bytes", srv.UploadedBytes())
	}
	// Unknown content: the probe's session carries the parts.
	before := srv.Counters().Get("openFile/create")
	fresh := seededBytes(5, 300<<10)
	e, err = d.Upload(ctxT(t), rootEntry(t, d), "fresh.bin", drivers.NewBytesSource(fresh, time.Time{}))
	if err != nil || !bytes.Equal(storedBytes(t, srv, e.ID), fresh) {
		t.Fatalf("fresh upload: %v", err)
	}
	if got := srv.Counters().Get("openFile/create") - before; got != 1 {
		t.Fatalf("a pre-hash miss cost %d creates, want 1", got)
	}
}

func TestProofCodeMatchesEmulator(t *testing.T) {
	for _, n := range []int64{1, 7, 8, 9, 1000, 300 << 10} {
		data := seededBytes(uint64(n), n)
		for _, tok := range []string{"a", "eyJhbGciOi.x.y", "token"} {
			got, err := proofCode(tok, bytes.NewReader(data), n)
			if err != nil || got != aliyuntest.ProofCode(tok, bytes.NewReader(data), n) {
				t.Fatalf("size %d token %q: %q %v", n, tok, got, err)
			}
		}
	}
}

func TestPartSize(t *testing.T) {
	for _, tc := range []struct{ configured, size, want int64 }{
		{16 << 20, 0, 16 << 20},
		{16 << 20, 100 << 30, 16 << 20},
		{16 << 20, 16 << 20 * 10000, 16 << 20},
		{16 << 20, 1 << 40, 105 << 20},
		{64 << 10, 1 << 30, 1 << 20},
	} {
		got := partSize(tc.configured, tc.size)
		if got != tc.want || partCount(tc.size, got) > maxParts {
			t.Errorf("partSize(%d, %d) = %d (%d parts), want %d", tc.configured, tc.size, got, partCount(tc.size, got), tc.want)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	d, srv, _ := writeDrive(t)
	ctx := ctxT(t)
	root := rootEntry(t, d)
	srv.Counters().Reset()
	long := strings.Repeat("名", 342) // 1026 bytes
	for _, name := range []string{"", "a/b", ".", "..", long} {
		if _, err := d.Mkdir(ctx, root, name); !errors.Is(err, drivers.ErrInvalidName) {
			t.Errorf("mkdir %q: %v, want ErrInvalidName", name, err)
		}
		if _, err := d.Upload(ctx, root, name, stream([]byte("x"))); !errors.Is(err, drivers.ErrInvalidName) {
			t.Errorf("upload %q: %v, want ErrInvalidName", name, err)
		}
	}
	if n := len(srv.Counters().Snapshot()); n != 0 {
		t.Fatalf("invalid names cost calls: %v", srv.Counters().Snapshot())
	}

	a, _ := d.Upload(ctx, root, "a.txt", stream([]byte("a")))
	b, _ := d.Upload(ctx, root, "b.txt", stream([]byte("b")))
	dir, err := d.Mkdir(ctx, root, "dir")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Rename(ctx, a, "b.txt"); !errors.Is(err, drivers.ErrExist) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	if _, err := d.Move(ctx, b, dir, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Move(ctx, a, dir, "b.txt"); !errors.Is(err, drivers.ErrExist) {
		t.Fatalf("move onto a taken name: %v", err)
	}
	if _, err := d.Copy(ctx, a, dir, "b.txt"); !errors.Is(err, drivers.ErrExist) {
		t.Fatalf("copy onto a taken name: %v", err)
	}
	kids, _ := d.List(ctx, dir)
	if len(kids) != 1 {
		t.Fatalf("a refused copy left %d entries behind", len(kids))
	}
	// Copy into the same folder under a new name.
	c, err := d.Copy(ctx, a, root, "a copy.txt")
	if err != nil || c.Name != "a copy.txt" || c.ID == a.ID {
		t.Fatalf("copy: %+v %v", c, err)
	}
	if err := d.Remove(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, a, false); err != nil {
		t.Fatalf("trashing what is in the bin: %v", err)
	}
	if _, err := d.Rename(ctx, a, "z.txt"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("rename of a trashed file: %v", err)
	}
	if err := d.Remove(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, a, true); err != nil {
		t.Fatalf("deleting what is gone: %v", err)
	}
}

func TestFolderOpsWaitForAsyncTasks(t *testing.T) {
	d, srv, _ := writeDrive(t)
	ctx := ctxT(t)
	root := rootEntry(t, d)
	dir, _ := d.Mkdir(ctx, root, "dir")
	dst, _ := d.Mkdir(ctx, root, "dst")
	if _, err := d.Upload(ctx, dir, "x.txt", stream([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	moved, err := d.Move(ctx, dir, dst, "renamed")
	if err != nil || moved.Name != "renamed" || moved.ParentID != dst.ID || !moved.IsDir {
		t.Fatalf("move: %+v %v", moved, err)
	}
	if _, err := d.Copy(ctx, moved, root, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, moved, false); err != nil {
		t.Fatal(err)
	}
	// Each of the three tasks answers Running once, then Succeed.
	if got := srv.Counters().Get("openFile/async_task/get"); got != 6 {
		t.Fatalf("async_task/get called %d times, want 6", got)
	}
	if _, err := srv.Tree().Lookup("/renamed/x.txt"); err != nil {
		t.Fatalf("copied folder: %v", err)
	}
}

func TestUploadErrorsHideSecrets(t *testing.T) {
	d, srv, ht := writeDrive(t)
	var token atomic.Value
	ht.hook = func(r *http.Request) (*http.Response, error, bool) {
		if at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token.Store(at)
		}
		if r.Method == http.MethodPut {
			srv.ExpireUploadURLs() // every PUT finds its URL expired
		}
		return nil, nil, false
	}
	_, err := d.Upload(ctxT(t), rootEntry(t, d), "s.bin", stream([]byte("secret")))
	if err == nil {
		t.Fatal("upload with URLs that always expire succeeded")
	}
	for _, bad := range []string{"Signature", "Expires=", "OSSAccessKeyId", "/oss/", "Bearer", token.Load().(string)} {
		if strings.Contains(err.Error(), bad) {
			t.Fatalf("error %q contains %q", err, bad)
		}
	}
	if !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("error %q does not name the cloud's code", err)
	}
	// A transport failure names no URL either.
	ht.hook = func(r *http.Request) (*http.Response, error, bool) {
		if r.Method == http.MethodPut {
			return nil, errors.New("dial tcp: connection refused"), true
		}
		return nil, nil, false
	}
	_, err = d.Upload(ctxT(t), rootEntry(t, d), "s.bin", stream([]byte("secret")))
	if err == nil || strings.Contains(err.Error(), "Signature") || strings.Contains(err.Error(), srv.URL()) {
		t.Fatalf("transport failure: %v", err)
	}
	if !errors.Is(err, drivers.ErrUpstream) {
		t.Fatalf("transport failure is not ErrUpstream: %v", err)
	}
}

// otherAccessToken is a valid access token of another login.
func otherAccessToken(t *testing.T, srv *aliyuntest.Server) string {
	t.Helper()
	b, _ := json.Marshal(tokenRequest{ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(), GrantType: "refresh_token", RefreshToken: srv.Login().Issue().Refresh})
	resp, err := http.Post(srv.URL()+"/oauth/access_token", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	return tr.AccessToken
}
