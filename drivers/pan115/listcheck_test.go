package pan115

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/fakecloud"
)

// fillFolder makes a folder of n files in f's emulator.
func fillFolder(t *testing.T, f *fixture, name string, n int) drivers.Entry {
	t.Helper()
	dir, err := f.srv.Tree().MkdirAll("/" + name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := f.srv.Tree().Put(dir.ID, fmt.Sprintf("f%04d.txt", i), fakecloud.BytesBlob([]byte{byte(i)}), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	return dirEntry(dir.ID)
}

// TestListingsThatDoNotAddUpAreRetried: 115's answers under load (an
// empty page before the count is reached, code 0 with no message) are
// retried, and the listing comes back whole.
func TestListingsThatDoNotAddUpAreRetried(t *testing.T) {
	for _, kind := range []fakecloud.FaultKind{fakecloud.Truncated, fakecloud.Transient} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := ctxT(t)
			f := setup(t, quiet, nil)
			dir := fillFolder(t, f, "many", 250)
			// The second page, twice.
			f.srv.Faults().InjectAfter(pan115test.EndpointFiles, kind, 1, 2)
			kids, err := f.d.List(ctx, dir)
			if err != nil || len(kids) != 250 {
				t.Fatalf("listed %d entries (%v), want 250", len(kids), err)
			}
		})
	}
}

// TestListingsThatNeverAddUpFail: when the odd answers last, the listing
// fails as throttled (a client hears 503); it never comes back short.
func TestListingsThatNeverAddUpFail(t *testing.T) {
	for _, kind := range []fakecloud.FaultKind{fakecloud.Truncated, fakecloud.Transient} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := ctxT(t)
			f := setup(t, quiet, nil)
			dir := fillFolder(t, f, "many", 250)
			f.srv.Faults().InjectAfter(pan115test.EndpointFiles, kind, 1, -1)
			kids, err := f.d.List(ctx, dir)
			if !errors.Is(err, drivers.ErrRateLimited) || kids != nil {
				t.Fatalf("got %d entries and %v, want no listing and a rate-limit error", len(kids), err)
			}
		})
	}
}

// rewriteListings lets a test alter every listing answer the driver
// reads, as 115 under load sends them.
type rewriteListings struct {
	next    http.RoundTripper
	rewrite func(offset int, m map[string]any)
}

func (rw rewriteListings) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rw.next.RoundTrip(req)
	if err != nil || req.URL.Path != "/open/ufile/files" {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // 19-digit IDs
	if dec.Decode(&m) == nil && m["state"] == true {
		offset, _ := strconv.Atoi(req.URL.Query().Get("offset"))
		rw.rewrite(offset, m)
		b, _ = json.Marshal(m)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestCountsThatDoNotAddUp: a page whose count says the folder ends
// where the page ends, or an answer with no count at all, is no end of a
// listing. A listing whose count changed between pages is made again, and
// one that never adds up fails as throttled.
func TestCountsThatDoNotAddUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		times   int // how many answers are altered
		rewrite func(offset int, m map[string]any)
	}{
		{"count shrinks to the page", 1, func(offset int, m map[string]any) {
			if offset > 0 {
				m["data"] = m["data"].([]any)[:10]
				m["count"] = offset + 10
			}
		}},
		{"no count", 2, func(offset int, m map[string]any) { delete(m, "count") }},
		{"count shrinks to the page, always", -1, func(offset int, m map[string]any) {
			if offset > 0 {
				m["data"] = m["data"].([]any)[:10]
				m["count"] = offset + 10
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			srv := pan115test.NewServer(quiet)
			t.Cleanup(srv.Close)
			left := tc.times
			rw := rewriteListings{next: http.DefaultTransport, rewrite: func(offset int, m map[string]any) {
				if left == 0 {
					return
				}
				before := fmt.Sprint(m)
				tc.rewrite(offset, m)
				if fmt.Sprint(m) != before && left > 0 {
					left--
				}
			}}
			o := Options{RefreshToken: srv.Login().Issue().Refresh, APIURL: srv.APIURL(), PassportURL: srv.PassportURL(), PageSize: 100, QPS: 1000, ScanBudget: 60000}
			d, err := New(ctx, drivers.Env{MountPath: "/115", StateDir: t.TempDir(), HTTPClient: &http.Client{Transport: rw}}, o)
			if err != nil {
				t.Fatal(err)
			}
			d.policy = testPolicy
			f := &fixture{srv: srv, d: d}
			dir := fillFolder(t, f, "many", 250)
			kids, err := d.List(ctx, dir)
			if tc.times < 0 {
				if !errors.Is(err, drivers.ErrRateLimited) || kids != nil {
					t.Fatalf("got %d entries and %v, want no listing and a rate-limit error", len(kids), err)
				}
				return
			}
			if err != nil || len(kids) != 250 {
				t.Fatalf("listed %d entries (%v), want 250", len(kids), err)
			}
		})
	}
}

// TestScanBudgetPacesListings: listings wait for the scan budget; other
// calls of the account do not.
func TestScanBudgetPacesListings(t *testing.T) {
	ctx := ctxT(t)
	f := setup(t, quiet, func(o *Options) { o.ScanBudget = 600 }) // one listing per 100 ms
	dir := fillFolder(t, f, "few", 3)
	start := time.Now()
	for range 4 {
		if _, err := f.d.List(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("4 listings under a budget of 600 a minute took %v, want at least 300ms", took)
	}
	start = time.Now()
	for range 4 {
		if _, err := f.d.Get(ctx, dir.ID); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Fatalf("4 lookups took %v: the scan budget paced calls that are no listings", took)
	}
}
