package config

import (
	"strings"
	"testing"
)

const good = `
listen: 127.0.0.1:9000
state_dir: /tmp/s
cache: {entries: 10, ttl: 1m}
users:
  - {name: a, password: "$2a$10$abcdefghijklmnopqrstuv", mounts: [/aliyun]}
mounts:
  - path: /aliyun
    driver: aliyun
    options:
      refresh_token: "${PANDAV_TEST_TOKEN}"
`

func TestParseGood(t *testing.T) {
	t.Setenv("PANDAV_TEST_TOKEN", "tok")
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.Cache.Entries != 10 || c.Cache.TTL.D().Minutes() != 1 {
		t.Fatalf("parsed %+v", c)
	}
	if c.Users[0].Password != "$2a$10$abcdefghijklmnopqrstuv" {
		t.Fatalf("bare dollars were expanded: %q", c.Users[0].Password)
	}
	var opts struct {
		RefreshToken string `yaml:"refresh_token"`
	}
	if err := Decode(&c.Mounts[0].Options, &opts, "mounts[0].options"); err != nil || opts.RefreshToken != "tok" {
		t.Fatalf("options %+v, %v", opts, err)
	}
	if c.Mounts[0].Line != 8 {
		t.Fatalf("mount line %d", c.Mounts[0].Line)
	}
}

func TestParseErrors(t *testing.T) {
	t.Setenv("PANDAV_TEST_TOKEN", "tok")
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "listen: 127.0.0.1:1\nmountz: []\n", []string{"line 2", `"mountz"`}},
		{"unknown nested key", "mounts:\n  - path: /a\n    drivr: x\n", []string{"line 3", `"drivr"`, "mounts[0]"}},
		{"wrong type", "cache: {entries: lots}\nmounts: [{path: /a, driver: x}]\n", []string{"line 1", "cache.entries", "int"}},
		{"alias as a value", "mounts: [{path: /a, driver: x, options: {refresh_token: *tok}}]\n", []string{"anchor"}},
		{"bad duration", "cache: {ttl: soon}\nmounts: [{path: /a, driver: x}]\n", []string{"line 1", "duration"}},
		{"mount on the health check", "mounts: [{path: /healthz, driver: x}]\n", []string{"mounts[0]", "/healthz", "pandav's own"}},
		{"mount on the readiness check", "mounts: [{path: /readyz, driver: x}]\n", []string{"mounts[0]", "/readyz", "pandav's own"}},
		{"mount on the metrics", "mounts: [{path: /metrics/x, driver: x}]\n", []string{"mounts[0]", "/metrics/x", "pandav's own"}},
		{"metrics key unknown", "metrics: {public: true, open: true}\n", []string{"line 1", `"open"`, "metrics"}},
		{"mount on pandav's pages", "mounts: [{path: /.pandav/x, driver: x}]\n", []string{"mounts[0]", "/.pandav/x", "pandav's own"}},
		{"missing env", "mounts: [{path: /a, driver: x, options: {refresh_token: '${PANDAV_NOPE_X}'}}]\n", []string{"PANDAV_NOPE_X", "mounts[0].options.refresh_token"}},
		{"nested mounts", "mounts: [{path: /a, driver: x}, {path: /a/b, driver: y}]\n", []string{"inside mount"}},
		{"bad listen", "listen: nope\nmounts: [{path: /a, driver: x}]\n", []string{"listen"}},
		{"read-back total below one file", "read_back: {max_file: 64MiB, max_total: 16MiB}\nmounts: [{path: /a, driver: x}]\n", []string{"read_back", "max_total"}},
		{"negative read-back ttl", "read_back: {ttl: -1s}\nmounts: [{path: /a, driver: x}]\n", []string{"read_back.ttl"}},
		{"placeholder grace too long", "placeholder_grace: 2h\nmounts: [{path: /a, driver: x}]\n", []string{"placeholder_grace"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !IsError(err) {
				t.Fatalf("got %v, want a config error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestErrorsNeverEchoValues(t *testing.T) {
	_, err := Parse([]byte("cache: {entries: hunter2-secret}\nmounts: [{path: /a, driver: x}]\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v echoes the value", err)
	}
}

// TestNoMounts: a config without mounts is valid, so that a first start
// (the Docker image's starter config) serves an empty root instead of
// exiting; mounts are added later.
func TestNoMounts(t *testing.T) {
	for _, text := range []string{"listen: 127.0.0.1:1\n", "mounts: []\n"} {
		c, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if len(c.Mounts) != 0 {
			t.Fatalf("%q: %d mounts", text, len(c.Mounts))
		}
	}
}
