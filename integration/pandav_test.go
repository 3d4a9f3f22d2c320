package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pandavProc is one running pandav binary.
type pandavProc struct {
	Addr    string // host:port it listens on
	cmd     *exec.Cmd
	stderr  string // file holding its stderr
	done    chan struct{}
	waitErr error
}

// startServe runs `pandav serve -c configPath` on a free loopback port.
func startServe(t testing.TB, configPath string) *pandavProc {
	t.Helper()
	return startPandav(t, "serve", "-c", configPath)
}

// startPandav runs pandav with args plus --listen on a free port, waits
// until it accepts connections, and stops it when the test ends.
func startPandav(t testing.TB, args ...string) *pandavProc {
	t.Helper()
	// Another process may take the free port before pandav binds it; then
	// pandav exits at once and another port is tried.
	for attempt := 1; ; attempt++ {
		p := launch(t, args)
		err := p.waitReady()
		if err == nil {
			return p
		}
		if attempt < 3 && strings.Contains(p.Stderr(), "address already in use") {
			continue
		}
		t.Fatal(err)
	}
}

func launch(t testing.TB, args []string) *pandavProc {
	t.Helper()
	addr := freeAddr(t)
	return track(t, exec.Command(pandavBin, append(args, "--listen", addr)...), addr, fmt.Sprintf("pandav %v", args))
}

// track starts cmd, a pandav that will listen on addr, with its output in
// a file, and stops it when the test ends; label names it in a failed
// test's log.
func track(t testing.TB, cmd *exec.Cmd, addr, label string) *pandavProc {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "pandav-stderr-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pandavProc{Addr: addr, cmd: cmd, stderr: f.Name(), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		recordLog(t.Name(), p.Stderr())
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", label, tail(p.Stderr(), 6000))
		}
	})
	return p
}

func (p *pandavProc) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("pandav exited before listening: %v\n%s", p.waitErr, tail(p.Stderr(), 4000))
		default:
		}
		c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("pandav did not listen on %s within 30s\n%s", p.Addr, tail(p.Stderr(), 4000))
}

// URL is the server's URL for path p, escaped.
func (p *pandavProc) URL(path string) string {
	return "http://" + p.Addr + escapePath(path)
}

// Stop sends SIGTERM, then SIGKILL if pandav has not exited after 10 s.
// It reports whether pandav exited on SIGTERM.
func (p *pandavProc) Stop() bool {
	select {
	case <-p.done:
		return true
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(10 * time.Second):
	}
	p.cmd.Process.Kill()
	<-p.done
	return false
}

// Terminate sends SIGTERM and waits up to 20 s for pandav to exit,
// failing the test if it does not; it returns how long the exit took.
func (p *pandavProc) Terminate(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("pandav did not exit within 20 s of SIGTERM")
	}
	took := time.Since(start)
	t.Logf("pandav exited %s after SIGTERM (%v)", took.Round(100*time.Millisecond), p.waitErr)
	return took
}

// Kill sends SIGKILL and waits for the process to go.
func (p *pandavProc) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Stderr is everything pandav wrote so far.
func (p *pandavProc) Stderr() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// needTool returns the path of an external client. A missing one skips
// the test, but fails it under CI, where .ci/run must have installed it.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (CI is set; .ci/run installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// result is what a finished client command left behind.
type result struct {
	Stdout, Stderr []byte
	Code           int // exit code, -1 when killed
	Err            error
}

// runTool runs a client with a deadline, so a hung client fails its test
// instead of hanging CI.
func runTool(t testing.TB, timeout time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.Bytes(), Stderr: errb.Bytes(), Err: err, Code: exitCode(err)}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %s", filepath.Base(name), strings.Join(args, " "), timeout)
	}
	return r
}

// exitCode is the exit status of a command that ended with err from
// Wait or Run: -1 when it was killed or never ran.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// rcloneEnv keeps rclone away from any user config and cache.
func rcloneEnv(t testing.TB) []string {
	home := t.TempDir()
	return []string{"RCLONE_CONFIG=/dev/null", "HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, "cache")}
}

// rcloneRemote is an on-the-fly rclone remote for a pandav mount.
func rcloneRemote(p *pandavProc, mount string) string {
	return `:webdav,url="http://` + p.Addr + mount + `",vendor=other:`
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
