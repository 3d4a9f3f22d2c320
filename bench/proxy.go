package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The minimal proxy is the baseline pandav's streaming is held to: what
// any proxy pays for bytes that cross loopback twice, and nothing else.
// It makes one upstream request per client request, forwarding the
// client's headers, and copies the body with io.CopyBuffer through a
// 256 KiB buffer. It runs as a child process of its own (the bench binary
// again, told so by proxyEnv), so its CPU time is read from /proc apart
// from the emulators' and pandav's.
const (
	proxyEnv       = "PANDAV_BENCH_PROXY_LISTEN"
	upstreamHeader = "X-Bench-Upstream" // the CDN URL to fetch; never logged
)

// serveMinimalProxy runs the proxy until it is killed.
func serveMinimalProxy(addr string) int {
	up := newClient()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get(upstreamHeader)
		if r.Method != http.MethodGet || target == "" {
			w.WriteHeader(http.StatusOK) // the bench's liveness probe
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
		if err != nil {
			http.Error(w, "bad upstream", http.StatusBadRequest)
			return
		}
		for k, vs := range r.Header {
			if k != upstreamHeader && k != "Connection" {
				req.Header[k] = vs
			}
		}
		resp, err := up.Do(req)
		if err != nil {
			http.Error(w, "upstream failed", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for _, k := range []string{"Content-Length", "Content-Range", "Content-Type", "Accept-Ranges"} {
			if v := resp.Header.Get(k); v != "" {
				w.Header().Set(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 256<<10)
		// The bare Writer keeps http's ReadFrom, and its 32 KiB copies,
		// out of the way of the 256 KiB buffer.
		io.CopyBuffer(struct{ io.Writer }{w}, resp.Body, buf)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "minimal proxy:", err)
		return 1
	}
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintln(os.Stderr, "minimal proxy:", err)
		return 1
	}
	return 0
}

// startProxy runs the minimal proxy as a child on a free loopback port.
func startProxy(ctx context.Context, dir string, kids *children) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(dir, "minimal-proxy.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), proxyEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start the minimal proxy: %v", err)
	}
	s := &server{name: "minimal proxy", cmd: cmd, base: "http://" + addr, log: logPath, done: make(chan struct{})}
	kids.add(s)
	go func() {
		s.err = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	return s, s.waitReady(ctx)
}

// waitReady waits until the child answers HTTP.
func (s *server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited at start (%v):\n%s", s.name, s.err, s.logTail())
		case <-ctx.Done():
			s.stop()
			return ctx.Err()
		default:
		}
		req, _ := http.NewRequest(http.MethodOptions, s.base+"/", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s did not answer within 20s:\n%s", s.name, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// viaProxy is the request header set that fetches link through the
// minimal proxy.
func viaProxy(url string, hdr http.Header) http.Header {
	h := hdr.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(upstreamHeader, url)
	return h
}
