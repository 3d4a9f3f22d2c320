package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// rcloneMount is a pandav mount mounted with `rclone mount` over FUSE.
type rcloneMount struct {
	Dir string // where it is mounted
	cmd *exec.Cmd
	log string // rclone's log file
}

// needFUSE fails (under CI) or skips a test that mounts, unless the
// kernel's FUSE device and fusermount3 are there.
func needFUSE(t testing.TB) {
	t.Helper()
	needTool(t, "fusermount3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("/dev/fuse is missing (CI is set): %v", err)
		}
		t.Skipf("/dev/fuse is missing: %v", err)
	}
}

// mountRclone mounts the pandav mount at url with rclone in the given
// --vfs-cache-mode, and unmounts it when the test ends.
func mountRclone(t testing.TB, rclone, url, cacheMode string, extra ...string) *rcloneMount {
	t.Helper()
	dir := t.TempDir()
	m := &rcloneMount{Dir: filepath.Join(dir, "mnt"), log: filepath.Join(dir, "rclone.log")}
	os.Mkdir(m.Dir, 0o755)
	args := append([]string{"mount", `:webdav,url="` + url + `",vendor=other:`, m.Dir,
		"--vfs-cache-mode", cacheMode, "--cache-dir", filepath.Join(dir, "cache"),
		// A write-back soon after close, so the cloud holds a closed file
		// soon; not at once: rclone 1.60 then races a rename that
		// follows the close (sed -i's), and uploads the old name.
		"--vfs-write-back", "2s",
		"--dir-cache-time", "5m", "--log-file", m.log, "--log-level", "INFO"}, extra...)
	m.cmd = exec.Command(rclone, args...)
	m.cmd.Env = append(os.Environ(), rcloneEnv(t)...)
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- m.cmd.Wait() }()
	t.Cleanup(func() {
		exec.Command("fusermount3", "-u", m.Dir).Run()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			m.cmd.Process.Kill()
			exec.Command("fusermount3", "-uz", m.Dir).Run()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(m.log)
			t.Logf("rclone log (tail):\n%s", tail(string(b), 4000))
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if mounted(m.Dir) {
			return m
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(m.log)
			t.Fatalf("rclone mount exited: %v\n%s", err, tail(string(b), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rclone did not mount %s within 30s", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mounted says whether a FUSE file system is mounted at dir.
func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == dir && strings.HasPrefix(f[2], "fuse") {
			return true
		}
	}
	return false
}

// rcloneErrors are the ERROR lines of the mount's log.
func (m *rcloneMount) errors() []string {
	b, _ := os.ReadFile(m.log)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, " ERROR ") {
			out = append(out, l)
		}
	}
	return out
}

// mountTree writes the workload's tree of n files into dir: nested
// folders, Chinese, emoji and space names, sizes from empty to a few
// hundred KiB. It returns its bytes.
func mountTree(t testing.TB, dir string, n int) int64 {
	t.Helper()
	folders := []string{"", "文档", "文档/子目录 二", "photos 📷", "photos 📷/2024 夏天", "a b/c d"}
	names := []string{"报告 %03d.txt", "emoji 🎉 %03d.bin", "plain %03d.dat", "空 格 %03d.md"}
	var total int64
	for i := 0; i < n; i++ {
		rel := filepath.Join(folders[i%len(folders)], fmt.Sprintf(names[i%len(names)], i))
		size := int64((i * 7919) % (300 << 10))
		if i%17 == 0 {
			size = 0
		}
		b := make([]byte, size)
		fakecloud.NewSeededBlob(uint64(1000+i), size, "").ReadAt(b, 0)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
		total += size
	}
	return total
}

// cloudSums maps every live file below the cloud folder at p to its
// SHA1, or reports that p is missing.
func cloudSums(tr *fakecloud.Tree, p string) (map[string]string, error) {
	root, err := tr.Lookup(p)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(id, prefix string)
	walk = func(id, prefix string) {
		kids, _ := tr.Children(id)
		for _, k := range kids {
			if k.IsDir {
				walk(k.ID, prefix+k.Name+"/")
				continue
			}
			out[prefix+k.Name] = strings.ToUpper(k.Blob.SHA1())
		}
	}
	walk(root.ID, "")
	return out, nil
}

// waitCloud waits until check passes against the cloud: with
// --vfs-cache-mode writes, rclone uploads a closed file in the
// background.
func waitCloud(t testing.TB, what string, check func() error) {
	t.Helper()
	var err error
	start := time.Now()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = check(); err == nil {
			if d := time.Since(start); d > 5*time.Second {
				t.Logf("%s: the cloud held it after %s", what, d.Round(time.Second))
			}
			return
		}
	}
	t.Fatalf("%s: the cloud never held what the mount shows: %v", what, err)
}

func sameSums(got, want map[string]string) error {
	for p, s := range want {
		if got[p] != s {
			return fmt.Errorf("%q: cloud SHA1 %q, want %q", p, got[p], s)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			return fmt.Errorf("%q is in the cloud, and should not be", p)
		}
	}
	return nil
}

// sh runs a shell command line in dir and fails the test on error.
func sh(t testing.TB, dir, line string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s (in %s): %v\n%s", line, dir, err, tail(out.String(), 3000))
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("%s: timed out\n%s", line, tail(out.String(), 3000))
	}
	return out.String()
}

// mountFigures are one workload's figures, for the log.
type mountFigures struct {
	files int
	bytes int64
	took  time.Duration
}

// TestRcloneMountWorkload mounts every cloud mount with `rclone mount`
// over FUSE, with --vfs-cache-mode off and writes, and does what people
// do on a mounted drive, checking each step against what the cloud then
// holds: cp -r of 200 files with Chinese, emoji and space names and
// sha1sum both ways; mv of a file and of a folder; rm -r; mkdir -p; sed
// -i; append with >>; truncate; tar -x into the mount and tar -c back
// out, byte-exact; ffprobe and an ffmpeg seek of the sample video; four
// readers of the 4 GiB file at once at different offsets; git init, add,
// commit and fsck. rclone must log no error, and nothing may be left
// behind: no temporary names in the cloud, no spool files in state_dir.
//
// With --vfs-cache-mode off rclone itself refuses to open an existing
// file for writing without truncating it, so there >> and truncate are
// done as a program without a cache does them: a new file, renamed over
// the old one.
func TestRcloneMountWorkload(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	for _, tool := range []string{"git", "tar", "sha1sum", "ffprobe", "ffmpeg", "sed", "truncate"} {
		needTool(t, tool)
	}
	needFUSE(t)
	c := fastClouds(t, nil)
	// rclone writes empty files as such; they are checked in the cloud
	// a few seconds on, not after a placeholder's default minute.
	cfg, stateDir := c.WriteConfigWith(t, serveOptions{Fast: true, TopExtra: "placeholder_grace: 1s"})
	p := startServe(t, cfg)

	src := t.TempDir()
	treeBytes := mountTree(t, src, 200)
	srcSums := localHashes(t, src)
	archiveSrc := t.TempDir()
	mountTree(t, archiveSrc, 30)
	archive := filepath.Join(t.TempDir(), "project.tar")
	normal := "--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX --format=gnu"
	sh(t, archiveSrc, "tar -cf "+archive+" "+normal+" .")
	archiveBytes := readFile(t, archive)

	var mu sync.Mutex
	figures := map[string]mountFigures{}
	t.Cleanup(func() {
		names := make([]string, 0, len(figures))
		for n := range figures {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			f := figures[n]
			t.Logf("mount workload %s: %d files, %d bytes, %s, 0 errors", n, f.files, f.bytes, f.took.Round(time.Second))
		}
		if left, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*")); len(left) > 0 {
			t.Errorf("spool files left behind: %v", left)
		}
	})
	for _, cl := range c.Each() {
		for _, mode := range []string{"off", "writes"} {
			t.Run(cl.Name()+"/"+mode, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				mnt := demo.MountPath(cl)
				m := mountRclone(t, rclone, "http://"+p.Addr+mnt, mode)
				work := "/mount-" + mode
				w := filepath.Join(m.Dir, strings.TrimPrefix(work, "/"))
				if err := os.Mkdir(w, 0o755); err != nil {
					t.Fatal(err)
				}
				tr := cl.Tree()
				files, moved := 0, int64(0)
				last := time.Now()
				step := func(next string) {
					t.Logf("%s after %s", next, time.Since(last).Round(100*time.Millisecond))
					last = time.Now()
				}

				// cp -r, and sha1sum both ways
				sh(t, src, "cp -r . "+shellQuote(filepath.Join(w, "tree")))
				files, moved = files+len(srcSums), moved+treeBytes
				sh(t, src, "find . -type f -print0 | sort -z | xargs -0 sha1sum | (cd "+shellQuote(filepath.Join(w, "tree"))+" && sha1sum --quiet -c -)")
				sh(t, filepath.Join(w, "tree"), "find . -type f -print0 | sort -z | xargs -0 sha1sum | (cd "+shellQuote(src)+" && sha1sum --quiet -c -)")
				waitCloud(t, "cp -r", func() error {
					got, err := cloudSums(tr, work+"/tree")
					if err != nil {
						return err
					}
					return sameSums(got, srcSums)
				})

				step("mv of a file and of a folder")
				// mv of a file and of a folder, rm -r, mkdir -p
				want := copyMap(srcSums)
				sh(t, w, "mv 'tree/plain 006.dat' 'moved 文件.dat' && mv 'tree/photos 📷' 'moved 📷' && rm -r 'tree/a b' && mkdir -p 'deep/er/est 目录'")
				delete(want, "plain 006.dat")
				for k := range want {
					if strings.HasPrefix(k, "photos 📷/") || strings.HasPrefix(k, "a b/") {
						delete(want, k)
					}
				}
				waitCloud(t, "mv, rm -r, mkdir -p", func() error {
					if _, err := tr.Lookup(work + "/deep/er/est 目录"); err != nil {
						return err
					}
					if got, _ := cloudSums(tr, work+"/moved 文件.dat"); got == nil {
						return errors.New("the moved file is missing")
					}
					if _, err := tr.Lookup(work + "/moved 📷/2024 夏天"); err != nil {
						return err
					}
					got, err := cloudSums(tr, work+"/tree")
					if err != nil {
						return err
					}
					return sameSums(got, want)
				})

				step("edit in place")
				// edit in place, append, truncate
				doc := "notes.txt"
				if err := os.WriteFile(filepath.Join(w, doc), []byte("alpha\nbeta\ngamma\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				sh(t, w, "sed -i 's/beta/BETA/' "+doc)
				if mode == "off" {
					// One process writes it: rclone ends an upload when
					// any holder of the file closes it.
					sh(t, w, "{ cat "+doc+"; echo delta; } | cat > n.new && mv n.new "+doc)
					sh(t, w, "head -c 12 "+doc+" > n.new && mv n.new "+doc)
				} else {
					sh(t, w, "echo delta >> "+doc)
					sh(t, w, "truncate -s 12 "+doc)
				}
				const edited = "alpha\nBETA\ng"
				if got := string(readFile(t, filepath.Join(w, doc))); got != edited {
					t.Fatalf("after sed, append and truncate the mount shows %q", got)
				}
				waitCloud(t, "sed -i, >>, truncate", func() error {
					n, err := tr.Lookup(work + "/" + doc)
					if err != nil {
						return err
					}
					b := make([]byte, n.Size())
					n.Blob.ReadAt(b, 0)
					if string(b) != edited {
						return fmt.Errorf("the cloud holds %q", b)
					}
					return nil
				})

				step("tar -x in")
				// tar -x in, tar -c out, byte-exact
				os.Mkdir(filepath.Join(w, "untarred"), 0o755)
				sh(t, filepath.Join(w, "untarred"), "tar -xf "+archive)
				// What tar -x wrote is stored and read back first, and
				// checked: the clouds keep no modification time a client
				// sets, so rclone shows the one tar set until the upload
				// ends or it reads the file, and learns the cloud's; tar -c
				// would see it change as it reads.
				archiveSums := localHashes(t, archiveSrc)
				waitCloud(t, "tar -x", func() error {
					got, err := cloudSums(tr, work+"/untarred")
					if err != nil {
						return err
					}
					return sameSums(got, archiveSums)
				})
				sh(t, archiveSrc, "find . -type f -print0 | sort -z | xargs -0 sha1sum | (cd "+shellQuote(filepath.Join(w, "untarred"))+" && sha1sum --quiet -c -)")
				out := filepath.Join(t.TempDir(), "out.tar")
				sh(t, filepath.Join(w, "untarred"), "tar -cf "+out+" "+normal+" .")
				if !bytes.Equal(readFile(t, out), archiveBytes) {
					t.Fatalf("tar -c of what tar -x wrote differs from the archive")
				}
				files, moved = files+30, moved+int64(len(archiveBytes))

				step("the sample video")
				// the sample video
				video := filepath.Join(m.Dir, strings.TrimPrefix(sample.VideoPath, "/"))
				if out := sh(t, w, "ffprobe -v error -show_entries format=duration -of csv=p=0 "+shellQuote(video)); strings.TrimSpace(out) == "" {
					t.Fatalf("ffprobe printed no duration")
				}
				sh(t, w, "ffmpeg -nostdin -v error -ss 5 -i "+shellQuote(video)+" -frames:v 1 -f null -")

				step("four readers of the 4 GiB file at once")
				// four readers of the 4 GiB file at once
				moved += readersAtOnce(t, filepath.Join(m.Dir, strings.TrimPrefix(sample.BigPath, "/")))

				step("git")
				// git
				proj := filepath.Join(w, "project")
				os.Mkdir(proj, 0o755)
				sh(t, proj, "git init -q . && printf 'package main\\n\\nfunc main() {}\\n' > main.go && mkdir -p docs && echo '# 项目' > docs/README.md && "+
					"git add -A && git -c user.email=t@example.com -c user.name=test commit -q -m 'first 提交' && git fsck --strict 2>&1 && git status --porcelain")
				files += 3

				step("nothing left behind in the cloud")
				// nothing left behind in the cloud
				waitCloud(t, "git", func() error {
					_, err := tr.Lookup(work + "/project/.git/HEAD")
					return err
				})
				waitCloud(t, "leftovers", func() error {
					all, err := cloudSums(tr, work)
					if err != nil {
						return err
					}
					for p := range all {
						base := path.Base(p)
						if strings.HasPrefix(base, ".pandav-tmp-") || strings.HasPrefix(base, "sed") || strings.HasSuffix(base, ".lock") || strings.HasSuffix(base, ".partial") || base == "n.new" {
							return fmt.Errorf("%q is left behind", p)
						}
					}
					return nil
				})
				if errs := m.errors(); len(errs) > 0 {
					t.Errorf("rclone logged %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
				}
				mu.Lock()
				figures[cl.Name()+"/"+mode] = mountFigures{files: files, bytes: moved, took: time.Since(start)}
				mu.Unlock()
			})
		}
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// readersAtOnce reads 4 MiB at four offsets of the 4 GiB sample file
// through the mount, at once, and compares each with the generated
// content. It returns the bytes read.
func readersAtOnce(t *testing.T, name string) int64 {
	t.Helper()
	big := sample.BigFile()
	const n = 4 << 20
	offsets := []int64{0, 1<<30 + 12345, 5 << 29, big.Size() - n}
	var wg sync.WaitGroup
	errs := make(chan error, len(offsets))
	for _, off := range offsets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Open(name)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			got := make([]byte, n)
			if _, err := f.ReadAt(got, off); err != nil && err != io.EOF {
				errs <- fmt.Errorf("at %d: %w", off, err)
				return
			}
			want := make([]byte, n)
			big.ReadAt(want, off)
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("at %d: the bytes differ from the generated content", off)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return int64(len(offsets)) * n
}
