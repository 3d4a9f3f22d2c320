package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"
	"pandav/internal/torrent"
)

// RunCloudDownload runs the cloud-download part of the suite: links and
// torrents followed to done or failed, duplicates, refusals, removal,
// clearing and the quota. It skips a driver without the capability, or
// a cloud whose emulator has no cloud-download clock to drive.
func RunCloudDownload(t *testing.T, h Harness) {
	runSuite(t, h, []suiteTest{
		{"LinksToDone", testLinksToDone},
		{"AlreadyListedIsSuccess", testAlreadyListed},
		{"MalformedLinks", testMalformedLinks},
		{"QuotaUsedUp", testQuotaUsedUp},
		{"Torrent", testTorrent},
		{"NotATorrent", testNotATorrent},
		{"FailedMagnet", testFailedMagnet},
		{"RemoveWithFiles", testRemoveWithFiles},
		{"ClearSets", testClearSets},
		{"EveryPage", testEveryPage},
		{"FolderChangeNotified", testFolderChangeNotified},
	})
}

// downloads returns the driver's and the emulator's cloud-download sides,
// with the emulator's clock stopped, so that only the test moves it.
func downloads(t *testing.T, f *Fixture) (drivers.CloudDownloader, fakecloud.CloudDownloads) {
	t.Helper()
	d := capability[drivers.CloudDownloader](t, f)
	c, ok := f.Cloud.(fakecloud.CloudDownloads)
	if !ok {
		t.Skipf("%s's emulator has no cloud-download service", f.Cloud.Name())
	}
	c.SetDownloadSpeed(0)
	return d, c
}

// Links of each kind a cloud download takes. The magnet names a tracker:
// trackerless magnets may fail on their own.
func sampleLinks(tag string) []string {
	h := fmt.Sprintf("%040x", []byte(tag))[:40]
	return []string{
		"https://downloads.example.com/files/" + tag + "-report.pdf",
		"magnet:?xt=urn:btih:" + h + "&dn=" + tag + "-show&tr=udp%3A%2F%2Ftracker.example.com%3A80",
		"ed2k://|file|" + tag + "-clip.avi|123456|0123456789ABCDEF0123456789ABCDEF|/",
	}
}

func taskByID(t *testing.T, ctx context.Context, d drivers.TaskLister, id string) (drivers.Task, bool) {
	t.Helper()
	tasks, err := d.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range tasks {
		if x.ID == id {
			return x, true
		}
	}
	return drivers.Task{}, false
}

func addOK(t *testing.T, ctx context.Context, d drivers.CloudDownloader, dir drivers.Entry, links ...string) []drivers.AddResult {
	t.Helper()
	res, err := d.AddLinks(ctx, dir, links)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(links) {
		t.Fatalf("%d results for %d links", len(res), len(links))
	}
	for i, r := range res {
		if !r.OK() || r.TaskID == "" || r.Link != links[i] {
			t.Fatalf("link %d: %+v", i, r)
		}
	}
	return res
}

func testLinksToDone(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	mustMkdir(t, f, "dl")
	dir, err := Resolve(ctx, f.Drive, "dl")
	if err != nil {
		t.Fatal(err)
	}
	used0, left0 := c.DownloadQuota()
	links := sampleLinks("done")
	res := addOK(t, ctx, d, dir, links...)
	if used, left := c.DownloadQuota(); used != used0+len(links) || left != left0-len(links) {
		t.Fatalf("quota %d used, %d left after %d tasks; was %d, %d", used, left, len(links), used0, left0)
	}
	total := c.DownloadTime()
	var last []float64
	for step := 0; step <= 10; step++ {
		var now []float64
		for _, r := range res {
			task, found := taskByID(t, ctx, d, r.TaskID)
			if !found {
				t.Fatalf("task %s of %s not listed", r.TaskID, r.Link)
			}
			if task.FolderID != dir.ID || task.FolderPath != "/dl" {
				t.Fatalf("task %s saves into %s (%q), want %s (/dl)", task.ID, task.FolderID, task.FolderPath, dir.ID)
			}
			if task.Percent < 0 || task.Percent > 100 {
				t.Fatalf("task %s: progress %v", task.ID, task.Percent)
			}
			if step == 0 && task.Status != drivers.TaskQueued {
				t.Fatalf("task %s: %s before the clock moved, want queued", task.ID, task.Status)
			}
			if step == 10 && (task.Status != drivers.TaskDone || task.Percent != 100 || task.FileID == "") {
				t.Fatalf("task %s at the end: %+v", task.ID, task)
			}
			now = append(now, task.Percent)
		}
		for i := range last {
			if now[i] < last[i] {
				t.Fatalf("progress of %s fell from %v to %v", res[i].Link, last[i], now[i])
			}
		}
		if step == 6 && !slices.ContainsFunc(now, func(p float64) bool { return p > 0 && p < 100 }) {
			t.Fatalf("no task part-way at 60%% of the time: %v", now)
		}
		last = now
		c.AdvanceDownloads(total / 10)
	}
	// What they downloaded is in the folder, at once.
	kids, err := f.Drive.List(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range kids {
		names = append(names, k.Name)
	}
	for _, want := range []string{"done-report.pdf", "done-show", "done-clip.avi"} {
		if !slices.Contains(names, want) {
			t.Fatalf("%s not in the folder after the tasks ended: %v", want, names)
		}
	}
	clip, err := Resolve(ctx, f.Drive, "dl/done-clip.avi")
	if err != nil || clip.Size != 123456 {
		t.Fatalf("the ed2k link's file: %+v, %v", clip, err)
	}
}

func testAlreadyListed(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	dir, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	links := sampleLinks("twice")
	first := addOK(t, ctx, d, dir, links...)
	used, _ := c.DownloadQuota()
	again, err := d.AddLinks(ctx, dir, append(links, "https://downloads.example.com/new.iso"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range links {
		if !again[i].OK() || !again[i].Existed || again[i].TaskID != first[i].TaskID {
			t.Fatalf("%s added again: %+v, want the task %s it already has", links[i], again[i], first[i].TaskID)
		}
	}
	if r := again[len(links)]; !r.OK() || r.Existed || r.TaskID == "" {
		t.Fatalf("a new link beside known ones: %+v", r)
	}
	if u, _ := c.DownloadQuota(); u != used+1 {
		t.Fatalf("quota used %d, want %d: a link already listed costs nothing", u, used+1)
	}
}

func testMalformedLinks(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	dir, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	used, _ := c.DownloadQuota()
	bad := []string{"not a link", "magnet:?xt=urn:btih:nothex&dn=x", "ed2k://|file|x|notasize|abc|/", "gopher://example.com/x", "https:///nohost"}
	res, err := d.AddLinks(ctx, dir, bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.OK() || r.TaskID != "" || strings.Contains(r.Refused, "\n") {
			t.Fatalf("%q: %+v, want one sentence refusing it", bad[i], r)
		}
	}
	if tasks, err := d.Tasks(ctx); err != nil || len(tasks) != 0 {
		t.Fatalf("tasks after malformed links: %v, %v", tasks, err)
	}
	if u, _ := c.DownloadQuota(); u != used {
		t.Fatalf("malformed links cost quota: %d used, was %d", u, used)
	}
}

func testQuotaUsedUp(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	dir, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDownloadQuota(0)
	if q, err := d.DownloadQuota(ctx); err != nil || q.Left != 0 {
		t.Fatalf("quota with none left: %+v, %v", q, err)
	}
	res, err := d.AddLinks(ctx, dir, sampleLinks("quota"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.OK() || !strings.Contains(r.Refused, "quota") {
			t.Fatalf("%s with no quota: %+v", r.Link, r)
		}
	}
	data, _ := makeTorrent("quota-pack")
	tr, err := d.AddTorrent(ctx, dir, drivers.Torrent{Name: "quota-pack.torrent", Data: data})
	if err != nil || tr.OK() || !strings.Contains(tr.Refused, "quota") {
		t.Fatalf("a torrent with no quota: %+v, %v", tr, err)
	}
	if tasks, _ := d.Tasks(ctx); len(tasks) != 0 {
		t.Fatalf("tasks with no quota: %+v", tasks)
	}
	assertNoTorrentLeft(t, ctx, f, dir)
	// One left: the first link goes, the rest is refused.
	c.SetDownloadQuota(1)
	res, err = d.AddLinks(ctx, dir, sampleLinks("last"))
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].OK() || res[1].OK() || res[2].OK() {
		t.Fatalf("with one task left: %+v", res)
	}
	q, err := d.DownloadQuota(ctx)
	if used, left := c.DownloadQuota(); err != nil || q.Left != left || q.Used != used || q.Total != used+left {
		t.Fatalf("quota %+v, %v; the cloud says %d used, %d left", q, err, used, left)
	}
}

// makeTorrent is a real multi-file torrent and its files.
func makeTorrent(name string) ([]byte, []torrent.File) {
	files := []torrent.File{{Path: "Season 1/E01.mkv", Size: 300 << 10}, {Path: "Season 1/E02.mkv", Size: 200 << 10}, {Path: "info.nfo", Size: 120}}
	return torrent.Make(name, files, func(i int) []byte { return bytes.Repeat([]byte{byte(i + 1)}, int(files[i].Size)) }), files
}

// assertNoTorrentLeft checks that no .torrent stayed in dir.
func assertNoTorrentLeft(t *testing.T, ctx context.Context, f *Fixture, dir drivers.Entry) {
	t.Helper()
	kids, err := f.Drive.List(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if strings.HasSuffix(k.Name, ".torrent") {
			t.Fatalf("%s left in the folder", k.Name)
		}
	}
}

func testTorrent(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	mustMkdir(t, f, "bt")
	dir, err := Resolve(ctx, f.Drive, "bt")
	if err != nil {
		t.Fatal(err)
	}
	data, files := makeTorrent("Pack.S01")
	meta, err := torrent.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.AddTorrent(ctx, dir, drivers.Torrent{Name: "Pack.S01.torrent", Data: data})
	if err != nil || !res.OK() || res.TaskID != meta.InfoHash {
		t.Fatalf("AddTorrent: %+v, %v; want task %s", res, err, meta.InfoHash)
	}
	again, err := d.AddTorrent(ctx, dir, drivers.Torrent{Name: "Pack.S01.torrent", Data: data})
	if err != nil || !again.OK() || !again.Existed || again.TaskID != meta.InfoHash {
		t.Fatalf("the same torrent again: %+v, %v", again, err)
	}
	assertNoTorrentLeft(t, ctx, f, dir)
	c.AdvanceDownloads(c.DownloadTime())
	task, found := taskByID(t, ctx, d, meta.InfoHash)
	if !found || task.Status != drivers.TaskDone || task.Name != "Pack.S01" || task.Size != meta.Size() {
		t.Fatalf("the torrent's task at the end: %+v (listed %v)", task, found)
	}
	f.Cloud.Tree().Settle()
	for _, file := range files {
		e, err := Resolve(ctx, f.Drive, path.Join("bt/Pack.S01", file.Path))
		if err != nil || e.Size != file.Size {
			t.Fatalf("%s: %+v, %v", file.Path, e, err)
		}
	}
}

func testNotATorrent(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	dir, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := f.Drive.List(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	used, _ := c.DownloadQuota()
	for _, data := range [][]byte{[]byte("<html>404</html>"), nil, []byte("d4:infod4:name1:xee")} {
		res, err := d.AddTorrent(ctx, dir, drivers.Torrent{Name: "fake.torrent", Data: data})
		if err != nil || res.OK() || !strings.Contains(res.Refused, "not a torrent") {
			t.Fatalf("%q as a torrent: %+v, %v", data, res, err)
		}
	}
	after, err := f.Drive.List(ctx, dir)
	if err != nil || len(after) != len(before) {
		t.Fatalf("the root held %d entries, then %d (%v)", len(before), len(after), err)
	}
	if u, _ := c.DownloadQuota(); u != used {
		t.Fatalf("quota used %d, was %d", u, used)
	}
}

func testFailedMagnet(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	dir, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.FailDownloads(func(link string) bool { return strings.HasPrefix(link, "magnet:") })
	defer c.FailDownloads(nil)
	res := addOK(t, ctx, d, dir, sampleLinks("fails")...)
	c.AdvanceDownloads(c.DownloadTime())
	for i, r := range res {
		task, found := taskByID(t, ctx, d, r.TaskID)
		want := drivers.TaskDone
		if i == 1 {
			want = drivers.TaskFailed
		}
		if !found || task.Status != want {
			t.Fatalf("%s: %+v, want %s", r.Link, task, want)
		}
	}
}

func testRemoveWithFiles(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	mustMkdir(t, f, "rm")
	dir, err := Resolve(ctx, f.Drive, "rm")
	if err != nil {
		t.Fatal(err)
	}
	links := sampleLinks("rm")
	res := addOK(t, ctx, d, dir, links[0], links[2])
	c.AdvanceDownloads(c.DownloadTime())
	if _, err := d.Tasks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveTasks(ctx, []string{res[0].TaskID}, true); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveTasks(ctx, []string{res[1].TaskID}, false); err != nil {
		t.Fatal(err)
	}
	if tasks, err := d.Tasks(ctx); err != nil || len(tasks) != 0 {
		t.Fatalf("tasks after removing both: %+v, %v", tasks, err)
	}
	if _, err := Resolve(ctx, f.Drive, "rm/rm-report.pdf"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("the file of a task removed with its files: %v, want ErrNotFound", err)
	}
	if _, err := Resolve(ctx, f.Drive, "rm/rm-clip.avi"); err != nil {
		t.Fatalf("the file of a task removed without its files: %v", err)
	}
}

func testClearSets(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	dir, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.FailDownloads(func(link string) bool { return strings.Contains(link, "fail") })
	defer c.FailDownloads(nil)
	// One done, one failed, one running, each round.
	round := func(tag string) map[drivers.TaskStatus]drivers.AddResult {
		res := addOK(t, ctx, d, dir, "https://x.example.com/"+tag+"-ok.bin", "https://x.example.com/"+tag+"-fail.bin")
		c.AdvanceDownloads(c.DownloadTime())
		run := addOK(t, ctx, d, dir, "https://x.example.com/"+tag+"-run.bin")
		c.AdvanceDownloads(c.DownloadTime() / 2)
		return map[drivers.TaskStatus]drivers.AddResult{drivers.TaskDone: res[0], drivers.TaskFailed: res[1], drivers.TaskDownloading: run[0]}
	}
	listed := func() map[string]drivers.Task {
		tasks, err := d.Tasks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]drivers.Task{}
		for _, x := range tasks {
			out[x.ID] = x
		}
		return out
	}
	for _, tc := range []struct {
		set       drivers.TaskSet
		withFiles bool
		gone      []drivers.TaskStatus
	}{
		{drivers.TasksFailed, false, []drivers.TaskStatus{drivers.TaskFailed}},
		{drivers.TasksRunning, false, []drivers.TaskStatus{drivers.TaskDownloading}},
		{drivers.TasksDone, false, []drivers.TaskStatus{drivers.TaskDone}},
		{drivers.TasksDone, true, []drivers.TaskStatus{drivers.TaskDone}},
		{drivers.TasksAll, false, []drivers.TaskStatus{drivers.TaskDone, drivers.TaskFailed, drivers.TaskDownloading}},
		{drivers.TasksAll, true, []drivers.TaskStatus{drivers.TaskDone, drivers.TaskFailed, drivers.TaskDownloading}},
	} {
		name := fmt.Sprintf("set%d-files%v", tc.set, tc.withFiles)
		made := round(name)
		if err := d.ClearTasks(ctx, tc.set, tc.withFiles); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		now := listed()
		for st, r := range made {
			_, still := now[r.TaskID]
			if slices.Contains(tc.gone, st) == still {
				t.Fatalf("%s: the %s task listed %v after clearing", name, st, still)
			}
		}
		// A task cleared before anyone saw it end leaves its file to
		// show when the cloud's listing catches up.
		f.Cloud.Tree().Settle()
		_, err := Resolve(ctx, f.Drive, name+"-ok.bin")
		if tc.withFiles != errors.Is(err, drivers.ErrNotFound) {
			t.Fatalf("%s: the done task's file: %v", name, err)
		}
		d.ClearTasks(ctx, drivers.TasksAll, false)
	}
	for _, set := range []drivers.TaskSet{drivers.TasksFailed, drivers.TasksRunning} {
		if err := d.ClearTasks(ctx, set, true); !errors.Is(err, drivers.ErrUnsupported) {
			t.Fatalf("clearing set %d with files: %v, want ErrUnsupported", set, err)
		}
	}
}

func testEveryPage(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, _ := downloads(t, f)
	dir, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for i := 0; i < 75; i++ {
		links = append(links, fmt.Sprintf("https://many.example.com/file-%03d.bin", i))
	}
	addOK(t, ctx, d, dir, links...)
	tasks, err := d.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, x := range tasks {
		seen[x.URL] = true
	}
	for _, l := range links {
		if !seen[l] {
			t.Fatalf("%s not listed: %d tasks listed of %d", l, len(tasks), len(links))
		}
	}
}

func testFolderChangeNotified(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	d, c := downloads(t, f)
	n, ok := f.Drive.(drivers.ChangeNotifier)
	if !ok {
		t.Skip("the driver does not say when the cloud changes a folder")
	}
	var mu sync.Mutex
	var changed []string
	n.NotifyChanges(func(id string) {
		mu.Lock()
		defer mu.Unlock()
		changed = append(changed, id)
	})
	mustMkdir(t, f, "watched")
	dir, err := Resolve(ctx, f.Drive, "watched")
	if err != nil {
		t.Fatal(err)
	}
	addOK(t, ctx, d, dir, sampleLinks("note")[0])
	c.AdvanceDownloads(c.DownloadTime())
	// Nobody asks for the task list: the driver follows its task itself.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := slices.Contains(changed, dir.ID)
		mu.Unlock()
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no change of folder %s announced 30 s after its task ended (announced: %v)", dir.ID, changed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	kids, err := f.Drive.List(ctx, dir)
	if err != nil || len(kids) != 1 || kids[0].Name != "note-report.pdf" {
		t.Fatalf("the folder after its task ended: %+v, %v", kids, err)
	}
}
