package webdav

import (
	"context"
	"fmt"
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
