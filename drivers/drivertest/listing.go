package drivertest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// testOddListingsNeverShort: a listing page that is throttled, fails, or
// says success with less than it should (fakecloud.Truncated) in the
// middle of a folder is retried and the listing comes back whole; when
// such answers last, the listing fails, and is never returned shorter.
// A library tool that took a short listing for the truth would delete
// what it made for the missing entries (docs/protocols/user-demands.md
// §6, ostrm#59).
func testOddListingsNeverShort(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	tree, list, pageSize := f.Cloud.Tree(), f.Cloud.Endpoints().List, f.Cloud.PageSize()
	n := 2*pageSize + 3
	dir := mustMkdir(t, f, "odd pages")
	for i := range n {
		if _, err := tree.Put(dir.ID, fmt.Sprintf("f%05d.txt", i), fakecloud.BytesBlob([]byte{byte(i)}), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Resolve(ctx, f.Drive, "odd pages")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []fakecloud.FaultKind{fakecloud.Truncated, fakecloud.Throttle, fakecloud.Transient} {
		// The second page, twice in a row.
		f.Cloud.Faults().InjectAfter(list, kind, 1, 2)
		kids, err := f.Drive.List(ctx, e)
		f.Cloud.Faults().Clear()
		if err != nil || len(kids) != n {
			t.Fatalf("%s on the second page: listed %d entries (%v), want %d", kind, len(kids), err, n)
		}
	}
	f.Cloud.Faults().InjectAfter(list, fakecloud.Truncated, 1, -1)
	kids, err := f.Drive.List(ctx, e)
	f.Cloud.Faults().Clear()
	if err == nil || kids != nil {
		t.Fatalf("truncated pages without end: listed %d entries, want an error", len(kids))
	}
	if !errors.Is(err, drivers.ErrRateLimited) {
		t.Fatalf("truncated pages without end: %v, want ErrRateLimited (a 503, not an empty folder)", err)
	}
}
