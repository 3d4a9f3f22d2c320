package integration

import (
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
)

const (
	explorerUA      = "Microsoft-WebDAV-MiniRedir/10.0.19045"
	explorerLock    = `<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>DESKTOP-1\user</D:href></D:owner></D:lockinfo>`
	explorerWin32   = `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop><Z:Win32CreationTime>Tue, 02 Dec 2025 09:00:00 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Tue, 02 Dec 2025 09:00:01 GMT</Z:Win32LastAccessTime><Z:Win32LastModifiedTime>Tue, 02 Dec 2025 09:00:02 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>`
	explorerAttrs   = `<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop><Z:Win32FileAttributes xmlns:Z="urn:schemas-microsoft-com:"/></D:prop></D:propfind>`
	explorerContent = "a spreadsheet, saved from Windows Explorer\r\n"
)

var uuidToken = regexp.MustCompile(`^<urn:uuid:[0-9a-f-]{36}>$`)

// TestExplorerSave replays Windows Explorer's save of a new file on every
// mount through the real binary: PROPFIND (404), a zero-byte PUT, LOCK,
// PROPPATCH of the Win32 times and attributes, HEAD, the PUT of the
// content with the lock's token, UNLOCK, GET. Every step succeeds, the
// cloud holds the content (one upload), and the properties set on the
// empty placeholder are the stored file's.
func TestExplorerSave(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			u := p.URL(demo.MountPath(cl) + "/Documents/Budget 2026.xlsx")
			ua := map[string]string{"User-Agent": explorerUA}
			with := func(extra map[string]string) map[string]string {
				h := maps.Clone(ua)
				maps.Copy(h, extra)
				return h
			}
			uploads := cl.Counters().Get(cl.Endpoints().Upload)
			if resp, _ := davDo(t, "PROPFIND", u, with(map[string]string{"Depth": "0"}), ""); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("PROPFIND before: %s", resp.Status)
			}
			steps := []struct {
				method string
				hdr    map[string]string
				body   string
				want   int
			}{
				{"PUT", nil, "", http.StatusCreated},
				{"LOCK", map[string]string{"Timeout": "Second-3600", "Depth": "0"}, explorerLock, http.StatusOK},
				{"PROPPATCH", map[string]string{"If": "TOKEN"}, explorerWin32, http.StatusMultiStatus},
				{"HEAD", nil, "", http.StatusOK},
				{"PUT", map[string]string{"If": "TOKEN"}, explorerContent, 0},
				{"UNLOCK", map[string]string{"Lock-Token": "TOKEN"}, "", http.StatusNoContent},
				{"GET", nil, "", http.StatusOK},
			}
			token := ""
			for _, s := range steps {
				h := with(nil)
				for k, v := range s.hdr {
					if v == "TOKEN" {
						v = token
						if k == "If" {
							v = "(" + token + ")"
						}
					}
					h[k] = v
				}
				resp, body := davDo(t, s.method, u, h, s.body)
				ok := resp.StatusCode == s.want || s.want == 0 && (resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusNoContent)
				if !ok || strings.Contains(string(body), "403 Forbidden") {
					t.Fatalf("%s: %s\n%s", s.method, resp.Status, body)
				}
				switch s.method {
				case "LOCK":
					token = resp.Header.Get("Lock-Token")
					if !uuidToken.MatchString(token) {
						t.Fatalf("lock token %q is not a urn:uuid", token)
					}
				case "GET":
					if string(body) != explorerContent {
						t.Fatalf("GET: %q", body)
					}
				}
			}
			if n, err := cl.Tree().Lookup("/Documents/Budget 2026.xlsx"); err != nil || n.Size() != int64(len(explorerContent)) {
				t.Fatalf("the cloud holds %+v (%v)", n, err)
			}
			if n := cl.Counters().Get(cl.Endpoints().Upload) - uploads; n != 1 {
				t.Errorf("%d uploads for one save, want 1", n)
			}
			if _, body := davDo(t, "PROPFIND", u, with(map[string]string{"Depth": "0"}), explorerAttrs); !strings.Contains(string(body), "00000020") {
				t.Fatalf("the Win32 attributes set on the placeholder are lost:\n%s", body)
			}
		})
	}
}

// TestLocksSurviveRestart: locks are kept in state_dir; after a restart
// a write without the token is still refused, and the token still works.
func TestLocksSurviveRestart(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	tokens := map[string]string{}
	for _, cl := range c.Each() {
		u := p.URL(demo.MountPath(cl) + "/README.txt")
		resp, body := davDo(t, "LOCK", u, map[string]string{"Timeout": "Second-600"}, explorerLock)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s LOCK: %s %s", cl.Name(), resp.Status, body)
		}
		tokens[cl.Name()] = resp.Header.Get("Lock-Token")
	}
	p.Terminate(t)
	p = startServe(t, cfg)
	for _, cl := range c.Each() {
		u := p.URL(demo.MountPath(cl) + "/README.txt")
		if resp, _ := davDo(t, "PUT", u, nil, "no token"); resp.StatusCode != http.StatusLocked {
			t.Errorf("%s: PUT without the token after a restart: %s", cl.Name(), resp.Status)
		}
		if resp, _ := davDo(t, "PUT", u, map[string]string{"If": "(" + tokens[cl.Name()] + ")"}, "with the token"); resp.StatusCode >= 300 {
			t.Errorf("%s: PUT with the token after a restart: %s", cl.Name(), resp.Status)
		}
		if resp, _ := davDo(t, "UNLOCK", u, map[string]string{"Lock-Token": tokens[cl.Name()]}, ""); resp.StatusCode != http.StatusNoContent {
			t.Errorf("%s: UNLOCK after a restart: %s", cl.Name(), resp.Status)
		}
	}
}

// mountFileLimit is the largest file TestMountErrors lets a cloud take.
const mountFileLimit = 1 << 20

// TestMountErrors: what a cloud refuses or fails reaches a WebDAV client
// as a status it can act on, and a mounted client as the error rclone
// maps it to, with nothing written: throttling 503 with Retry-After, a
// cloud down 502, a name refused 400, a full drive 507 and a file too
// large 413. rclone 1.60's mount turns every status but 404 into EIO
// (cmd/mount's translateError), so that is the errno the mount shows;
// the statuses are what a client with a finer mapping acts on.
func TestMountErrors(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	needFUSE(t)
	c := fastClouds(t, nil)
	extra := map[string]map[string]any{}
	for _, cl := range c.Each() {
		if l, ok := cl.(fakecloud.FileSizeLimited); ok {
			extra[cl.Name()] = l.LimitFileSize(mountFileLimit)
		}
	}
	cfg, stateDir := c.WriteConfigWith(t, serveOptions{Fast: true, MountOptions: extra})
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			mnt := demo.MountPath(cl)
			m := mountRclone(t, rclone, "http://"+p.Addr+mnt, "off", "--low-level-retries", "1")
			os.Mkdir(filepath.Join(m.Dir, "errors"), 0o755)
			ep := cl.Endpoints().Upload
			cases := []struct {
				name   string
				file   string
				size   int
				arm    func()
				status int
			}{
				{"throttled", "throttled.bin", 1000, func() { cl.Faults().Inject(ep, fakecloud.Throttle, 1, -1) }, http.StatusServiceUnavailable},
				{"cloud down", "down.bin", 1000, func() { cl.Faults().Inject(ep, fakecloud.ServerError, 1, -1) }, http.StatusBadGateway},
				{"name refused", `back\slash.bin`, 1000, func() {}, http.StatusBadRequest},
				{"drive full", "full.bin", 1000, func() { cl.SetSpace(cl.Tree().Usage()) }, http.StatusInsufficientStorage},
				{"too large", "large.bin", mountFileLimit + 1, func() {}, http.StatusRequestEntityTooLarge},
			}
			if _, ok := cl.(fakecloud.FileSizeLimited); !ok {
				cases = cases[:len(cases)-1]
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					defer func() { cl.Faults().Clear(); cl.SetSpace(1 << 50) }()
					tc.arm()
					data := strings.Repeat("x", tc.size)
					resp, body := davDo(t, "PUT", p.URL(mnt+"/errors/http-"+tc.file), nil, data)
					if resp.StatusCode != tc.status {
						t.Errorf("PUT: %s, want %d: %s", resp.Status, tc.status, body)
					}
					if tc.status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
						t.Errorf("503 without Retry-After")
					}
					err := os.WriteFile(filepath.Join(m.Dir, "errors", tc.file), []byte(data), 0o644)
					if !errors.Is(err, syscall.EIO) {
						t.Errorf("write through the mount: %v, want EIO", err)
					}
					for _, name := range []string{"http-" + tc.file, tc.file} {
						if _, err := cl.Tree().Lookup("/errors/" + name); err == nil {
							t.Errorf("%s was written to the cloud", name)
						}
					}
				})
			}
		})
	}
	t.Cleanup(func() { // after the subtests, whose uploads share state_dir
		if left, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*")); len(left) > 0 {
			t.Errorf("spool files left: %v", left)
		}
	})
}

// TestReadAfterWriteNeedsNoLink: on every mount, a small file PUT and
// then read back costs the cloud no download link: pandav serves it from
// what it kept of its own upload.
func TestReadAfterWriteNeedsNoLink(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			body := strings.Repeat("read me back at once\n", 240)
			links := cl.Counters().Get(cl.Endpoints().Link)
			for i := range 3 {
				u := p.URL(demo.MountPath(cl) + "/Documents/read-back-" + string(rune('a'+i)) + ".txt")
				if resp, out := davDo(t, "PUT", u, nil, body); resp.StatusCode != http.StatusCreated {
					t.Fatalf("PUT: %s %s", resp.Status, out)
				}
				if resp, out := davDo(t, "GET", u, nil, ""); resp.StatusCode != http.StatusOK || string(out) != body {
					t.Fatalf("GET: %s, %d bytes", resp.Status, len(out))
				}
			}
			if n := cl.Counters().Get(cl.Endpoints().Link) - links; n != 0 {
				t.Errorf("3 PUTs read back cost %d link calls, want 0", n)
			}
		})
	}
}
