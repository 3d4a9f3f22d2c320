package statelock

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondHolderRefused: while one holder has the lock, another is
// refused with a message naming the holder's PID, host and address, and
// gets the lock once the first lets go.
func TestSecondHolderRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := Acquire(dir, Holder{Command: "serve", Listen: "127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.SetListen("127.0.0.1:39999", false); err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, Holder{Command: "serve"})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v, want a HeldError", err)
	}
	host, _ := os.Hostname()
	want := fmt.Sprintf("state_dir %s is in use by pandav PID %d on %s (listening on 127.0.0.1:39999) since ", dir, os.Getpid(), host)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("refusal %q\nwant it to start %q", err, want)
	}
	if held.Holder.Command != "serve" || held.Holder.Listen != "127.0.0.1:39999" {
		t.Errorf("holder read back as %+v", held.Holder)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := Acquire(dir, Holder{Command: "check"})
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	second.Release()
}

// TestStaleFileIgnored: a lock file left by a process that is gone,
// naming it, does not block; the flock is what counts.
func TestStaleFileIgnored(t *testing.T) {
	dir := t.TempDir()
	stale := `{"pid":999999,"host":"elsewhere","command":"serve","started":"2020-01-01T00:00:00Z","listen":"127.0.0.1:1"}`
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir, Holder{Command: "serve"})
	if err != nil {
		t.Fatalf("a stale lock file blocked: %v", err)
	}
	defer l.Release()
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if strings.Contains(string(b), "999999") || !strings.Contains(string(b), fmt.Sprintf(`"pid":%d`, os.Getpid())) {
		t.Errorf("lock file after Acquire: %s", b)
	}
}

// TestHeldByAnotherProcess: the lock holds across processes, and is gone
// when the holding process dies without releasing it.
func TestHeldByAnotherProcess(t *testing.T) {
	if dir := os.Getenv("STATELOCK_HOLD"); dir != "" {
		if _, err := Acquire(dir, Holder{Command: "serve", Listen: "127.0.0.1:1234"}); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		time.Sleep(time.Minute) // killed by the parent
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeldByAnotherProcess$")
	cmd.Env = append(os.Environ(), "STATELOCK_HOLD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "held") {
		t.Fatalf("child: %q", buf[:n])
	}
	_, err = Acquire(dir, Holder{Command: "check"})
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.PID != cmd.Process.Pid {
		t.Fatalf("while the child holds the lock: %v, want a HeldError naming PID %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(dir, Holder{Command: "check"})
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Release()
}
