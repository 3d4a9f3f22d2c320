package app

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"pandav/config"
)

// TestExampleConfig proves config.example.yaml, which documents every key,
// is accepted whole: by the loader and by every driver's options.
func TestExampleConfig(t *testing.T) {
	for _, v := range []string{"PANDAV_ALICE_HASH", "PAN115_APP_ID", "ALIYUN_CLIENT_ID", "ALIYUN_CLIENT_SECRET"} {
		t.Setenv(v, "a.b.c")
	}
	b, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Every endpoint is pointed at a closed loopback port: opening a mount
	// must not need the network, and a background check must not reach it.
	b = []byte(strings.ReplaceAll(string(b), "https://", "http://127.0.0.1:9/"))
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	cfg.Users[0].Password = "$2a$10$" + strings.Repeat("a", 53)
	a, err := New(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if a.FS == nil {
		t.Fatal("no file system")
	}
}

func TestNonLoopbackNeedsUsers(t *testing.T) {
	cfg, err := config.Parse([]byte("listen: 0.0.0.0:8080\nmounts: [{path: /a, driver: pan115, options: {refresh_token: x}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	if _, err := New(context.Background(), cfg, zerolog.Nop()); err == nil || !config.IsError(err) {
		t.Fatalf("anonymous non-loopback server started: %v", err)
	}
	cfg.AllowAnonymous = true
	if _, err := New(context.Background(), cfg, zerolog.Nop()); err != nil {
		t.Fatalf("allow_anonymous: %v", err)
	}
}
