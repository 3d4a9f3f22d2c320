package integration

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
)

const (
	roundTripFiles = 1000
	bigUploadSize  = 1 << 30
	// rssLimit is the most pandav may hold resident while a 1 GiB file
	// goes through it.
	rssLimit = 128 << 20
)

// TestRcloneRoundTrip copies a tree of 1,000 small files and one 1 GiB
// file to each mount with rclone, checks it by downloading, copies it
// back, changes it locally (modify, add, delete) and syncs, then checks
// again; the cloud's own tree must match the local one byte for byte.
// pandav's peak RSS during the 1 GiB upload is measured. The drivers' and
// emulators' rate limits are raised: the real limits are exercised by the
// throttle tests, and 1,000 files at 1-4 calls per second would take
// minutes.
func TestRcloneRoundTrip(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	src := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range roundTripFiles {
		writeRandom(t, filepath.Join(src, "small", fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.bin", i)), 1+rng.IntN(8192), rng)
	}
	big := fakecloud.NewSeededBlob(0xb16, bigUploadSize, "")
	writeBlob(t, filepath.Join(src, "big.bin"), big)

	c := fastClouds(t, nil)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			// One pandav per mount, so that its peak RSS is the upload's.
			cfg, _ := c.WriteConfigWith(t, serveOptions{Fast: true})
			p := startServe(t, cfg)
			// Each mount gets its own copy, changed independently below.
			local := filepath.Join(t.TempDir(), "src")
			copyTree(t, src, local)
			remote := rcloneRemote(p, demo.MountPath(cl)) + "RoundTrip"
			env := rcloneEnv(t)
			rcl := func(what string, args ...string) {
				t.Helper()
				start := time.Now()
				args = append(args, "--retries", "1", "--transfers", "8", "--checkers", "8")
				r := runTool(t, 4*time.Minute, env, rclone, args...)
				if r.Err != nil {
					t.Fatalf("rclone %s: %v\n%s", what, r.Err, tail(string(r.Stderr), 4000))
				}
				t.Logf("rclone %s: %s", what, time.Since(start).Round(100*time.Millisecond))
			}

			rcl("copy (small files)", "copy", local, remote, "--exclude", "/big.bin")
			resetPeakRSS(t, p.cmd.Process.Pid)
			before := peakRSS(t, p.cmd.Process.Pid)
			rcl("copy (1 GiB)", "copy", local, remote, "--include", "/big.bin")
			peak := peakRSS(t, p.cmd.Process.Pid)
			t.Logf("%s: pandav peak RSS during the 1 GiB upload: %.1f MiB (%.1f MiB before it)", cl.Name(), float64(peak)/(1<<20), float64(before)/(1<<20))
			if peak > rssLimit {
				t.Errorf("peak RSS %d MiB during the upload, want under %d MiB", peak>>20, rssLimit>>20)
			}
			if got := cl.UploadedBytes(); got < bigUploadSize {
				t.Errorf("the cloud's object store received %d bytes, less than the 1 GiB file", got)
			}
			checkCloudTree(t, cl.Tree(), "/RoundTrip", local)
			rcl("check --download", "check", "--download", local, remote)

			back := filepath.Join(t.TempDir(), "back")
			rcl("copy back", "copy", remote, back)
			compareTrees(t, local, back)

			changeTree(t, local, rand.New(rand.NewPCG(uint64(len(cl.Name())), 3)))
			rcl("sync", "sync", local, remote)
			checkCloudTree(t, cl.Tree(), "/RoundTrip", local)
			rcl("check --download after sync", "check", "--download", local, remote)
		})
	}
}

// changeTree modifies, adds and deletes files: 30 of each. A modified
// file changes size too, as a plain WebDAV remote compares sizes only.
func changeTree(t *testing.T, root string, rng *rand.Rand) {
	t.Helper()
	for i := 0; i < 90; i++ {
		n := i * 10
		name := filepath.Join(root, "small", fmt.Sprintf("d%02d", n%20), fmt.Sprintf("f%04d.bin", n))
		switch i % 3 {
		case 0:
			writeRandom(t, name, 9000+rng.IntN(4000), rng)
		case 1:
			if err := os.Remove(name); err != nil {
				t.Fatal(err)
			}
		case 2:
			writeRandom(t, filepath.Join(root, "small", "added", fmt.Sprintf("new%03d.bin", i)), 1+rng.IntN(8192), rng)
		}
	}
}

func writeRandom(t testing.TB, name string, n int, rng *rand.Rand) {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	// A new inode: name may be a hard link shared with another tree.
	os.Remove(name)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeBlob(t testing.TB, name string, b fakecloud.Blob) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, io.NewSectionReader(b, 0, b.Size())); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies src to dst, hard-linking files where it can.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if os.Link(p, to) == nil {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// localHashes maps every file under root (slash path) to its SHA1.
func localHashes(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha1.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareTrees(t testing.TB, want, got string) {
	t.Helper()
	diffHashes(t, "copied back", localHashes(t, want), localHashes(t, got))
}

// cloudHashes maps every live file under dir in tr to its content SHA1.
func cloudHashes(t testing.TB, tr *fakecloud.Tree, dir string) map[string]string {
	t.Helper()
	n, err := tr.Lookup(dir)
	if err != nil {
		t.Fatalf("%s is not in the cloud: %v", dir, err)
	}
	out := map[string]string{}
	var walk func(id, prefix string)
	walk = func(id, prefix string) {
		kids, err := tr.Children(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			if k.IsDir {
				walk(k.ID, prefix+k.Name+"/")
				continue
			}
			if k.Blob.SHA1() == "" {
				continue // an upload not completed, which the cloud hides
			}
			if _, dup := out[prefix+k.Name]; dup {
				t.Errorf("the cloud holds two files called %s%s", prefix, k.Name)
			}
			out[prefix+k.Name] = strings.ToUpper(k.Blob.SHA1())
		}
	}
	walk(n.ID, "")
	return out
}

// checkCloudTree compares the cloud's files under dir with a local tree.
func checkCloudTree(t testing.TB, tr *fakecloud.Tree, dir, local string) {
	t.Helper()
	diffHashes(t, "in the cloud", localHashes(t, local), cloudHashes(t, tr, dir))
}

func diffHashes(t testing.TB, where string, want, got map[string]string) {
	t.Helper()
	bad := 0
	for p, h := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s missing %s", p, where)
			bad++
		case g != h:
			t.Errorf("%s differs %s (SHA1 %s, want %s)", p, where, g, h)
			bad++
		}
		if bad > 10 {
			t.Fatalf("too many differences")
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s is %s but not in the local tree", p, where)
		}
	}
}
