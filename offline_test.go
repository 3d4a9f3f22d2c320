package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
)

func TestOfflineUsage(t *testing.T) {
	for _, args := range [][]string{
		{"offline"},
		{"offline", "fetch", "-c", "x.yaml"},
		{"offline", "add", "-c", "x.yaml"},
		{"offline", "rm", "-c", "x.yaml"},
		{"offline", "clear", "-c", "x.yaml"},
		{"offline", "clear", "-c", "x.yaml", "--done", "--failed"},
		{"offline", "clear", "-c", "x.yaml", "--failed", "--with-files"},
		{"offline", "quota", "-c", "x.yaml", "extra"},
		{"offline", "list"},
	} {
		if code, _, errs := runCLI(args...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d, %q; want 2 with a reason", args, code, errs)
		}
	}
}

// With no server holding state_dir, pandav offline opens the mounts
// itself; a mount without cloud download says so.
func TestOfflineInProcess(t *testing.T) {
	dir := t.TempDir()
	yaml := "listen: 127.0.0.1:0\nstate_dir: " + filepath.Join(dir, "state") + "\nmounts:\n"
	var cd fakecloud.CloudDownloads
	var mount, other string
	for _, e := range demo.Clouds {
		c := e.Start(fakecloud.Options{Unthrottled: true})
		t.Cleanup(c.Close)
		m := demo.CloudMount(c, c.Login().Issue().Refresh)
		yaml += m.YAML()
		if x, ok := c.(fakecloud.CloudDownloads); ok && cd == nil {
			cd, mount = x, m.Path
			c.Tree().MkdirAll("/films")
		} else {
			other = m.Path
		}
	}
	if cd == nil {
		t.Skip("no cloud of the list has cloud download")
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("offline", "add", "-c", cfg, "--to", mount+"/films", "https://example.com/a.iso", "magnet:?xt=urn:btih:zz")
	if code != 1 || !strings.Contains(out, "added into "+mount+"/films: https://example.com/a.iso") || !strings.Contains(errs, "magnet:?xt=urn:btih:zz was not added: the magnet link has no valid btih hash") {
		t.Fatalf("add: exit %d\n%s%s", code, out, errs)
	}
	if used, _ := cd.DownloadQuota(); used != 1 {
		t.Fatalf("quota used %d, want 1", used)
	}
	cd.AdvanceDownloads(cd.DownloadTime())
	code, out, errs = runCLI("offline", "list", "-c", cfg)
	if code != 0 || !strings.Contains(out, "done") || !strings.Contains(out, "[####################] 100.0%") || !strings.Contains(out, mount+"/films") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs = runCLI("offline", "quota", "-c", cfg); code != 0 || !strings.Contains(out, "1 used") {
		t.Fatalf("quota: exit %d\n%s%s", code, out, errs)
	}
	if other != "" {
		if code, _, errs = runCLI("offline", "list", "-c", cfg, "--mount", other); code != 2 || !strings.Contains(errs, "has no cloud download") {
			t.Fatalf("a mount without cloud download: exit %d %s", code, errs)
		}
	}
}
