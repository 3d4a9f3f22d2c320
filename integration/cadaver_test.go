package integration

import (
	"os"
	"os/exec"
	"pandav/internal/demo"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCadaverScript drives cadaver from a script on stdin through each
// mount, logged in as a configured user (credentials from ~/.netrc): put,
// mkcol, move, copy, lock, unlock, propset and propget. Its output and
// the clouds' resulting trees are checked.
func TestCadaverScript(t *testing.T) {
	t.Parallel()
	cadaver := needTool(t, "cadaver")
	c := startClouds(t, cloudOptions{})
	cfg, stateDir := c.WriteConfigWith(t, serveOptions{Users: `[{name: alice, password: "cadaver-pass-1"}]`})
	p := startServe(t, cfg)

	home := t.TempDir()
	host, _, _ := strings.Cut(p.Addr, ":")
	if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine "+host+" login alice password cadaver-pass-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const content = "written by cadaver\n"
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "hello.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"put hello.txt",
		"mkcol CadaverDir",
		"move hello.txt CadaverDir/moved.txt",
		"copy CadaverDir/moved.txt copied.txt",
		"lock copied.txt",
		"unlock copied.txt",
		"propset copied.txt colour indigo",
		"propget copied.txt colour",
		"ls CadaverDir",
		"cat copied.txt",
		"quit",
	}, "\n") + "\n"
	// Each answer cadaver must print, in order.
	want := []string{
		"Uploading hello.txt to `MOUNT/hello.txt':", "succeeded.",
		"Creating `CadaverDir': succeeded.",
		"Moving `MOUNT/hello.txt' to `MOUNT/CadaverDir/moved.txt':  succeeded.",
		"Copying `MOUNT/CadaverDir/moved.txt' to `MOUNT/copied.txt':  succeeded.",
		"Locking `copied.txt': succeeded.",
		"Unlocking `copied.txt': succeeded.",
		"Setting property on `copied.txt': succeeded.",
		"Value of colour is: indigo",
		"moved.txt",
		strings.TrimSpace(content),
	}
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(cadaver, p.URL(demo.MountPath(cl)+"/"))
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "HOME="+home)
			cmd.Stdin = strings.NewReader(script)
			cmd.WaitDelay = 5 * time.Second
			timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
			out, err := cmd.CombinedOutput()
			timer.Stop()
			if err != nil {
				t.Fatalf("cadaver: %v\n%s", err, out)
			}
			text := string(out)
			at := 0
			for _, w := range want {
				w = strings.ReplaceAll(w, "MOUNT", demo.MountPath(cl))
				i := strings.Index(text[at:], w)
				if i < 0 {
					t.Errorf("cadaver's output lacks %q (after byte %d):\n%s", w, at, text)
					return
				}
				at += i + len(w)
			}
			for _, bad := range []string{"failed", "401", "Authentication"} {
				if strings.Contains(text, bad) {
					t.Errorf("cadaver's output says %q:\n%s", bad, text)
				}
			}

			// The cloud: the file was moved, then copied; nothing is left
			// at the upload's first name.
			for path, wantContent := range map[string]string{"/CadaverDir/moved.txt": content, "/copied.txt": content} {
				n, err := cl.Tree().Lookup(path)
				if err != nil {
					t.Errorf("%s is not in the cloud: %v", path, err)
					continue
				}
				if n.Blob.SHA1() != sha1Upper([]byte(wantContent)) {
					t.Errorf("%s in the cloud has SHA1 %s, want that of %q", path, n.Blob.SHA1(), wantContent)
				}
			}
			if n, err := cl.Tree().Lookup("/CadaverDir"); err != nil || !n.IsDir {
				t.Errorf("CadaverDir is not a folder in the cloud (%v)", err)
			}
			if _, err := cl.Tree().Lookup("/hello.txt"); err == nil {
				t.Errorf("/hello.txt is still in the cloud after the move")
			}
			// The dead property is kept in state_dir's store, to survive
			// restarts (the value is stored base64-encoded: aW5kaWdv is
			// "indigo").
			if !storeHoldsProp(t, stateDir, "colour", "aW5kaWdv") {
				t.Errorf("state_dir's store does not hold the property set")
			}
		})
	}
}
