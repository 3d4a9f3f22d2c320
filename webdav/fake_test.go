package webdav

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// fakeDrive is a minimal drivers.Drive over a fakecloud.Tree, with a CDN
// whose links expire, so the WebDAV layer can be tested without either
// cloud's quirks.
type fakeDrive struct {
	tree     *fakecloud.Tree
	cdn      *httptest.Server
	faults   fakecloud.Faults // applied to List ("list") and Link ("link")
	counters fakecloud.Counters
	linkTTL  time.Duration
	quota    *drivers.Quota

	mu      sync.Mutex
	expired map[string]bool // link tokens the CDN refuses
	seq     int
	bytesIn int64 // content bytes received by Upload
}

func newFakeDrive(t *testing.T) *fakeDrive {
	n := 0
	d := &fakeDrive{
		tree:    fakecloud.NewTree("root", func() string { n++; return "id" + strconv.Itoa(n) }),
		linkTTL: time.Hour,
		expired: map[string]bool{},
	}
	d.cdn = httptest.NewServer(http.HandlerFunc(d.serveCDN))
	t.Cleanup(d.cdn.Close)
	return d
}

func (d *fakeDrive) serveCDN(w http.ResponseWriter, r *http.Request) {
	d.counters.Inc("cdn")
	tok := r.URL.Query().Get("tok")
	exp, _ := strconv.ParseInt(r.URL.Query().Get("exp"), 10, 64)
	d.mu.Lock()
	dead := d.expired[tok]
	d.mu.Unlock()
	if dead || time.Now().Unix() > exp {
		d.counters.Inc("cdn403")
		http.Error(w, "expired", http.StatusForbidden)
		return
	}
	n, err := d.tree.Get(strings.TrimPrefix(r.URL.Path, "/"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	fakecloud.ServeBlob(w, r, n.Blob, &d.faults)
}

func (d *fakeDrive) expireLinks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := 0; i <= d.seq; i++ {
		d.expired[strconv.Itoa(i)] = true
	}
}

func entryOf(n fakecloud.Node) drivers.Entry {
	e := drivers.Entry{ID: n.ID, ParentID: n.ParentID, Name: n.Name, IsDir: n.IsDir, ModTime: n.Modified}
	if !n.IsDir {
		e.Size, e.SHA1 = n.Size(), n.Blob.SHA1()
	}
	return e
}

func (d *fakeDrive) fault(op string) error {
	d.counters.Inc(op)
	switch d.faults.Next(op) {
	case fakecloud.Throttle:
		return &drivers.RateLimitedError{Op: op, RetryAfter: 7 * time.Second}
	case fakecloud.ServerError:
		return fmt.Errorf("%s: %w", op, drivers.ErrUpstream)
	}
	return nil
}

func (d *fakeDrive) Root(ctx context.Context) (drivers.Entry, error) {
	d.counters.Inc("root")
	n, err := d.tree.Get("root")
	return entryOf(n), err
}

func (d *fakeDrive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	if err := d.fault("list"); err != nil {
		return nil, err
	}
	kids, err := d.tree.Children(dir.ID)
	if err != nil {
		return nil, fmt.Errorf("list: %w", drivers.ErrNotFound)
	}
	out := make([]drivers.Entry, len(kids))
	for i, k := range kids {
		out[i] = entryOf(k)
	}
	return out, nil
}

func (d *fakeDrive) Link(ctx context.Context, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	if err := d.fault("link"); err != nil {
		return drivers.Link{}, err
	}
	if _, err := d.tree.Get(f.ID); err != nil {
		return drivers.Link{}, fmt.Errorf("link: %w", drivers.ErrNotFound)
	}
	d.mu.Lock()
	d.seq++
	tok := d.seq
	d.mu.Unlock()
	exp := time.Now().Add(d.linkTTL)
	return drivers.Link{URL: fmt.Sprintf("%s/%s?tok=%d&exp=%d", d.cdn.URL, f.ID, tok, exp.Unix()), Expires: exp}, nil
}

// quotaDrive adds drivers.Quotaer.
type quotaDrive struct{ *fakeDrive }

func (q quotaDrive) Quota(ctx context.Context) (drivers.Quota, error) { return *q.quota, nil }

// The write capabilities of fakeDrive, over the tree.

func (d *fakeDrive) Mkdir(ctx context.Context, parent drivers.Entry, name string) (drivers.Entry, error) {
	if err := d.fault("mkdir"); err != nil {
		return drivers.Entry{}, err
	}
	if _, err := d.tree.ChildByName(parent.ID, name); err == nil {
		return drivers.Entry{}, fmt.Errorf("mkdir: %w", drivers.ErrExist)
	}
	n, err := d.tree.Mkdir(parent.ID, name)
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("mkdir: %w", drivers.ErrNotFound)
	}
	return entryOf(n), nil
}

func (d *fakeDrive) Upload(ctx context.Context, parent drivers.Entry, name string, src drivers.UploadSource) (drivers.Entry, error) {
	if err := d.fault("upload"); err != nil {
		return drivers.Entry{}, err
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("upload: %w", err)
	}
	if int64(len(data)) != src.Size() {
		return drivers.Entry{}, fmt.Errorf("upload: %d bytes, declared %d", len(data), src.Size())
	}
	d.counters.Inc("uploaded")
	d.mu.Lock()
	d.bytesIn += int64(len(data))
	d.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // distinct ModTimes for duplicates
	n, err := d.tree.Put(parent.ID, name, fakecloud.BytesBlob(data), time.Time{})
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("upload: %w", drivers.ErrNotFound)
	}
	return entryOf(n), nil
}

func (d *fakeDrive) Rename(ctx context.Context, e drivers.Entry, newName string) (drivers.Entry, error) {
	if err := d.fault("rename"); err != nil {
		return drivers.Entry{}, err
	}
	n, err := d.tree.Rename(e.ID, newName)
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("rename: %w", drivers.ErrNotFound)
	}
	return entryOf(n), nil
}

func (d *fakeDrive) Move(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	if err := d.fault("move"); err != nil {
		return drivers.Entry{}, err
	}
	n, err := d.tree.Move(e.ID, newParent.ID)
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("move: %w", drivers.ErrNotFound)
	}
	if newName != "" {
		n, _ = d.tree.Rename(e.ID, newName)
	}
	return entryOf(n), nil
}

func (d *fakeDrive) Copy(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	if err := d.fault("copy"); err != nil {
		return drivers.Entry{}, err
	}
	n, err := d.tree.Copy(e.ID, newParent.ID, newName)
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("copy: %w", drivers.ErrNotFound)
	}
	return entryOf(n), nil
}

func (d *fakeDrive) Remove(ctx context.Context, e drivers.Entry, permanent bool) error {
	if err := d.fault("remove"); err != nil {
		return err
	}
	if permanent {
		d.counters.Inc("remove-permanent")
		return d.tree.Delete(e.ID)
	}
	return d.tree.Trash(e.ID)
}
