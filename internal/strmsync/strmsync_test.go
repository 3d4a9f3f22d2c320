package strmsync

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/memdrive"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
	"pandav/internal/strmlink"
	"pandav/webdav"
)

// fixture is a pandav in small (a memdrive mount at /cloud behind the
// signed routes) and a sync of /cloud/Movies into a temporary folder.
type fixture struct {
	cloud *memdrivetest.Server
	srv   *httptest.Server
	o     Options
}

func setup(t *testing.T) *fixture {
	t.Helper()
	cloud := memdrivetest.NewServer(memdrivetest.Options{Rate: -1, RetryAfter: time.Millisecond})
	t.Cleanup(cloud.Close)
	state := t.TempDir()
	src, err := memdrive.New(context.Background(), drivers.Env{MountPath: "/cloud", StateDir: state, Log: zerolog.Nop()},
		memdrive.Options{RefreshToken: cloud.Login().Issue().Refresh, APIURL: cloud.APIURL(), QPS: 1000, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := webdav.NewFileSystem([]webdav.MountSpec{{Path: "/cloud", Drive: src}}, webdav.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	keys := strmlink.FileKeys(state)
	dav := webdav.NewHandler(fs)
	srv := httptest.NewServer(strmlink.Route(dav, strmlink.NewSigner(keys), dav, zerolog.Nop()))
	t.Cleanup(srv.Close)
	rules, _ := strmlink.NewRules(nil)
	f := &fixture{cloud: cloud, srv: srv, o: Options{Server: srv.URL, BaseURL: "https://nas.example", Source: "/cloud/Movies",
		Dest: t.TempDir(), Rules: rules, Signer: strmlink.NewSigner(keys), MaxSideSize: 1 << 20}}
	for p, body := range map[string]string{
		"A/A.mkv": "film a", "A/A.srt": "subs a", "A/poster.jpg": "jpeg a", "A/notes.txt": "not synced",
		"B/B.mp4": "film b", "B/B.nfo": "<movie/>",
		"C/C.mkv": "film c", "C/huge.jpg": strings.Repeat("x", 2<<20),
	} {
		f.put(t, p, body)
	}
	return f
}

func (f *fixture) put(t *testing.T, p, body string) {
	t.Helper()
	if _, err := f.cloud.Tree().PutPath("/Movies/"+p, fakecloud.BytesBlob([]byte(body))); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) remove(t *testing.T, p string) {
	t.Helper()
	n, err := f.cloud.Tree().Lookup("/Movies/" + p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cloud.Tree().Delete(n.ID); err != nil {
		t.Fatal(err)
	}
}

// local is every file of the destination but the sync's own record.
func (f *fixture) local(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(f.o.Dest, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == stateName {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(f.o.Dest, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out
}

func keys(m map[string]string) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (f *fixture) sync(t *testing.T) (Summary, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Run(ctx, f.o)
}

func TestSyncAddsUpdatesRemoves(t *testing.T) {
	f := setup(t)
	sum, err := f.sync(t)
	if err != nil {
		t.Fatal(err)
	}
	got := f.local(t)
	if keys(got) != "A/A.srt,A/A.strm,A/poster.jpg,B/B.nfo,B/B.strm,C/C.strm" {
		t.Fatalf("first sync wrote %s", keys(got))
	}
	if sum.Added != 6 || sum.Skipped != 1 || sum.Folders != 4 || sum.Links != 3 || sum.Sides != 4 {
		t.Fatalf("first sync: %s", sum)
	}
	if got["A/A.srt"] != "subs a" || !strings.HasPrefix(got["A/A.strm"], "https://nas.example"+strmlink.FilePrefix) {
		t.Fatalf("contents: %q %q", got["A/A.srt"], got["A/A.strm"])
	}
	// The link works once its base is the server's.
	resp, err := http.Get(f.srv.URL + strings.TrimPrefix(got["B/B.strm"], "https://nas.example"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("B.strm's link: %v %v", resp, err)
	}
	resp.Body.Close()

	// A second run with nothing changed changes nothing.
	if sum, err := f.sync(t); err != nil || sum.Unchanged != 6 || sum.Added+sum.Updated+sum.Removed != 0 {
		t.Fatalf("second sync: %s, %v", sum, err)
	}

	// One added, one updated, one film and one folder gone; a file of the
	// user's in the view's place is kept.
	f.put(t, "D/D.mkv", "film d")
	f.remove(t, "A/A.srt")
	f.put(t, "A/A.srt", "subs a, fixed")
	f.remove(t, "B/B.mp4")
	f.remove(t, "C")
	os.WriteFile(filepath.Join(f.o.Dest, "A", "mine.nfo"), []byte("mine"), 0o644)
	f.put(t, "A/mine.nfo", "theirs")
	sum, err = f.sync(t)
	if err != nil {
		t.Fatal(err)
	}
	got = f.local(t)
	if keys(got) != "A/A.srt,A/A.strm,A/mine.nfo,A/poster.jpg,B/B.nfo,D/D.strm" || got["A/A.srt"] != "subs a, fixed" || got["A/mine.nfo"] != "mine" {
		t.Fatalf("third sync left %s: %q %q", keys(got), got["A/A.srt"], got["A/mine.nfo"])
	}
	if sum.Added != 1 || sum.Updated != 1 || sum.Removed != 2 || sum.Kept != 1 {
		t.Fatalf("third sync: %s", sum)
	}
	if _, err := os.Stat(filepath.Join(f.o.Dest, "C")); !os.IsNotExist(err) {
		t.Fatalf("the emptied folder C is still there: %v", err)
	}
}

// TestSyncStopsOnOddListings: a listing that fails mid-scan stops the
// run, which says why and removes nothing.
func TestSyncStopsOnOddListings(t *testing.T) {
	for _, kind := range []fakecloud.FaultKind{fakecloud.Throttle, fakecloud.Truncated, fakecloud.ServerError} {
		t.Run(string(kind), func(t *testing.T) {
			f := setup(t)
			if _, err := f.sync(t); err != nil {
				t.Fatal(err)
			}
			before := f.local(t)
			f.remove(t, "B")
			f.cloud.Faults().InjectAfter(memdrivetest.EndpointChildren, kind, 1, -1)
			sum, err := f.sync(t)
			if err == nil || !strings.Contains(err.Error(), "nothing was removed") || !strings.Contains(err.Error(), "listing /cloud/Movies/") {
				t.Fatalf("sync through %s: %v", kind, err)
			}
			if sum.Removed != 0 || keys(f.local(t)) != keys(before) {
				t.Fatalf("sync through %s removed files: %s; left %s", kind, sum, keys(f.local(t)))
			}
			f.cloud.Faults().Clear()
			if sum, err := f.sync(t); err != nil || sum.Removed != 2 {
				t.Fatalf("after the fault: %s, %v", sum, err)
			}
		})
	}
}

// TestSyncConfirmsRemovals: a file is removed only when the listing made
// to confirm it agrees; one that fails keeps everything.
func TestSyncConfirmsRemovals(t *testing.T) {
	f := setup(t)
	if _, err := f.sync(t); err != nil {
		t.Fatal(err)
	}
	f.remove(t, "A/A.mkv")
	// The walk lists 4 folders; the fifth listing would confirm.
	f.cloud.Faults().InjectAfter(memdrivetest.EndpointChildren, fakecloud.Throttle, 4, -1)
	sum, err := f.sync(t)
	if err == nil || sum.Removed != 0 {
		t.Fatalf("an unconfirmed removal: %s, %v", sum, err)
	}
	if _, ok := f.local(t)["A/A.strm"]; !ok {
		t.Fatal("A.strm removed on one listing")
	}
}

func TestSyncRefusesAnotherSource(t *testing.T) {
	f := setup(t)
	if _, err := f.sync(t); err != nil {
		t.Fatal(err)
	}
	f.o.Source = "/cloud/Other"
	if _, err := f.sync(t); err == nil || !strings.Contains(err.Error(), "holds a sync of /cloud/Movies") {
		t.Fatalf("%v", err)
	}
	f.o.Source = "/cloud/Movies"
	f.o.Server = "http://127.0.0.1:1"
	if _, err := f.sync(t); err == nil || !strings.Contains(err.Error(), "pandav does not answer") || strings.Contains(err.Error(), strmlink.ListPrefix) {
		t.Fatalf("no server: %v", err)
	}
}
