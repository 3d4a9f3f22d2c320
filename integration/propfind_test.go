package integration

import (
	"net/http"
	"pandav/internal/demo"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCurlPropfind lists each mount root with curl (PROPFIND Depth 1) and
// checks the hrefs against the emulator's tree; Depth: infinity is refused
// with 403, and the virtual root lists every mount.
func TestCurlPropfind(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl")
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)

	t.Run("root", func(t *testing.T) {
		r := runTool(t, time.Minute, nil, curl, "-sS", "--fail", "-X", "PROPFIND", "-H", "Depth: 1", p.URL("/"))
		if r.Err != nil {
			t.Fatalf("curl PROPFIND /: %v\n%s", r.Err, r.Stderr)
		}
		got := childNames(t, parseMultistatus(t, r.Stdout), "/")
		for _, cl := range c.Each() {
			if isDir, ok := got[cl.Name()]; !ok || !isDir {
				t.Errorf("/ lists %v; want the folder %s", got, cl.Name())
			}
		}
	})
	t.Run("options", func(t *testing.T) {
		r := runTool(t, time.Minute, nil, curl, "-sS", "--fail", "-X", "OPTIONS", "-D", "-", "-o", "/dev/null", p.URL("/"))
		if r.Err != nil {
			t.Fatalf("curl OPTIONS /: %v\n%s", r.Err, r.Stderr)
		}
		if !headerHas(string(r.Stdout), "DAV", "1, 2") {
			t.Errorf("OPTIONS / headers lack DAV: 1, 2:\n%s", r.Stdout)
		}
	})
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			r := runTool(t, time.Minute, nil, curl, "-sS", "--fail", "-X", "PROPFIND", "-H", "Depth: 1", p.URL(demo.MountPath(cl)+"/"))
			if r.Err != nil {
				t.Fatalf("curl PROPFIND %s/: %v\n%s", demo.MountPath(cl), r.Err, r.Stderr)
			}
			got := childNames(t, parseMultistatus(t, r.Stdout), demo.MountPath(cl)+"/")
			kids, err := cl.Tree().Children(cl.Tree().RootID())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(kids) {
				t.Errorf("%d children listed, want %d: %v", len(got), len(kids), got)
			}
			for _, k := range kids {
				isDir, ok := got[k.Name]
				if !ok {
					t.Errorf("%s missing from the listing", k.Name)
				} else if isDir != k.IsDir {
					t.Errorf("%s: collection=%v, want %v", k.Name, isDir, k.IsDir)
				}
			}

			code := runTool(t, time.Minute, nil, curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
				"-X", "PROPFIND", "-H", "Depth: infinity", p.URL(demo.MountPath(cl)+"/"))
			if string(code.Stdout) != "403" {
				t.Errorf("PROPFIND Depth: infinity answered %s, want 403", code.Stdout)
			}
		})
	}
}

// headerHas reports whether a raw header block has name with a value
// containing want.
func headerHas(raw, name, want string) bool {
	for _, line := range strings.Split(raw, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) && strings.Contains(v, want) {
			return true
		}
	}
	return false
}

const quotaBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>`

// TestQuota checks quota-available-bytes and quota-used-bytes on each
// mount root against the figures the emulator reports.
func TestQuota(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	// A different total on each cloud: 2 TiB, 15 TiB, 28 TiB...
	totals := map[string]int64{}
	for i, cl := range c.Each() {
		totals[cl.Name()] = (2 + 13*int64(i)) << 40
		cl.SetSpace(totals[cl.Name()])
	}
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			resp, body := davDo(t, "PROPFIND", p.URL(demo.MountPath(cl)+"/"), map[string]string{"Depth": "0"}, quotaBody)
			if resp.StatusCode != http.StatusMultiStatus {
				t.Fatalf("PROPFIND: %s\n%s", resp.Status, body)
			}
			ms := parseMultistatus(t, body)
			if len(ms.Responses) != 1 {
				t.Fatalf("%d responses to Depth 0, want 1", len(ms.Responses))
			}
			prop, ok := ms.Responses[0].OK()
			if !ok {
				t.Fatalf("no 200 propstat for the quota properties:\n%s", body)
			}
			used := cl.Tree().Usage()
			wantAvail := totals[cl.Name()] - used
			if got, _ := strconv.ParseInt(strings.TrimSpace(prop.QuotaUsed), 10, 64); got != used {
				t.Errorf("quota-used-bytes %q, want %d", prop.QuotaUsed, used)
			}
			if got, _ := strconv.ParseInt(strings.TrimSpace(prop.QuotaAvail), 10, 64); got != wantAvail {
				t.Errorf("quota-available-bytes %q, want %d", prop.QuotaAvail, wantAvail)
			}
		})
	}
}
