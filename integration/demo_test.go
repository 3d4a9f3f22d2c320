package integration

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/sample"
)

// TestDemo runs `pandav demo`, which needs no config: every mount lists the
// sample tree and serves the generated 4 GiB file's bytes.
func TestDemo(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl")
	p := startPandav(t, "demo")
	const first, last = 1_000_000_000, 1_000_999_999
	want := make([]byte, last-first+1)
	if _, err := sample.BigFile().ReadAt(want, first); err != nil {
		t.Fatal(err)
	}
	wantTop := map[string]bool{}
	for _, p := range []string{sample.VideoPath, sample.BigPath, sample.ManyDir + "/x", sample.UnicodePath, sample.ReadmePath} {
		top, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		wantTop[top] = true
	}
	for _, e := range demo.Clouds {
		mount := "/" + e.Name
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			r := runTool(t, time.Minute, nil, curl, "-sS", "--fail", "-X", "PROPFIND", "-H", "Depth: 1", p.URL(mount+"/"))
			if r.Err != nil {
				t.Fatalf("curl PROPFIND %s/: %v\n%s", mount, r.Err, r.Stderr)
			}
			got := childNames(t, parseMultistatus(t, r.Stdout), mount+"/")
			for name := range wantTop {
				if _, ok := got[name]; !ok {
					t.Errorf("%s/ does not list %q; it lists %v", mount, name, got)
				}
			}

			out := filepath.Join(t.TempDir(), "range.bin")
			r = runTool(t, 2*time.Minute, nil, curl, "-sS", "--fail", "-r", "1000000000-1000999999",
				"-o", out, "-w", "%{http_code}", p.URL(mount+sample.BigPath))
			if r.Err != nil {
				t.Fatalf("curl -r: %v\n%s", r.Err, r.Stderr)
			}
			if string(r.Stdout) != "206" {
				t.Errorf("range GET answered %s, want 206", r.Stdout)
			}
			b := readFile(t, out)
			if !bytes.Equal(b, want) {
				t.Errorf("got %d bytes, differing from the generated content at byte %d", len(b), firstDiff(b, want))
			}
		})
	}
}
