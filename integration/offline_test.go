package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/internal/admin"
	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/torrent"
)

// offlineRig is a pandav serving every cloud of the list, with the
// cloud-download watch folder where a cloud has cloud download, and the
// emulators' task clocks stopped, so the test moves them.
type offlineRig struct {
	p      *pandavProc
	cfg    string
	clouds *clouds
	tmp    string
}

func startOfflineRig(t *testing.T) *offlineRig {
	t.Helper()
	c := fastClouds(t, nil)
	for _, cl := range c.Each() {
		for _, dir := range []string{demo.WatchFolder + "/old.txt", "/cli/old.txt", "/api/old.txt", "/plain/old.txt"} {
			if _, err := cl.Tree().PutPath(dir, fakecloud.BytesBlob([]byte("old"))); err != nil {
				t.Fatal(err)
			}
		}
		if cd, ok := cl.(fakecloud.CloudDownloads); ok {
			cd.SetDownloadSpeed(0)
		}
	}
	cfg, _ := c.WriteConfigWith(t, serveOptions{Fast: true, Watch: []string{demo.WatchFolder}})
	return &offlineRig{p: startServe(t, cfg), cfg: cfg, clouds: c, tmp: t.TempDir()}
}

// cli runs `pandav offline ARGS -c config` with stdin.
func (r *offlineRig) cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx := exec.Command(pandavBin, append(append([]string{"offline"}, args...), "-c", r.cfg)...)
	ctx.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	ctx.Stdout, ctx.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := ctx.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- ctx.Wait() }()
	select {
	case err := <-done:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{Stdout: out.Bytes(), Stderr: errb.Bytes(), Code: code, Err: err}
	case <-time.After(2 * time.Minute):
		ctx.Process.Kill()
		t.Fatalf("pandav offline %v: no end after 2 minutes", args)
	}
	return result{}
}

// api sends a JSON request to the admin API.
func (r *offlineRig) api(t *testing.T, method, route string, in, out any) int {
	t.Helper()
	b, _ := json.Marshal(in)
	req, err := http.NewRequest(method, r.p.URL(admin.Prefix+route), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(admin.CSRFHeader, "1")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// put PUTs a file with curl, as a client would, and returns the status
// and the body.
func (r *offlineRig) put(t *testing.T, davPath string, content []byte) (int, string) {
	t.Helper()
	curl := needTool(t, "curl")
	f := filepath.Join(r.tmp, filepath.Base(davPath))
	if err := os.WriteFile(f, content, 0o600); err != nil {
		t.Fatal(err)
	}
	res := runTool(t, time.Minute, nil, curl, "-sS", "-T", f, "-w", "\n%{http_code}", r.p.URL(davPath))
	out := strings.TrimSpace(string(res.Stdout))
	i := strings.LastIndex(out, "\n")
	var code int
	fmt.Sscan(out[i+1:], &code)
	return code, out[:max(i, 0)]
}

// names lists dir by PROPFIND: whether each child exists.
func (r *offlineRig) names(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for name := range childNames(t, propfind(t, r.p.URL(dir+"/"), "1"), dir) {
		out[name] = true
	}
	return out
}

// magnet, http link and torrent of one interface, by tag.
func offlineInputs(tag string) (magnet, link string, torrentData []byte, torrentName string, files []torrent.File) {
	hash := fmt.Sprintf("%x", []byte(strings.Repeat(tag, 20)))[:40]
	magnet = "magnet:?xt=urn:btih:" + hash + "&dn=" + tag + "-show&tr=udp%3A%2F%2Ftracker.example.com%3A80"
	link = "https://downloads.example.com/" + tag + "-report.pdf"
	torrentName = tag + "-pack"
	files = []torrent.File{{Path: "Disc 1/track01.flac", Size: 300 << 10}, {Path: "cover.jpg", Size: 20 << 10}}
	torrentData = torrent.Make(torrentName, files, func(i int) []byte { return bytes.Repeat([]byte(tag), int(files[i].Size)/len(tag)+1)[:files[i].Size] })
	return
}

// TestCloudDownload adds a magnet, an HTTP link and a torrent through
// each of the CLI, the admin API and a WebDAV drop into a watch folder,
// follows them to done, finds what they downloaded by PROPFIND in the
// folders (listed, and so cached, before), removes one task with its
// files, clears the rest and checks the quota; then the bad inputs.
func TestCloudDownload(t *testing.T) {
	r := startOfflineRig(t)
	tested := 0
	for _, cl := range r.clouds.Each() {
		cd, ok := cl.(fakecloud.CloudDownloads)
		if !ok {
			continue
		}
		tested++
		t.Run(cl.Name(), func(t *testing.T) { testCloudDownload(t, r, cl, cd) })
	}
	if tested == 0 {
		t.Skip("no cloud of the list has cloud download")
	}
	// A .torrent on a mount without cloud download is a file.
	for _, cl := range r.clouds.Each() {
		if _, ok := cl.(fakecloud.CloudDownloads); ok {
			continue
		}
		_, _, data, name, _ := offlineInputs("plain")
		p := demo.MountPath(cl) + demo.WatchFolder + "/" + name + ".torrent"
		if code, body := r.put(t, p, data); code != http.StatusCreated {
			t.Fatalf("PUT %s on a mount without cloud download: %d %s", p, code, body)
		}
		if _, err := cl.Tree().Lookup(demo.WatchFolder + "/" + name + ".torrent"); err != nil {
			t.Fatalf("%s was not stored: %v", p, err)
		}
	}
}

func testCloudDownload(t *testing.T, r *offlineRig, cl fakecloud.Cloud, cd fakecloud.CloudDownloads) {
	mount := demo.MountPath(cl)
	watch, cliDir, apiDir := mount+demo.WatchFolder, mount+"/cli", mount+"/api"
	used0, _ := cd.DownloadQuota()
	// Listed, so cached: what the tasks download must show all the same.
	for _, d := range []string{watch, cliDir, apiDir} {
		if n := r.names(t, d); !n["old.txt"] {
			t.Fatalf("%s: %v", d, n)
		}
	}

	// The CLI: links and a torrent.
	mCLI, lCLI, tCLI, nCLI, _ := offlineInputs("cli")
	torrentFile := filepath.Join(r.tmp, nCLI+".torrent")
	os.WriteFile(torrentFile, tCLI, 0o600)
	res := r.cli(t, lCLI+"\n", "add", "--to", cliDir, mCLI, "-", torrentFile)
	if res.Code != 0 || strings.Count(string(res.Stdout), "added into "+cliDir) != 3 {
		t.Fatalf("offline add: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	if !strings.Contains(string(res.Stderr), "through the running pandav") {
		t.Fatalf("offline add did not go through the running pandav: %s", res.Stderr)
	}
	var cliTasks []string
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if i := strings.LastIndex(line, "(task "); i >= 0 {
			cliTasks = append(cliTasks, strings.TrimSuffix(line[i+len("(task "):], ")"))
		}
	}

	// The admin API.
	mAPI, lAPI, tAPI, nAPI, _ := offlineInputs("api")
	var added admin.AddedDownloads
	if code := r.api(t, http.MethodPost, "downloads", admin.AddDownloads{To: apiDir, Links: []string{mAPI, lAPI}}, &added); code != http.StatusOK || !added.OK || len(added.Results) != 2 {
		t.Fatalf("POST downloads: %d %+v", code, added)
	}
	if code := r.api(t, http.MethodPost, "downloads", admin.AddDownloads{To: apiDir, Torrent: tAPI, TorrentName: nAPI + ".torrent"}, &added); code != http.StatusOK || !added.OK {
		t.Fatalf("POST downloads with a torrent: %d %+v", code, added)
	}

	// The WebDAV drop.
	mDAV, lDAV, tDAV, nDAV, _ := offlineInputs("dav")
	for name, body := range map[string][]byte{"a.magnet": []byte(mDAV + "\n"), "b.links": []byte("# one link\r\n" + lDAV + "\r\n"), nDAV + ".torrent": tDAV} {
		if code, answer := r.put(t, watch+"/"+name, body); code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", name, code, answer)
		}
		if _, err := cl.Tree().Lookup(demo.WatchFolder + "/" + name); err == nil {
			t.Fatalf("%s was stored in the watch folder", name)
		}
	}
	if used, _ := cd.DownloadQuota(); used != used0+9 {
		t.Fatalf("quota used %d after 9 tasks, was %d", used, used0)
	}

	// Follow them to done: offline list --watch redraws until every task
	// ended, while the clock moves.
	watching := make(chan result, 1)
	go func() { watching <- r.cli(t, "", "list", "--watch", "--interval", "200ms") }()
	for i := 0; i < 10; i++ {
		time.Sleep(300 * time.Millisecond)
		cd.AdvanceDownloads(cd.DownloadTime() / 10)
	}
	cd.AdvanceDownloads(cd.DownloadTime())
	res = <-watching
	out := string(res.Stdout)
	if res.Code != 0 || strings.Count(out, "TASK") < 2 || !strings.Contains(out, "downloading") || !strings.Contains(out, "[####################] 100.0%") {
		t.Fatalf("offline list --watch: exit %d\n%s%s", res.Code, out, res.Stderr)
	}
	last := out[strings.LastIndex(out, "TASK"):]
	if strings.Count(last, " done ") != 9 {
		t.Fatalf("the last table does not show 9 tasks done:\n%s", last)
	}
	status := readStatus(t, r, watch)
	if strings.Count(status, "done") != 3 {
		t.Fatalf("%s lists no 3 tasks done:\n%s", statusName, status)
	}

	// What they downloaded shows in the folders listed before, with no
	// refresh (at once, but the driver may still be laying it over the
	// cloud's lagging listing as the CLI ends); a folder's own content as
	// soon as the cloud lists it.
	for dir, want := range map[string][]string{
		cliDir: {"cli-show", "cli-report.pdf", nCLI},
		apiDir: {"api-show", "api-report.pdf", nAPI},
		watch:  {"dav-show", "dav-report.pdf", nDAV, statusName},
	} {
		waitFor(t, 5*time.Second, dir+" shows "+strings.Join(want, ", "), func() bool {
			names := r.names(t, dir)
			for _, w := range want {
				if !names[w] {
					return false
				}
			}
			return true
		})
	}
	for _, dir := range []string{cliDir + "/" + nCLI, apiDir + "/" + nAPI, watch + "/" + nDAV} {
		waitFor(t, 10*time.Second, dir+" holds the torrent's files", func() bool {
			resp, body := davDo(t, "PROPFIND", r.p.URL(dir+"/Disc 1/"), map[string]string{"Depth": "1"}, "")
			return resp.StatusCode == http.StatusMultiStatus && strings.Contains(string(body), "track01.flac") && r.names(t, dir)["cover.jpg"]
		})
	}

	// Remove one task with its files, by the start of its ID.
	if len(cliTasks) != 3 {
		t.Fatalf("task IDs from offline add: %v", cliTasks)
	}
	res = r.cli(t, "", "rm", "--with-files", cliTasks[1][:10])
	if res.Code != 0 {
		t.Fatalf("offline rm: exit %d %s", res.Code, res.Stderr)
	}
	if names := r.names(t, cliDir); names["cli-report.pdf"] || !names["cli-show"] {
		t.Fatalf("%s after removing the link's task with its files: %v", cliDir, names)
	}
	// Clear the rest; the files stay.
	if res = r.cli(t, "", "clear", "--all"); res.Code != 0 {
		t.Fatalf("offline clear --all: exit %d %s", res.Code, res.Stderr)
	}
	if res = r.cli(t, "", "list"); res.Code != 0 || !strings.Contains(string(res.Stdout), "no cloud-download tasks") {
		t.Fatalf("offline list after clearing: %s%s", res.Stdout, res.Stderr)
	}
	if !r.names(t, apiDir)["api-report.pdf"] {
		t.Fatal("clearing without --with-files removed a file")
	}
	used, left := cd.DownloadQuota()
	res = r.cli(t, "", "quota")
	if used != used0+9 || res.Code != 0 || !strings.Contains(string(res.Stdout), fmt.Sprintf("%d used, %d left", used, left)) {
		t.Fatalf("quota: the cloud says %d used (was %d), %d left; offline quota says %s%s", used, used0, left, res.Stdout, res.Stderr)
	}
	t.Logf("9 tasks added (3 by the CLI, 3 by the API, 3 dropped), 9 done; quota used %d -> %d, %d left", used0, used, left)

	testCloudDownloadRefusals(t, r, cl, cd)
}

// statusName is the watch folders' status file.
const statusName = ".cloud-download.txt"

func readStatus(t *testing.T, r *offlineRig, dir string) string {
	t.Helper()
	resp, body := davDo(t, http.MethodGet, r.p.URL(dir+"/"+statusName), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", statusName, resp.Status)
	}
	return string(body)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// testCloudDownloadRefusals: a malformed link, a quota of 0 and a
// .torrent that is not one each get a plain answer and create nothing,
// through every interface; a .torrent outside a watch folder is a file.
func testCloudDownloadRefusals(t *testing.T, r *offlineRig, cl fakecloud.Cloud, cd fakecloud.CloudDownloads) {
	mount := demo.MountPath(cl)
	watch := mount + demo.WatchFolder
	before := fileSizes(t, cl.Tree())
	used0, left0 := cd.DownloadQuota()
	bad := "magnet:?xt=urn:btih:not-a-hash"
	check := func(what string) {
		t.Helper()
		if res := r.cli(t, "", "list"); !strings.Contains(string(res.Stdout), "no cloud-download tasks") {
			t.Fatalf("%s: tasks made:\n%s", what, res.Stdout)
		}
		if used, _ := cd.DownloadQuota(); used != used0 {
			t.Fatalf("%s: quota used %d, was %d", what, used, used0)
		}
		after := fileSizes(t, cl.Tree())
		for p := range after {
			if _, was := before[p]; !was {
				t.Fatalf("%s: %s was made", what, p)
			}
		}
	}

	res := r.cli(t, "", "add", "--to", mount+"/cli", bad)
	if res.Code != 1 || !strings.Contains(string(res.Stderr), bad+" was not added: the magnet link has no valid btih hash") {
		t.Fatalf("a malformed link by the CLI: exit %d %s", res.Code, res.Stderr)
	}
	var added admin.AddedDownloads
	if r.api(t, http.MethodPost, "downloads", admin.AddDownloads{To: mount + "/api", Links: []string{bad}}, &added); added.OK || added.Results[0].Error == "" {
		t.Fatalf("a malformed link by the API: %+v", added)
	}
	if code, body := r.put(t, watch+"/bad.magnet", []byte(bad)); code != http.StatusUnprocessableEntity || !strings.Contains(body, bad+": the magnet link has no valid btih hash") {
		t.Fatalf("a malformed link dropped: %d %s", code, body)
	}
	check("a malformed link")

	cd.SetDownloadQuota(0)
	good, _, _, _, _ := offlineInputs("late")
	res = r.cli(t, "", "add", good)
	if res.Code != 1 || !strings.Contains(string(res.Stderr), "quota is used up") {
		t.Fatalf("no quota, by the CLI: exit %d %s", res.Code, res.Stderr)
	}
	if r.api(t, http.MethodPost, "downloads", admin.AddDownloads{Links: []string{good}}, &added); added.OK || !strings.Contains(added.Results[0].Error, "quota") {
		t.Fatalf("no quota, by the API: %+v", added)
	}
	if code, body := r.put(t, watch+"/late.magnet", []byte(good)); code != http.StatusUnprocessableEntity || !strings.Contains(body, "quota is used up") {
		t.Fatalf("no quota, dropped: %d %s", code, body)
	}
	_, _, tor, _, _ := offlineInputs("late")
	if code, body := r.put(t, watch+"/late.torrent", tor); code != http.StatusUnprocessableEntity || !strings.Contains(body, "quota is used up") {
		t.Fatalf("no quota, a torrent dropped: %d %s", code, body)
	}
	check("no quota")
	cd.SetDownloadQuota(left0)

	notTorrent := []byte("<html><body>404 Not Found</body></html>")
	f := filepath.Join(r.tmp, "fake.torrent")
	os.WriteFile(f, notTorrent, 0o600)
	if res := r.cli(t, "", "add", f); res.Code != 1 || !strings.Contains(string(res.Stderr), "fake.torrent was not added: it is not a torrent file") {
		t.Fatalf("a fake torrent by the CLI: exit %d %s", res.Code, res.Stderr)
	}
	if code, body := r.put(t, watch+"/fake.torrent", notTorrent); code != http.StatusUnprocessableEntity || !strings.Contains(body, "fake.torrent: it is not a torrent file") {
		t.Fatalf("a fake torrent dropped: %d %s", code, body)
	}
	check("a fake torrent")

	// Outside the watch folder, a .torrent is a file like any other.
	if code, body := r.put(t, mount+"/plain/real.torrent", tor); code != http.StatusCreated {
		t.Fatalf("a .torrent outside the watch folder: %d %s", code, body)
	}
	if n, err := cl.Tree().Lookup("/plain/real.torrent"); err != nil || n.Size() != int64(len(tor)) {
		t.Fatalf("the .torrent outside the watch folder was not stored: %v", err)
	}
}
