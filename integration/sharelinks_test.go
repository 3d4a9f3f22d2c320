package integration

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// shareOwnerHost is a cloud whose drive can be filled and whose shares
// play, when the drive is full, through transcoded previews whose URLs
// can be made to expire in the middle of a film.
type shareOwnerHost interface {
	shareHost
	SetSpace(total int64)
	ExpirePreviewsAfter(segments int)
}

// ownShareRig is pandav on a share host's account, with every other
// cloud mounted beside it, and the config and state it runs on.
type ownShareRig struct {
	c       *clouds
	host    shareOwnerHost
	account string // the account mount's path
	other   string // another cloud's mount, which cannot share
	dir     string
	config  string
	p       *pandavProc
}

func startOwnShares(t *testing.T) *ownShareRig {
	t.Helper()
	c := startClouds(t, cloudOptions{Extra: map[string]fakecloud.Blob{"/Movies/lyrics.qrc": fakecloud.BytesBlob([]byte("[0,1]la"))}})
	r := &ownShareRig{c: c, dir: t.TempDir()}
	for _, cl := range c.Each() {
		if h, ok := cl.(shareOwnerHost); ok {
			r.host = h
			break
		}
	}
	if r.host == nil {
		t.Skip("no cloud makes share links")
	}
	r.account = demo.MountPath(r.host)
	r.other = demo.MountPath(c.other(r.host))
	r.config = filepath.Join(r.dir, "config.yaml")
	r.writeConfig(t, nil)
	r.p = startServe(t, r.config)
	return r
}

// writeConfig mounts the account (with what playing shares needs), the
// other cloud, and shares, each given as the text a user pastes, by
// mount path. Listings are trusted for a second, so that a share that
// changes shows soon.
func (r *ownShareRig) writeConfig(t *testing.T, shares map[string]string) {
	t.Helper()
	account := demo.CloudMount(r.host, r.c.rt[r.host.Name()])
	maps.Copy(account.Options, r.host.ShareAccountOptions())
	other := demo.CloudMount(r.c.other(r.host), r.c.rt[r.c.other(r.host).Name()])
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %s\nlog: {level: debug, format: json}\ncache: {ttl: 1s, negative_ttl: 1s}\nmounts:\n",
		yamlQuote(filepath.Join(r.dir, "state"))) + account.YAML() + other.YAML()
	for path, text := range shares {
		driver, options := r.host.ShareMount("unused", "", account.Path)
		delete(options, "share_id")
		delete(options, "share_pwd")
		options["share_url"] = text
		yaml += demo.Mount{Path: path, Driver: driver, Options: options}.YAML()
	}
	if err := os.WriteFile(r.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cli runs `pandav share ARGS -c config`.
func (r *ownShareRig) cli(t *testing.T, args ...string) result {
	t.Helper()
	return runTool(t, 2*time.Minute, nil, pandavBin, append(append([]string{"share"}, args...), "-c", r.config)...)
}

// apiCall sends one admin API request to the running pandav.
func (r *ownShareRig) apiCall(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.p.URL("/.pandav/api/v1/"+path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("X-Pandav-CSRF", "1")
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitStatus PROPFINDs u until it answers want, for up to 30 s.
func waitStatus(t *testing.T, u string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := davDo(t, "PROPFIND", u, map[string]string{"Depth": "1"}, "")
		if resp.StatusCode == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PROPFIND %s: %s after 30 s, want %d\n%s", u, resp.Status, want, tail(string(body), 500))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lslSizes reads rclone lsl's lines: each path and its size.
func lslSizes(out []byte) map[string]int64 {
	got := map[string]int64{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if m := lslLine.FindStringSubmatch(line); m != nil {
			size, _ := strconv.ParseInt(m[1], 10, 64)
			got[m[4]] = size
		}
	}
	return got
}

// sizesUnder is fileSizes of the files below dir ("Movies/"), by their
// paths inside it.
func sizesUnder(t testing.TB, tr *fakecloud.Tree, dir string) map[string]int64 {
	out := map[string]int64{}
	for p, size := range fileSizes(t, tr) {
		if rest, ok := strings.CutPrefix(p, dir); ok {
			out[rest] = size
		}
	}
	return out
}

var shareIDInText = regexp.MustCompile(`/s/([0-9A-Za-z]+)`)

// TestOwnShareLinks makes share links of a folder through the CLI and
// the admin API, mounts them by their pasted text, reads one with
// rclone, changes its code and cancels the other; bad requests are each
// refused in one sentence, and make nothing.
func TestOwnShareLinks(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	r := startOwnShares(t)
	movies := r.account + "/Movies"
	creates := func() int64 { return r.host.Counters().Get("adrive/v2/share_link/create") }

	res := r.cli(t, "create", "--pwd", "ab12", "--expire", "7d", "--desc", "our films", movies)
	cliText := strings.TrimSpace(string(res.Stdout))
	if res.Err != nil || !strings.Contains(cliText, " 提取码: ab12") || !strings.Contains(string(res.Stderr), "through the running pandav") {
		t.Fatalf("share create: %v\n%s\n%s", res.Err, res.Stdout, res.Stderr)
	}
	cliID := shareIDInText.FindStringSubmatch(cliText)[1]
	st, apiShare := r.apiCall(t, http.MethodPost, "shares", fmt.Sprintf(`{"paths": [%q], "random_password": true}`, movies))
	apiText, _ := apiShare["text"].(string)
	if st != http.StatusCreated || apiShare["mount"] != r.account || len(apiShare["password"].(string)) != 4 || !strings.Contains(apiText, "提取码: "+apiShare["password"].(string)) {
		t.Fatalf("POST shares: %d %v", st, apiShare)
	}
	apiID := apiShare["id"].(string)
	res = r.cli(t, "list")
	if res.Err != nil || !strings.Contains(string(res.Stdout), cliID) || !strings.Contains(string(res.Stdout), apiID) || !strings.Contains(string(res.Stdout), "ab12") {
		t.Fatalf("share list: %v\n%s\n%s", res.Err, res.Stdout, res.Stderr)
	}

	t.Run("bad input", func(t *testing.T) {
		before := creates()
		for _, tc := range []struct {
			args []string
			says string
		}{
			{[]string{movies + "/lyrics.qrc"}, "refuses to share " + movies + "/lyrics.qrc"},
			{[]string{"--pwd", "abc", movies}, "4 letters or digits"},
			{[]string{"--pwd", "abcde", movies}, "4 letters or digits"},
			{[]string{"--expire", "2020-01-01", movies}, "in the past"},
			{[]string{r.other + "/Movies"}, "cannot make share links"},
			{[]string{"/nowhere/Movies"}, "is not on any mount"},
		} {
			res := r.cli(t, append([]string{"create"}, tc.args...)...)
			var said []string
			for _, line := range strings.Split(strings.TrimSpace(string(res.Stderr)), "\n") {
				if !strings.Contains(line, "through the running pandav") {
					said = append(said, line)
				}
			}
			if res.Code != 2 || len(said) != 1 || !strings.Contains(said[0], tc.says) || len(res.Stdout) != 0 {
				t.Errorf("share create %v: exit %d, %q; want 2 and one line saying %q", tc.args, res.Code, said, tc.says)
			}
		}
		if n := creates() - before; n != 0 {
			t.Errorf("bad requests reached the cloud's create %d times", n)
		}
		if st, out := r.apiCall(t, http.MethodGet, "shares", ""); st != 200 || len(out["shares"].([]any)) != 2 {
			t.Errorf("the links after the bad requests: %d %v", st, out)
		}
	})

	// Mount both by their pasted text, as a user would.
	if !r.p.Stop() {
		t.Fatal("pandav did not stop on SIGTERM")
	}
	r.writeConfig(t, map[string]string{"/share/cli": cliText, "/share/api": apiText})
	r.p = startServe(t, r.config)

	t.Run("rclone", func(t *testing.T) {
		out := runTool(t, 3*time.Minute, rcloneEnv(t), rclone, "lsl", rcloneRemote(r.p, "/share/cli"))
		if out.Err != nil {
			t.Fatalf("rclone lsl: %v\n%s", out.Err, tail(string(out.Stderr), 3000))
		}
		if got, want := lslSizes(out.Stdout), sizesUnder(t, r.host.Tree(), "Movies/"); !maps.Equal(got, want) {
			t.Errorf("rclone lists %v, want %v", got, want)
		}
		video := sample.Video()
		off, n := int64(len(video)/3), int64(50000)
		out = runTool(t, 2*time.Minute, rcloneEnv(t), rclone, "cat", "--offset", strconv.FormatInt(off, 10), "--count", strconv.FormatInt(n, 10),
			rcloneRemote(r.p, "/share/cli")+"Sample Video.mp4")
		if out.Err != nil || string(out.Stdout) != string(video[off:off+n]) {
			t.Errorf("rclone cat a range: %v, %d bytes differing at %d\n%s", out.Err, len(out.Stdout), firstDiff(out.Stdout, video[off:off+n]), tail(string(out.Stderr), 2000))
		}
	})

	t.Run("new code", func(t *testing.T) {
		res := r.cli(t, "update", cliID, "--pwd", "cd34")
		if res.Err != nil || !strings.Contains(string(res.Stdout), "提取码: cd34") {
			t.Fatalf("share update: %v\n%s\n%s", res.Err, res.Stdout, res.Stderr)
		}
		waitStatus(t, r.p.URL("/share/cli/"), http.StatusForbidden)
		if !strings.Contains(r.p.Stderr(), "the share's code (提取码, options.share_pwd) is wrong") {
			t.Errorf("the log does not say the code is wrong")
		}
	})

	t.Run("cancel", func(t *testing.T) {
		res := r.cli(t, "cancel", apiID)
		if res.Err != nil || strings.TrimSpace(string(res.Stdout)) != "cancelled "+apiID {
			t.Fatalf("share cancel: %v\n%s\n%s", res.Err, res.Stdout, res.Stderr)
		}
		waitStatus(t, r.p.URL("/share/api/"), http.StatusNotFound)
		if !strings.Contains(r.p.Stderr(), "aliyun share "+apiID+": the share was cancelled by its creator") {
			t.Errorf("the log does not say the share was cancelled")
		}
	})

	// With no server, the command opens the mounts itself.
	r.p.Stop()
	res = r.cli(t, "list")
	if res.Err != nil || !strings.Contains(string(res.Stdout), cliID) || strings.Contains(string(res.Stdout), apiID) || strings.Contains(string(res.Stderr), "through the running pandav") {
		t.Errorf("share list without a server: %v\n%s\n%s", res.Err, res.Stdout, res.Stderr)
	}
	if strings.Contains(r.p.Stderr(), "ab12") || strings.Contains(r.p.Stderr(), "cd34") {
		t.Errorf("a share's code is in pandav's log")
	}
}

// TestSharePreviewWhenDriveFull: with the account's drive full, the
// share's video cannot be copied to play; its GET says to play the
// preview listed beside it, which ffprobe and ffmpeg play from the
// mount while its segments' URLs expire and are renewed.
func TestSharePreviewWhenDriveFull(t *testing.T) {
	t.Parallel()
	ffprobe := needTool(t, "ffprobe")
	ffmpeg := needTool(t, "ffmpeg")
	r := startOwnShares(t)
	const shareID = "pandavSharePreview"
	if err := sample.Fill(r.host.Sharer()); err != nil {
		t.Fatal(err)
	}
	movies, err := r.host.Sharer().Lookup("/Movies")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.host.AddShare(shareID, shareCode, movies.ID); err != nil {
		t.Fatal(err)
	}
	r.p.Stop()
	r.writeConfig(t, map[string]string{"/share/films": "https://www.alipan.com/s/" + shareID + " 提取码: " + shareCode})
	r.p = startServe(t, r.config)
	p := r.p
	r.host.SetSpace(r.host.Tree().Usage())
	copies := func() int64 { return r.host.Counters().Get("file/copy") }

	for range 2 {
		resp, body := davDo(t, "GET", p.URL("/share/films/Sample Video.mp4"), nil, "")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Sample Video.mp4.preview.m3u8") ||
			!strings.Contains(string(body), "full") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("GET of the video: %s %q", resp.Status, body)
		}
	}
	if copies() == 0 || (&shareRig{host: r.host}).tempCopies() != 0 {
		t.Errorf("the copy was asked %d times and left %d copies; want a refused copy", copies(), (&shareRig{host: r.host}).tempCopies())
	}
	if n := strings.Count(p.Stderr(), "play through their transcoded previews"); n != 1 {
		t.Errorf("the log says the drive is full %d times, want once", n)
	}
	names := childNames(t, propfind(t, p.URL("/share/films/"), "1"), "/share/films/")
	if _, ok := names["Sample Video.mp4.preview.m3u8"]; !ok {
		t.Fatalf("the share lists %v", names)
	}

	u := p.URL("/share/films/Sample Video.mp4.preview.m3u8")
	res := runTool(t, time.Minute, nil, ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "default=nw=1", u)
	if res.Err != nil || len(res.Stderr) > 0 || !strings.Contains(string(res.Stdout), "codec_type=video") {
		t.Fatalf("ffprobe of the preview: %v\n%s\n%s", res.Err, res.Stdout, res.Stderr)
	}
	playInfo := func() int64 { return r.host.Counters().Get("v2/file/get_share_link_video_preview_play_info") }
	before := playInfo()
	r.host.ExpirePreviewsAfter(2)
	for _, args := range [][]string{{"-ss", "3", "-i", u, "-f", "null", "-"}, {"-ss", "7", "-i", u, "-frames:v", "1", "-f", "null", "-"}} {
		res := runTool(t, time.Minute, nil, ffmpeg, append([]string{"-nostdin", "-v", "error"}, args...)...)
		if res.Err != nil || len(strings.TrimSpace(string(res.Stderr))) > 0 {
			t.Errorf("ffmpeg %v: %v\n%s", args, res.Err, res.Stderr)
		}
	}
	if playInfo() == before {
		t.Errorf("the preview's URLs expired in the middle and were not renewed")
	}
	if n := r.host.Counters().Get("preview/segment"); n < 6 {
		t.Errorf("%d segments fetched from the cloud", n)
	}
	if strings.Contains(p.Stderr(), shareCode) {
		t.Errorf("the share's code is in pandav's log")
	}
}
