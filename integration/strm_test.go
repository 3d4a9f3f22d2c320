package integration

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// strmUA is the User-Agent of every player request in these tests, so
// that links bound to a User-Agent are asked for once per file.
const strmUA = "pandav-integration-player/1"

// libPath is where the tests mount the .strm view of cl's whole mount.
func libPath(cl fakecloud.Cloud) string { return "/lib" + demo.MountPath(cl) }

// strmConfig writes a config with every cloud's mount, a strm view of
// each at libPath, and mountExtra on every cloud mount.
func strmConfig(t *testing.T, c *clouds, mountExtra string) (configPath, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	yaml := c.ConfigWith(stateDir, serveOptions{MountExtra: mountExtra})
	for _, cl := range c.Each() {
		yaml += demo.Mount{Path: libPath(cl), Driver: "strm", Options: map[string]any{"source": demo.MountPath(cl)}}.YAML()
	}
	configPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return configPath, stateDir
}

// playerGet fetches u as the test's player, following no redirect.
func playerGet(t *testing.T, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", strmUA)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{Timeout: 90 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// listingPages is how many listing calls a driver makes to list every
// folder of tr once.
func listingPages(t *testing.T, tr *fakecloud.Tree, pageSize int) (folders, pages int64) {
	t.Helper()
	var walk func(id string)
	walk = func(id string) {
		kids, err := tr.Children(id)
		if err != nil {
			t.Fatal(err)
		}
		folders++
		pages += int64(max(1, int(math.Ceil(float64(len(kids))/float64(pageSize)))))
		for _, k := range kids {
			if k.IsDir {
				walk(k.ID)
			}
		}
	}
	walk(tr.RootID())
	return folders, pages
}

// The three videos of the library tests: the sample, and two copies of
// it deeper down.
var strmVideos = map[string]string{
	sample.VideoPath:              "/Movies/Sample Video.strm",
	"/Shows/S01/Episode 1.mkv":    "/Shows/S01/Episode 1.strm",
	"/Shows/S01/Episode 2 #2.mp4": "/Shows/S01/Episode 2 #2.strm",
}

// TestStrmLibraryScan scans the .strm view of each cloud's mount as a
// media server does (PROPFIND of every folder, GET of every .strm), then
// plays three of the links with ffprobe and an ffmpeg seek and reads
// them whole. The emulator counts what each step cost: the scan one
// listing per page of each folder and no link, the playing one link per
// played file.
func TestStrmLibraryScan(t *testing.T) {
	t.Parallel()
	ffprobe := needTool(t, "ffprobe")
	ffmpeg := needTool(t, "ffmpeg")
	extra := map[string]fakecloud.Blob{}
	for p := range strmVideos {
		if p != sample.VideoPath {
			extra[p] = fakecloud.BytesBlob(sample.Video())
		}
	}
	c := startClouds(t, cloudOptions{Extra: extra})
	cfg, _ := strmConfig(t, c, "")
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			ep := cl.Endpoints()
			cl.Counters().Reset()
			lib := libPath(cl)

			// The scan.
			var folders, strms []string
			queue := []string{lib + "/"}
			for len(queue) > 0 {
				dir := queue[0]
				queue = queue[1:]
				folders = append(folders, dir)
				for name, isDir := range childNames(t, propfind(t, p.URL(dir), "1"), dir) {
					switch {
					case isDir:
						queue = append(queue, dir+name+"/")
					case strings.HasSuffix(name, ".strm"):
						strms = append(strms, dir+name)
					}
				}
			}
			links := map[string]string{}
			for _, s := range strms {
				resp, body := playerGet(t, p.URL(s))
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "http://"+p.Addr+"/.pandav/strm/") {
					t.Fatalf("GET %s: %s %q", s, resp.Status, body)
				}
				links[strings.TrimPrefix(s, lib)] = string(body)
			}
			wantFolders, wantPages := listingPages(t, cl.Tree(), cl.PageSize())
			scan := cl.Counters().Snapshot()
			t.Logf("scan of %s: %d folders by PROPFIND, %d .strm files read; the cloud counted %d listing calls, %d link calls",
				lib, len(folders), len(strms), scan[ep.List], scan[ep.Link])
			if int64(len(folders)) != wantFolders || len(strms) != len(strmVideos) {
				t.Fatalf("the scan found %d folders and %d .strm files (%v), want %d and %d", len(folders), len(strms), strms, wantFolders, len(strmVideos))
			}
			if scan[ep.List] != wantPages || scan[ep.Link] != 0 || scan[ep.CDN] != 0 {
				t.Fatalf("the scan cost %d listing calls (want %d: one per page of each folder), %d link calls and %d CDN fetches (want none)",
					scan[ep.List], wantPages, scan[ep.Link], scan[ep.CDN])
			}

			// Playing three of them.
			video := sample.Video()
			for _, strm := range strmVideos {
				u := links[strm]
				if u == "" {
					t.Fatalf("no link for %s among %v", strm, links)
				}
				r := runTool(t, time.Minute, nil, ffprobe, "-v", "error", "-user_agent", strmUA, "-show_entries", "stream=codec_type", "-of", "default=nw=1", u)
				if r.Err != nil || len(r.Stderr) > 0 || !strings.Contains(string(r.Stdout), "codec_type=video") {
					t.Fatalf("ffprobe %s: %v\n%s%s", strm, r.Err, r.Stdout, r.Stderr)
				}
				r = runTool(t, time.Minute, nil, ffmpeg, "-nostdin", "-v", "error", "-user_agent", strmUA, "-ss", "7.5", "-i", u, "-frames:v", "1", "-f", "null", "-")
				if r.Err != nil || len(strings.TrimSpace(string(r.Stderr))) > 0 {
					t.Fatalf("ffmpeg seek in %s: %v\n%s", strm, r.Err, r.Stderr)
				}
				resp, body := playerGet(t, u)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(body, video) {
					t.Fatalf("GET %s: %s, %d bytes, want the %d bytes of the file", strm, resp.Status, len(body), len(video))
				}
				resp, body = playerGet(t, u, "Range", "bytes=1000-1999")
				if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, video[1000:2000]) {
					t.Fatalf("range of %s: %s, %d bytes differ", strm, resp.Status, len(body))
				}
			}
			played := cl.Counters().Snapshot()
			t.Logf("playing 3 links: %d link calls, %d listing calls (the source mount resolving their paths)",
				played[ep.Link]-scan[ep.Link], played[ep.List]-scan[ep.List])
			if n := played[ep.Link] - scan[ep.Link]; n != int64(len(strmVideos)) {
				t.Fatalf("playing %d files cost %d link calls, want one each", len(strmVideos), n)
			}
		})
	}
}

// TestStrmLinksRefused: a signed link with one character changed, or
// with another file's signature, is refused with 403 and costs no cloud
// call; a good one follows the source mount's redirect rule.
func TestStrmLinksRefused(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{Extra: map[string]fakecloud.Blob{"/Shows/S01/Episode 1.mkv": fakecloud.BytesBlob(sample.Video())}})
	cfg, _ := strmConfig(t, c, "redirect: true")
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			lib := libPath(cl)
			_, a := playerGet(t, p.URL(lib+"/Movies/Sample Video.strm"))
			_, b := playerGet(t, p.URL(lib+"/Shows/S01/Episode 1.strm"))
			prefix := "http://" + p.Addr + "/.pandav/strm/"
			sigA, _, _ := strings.Cut(strings.TrimPrefix(string(a), prefix), "/")
			_, pathB, _ := strings.Cut(strings.TrimPrefix(string(b), prefix), "/")
			change := func(s string, at int) string {
				c := "x"
				if s[at] == 'x' {
					c = "y"
				}
				return s[:at] + c + s[at+1:]
			}
			before := cl.Counters().Snapshot()
			for name, u := range map[string]string{
				"a changed signature":      change(string(a), len(prefix)+10),
				"a changed path":           change(string(a), len(a)-7),
				"another file's signature": prefix + sigA + "/" + pathB,
			} {
				if resp, body := playerGet(t, u); resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s: %s %q, want 403", name, resp.Status, body)
				}
			}
			if after := cl.Counters().Snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("refused links cost cloud calls: %v, then %v", before, after)
			}
			// redirect: true, and the link needs no header the player
			// would not send: 302 to the cloud, as the file itself.
			resp, _ := playerGet(t, string(a))
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "http") {
				t.Fatalf("a good link: %s to %q, want 302 to the cloud", resp.Status, resp.Header.Get("Location"))
			}
		})
	}
}

var (
	summaryRe = regexp.MustCompile(`added (\d+), updated (\d+), removed (\d+)`)
	// A signed link's signature must not reach a log.
	strmSigRe = regexp.MustCompile(`/\.pandav/strm(-list)?/[A-Za-z0-9_-]{40,}/`)
)

// Every pandav log of the package is searched for signed links too.
func init() { extraLeakPatterns = append(extraLeakPatterns, strmSigRe) }

// strmSync runs `pandav strm sync` and returns its exit code, its
// summary's added/updated/removed and its output.
func strmSync(t *testing.T, cfg string, p *pandavProc, src, dest string) (int, string, string) {
	t.Helper()
	r := runTool(t, 3*time.Minute, nil, pandavBin, "strm", "sync", "-c", cfg, "--server", "http://"+p.Addr, src, dest)
	out, errOut := string(r.Stdout), string(r.Stderr)
	if strmSigRe.MatchString(out + errOut) {
		t.Fatalf("strm sync printed a signed link:\n%s%s", out, errOut)
	}
	m := summaryRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("strm sync printed no summary (exit %d):\n%s%s", r.Code, out, errOut)
	}
	t.Logf("strm sync %s (exit %d): %s%s", src, r.Code, out, errOut)
	return r.Code, strings.Join(m[1:], " "), errOut
}

// localTree is every file under dest but the sync's own record, with
// its content.
func localTree(t *testing.T, dest string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".pandav") {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dest, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out
}

func sortedKeys(m map[string]string) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// TestStrmSync writes a library to disk twice with a change in between,
// then meets a cloud that throttles, or answers 115's code 0, in the
// middle of its scan: that run says why, exits non-zero and removes
// nothing.
func TestStrmSync(t *testing.T) {
	t.Parallel()
	video := fakecloud.BytesBlob(sample.Video())
	c := startClouds(t, cloudOptions{Extra: map[string]fakecloud.Blob{
		"/Library/Film A/Film A.mp4":  video,
		"/Library/Film A/Film A.nfo":  fakecloud.BytesBlob([]byte("<movie><title>A</title></movie>")),
		"/Library/Film A/poster.jpg":  fakecloud.BytesBlob([]byte("not really a jpeg")),
		"/Library/Film B/Film B.mkv":  video,
		"/Library/Film B/Film B.srt":  fakecloud.BytesBlob([]byte("1\n00:00:01,000 --> 00:00:02,000\nB\n")),
		"/Library/Film B/extras.zip":  fakecloud.BytesBlob([]byte("not in a library")),
		"/Library/Series/S01/E01.mp4": video,
		"/Library/Series/S01/E02.mp4": video,
	}})
	cfg, _ := strmConfig(t, c, "")
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			tree := cl.Tree()
			src := demo.MountPath(cl) + "/Library"
			dest := filepath.Join(t.TempDir(), "library")
			put := func(p, body string) {
				if _, err := tree.PutPath("/Library/"+p, fakecloud.BytesBlob([]byte(body))); err != nil {
					t.Fatal(err)
				}
			}
			remove := func(p string) {
				n, err := tree.Lookup("/Library/" + p)
				if err != nil {
					t.Fatal(err)
				}
				if err := tree.Delete(n.ID); err != nil {
					t.Fatal(err)
				}
			}

			code, counts, _ := strmSync(t, cfg, p, src, dest)
			got := localTree(t, dest)
			if code != 0 || counts != "7 0 0" || sortedKeys(got) != "Film A/Film A.nfo, Film A/Film A.strm, Film A/poster.jpg, Film B/Film B.srt, Film B/Film B.strm, Series/S01/E01.strm, Series/S01/E02.strm" {
				t.Fatalf("first sync: exit %d, added/updated/removed %s, wrote %s", code, counts, sortedKeys(got))
			}
			if resp, body := playerGet(t, got["Film B/Film B.strm"]); resp.StatusCode != http.StatusOK || !bytes.Equal(body, sample.Video()) {
				t.Fatalf("the link in Film B.strm: %s, %d bytes", resp.Status, len(body))
			}
			if got["Film A/Film A.nfo"] != "<movie><title>A</title></movie>" {
				t.Fatalf("Film A.nfo copied as %q", got["Film A/Film A.nfo"])
			}

			// One film added, one .nfo changed, one film gone.
			if _, err := tree.PutPath("/Library/Film C/Film C.mkv", video); err != nil {
				t.Fatal(err)
			}
			remove("Film A/Film A.nfo")
			put("Film A/Film A.nfo", "<movie><title>A, the director's cut</title></movie>")
			remove("Film B/Film B.mkv")
			code, counts, _ = strmSync(t, cfg, p, src, dest)
			got = localTree(t, dest)
			if code != 0 || counts != "1 1 1" || got["Film A/Film A.nfo"] != "<movie><title>A, the director's cut</title></movie>" ||
				sortedKeys(got) != "Film A/Film A.nfo, Film A/Film A.strm, Film A/poster.jpg, Film B/Film B.srt, Film C/Film C.strm, Series/S01/E01.strm, Series/S01/E02.strm" {
				t.Fatalf("second sync: exit %d, added/updated/removed %s, left %s", code, counts, sortedKeys(got))
			}

			// Odd answers in the middle of the scan: nothing is removed,
			// although E02 is gone from the cloud.
			remove("Series/S01/E02.mp4")
			for _, kind := range []fakecloud.FaultKind{fakecloud.Throttle, fakecloud.Transient} {
				cl.Faults().InjectAfter(cl.Endpoints().List, kind, 1, -1)
				code, counts, errOut := strmSync(t, cfg, p, src, dest)
				cl.Faults().Clear()
				if code == 0 || counts != "0 0 0" || !strings.Contains(errOut, "nothing was removed") || !strings.Contains(errOut, "pandav answered 50") {
					t.Fatalf("sync through %s: exit %d, added/updated/removed %s:\n%s", kind, code, counts, errOut)
				}
				if _, ok := localTree(t, dest)["Series/S01/E02.strm"]; !ok {
					t.Fatalf("sync through %s removed E02.strm", kind)
				}
			}
			code, counts, _ = strmSync(t, cfg, p, src, dest)
			if _, ok := localTree(t, dest)["Series/S01/E02.strm"]; code != 0 || counts != "0 0 1" || ok {
				t.Fatalf("sync after the faults: exit %d, added/updated/removed %s", code, counts)
			}
		})
	}
}
