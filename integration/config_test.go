package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// badConfigBase is a valid config; each case below breaks one line of it.
// Line numbers matter: the cases name them.
const badConfigBase = `listen: 127.0.0.1:0
state_dir: STATE
log: {level: info, format: console}
cache:
  entries: 1000
  ttl: 5m
mounts:
  - path: /aliyun
    driver: aliyun
    options:
      refresh_token: "aaaa.bbbb.cccc"
      client_id: "id"
      client_secret: "secret"
      open_api_url: "http://127.0.0.1:9"
  - path: /115
    driver: pan115
    options:
      refresh_token: "rt115"
      api_url: "http://127.0.0.1:9"
      passport_url: "http://127.0.0.1:9"
`

// TestBadConfig: a config with an unknown key, a wrong type or a missing
// required option makes pandav exit with code 2 and a message naming the
// key and its line.
func TestBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		from, to string // replace from with to in the base config
		key      string // the key the message must name
		line     int    // the line it must name; 0: any line number
	}{
		{"unknown key", "  ttl: 5m\n", "  ttl: 5m\n  colour: red\n", "colour", 7},
		{"wrong type", "  entries: 1000\n", "  entries: lots\n", "entries", 5},
		{"unknown driver option", `      client_id: "id"` + "\n", `      client_idd: "id"` + "\n", "client_idd", 12},
		{"missing refresh_token", `      refresh_token: "rt115"` + "\n", "", "refresh_token", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			text := strings.Replace(badConfigBase, "STATE", filepath.Join(dir, "state"), 1)
			if !strings.Contains(text, tc.from) {
				t.Fatalf("case does not apply to the base config: %q", tc.from)
			}
			text = strings.Replace(text, tc.from, tc.to, 1)
			path := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runTool(t, 30*time.Second, nil, pandavBin, "serve", "-c", path, "--listen", freeAddr(t))
			msg := string(r.Stderr) + string(r.Stdout)
			t.Logf("exit %d: %s", r.Code, strings.TrimSpace(msg))
			if r.Code != 2 {
				t.Errorf("exit code %d (%v), want 2\n%s", r.Code, r.Err, msg)
			}
			if !strings.Contains(msg, tc.key) {
				t.Errorf("the message does not name %q:\n%s", tc.key, msg)
			}
			lineRe := `(?i)line\s*\d+|\.yaml:\d+`
			if tc.line > 0 {
				lineRe = fmt.Sprintf(`(?i)line\s*%d\b|\.yaml:%d\b`, tc.line, tc.line)
			}
			if !regexp.MustCompile(lineRe).MatchString(msg) {
				t.Errorf("the message does not name the line (want %s):\n%s", lineRe, msg)
			}
		})
	}
}

// TestVersion: `pandav --version` prints something and succeeds.
func TestVersion(t *testing.T) {
	t.Parallel()
	r := runTool(t, 30*time.Second, nil, pandavBin, "--version")
	if r.Err != nil || len(strings.TrimSpace(string(r.Stdout)+string(r.Stderr))) == 0 {
		t.Errorf("pandav --version: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
}
