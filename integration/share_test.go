package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// The share mounts of TestShareMounts, all of the same sharer's Movies
// folder: one that plays, and three that cannot.
const (
	shareDemoID      = "pandavShareOK"
	shareWrongCodeID = "pandavShareWrongCode"
	shareCancelledID = "pandavShareCancelled"
	shareExpiredID   = "pandavShareExpired"
	shareCode        = "ab12"
	// shareLinger is temp_copy_linger: long beside the gaps between the
	// client runs of one phase, short to wait out between phases.
	shareLinger = 4 * time.Second
	// shareExtraPath is a shared file of more than one stream chunk.
	shareExtraPath = "/Movies/extra 5MiB.bin"
)

// shareConfig mounts /aliyun, with the web login share playback needs,
// and the four shares.
func shareConfig(c *clouds, stateDir string) string {
	ali := c.Ali
	mount := func(path, id, code string) string {
		return fmt.Sprintf(`  - path: %s
    driver: aliyun-share
    options:
      share_url: %q
      account: /aliyun
      web_api_url: %q
      temp_copy_linger: %s
`, path, "「Movies」https://www.alipan.com/s/"+id+" 提取码: "+code+"\n点击链接保存", ali.URL(), shareLinger)
	}
	return fmt.Sprintf(`listen: 127.0.0.1:0
state_dir: %s
log: {level: debug, format: json}
mounts:
  - path: /aliyun
    driver: aliyun
    options:
      refresh_token: %q
      client_id: %q
      client_secret: %q
      open_api_url: %q
      web_refresh_token: %q
      web_api_url: %q
      auth_url: %q
`, yamlQuote(stateDir), c.AliRT, ali.ClientID(), ali.ClientSecret(), ali.URL(), ali.NewWebRefreshToken(), ali.URL(), ali.AuthURL()) +
		mount("/share/demo", shareDemoID, shareCode) +
		mount("/share/wrong-code", shareWrongCodeID, "zz99") +
		mount("/share/cancelled", shareCancelledID, shareCode) +
		mount("/share/expired", shareExpiredID, shareCode)
}

// startShares starts the emulators with the sharer's tree and its shares,
// share download dead (the emulator's default), and pandav on them.
func startShares(t *testing.T) (*clouds, *pandavProc, fakecloud.Blob) {
	t.Helper()
	c := startClouds(t, cloudOptions{})
	ali := c.Ali
	if err := sample.Fill(ali.Sharer); err != nil {
		t.Fatal(err)
	}
	extra := fakecloud.NewSeededBlob(0x5ba2e, 5<<20+17, "")
	if _, err := ali.Sharer.PutPath(shareExtraPath, extra); err != nil {
		t.Fatal(err)
	}
	movies, err := ali.Sharer.Lookup("/Movies")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{shareDemoID, shareWrongCodeID, shareCancelledID, shareExpiredID} {
		if err := ali.AddShare(id, shareCode, movies.ID); err != nil {
			t.Fatal(err)
		}
	}
	ali.CancelShare(shareCancelledID)
	ali.ExpireShare(shareExpiredID)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(shareConfig(c, filepath.Join(dir, "state"))), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, startServe(t, cfg), extra
}

// tempCopies counts the copies in the account's hidden temp folder.
func tempCopies(c *clouds) int {
	dir, err := c.Ali.Tree.Lookup("/.pandav-share-tmp")
	if err != nil {
		return 0
	}
	kids, _ := c.Ali.Tree.Children(dir.ID)
	return len(kids)
}

// waitNoTempCopies waits out the linger: every copy must be deleted for
// good once its last reader has gone.
func waitNoTempCopies(t *testing.T, c *clouds) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for tempCopies(c) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d temporary copies are left 60 s after the last reader closed", tempCopies(c))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if used := c.Ali.Tree.Usage(); used != fileSizesTotal(t, c.Ali.Tree) {
		t.Fatalf("the account's drive holds %d bytes, its files %d: copies went to the recycle bin", used, fileSizesTotal(t, c.Ali.Tree))
	}
}

func fileSizesTotal(t *testing.T, tr *fakecloud.Tree) int64 {
	var n int64
	for _, s := range fileSizes(t, tr) {
		n += s
	}
	return n
}

// TestShareMounts plays a share with a code through pandav, with the
// share's own download dead: rclone lists and reads it byte-exact and
// ffprobe seeks in its video, one temporary copy per file however many
// seeks, none left after the linger. Three dead shares each say why in
// the log and answer 403 or 404, while the other mounts keep serving.
func TestShareMounts(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	ffprobe := needTool(t, "ffprobe")
	ffmpeg := needTool(t, "ffmpeg")
	c, p, extra := startShares(t)
	copies := func() int64 { return c.Ali.Counters.Get("file/copy") }

	t.Run("dead shares", func(t *testing.T) {
		for _, tc := range []struct {
			mount  string
			status int
			says   string
		}{
			{"/share/wrong-code", http.StatusForbidden, "提取码"},
			{"/share/cancelled", http.StatusNotFound, "cancelled by its creator"},
			{"/share/expired", http.StatusNotFound, "has expired"},
		} {
			resp, body := davDo(t, "PROPFIND", p.URL(tc.mount+"/"), map[string]string{"Depth": "1"}, "")
			if resp.StatusCode != tc.status {
				t.Errorf("PROPFIND %s: %s, want %d\n%s", tc.mount, resp.Status, tc.status, tail(string(body), 500))
			}
			if !strings.Contains(p.Stderr(), tc.says) {
				t.Errorf("pandav's log does not say %q for %s", tc.says, tc.mount)
			}
			resp, _ = davDo(t, "GET", p.URL(tc.mount+"/Sample Video.mp4"), nil, "")
			if resp.StatusCode != tc.status {
				t.Errorf("GET in %s: %s, want %d", tc.mount, resp.Status, tc.status)
			}
		}
		if strings.Contains(p.Stderr(), shareCode) {
			t.Errorf("a share's code is in pandav's log")
		}
		for _, mount := range []string{"/aliyun", "/share/demo"} {
			propfind(t, p.URL(mount+"/"), "1")
		}
		ms := propfind(t, p.URL("/"), "1")
		if names := childNames(t, ms, "/"); !names["aliyun"] || !names["share"] {
			t.Errorf("the root lists %v", names)
		}
	})

	t.Run("rclone", func(t *testing.T) {
		r := runTool(t, 3*time.Minute, rcloneEnv(t), rclone, "lsl", rcloneRemote(p, "/share/demo"))
		if r.Err != nil {
			t.Fatalf("rclone lsl: %v\n%s", r.Err, tail(string(r.Stderr), 3000))
		}
		got := map[string]int64{}
		for _, line := range strings.Split(strings.TrimRight(string(r.Stdout), "\n"), "\n") {
			if m := lslLine.FindStringSubmatch(line); m != nil {
				size, _ := strconv.ParseInt(m[1], 10, 64)
				got[m[4]] = size
			}
		}
		want := map[string]int64{}
		for path, size := range fileSizes(t, c.Ali.Sharer) {
			if rest, ok := strings.CutPrefix(path, "Movies/"); ok {
				want[rest] = size
			}
		}
		if len(got) != len(want) {
			t.Errorf("rclone listed %v, want %v", got, want)
		}
		for path, size := range want {
			if got[path] != size {
				t.Errorf("%q: rclone says %d bytes, want %d", path, got[path], size)
			}
		}
		if copies() != 0 {
			t.Errorf("listing made %d copies", copies())
		}

		video := fakecloud.BytesBlob(sample.Video())
		for _, f := range []struct {
			name string
			blob fakecloud.Blob
		}{{"Sample Video.mp4", video}, {strings.TrimPrefix(shareExtraPath, "/Movies/"), extra}} {
			size := f.blob.Size()
			for _, rg := range [][2]int64{{0, 1000}, {size / 3, 4096}, {size - 70000, 70000}, {12345, size - 12345}} {
				r := runTool(t, 2*time.Minute, rcloneEnv(t), rclone, "cat", "--low-level-retries", "1",
					"--offset", strconv.FormatInt(rg[0], 10), "--count", strconv.FormatInt(rg[1], 10),
					rcloneRemote(p, "/share/demo")+f.name)
				if r.Err != nil {
					t.Fatalf("rclone cat %s at %d: %v\n%s", f.name, rg[0], r.Err, tail(string(r.Stderr), 3000))
				}
				want := make([]byte, rg[1])
				if _, err := f.blob.ReadAt(want, rg[0]); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if !bytes.Equal(r.Stdout, want) {
					t.Errorf("%s %d+%d: got %d bytes, differing at byte %d", f.name, rg[0], rg[1], len(r.Stdout), firstDiff(r.Stdout, want))
				}
			}
		}
		if n := copies(); n != 2 {
			t.Errorf("%d copies for 2 files read 4 times each, want 2", n)
		}
		waitNoTempCopies(t, c)
	})

	t.Run("ffprobe", func(t *testing.T) {
		before := copies()
		u := p.URL("/share/demo/Sample Video.mp4")
		r := runTool(t, time.Minute, nil, ffprobe, "-v", "error", "-show_entries",
			"format=duration:stream=codec_type,codec_name", "-of", "default=nw=1", u)
		if r.Err != nil || len(r.Stderr) > 0 || !strings.Contains(string(r.Stdout), "codec_type=video") {
			t.Fatalf("ffprobe: %v\n%s\n%s", r.Err, r.Stdout, r.Stderr)
		}
		r = runTool(t, time.Minute, nil, ffprobe, "-v", "error", "-read_intervals", "5%+2",
			"-show_packets", "-select_streams", "v:0", u)
		if r.Err != nil || len(r.Stderr) > 0 || !strings.Contains(string(r.Stdout), "[PACKET]") {
			t.Fatalf("ffprobe -read_intervals: %v\n%s", r.Err, r.Stderr)
		}
		for _, at := range []string{"1.5", "9.25", "4", "0.5", "11"} {
			r := runTool(t, time.Minute, nil, ffmpeg, "-nostdin", "-v", "error", "-ss", at, "-i", u,
				"-frames:v", "1", "-f", "null", "-")
			if r.Err != nil || len(strings.TrimSpace(string(r.Stderr))) > 0 {
				t.Errorf("ffmpeg -ss %s: %v\n%s", at, r.Err, r.Stderr)
			}
		}
		if n := copies() - before; n != 1 {
			t.Errorf("%d copies of the video for 7 probes and seeks, want 1", n)
		}
		waitNoTempCopies(t, c)
	})
	if n := c.Ali.Counters.Get("v2/file/get_share_link_download_url"); n != 1 {
		t.Errorf("the dead share download was asked %d times, want once", n)
	}
}

// TestDemoShare: `pandav demo` mounts a share of the sample Movies folder,
// with a code, at /share/demo, and plays it.
func TestDemoShare(t *testing.T) {
	t.Parallel()
	p := startPandav(t, "demo")
	names := childNames(t, propfind(t, p.URL("/share/demo/"), "1"), "/share/demo/")
	if _, ok := names["Sample Video.mp4"]; !ok {
		t.Fatalf("/share/demo/ lists %v", names)
	}
	resp, body := davDo(t, "GET", p.URL("/share/demo/Sample Video.mp4"), nil, "")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, sample.Video()) {
		t.Fatalf("GET the shared video: %s, %d bytes", resp.Status, len(body))
	}
}
