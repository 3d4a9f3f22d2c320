package integration

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

var lslLine = regexp.MustCompile(`^\s*(\d+) (\S+) (\S+) (.+)$`)

// TestRcloneLsl lists the whole sample tree through each mount with rclone
// and compares every path and size with the emulator's tree.
func TestRcloneLsl(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			r := runTool(t, 3*time.Minute, rcloneEnv(t), rclone, "lsl", rcloneRemote(p, demo.MountPath(cl)))
			if r.Err != nil {
				t.Fatalf("rclone lsl: %v\n%s", r.Err, tail(string(r.Stderr), 3000))
			}
			got := map[string]int64{}
			for _, line := range strings.Split(strings.TrimRight(string(r.Stdout), "\n"), "\n") {
				m := lslLine.FindStringSubmatch(line)
				if m == nil {
					t.Errorf("unexpected lsl line %q", line)
					continue
				}
				size, _ := strconv.ParseInt(m[1], 10, 64)
				got[m[4]] = size
			}
			want := fileSizes(t, cl.Tree())
			for path, size := range want {
				g, ok := got[path]
				switch {
				case !ok:
					t.Errorf("rclone did not list %q", path)
				case g != size:
					t.Errorf("%q: rclone says %d bytes, want %d", path, g, size)
				}
			}
			for path := range got {
				if _, ok := want[path]; !ok {
					t.Errorf("rclone listed %q, which is not in the drive", path)
				}
			}
			many := 0
			for path := range got {
				if strings.HasPrefix(path, strings.TrimPrefix(sample.ManyDir, "/")+"/") {
					many++
				}
			}
			if many != sample.ManyCount {
				t.Errorf("%d files listed in %s, want %d", many, sample.ManyDir, sample.ManyCount)
			}
			for _, p := range []string{sample.UnicodePath, sample.BigPath, sample.VideoPath} {
				if _, ok := got[strings.TrimPrefix(p, "/")]; !ok {
					t.Errorf("%s missing from the listing", p)
				}
			}
			if got[strings.TrimPrefix(sample.BigPath, "/")] != sample.BigFileSize {
				t.Errorf("big file size %d, want %d", got[strings.TrimPrefix(sample.BigPath, "/")], int64(sample.BigFileSize))
			}
		})
	}
}

// TestRcloneCatRanges reads ranges of the 4 GiB file with rclone cat and
// compares them byte by byte with the generated content.
func TestRcloneCatRanges(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	big := sample.BigFile()
	size := big.Size()
	ranges := []struct{ off, n int64 }{
		{0, 1 << 20},
		{123457, 65537},
		{1_000_000_007, 1 << 20},
		{size/2 - 4096, 300_001},
		{size - 1<<20, 1 << 20},
		{size - 1000, 1000},
	}
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			for _, rg := range ranges {
				remote := rcloneRemote(p, demo.MountPath(cl)) + strings.TrimPrefix(sample.BigPath, "/")
				r := runTool(t, 2*time.Minute, rcloneEnv(t), rclone, "cat", "--low-level-retries", "1",
					"--offset", strconv.FormatInt(rg.off, 10), "--count", strconv.FormatInt(rg.n, 10), remote)
				if r.Err != nil {
					t.Fatalf("rclone cat at %d: %v\n%s", rg.off, r.Err, tail(string(r.Stderr), 3000))
				}
				want := make([]byte, rg.n)
				if _, err := big.ReadAt(want, rg.off); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if !bytes.Equal(r.Stdout, want) {
					t.Errorf("range %d+%d: got %d bytes, differing from the generated content at byte %d",
						rg.off, rg.n, len(r.Stdout), firstDiff(r.Stdout, want))
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestRcloneCatAcrossExpiry streams a 200 MiB file slowly enough that
// several access tokens and download links expire during the read; the
// content must arrive whole and rclone must succeed.
func TestRcloneCatAcrossExpiry(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	const path = "/Expiry/slow-200MiB.bin"
	blob := fakecloud.NewSeededBlob(0x5eed, 200<<20, "")
	c := startClouds(t, cloudOptions{
		Options: fakecloud.Options{AccessTTL: 2 * time.Second, LinkTTL: 2 * time.Second},
		Extra:   map[string]fakecloud.Blob{path: blob},
	})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	want := blob.SHA1()
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			refreshes := cl.Counters().Get(cl.Endpoints().Refresh)
			sum, n, stderr, err := rcloneCatSHA1(t, rclone, rcloneRemote(p, demo.MountPath(cl))+strings.TrimPrefix(path, "/"),
				"--bwlimit", "25M", "--low-level-retries", "1")
			if err != nil {
				t.Fatalf("rclone cat: %v\n%s", err, tail(stderr, 3000))
			}
			if n != blob.Size() || sum != want {
				t.Fatalf("got %d bytes with SHA1 %s, want %d bytes with SHA1 %s", n, sum, blob.Size(), want)
			}
			t.Logf("%s: %d refreshes and %d link calls during the read", cl.Name(),
				cl.Counters().Get(cl.Endpoints().Refresh)-refreshes, cl.Counters().Get(cl.Endpoints().Link))
			if cl.Counters().Get(cl.Endpoints().Refresh) == refreshes {
				t.Errorf("no token refresh happened during the read; the test did not span an expiry")
			}
			if cl.Login().Reuses() != 0 {
				t.Errorf("a spent refresh token was reused %d times", cl.Login().Reuses())
			}
		})
	}
}

// rcloneCatSHA1 runs rclone cat and hashes its output as it streams.
func rcloneCatSHA1(t testing.TB, rclone, remote string, flags ...string) (sum string, n int64, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(rclone, append(append([]string{"cat"}, flags...), remote)...)
	cmd.Env = append(os.Environ(), rcloneEnv(t)...)
	return outputSHA1(t, cmd, 3*time.Minute)
}

// outputSHA1 runs cmd and hashes its standard output as it streams, for
// reads too big to hold; a run past timeout fails the test.
func outputSHA1(t testing.TB, cmd *exec.Cmd, timeout time.Duration) (sum string, n int64, stderr string, err error) {
	t.Helper()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); cmd.Process.Kill() })
	h := sha1.New()
	n, copyErr := io.Copy(h, out)
	err = cmd.Wait()
	if !timer.Stop() && timedOut.Load() {
		t.Fatalf("%s: timed out after %s", cmd.Path, timeout)
	}
	if err == nil && copyErr != nil {
		err = fmt.Errorf("reading %s's output: %w", cmd.Path, copyErr)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), n, errb.String(), err
}
