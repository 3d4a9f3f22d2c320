package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"pandav/config"
)

// TestStarterConfig: the starter config loads, serves every address with
// one user and no mounts, keeps only the hash of the password it logs, and
// is never written over.
func TestStarterConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	var logged bytes.Buffer
	if err := writeStarterConfig(path, false, zerolog.New(&logged)); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the starter config does not load: %v", err)
	}
	if cfg.Listen != "0.0.0.0:8080" || cfg.StateDir != filepath.Join(dir, "state") || len(cfg.Mounts) != 0 || len(cfg.Users) != 1 {
		t.Fatalf("starter config: listen %s, state_dir %s, %d mounts, %d users", cfg.Listen, cfg.StateDir, len(cfg.Mounts), len(cfg.Users))
	}
	var password string
	for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if p, ok := m["password"].(string); ok {
			if password != "" {
				t.Fatal("the password is logged twice")
			}
			password = p
		}
	}
	if len(password) < 16 {
		t.Fatalf("logged password %q: want at least 16 random characters", password)
	}
	text := string(readTestFile(t, path))
	if strings.Contains(text, password) {
		t.Fatal("the config file holds the password itself")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(cfg.Users[0].Password), []byte(password)); err != nil {
		t.Fatalf("the stored hash does not match the logged password: %v", err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("starter config mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	if err := writeStarterConfig(path, false, zerolog.Nop()); err == nil {
		t.Fatal("a second starter config was written over the first")
	}
	if got := string(readTestFile(t, path)); got != text {
		t.Fatal("the config changed")
	}
}

func TestHealthURL(t *testing.T) {
	for _, tc := range []struct {
		listen string
		tls    bool
		want   string
	}{
		{"0.0.0.0:8080", false, "http://127.0.0.1:8080/healthz"},
		{":9000", false, "http://127.0.0.1:9000/healthz"},
		{"[::]:9090", true, "https://127.0.0.1:9090/healthz"},
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080/healthz"},
		{"192.168.1.5:80", false, "http://192.168.1.5:80/healthz"},
		{"[::1]:8443", true, "https://[::1]:8443/healthz"},
		{"localhost:8080", false, "http://localhost:8080/healthz"},
	} {
		cfg := config.Defaults()
		cfg.Listen = tc.listen
		if tc.tls {
			cfg.TLS = config.TLS{Cert: "c.pem", Key: "k.pem"}
		}
		got, err := healthURL(&cfg)
		if err != nil || got != tc.want {
			t.Errorf("listen %s, tls %v: %q, %v; want %q", tc.listen, tc.tls, got, err, tc.want)
		}
	}
}

func readTestFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
