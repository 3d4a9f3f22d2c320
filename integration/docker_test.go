package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"pandav/internal/demo"
)

// TestDocker runs the binary as the Docker image runs it (its ENTRYPOINT,
// CMD and HEALTHCHECK, read from the Dockerfile, with /data moved to a
// temporary folder), as a NAS user meets it: a host folder made by root,
// an empty one, one with a TLS config on another port, and --user.
func TestDocker(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the Docker test needs root, to start as the image does and switch users (CI is set)")
		}
		t.Skip("the Docker test needs root, to start as the image does and switch users")
	}
	img := readImageSpec(t)
	img.bin = installImageBinary(t)

	t.Run("root-owned folder with a config", func(t *testing.T) {
		t.Parallel()
		c := startClouds(t, cloudOptions{})
		cl := c.Each()[0]
		mount := demo.MountPath(cl)
		data := hostFolder(t, "with-config")
		addr := freeAnyAddr(t)
		writeHostFile(t, filepath.Join(data, "config.yaml"), 0o644, fmt.Sprintf(
			"listen: %s\nstate_dir: /data/state\nusers:\n  - {name: me, password: %q}\nmounts:\n%s",
			addr, testHash(t, "me-password"), demo.CloudMount(cl, c.rt[cl.Name()]).YAML()))
		p := img.start(t, data, addr, nil)
		checkRunsAs(t, p, img.uid, img.gid)
		if code, body := httpDo(t, "PROPFIND", p.URL(mount+"/"), "me", "me-password"); code != http.StatusMultiStatus {
			t.Fatalf("PROPFIND %s/: %d\n%s", mount, code, body)
		}
		if code, _ := httpDo(t, http.MethodGet, p.URL("/healthz"), "", ""); code != http.StatusOK {
			t.Errorf("GET /healthz without a password: %d, want 200", code)
		}
		if len(tokenFiles(filepath.Join(data, "state"), cl.TokenFilePrefix())) == 0 {
			t.Errorf("no rotated %s token under state/tokens", cl.Name())
		}
		checkOwnedTree(t, filepath.Join(data, "state"), img.uid, img.gid)
		img.healthcheck(t, data, nil, 0)
		stop(t, p)
		img.healthcheck(t, data, nil, 1)
		checkContainerLog(t, p.Stderr())

		// State left by the older image (group 999) is given to the
		// pandav group on the next start.
		if err := filepath.WalkDir(filepath.Join(data, "state"), func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, img.uid, 999)
		}); err != nil {
			t.Fatal(err)
		}
		p = img.start(t, data, addr, nil)
		checkOwnedTree(t, filepath.Join(data, "state"), img.uid, img.gid)
		stop(t, p)
	})

	t.Run("empty root-owned folder", func(t *testing.T) {
		t.Parallel()
		data := hostFolder(t, "empty")
		// The starter config listens on 0.0.0.0:8080; another program (a
		// demo, another test) may hold 8080 here, and then both serve and
		// the probe are told another port, as a CMD override would.
		addr := "0.0.0.0:8080"
		var extra []string
		if !portFree(addr) {
			addr = freeAnyAddr(t)
			t.Logf("8080 is taken here; serving on %s instead", addr)
			extra = []string{"--listen", addr}
		}
		p := img.start(t, data, addr, nil, extra...)
		checkRunsAs(t, p, img.uid, img.gid)
		configPath := filepath.Join(data, "config.yaml")
		text := string(readFile(t, configPath))
		for _, want := range []string{"listen: 0.0.0.0:8080\n", fmt.Sprintf("state_dir: %q\n", filepath.Join(data, "state")), "mounts: []\n"} {
			if !strings.Contains(text, want) {
				t.Errorf("the starter config has no %q:\n%s", want, text)
			}
		}
		checkOwner(t, configPath, 0, img.gid, 0o640) // the folder's owner; readable by pandav's group
		checkOwner(t, filepath.Join(data, "state"), img.uid, img.gid, 0o700)

		logs := p.Stderr()
		m := regexp.MustCompile(`password=(\S+)`).FindStringSubmatch(logs)
		if m == nil {
			t.Fatalf("no password in the first start's log:\n%s", logs)
		}
		password := m[1]
		if n := strings.Count(logs, password); n != 1 {
			t.Errorf("the password appears %d times in the log, want once", n)
		}
		if strings.Contains(text, password) {
			t.Error("the starter config holds the password itself, not only its hash")
		}
		if !strings.Contains(logs, "next: add your drives under mounts:") {
			t.Errorf("the log does not say what to do next:\n%s", logs)
		}
		if code, body := httpDo(t, "PROPFIND", p.URL("/"), "admin", password); code != http.StatusMultiStatus || strings.Count(body, "<D:response>") != 1 {
			t.Errorf("PROPFIND / as admin: %d, want 207 with the empty root alone\n%s", code, body)
		}
		if code, _ := httpDo(t, "PROPFIND", p.URL("/"), "", ""); code != http.StatusUnauthorized {
			t.Errorf("PROPFIND / without a password: %d, want 401", code)
		}
		if code, _ := httpDo(t, http.MethodGet, p.URL("/healthz"), "", ""); code != http.StatusOK {
			t.Errorf("GET /healthz: %d, want 200", code)
		}
		img.healthcheck(t, data, nil, 0, extra...)
		stop(t, p)
		img.healthcheck(t, data, nil, 1, extra...)
		checkContainerLog(t, logs)

		// The next start keeps the config and prints no password.
		p = img.start(t, data, addr, nil, extra...)
		stop(t, p)
		if string(readFile(t, configPath)) != text {
			t.Error("the second start changed the config")
		}
		if strings.Contains(p.Stderr(), "password=") {
			t.Errorf("the second start logged a password:\n%s", p.Stderr())
		}
	})

	t.Run("TLS on another port", func(t *testing.T) {
		t.Parallel()
		data := hostFolder(t, "tls")
		addr := "0.0.0.0:9090"
		if !portFree(addr) {
			addr = freeAnyAddr(t)
			t.Logf("9090 is taken here; using %s", addr)
		}
		cert, key := testCertificate(t)
		configPath := filepath.Join(data, "config.yaml")
		writeHostFile(t, configPath, 0o600, fmt.Sprintf(
			"listen: %s\nstate_dir: /data/state\ntls: {cert: /data/cert.pem, key: /data/key.pem}\nusers:\n  - {name: me, password: %q}\nmounts: []\n",
			addr, testHash(t, "me-password")))
		writeHostFile(t, filepath.Join(data, "cert.pem"), 0o644, cert)
		writeHostFile(t, filepath.Join(data, "key.pem"), 0o600, key)

		// Files only root may read stop it with the one sentence that
		// fixes them; following that sentence works.
		out, code := img.run(t, data, nil)
		checkOneSentence(t, out, code, configPath, "chown -R 10001:10001", "--user")
		if err := os.Chmod(configPath, 0o644); err != nil {
			t.Fatal(err)
		}
		out, code = img.run(t, data, nil)
		checkOneSentence(t, out, code, filepath.Join(data, "key.pem"), "chown -R 10001:10001", "--user")
		if b, err := exec.Command("chown", "-R", "10001:10001", data).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, b)
		}

		p := img.start(t, data, addr, nil)
		checkRunsAs(t, p, img.uid, img.gid)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := client.Get("https://" + loopback(addr) + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET https://.../healthz: %s", resp.Status)
		}
		img.healthcheck(t, data, nil, 0)
		stop(t, p)
		img.healthcheck(t, data, nil, 1)
	})

	t.Run("--user on an empty folder it owns", func(t *testing.T) {
		t.Parallel()
		user := &syscall.Credential{Uid: uint32(img.uid), Gid: uint32(img.gid)}
		data := hostFolder(t, "user")
		if err := os.Chown(data, img.uid, img.gid); err != nil {
			t.Fatal(err)
		}
		addr := freeAnyAddr(t)
		p := img.start(t, data, addr, user, "--listen", addr)
		checkRunsAs(t, p, img.uid, img.gid)
		checkOwner(t, filepath.Join(data, "config.yaml"), img.uid, img.gid, 0o600)
		checkOwner(t, filepath.Join(data, "state"), img.uid, img.gid, 0o700)
		img.healthcheck(t, data, user, 0, "--listen", addr)
		stop(t, p)
		img.healthcheck(t, data, user, 1, "--listen", addr)
	})

	t.Run("--user on a root-owned folder", func(t *testing.T) {
		t.Parallel()
		user := &syscall.Credential{Uid: uint32(img.uid), Gid: uint32(img.gid)}
		data := hostFolder(t, "user-root")
		out, code := img.run(t, data, user)
		checkOneSentence(t, out, code, filepath.Join(data, "config.yaml"), "chown -R 10001:10001", "without --user")
		if entries, _ := os.ReadDir(data); len(entries) != 0 {
			t.Errorf("a failed start left %d files behind", len(entries))
		}
	})
}

// imageSpec is how the image starts pandav and probes it.
type imageSpec struct {
	entrypoint, cmd, probe []string // probe: HEALTHCHECK's CMD
	uid, gid               int      // the pandav user's
	bin                    string   // the binary, where the image has /usr/local/bin/pandav
}

// readImageSpec reads ENTRYPOINT, CMD, HEALTHCHECK and the pandav user
// from the Dockerfile, so that this test runs what the image runs.
func readImageSpec(t *testing.T) imageSpec {
	t.Helper()
	text := strings.ReplaceAll(string(readFile(t, "../Dockerfile")), "\\\n", " ")
	var s imageSpec
	exec := func(form string) []string {
		var argv []string
		if err := json.Unmarshal([]byte(strings.TrimSpace(form)), &argv); err != nil || len(argv) == 0 {
			t.Fatalf("Dockerfile: %q is not the exec form (a JSON array): %v", form, err)
		}
		return argv
	}
	for _, line := range strings.Split(text, "\n") {
		word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch word {
		case "ENTRYPOINT":
			s.entrypoint = exec(rest)
		case "CMD":
			s.cmd = exec(rest)
		case "HEALTHCHECK":
			_, form, ok := strings.Cut(rest, " CMD ")
			if !ok {
				t.Fatalf("Dockerfile: HEALTHCHECK without CMD: %s", line)
			}
			s.probe = exec(form)
		}
		if m := regexp.MustCompile(`useradd --uid (\d+) --gid (\d+)`).FindStringSubmatch(line); m != nil {
			s.uid, _ = strconv.Atoi(m[1])
			s.gid, _ = strconv.Atoi(m[2])
		}
	}
	if s.entrypoint == nil || s.cmd == nil || s.probe == nil || s.uid == 0 {
		t.Fatalf("Dockerfile: want ENTRYPOINT, CMD, HEALTHCHECK and useradd --uid --gid; got %+v", s)
	}
	if s.uid != 10001 || s.gid != 10001 {
		t.Fatalf("Dockerfile: the pandav user is %d:%d, want 10001:10001 (README.md and the entry point say so)", s.uid, s.gid)
	}
	return s
}

// argv is args as the image would run them with /data at data.
func (s imageSpec) argv(data string, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case i == 0 && a == "pandav":
			out[i] = s.bin
		case a == "/data" || strings.HasPrefix(a, "/data/"):
			out[i] = data + strings.TrimPrefix(a, "/data")
		default:
			out[i] = a
		}
	}
	return out
}

// command is the container's process: root unless user is set (--user).
func (s imageSpec) command(ctx context.Context, data string, user *syscall.Credential, args []string) *exec.Cmd {
	argv := s.argv(data, args)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = data // WORKDIR /data
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TZ=Asia/Shanghai"}
	if user != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: user}
	}
	return cmd
}

// start runs the container and waits until it listens on addr.
func (s imageSpec) start(t *testing.T, data, addr string, user *syscall.Credential, extra ...string) *pandavProc {
	t.Helper()
	args := append(append(append([]string{}, s.entrypoint...), s.cmd...), extra...)
	p := track(t, s.command(context.Background(), data, user, args), loopback(addr), "container")
	if err := waitListening(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitListening waits for p to log that it listens: a port another
// program holds would answer a plain dial too.
func waitListening(p *pandavProc) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-p.done:
			return fmt.Errorf("pandav exited before listening: %v\n%s", p.waitErr, tail(p.Stderr(), 4000))
		default:
		}
		if strings.Contains(p.Stderr(), " listening ") {
			return p.waitReady()
		}
	}
	return fmt.Errorf("pandav did not listen within 30s\n%s", tail(p.Stderr(), 4000))
}

// run runs the container to its end and returns its output and exit code.
func (s imageSpec) run(t *testing.T, data string, user *syscall.Credential) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.command(ctx, data, user, append(append([]string{}, s.entrypoint...), s.cmd...)).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("container: %v\n%s", err, out)
	}
	return string(out), 0
}

// healthcheck runs the image's HEALTHCHECK command, as Docker does: as the
// container's user, and wants its exit code.
func (s imageSpec) healthcheck(t *testing.T, data string, user *syscall.Credential, want int, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.command(ctx, data, user, append(append([]string{}, s.probe...), extra...)).CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("healthcheck: %v\n%s", err, out)
	}
	if code != want {
		t.Errorf("healthcheck exited %d, want %d: %s", code, want, out)
	}
}

// installImageBinary copies the built binary to a folder every user may
// read, as the image's /usr/local/bin is: the harness's own is root's.
func installImageBinary(t *testing.T) string {
	t.Helper()
	dir := openTempDir(t, "pandav-image-bin-")
	bin := filepath.Join(dir, "pandav")
	if err := os.WriteFile(bin, readFile(t, pandavBin), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// hostFolder is a new, empty folder made by root with mkdir's mode, in a
// folder every user may enter.
func hostFolder(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(openTempDir(t, "pandav-docker-"), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openTempDir is a temporary folder with mode 0755 (t.TempDir's are 0700,
// which uid 10001 could not enter).
func openTempDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeHostFile writes a file as root on the host would, with /data in
// its text standing for the folder the container sees there.
func writeHostFile(t *testing.T, name string, mode os.FileMode, text string) {
	t.Helper()
	text = strings.ReplaceAll(text, "/data/", filepath.Dir(name)+"/")
	if err := os.WriteFile(name, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

// checkRunsAs checks every thread of p has the ids uid:gid and no
// supplementary groups.
func checkRunsAs(t *testing.T, p *pandavProc, uid, gid int) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", p.cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads under /proc for pid %d: %v", p.cmd.Process.Pid, err)
	}
	wantUid := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid)
	wantGid := fmt.Sprintf("Gid:\t%d\t%d\t%d\t%d", gid, gid, gid, gid)
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			field, _, _ := strings.Cut(line, ":")
			switch field {
			case "Uid":
				if line != wantUid {
					t.Errorf("%s: %q, want %q", task, line, wantUid)
				}
			case "Gid":
				if line != wantGid {
					t.Errorf("%s: %q, want %q", task, line, wantGid)
				}
			case "Groups":
				if strings.TrimSpace(strings.TrimPrefix(line, "Groups:")) != "" {
					t.Errorf("%s: %q, want no supplementary groups", task, line)
				}
			}
		}
	}
}

// checkOwner checks a file's owner, group and mode.
func checkOwner(t *testing.T, name string, uid, gid int, mode os.FileMode) {
	t.Helper()
	info, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid || info.Mode().Perm() != mode {
		t.Errorf("%s: %d:%d %v, want %d:%d %v", name, st.Uid, st.Gid, info.Mode().Perm(), uid, gid, mode)
	}
}

// checkOwnedTree checks everything under dir belongs to uid:gid.
func checkOwnedTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n++
		if st := info.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s belongs to %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d entries checked", dir, n)
}

// checkOneSentence checks a failed start exited 1 with one line that names
// the path and every fix.
func checkOneSentence(t *testing.T, out string, code int, path string, fixes ...string) {
	t.Helper()
	t.Logf("exit %d: %s", code, strings.TrimSpace(out))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 {
		t.Errorf("%d lines, want one sentence:\n%s", len(lines), out)
	}
	for _, want := range append([]string{path}, fixes...) {
		if !strings.Contains(out, want) {
			t.Errorf("the message does not name %q: %s", want, out)
		}
	}
}

// checkContainerLog checks what docker logs would show: no colour codes,
// and times in the TZ given (Asia/Shanghai) with their zone.
func checkContainerLog(t *testing.T, logs string) {
	t.Helper()
	if strings.Contains(logs, "\x1b[") {
		t.Errorf("colour codes in a log that goes to a file:\n%q", tail(logs, 500))
	}
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00 INF listening`).MatchString(logs) {
		t.Errorf("no log line with its time in TZ's zone (+08:00):\n%s", tail(logs, 1000))
	}
}

// stop sends SIGTERM and wants a clean exit.
func stop(t *testing.T, p *pandavProc) {
	t.Helper()
	if !p.Stop() || p.waitErr != nil {
		t.Errorf("pandav did not exit cleanly on SIGTERM: %v", p.waitErr)
	}
}

// httpDo sends one request, with Basic credentials when user is set.
func httpDo(t *testing.T, method, url, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if method == "PROPFIND" {
		req.Header.Set("Depth", "1")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freeAnyAddr is a free port on every address, as a container listens.
func freeAnyAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// loopback is addr's port on 127.0.0.1.
func loopback(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort("127.0.0.1", port)
}

func testHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// testCertificate is a self-signed certificate and its key, in PEM.
func testCertificate(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pandav.example"},
		DNSNames:     []string{"pandav.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var c, k bytes.Buffer
	pem.Encode(&c, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	return c.String(), k.String()
}
