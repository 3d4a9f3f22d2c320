package app

import (
	"context"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"pandav/config"
)

// TestHealthWithoutMountsBehindAuth: a server with users and no mounts
// (the Docker starter config) starts, answers the health paths without a
// password, and still asks for one everywhere else.
func TestHealthWithoutMountsBehindAuth(t *testing.T) {
	a := newApp(t, "listen: 0.0.0.0:8080\nusers: [{name: u, password: pw}]\nmounts: []\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, time.Second) }()
	defer func() {
		cancel()
		<-served
	}()
	base := "http://" + ln.Addr().String()
	do := func(method, path string, auth bool) (int, string) {
		t.Helper()
		if auth {
			return get(t, method, base+path, "u", "pw")
		}
		return get(t, method, base+path, "", "")
	}
	for _, p := range HealthPaths {
		if code, body := do(http.MethodGet, p, false); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s without a password: %d %q, want 200 ok", p, code, body)
		}
		if code, _ := do(http.MethodHead, p, false); code != http.StatusOK {
			t.Errorf("HEAD %s: %d, want 200", p, code)
		}
		if code, _ := do("PROPFIND", p, false); code != http.StatusUnauthorized {
			t.Errorf("PROPFIND %s without a password: %d, want 401: only GET and HEAD are the health check's", p, code)
		}
	}
	if code, _ := do("PROPFIND", "/", false); code != http.StatusUnauthorized {
		t.Errorf("PROPFIND / without a password: %d, want 401", code)
	}
	code, body := do("PROPFIND", "/", true)
	if code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND / with the password: %d, want 207\n%s", code, body)
	}
	if n := strings.Count(body, "<D:response>"); n != 1 {
		t.Errorf("the empty root lists %d entries, want only itself:\n%s", n, body)
	}
}

// TestConsoleLogToAFile: a console log written to a file (docker logs, a
// NAS log viewer) has no colour codes, and its times carry their zone in
// the local time zone, so TZ is honoured.
func TestConsoleLogToAFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := time.Local
	time.Local = time.FixedZone("CST", 8*3600)
	defer func() { time.Local = saved }()
	log := NewLogger(config.Log{Level: "info", Format: "console"}, f)
	log.Warn().Str("k", "v").Msg("hello")
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	line := string(b)
	if strings.Contains(line, "\x1b[") {
		t.Errorf("colour codes in a log written to a file: %q", line)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00 WRN hello k=v\n$`).MatchString(line) {
		t.Errorf("log line %q: want an RFC 3339 time with the zone (+08:00), then level, message and fields", line)
	}
}
