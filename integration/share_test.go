package integration

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
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

// shareHost is a cloud whose users share folders by link, with the
// knobs these tests turn; the tests play its shares through its driver's
// share mounts.
type shareHost interface {
	fakecloud.Cloud
	demo.ShareHost
	CancelShare(shareID string)
	ExpireShare(shareID string)
}

// shareRig is a share host's emulator, with the sharer's tree and its
// shares, and pandav on it.
type shareRig struct {
	host shareHost
	p    *pandavProc
	cfg  string // the config pandav serves
}

// shareConfig mounts the host's account, with what it needs to play
// shares, and the four shares, each given as the text a user pastes.
func shareConfig(c *clouds, host shareHost, stateDir string) string {
	account := demo.CloudMount(host, c.rt[host.Name()])
	maps.Copy(account.Options, host.ShareAccountOptions())
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %s\nlog: {level: debug, format: json}\nmounts:\n", yamlQuote(stateDir)) + account.YAML()
	for _, sh := range []struct{ path, id, code string }{
		{"/share/demo", shareDemoID, shareCode},
		{"/share/wrong-code", shareWrongCodeID, "zz99"},
		{"/share/cancelled", shareCancelledID, shareCode},
		{"/share/expired", shareExpiredID, shareCode},
	} {
		driver, options := host.ShareMount(sh.id, sh.code, account.Path)
		delete(options, "share_id")
		delete(options, "share_pwd")
		options["share_url"] = "「Movies」https://www.alipan.com/s/" + sh.id + " 提取码: " + sh.code + "\n点击链接保存"
		options["temp_copy_linger"] = shareLinger.String()
		yaml += demo.Mount{Path: sh.path, Driver: driver, Options: options}.YAML()
	}
	return yaml
}

// startShares starts the emulators, fills the first share host's sharer
// with the sample tree, shares its Movies folder four times (share
// download dead, the emulator's default), and starts pandav on it. A test
// is skipped when no cloud has share links.
func startShares(t *testing.T) (*shareRig, fakecloud.Blob) {
	t.Helper()
	c := startClouds(t, cloudOptions{})
	var host shareHost
	for _, cl := range c.Each() {
		if h, ok := cl.(shareHost); ok {
			host = h
			break
		}
	}
	if host == nil {
		t.Skip("no cloud has share links")
	}
	if err := sample.Fill(host.Sharer()); err != nil {
		t.Fatal(err)
	}
	extra := fakecloud.NewSeededBlob(0x5ba2e, 5<<20+17, "")
	if _, err := host.Sharer().PutPath(shareExtraPath, extra); err != nil {
		t.Fatal(err)
	}
	movies, err := host.Sharer().Lookup("/Movies")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{shareDemoID, shareWrongCodeID, shareCancelledID, shareExpiredID} {
		if err := host.AddShare(id, shareCode, movies.ID); err != nil {
			t.Fatal(err)
		}
	}
	host.CancelShare(shareCancelledID)
	host.ExpireShare(shareExpiredID)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(shareConfig(c, host, filepath.Join(dir, "state"))), 0o600); err != nil {
		t.Fatal(err)
	}
	return &shareRig{host: host, p: startServe(t, cfg), cfg: cfg}, extra
}

// tempCopies counts the copies in the account's hidden temp folder.
func (r *shareRig) tempCopies() int {
	dir, err := r.host.Tree().Lookup("/.pandav-share-tmp")
	if err != nil {
		return 0
	}
	kids, _ := r.host.Tree().Children(dir.ID)
	return len(kids)
}

// waitNoTempCopies waits out the linger: every copy must be deleted for
// good once its last reader has gone.
func (r *shareRig) waitNoTempCopies(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for r.tempCopies() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d temporary copies are left 60 s after the last reader closed", r.tempCopies())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if used := r.host.Tree().Usage(); used != fileSizesTotal(t, r.host.Tree()) {
		t.Fatalf("the account's drive holds %d bytes, its files %d: copies went to the recycle bin", used, fileSizesTotal(t, r.host.Tree()))
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
	rig, extra := startShares(t)
	p := rig.p
	// The share host counts each save of a shared file into the account
	// as its web API's "file/copy".
	copies := func() int64 { return rig.host.Counters().Get("file/copy") }

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
		// pandav check says the same of each share, through the server.
		code, rep, _ := checkJSON(t, "-c", rig.cfg)
		if r := row(t, rep, "/share/demo"); code != 1 || !r.OK || !r.ShareOK || !strings.HasPrefix(r.Share, "ok") {
			t.Errorf("check: exit %d, /share/demo %+v", code, r)
		}
		for _, tc := range []struct{ mount, says string }{
			{"/share/wrong-code", "提取码"}, {"/share/cancelled", "cancelled by its creator"}, {"/share/expired", "has expired"},
		} {
			if r := row(t, rep, tc.mount); r.OK || r.ShareOK || !strings.Contains(r.Share, tc.says) || !strings.Contains(r.Problem, tc.says) {
				t.Errorf("check of %s: %+v; want it failed, saying %q", tc.mount, r, tc.says)
			}
		}
		if strings.Contains(p.Stderr(), shareCode) {
			t.Errorf("a share's code is in pandav's log")
		}
		for _, mount := range []string{demo.MountPath(rig.host), "/share/demo"} {
			propfind(t, p.URL(mount+"/"), "1")
		}
		ms := propfind(t, p.URL("/"), "1")
		if names := childNames(t, ms, "/"); !names[rig.host.Name()] || !names["share"] {
			t.Errorf("the root lists %v", names)
		}
	})

	t.Run("rclone", func(t *testing.T) {
		r := runTool(t, 3*time.Minute, rcloneEnv(t), rclone, "lsl", rcloneRemote(p, "/share/demo"))
		if r.Err != nil {
			t.Fatalf("rclone lsl: %v\n%s", r.Err, tail(string(r.Stderr), 3000))
		}
		got, want := lslSizes(r.Stdout), sizesUnder(t, rig.host.Sharer(), "Movies/")
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
		rig.waitNoTempCopies(t)
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
		rig.waitNoTempCopies(t)
	})
	if n := rig.host.Counters().Get("v2/file/get_share_link_download_url"); n != 1 {
		t.Errorf("the dead share download was asked %d times, want once", n)
	}
}

// TestDemoShare: `pandav demo` mounts a share of the sample Movies folder,
// with a code, at /share/demo, and plays it.
func TestDemoShare(t *testing.T) {
	t.Parallel()
	p := startPandav(t, "demo")
	names := childNames(t, propfind(t, p.URL(demo.SharePath+"/"), "1"), demo.SharePath+"/")
	if _, ok := names["Sample Video.mp4"]; !ok {
		t.Fatalf("/share/demo/ lists %v", names)
	}
	resp, body := davDo(t, "GET", p.URL(demo.SharePath+"/Sample Video.mp4"), nil, "")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, sample.Video()) {
		t.Fatalf("GET the shared video: %s, %d bytes", resp.Status, len(body))
	}
}
