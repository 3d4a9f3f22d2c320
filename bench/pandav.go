package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildPandav compiles the server into dir, so that it runs as a child
// process whose memory can be read from /proc apart from the bench's own.
func buildPandav(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "pandav")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// repoRoot is the folder holding go.mod.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench from inside the pandav module")
	}
	return filepath.Dir(mod), nil
}

// server is one running pandav child.
type server struct {
	name string
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	log  string
	done chan struct{}
	err  error
}

// children tracks every pandav started, so an interrupt can stop them.
type children struct {
	mu   sync.Mutex
	list []*server
}

func (c *children) add(s *server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, s)
}

func (c *children) stopAll() {
	c.mu.Lock()
	list := append([]*server(nil), c.list...)
	c.mu.Unlock()
	for _, s := range list {
		s.stop()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs `pandav serve -c cfg` on a free loopback port and waits
// until it answers.
// With profile, the child writes a CPU profile, name.pprof beside its log,
// when it stops.
func startServer(ctx context.Context, bin, name, cfg, dir string, profile bool, kids *children) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "-c", cfg, "--listen", addr)
	if profile {
		cmd.Args = append(cmd.Args, "--cpuprofile", filepath.Join(dir, name+".pprof"))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child dies with the bench even if the bench is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start pandav: %v", err)
	}
	s := &server{name: "pandav " + name, cmd: cmd, base: "http://" + addr, log: logPath, done: make(chan struct{})}
	kids.add(s)
	go func() {
		s.err = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// stop asks the child to shut down, and kills it if it does not.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// memory reads VmHWM (peak resident set) and VmRSS from /proc, in bytes.
func (s *server) memory() (hwm, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			hwm = v << 10
		case "VmRSS:":
			rss = v << 10
		}
	}
	if hwm == 0 {
		return 0, 0, errors.New("no VmHWM in /proc status")
	}
	return hwm, rss, nil
}

// resetPeak makes VmHWM start again from the current RSS (clear_refs 5),
// so that a peak belongs to one scenario. It reports whether the kernel
// honoured it.
func (s *server) resetPeak() bool {
	p := fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid)
	if err := os.WriteFile(p, []byte("5"), 0); err != nil {
		return false
	}
	hwm, rss, err := s.memory()
	return err == nil && hwm <= rss+(1<<20)
}

// cpu is the CPU time (user and system) the child has used so far.
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which sits in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, which Linux fixes at 100 on every architecture
// Go supports.
const clockTicks = 100

// selfCPU is the CPU time the bench itself (emulators and clients) has
// used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuShare measures CPU use over a stretch of wall time, in cores.
type cpuShare struct {
	pandav, self, wall time.Duration
}

func (c *cpuShare) measure(s *server, fn func() error) error {
	p0, s0, t0 := s.cpu(), selfCPU(), time.Now()
	err := fn()
	c.pandav += s.cpu() - p0
	c.self += selfCPU() - s0
	c.wall += time.Since(t0)
	return err
}

func (c cpuShare) String() string {
	if c.wall <= 0 {
		return ""
	}
	return fmt.Sprintf("pandav %.2f cores, bench (emulators + client) %.2f cores", c.pandav.Seconds()/c.wall.Seconds(), c.self.Seconds()/c.wall.Seconds())
}

func (c cpuShare) raw() map[string]float64 {
	return map[string]float64{"pandav_cpu_s": c.pandav.Seconds(), "bench_cpu_s": c.self.Seconds(), "wall_s": c.wall.Seconds()}
}
