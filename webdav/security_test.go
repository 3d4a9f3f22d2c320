package webdav

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"pandav/internal/auth"
	"pandav/internal/fakecloud"
)

// rawRequest sends a request line exactly as written, past any client
// normalisation, and returns the status.
func rawRequest(t *testing.T, addr, method, target string, headers ...string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n%s\r\n", method, target, strings.Join(headers, ""))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestHostileRequests(t *testing.T) {
	e := newEnv(t, "/fake", "/other")
	e.cloud.Tree().PutPath("/dir/a.txt", fakecloud.BytesBlob([]byte("a")))
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	before := e.cloud.Counters().Snapshot()
	tests := []struct {
		method, target string
		headers        []string
	}{
		{"GET", "/fake/../other/dir/a.txt", nil},
		{"GET", "/fake/%2e%2e/other/dir/a.txt", nil},
		{"GET", "/fake/dir/%2E%2E/%2E%2E/etc/passwd", nil},
		{"GET", "/fake/dir\\a.txt", nil},
		{"GET", "/fake/dir%5ca.txt", nil},
		{"GET", "/fake/dir/a.txt%00.mkv", nil},
		{"GET", "/fake/%c0%ae%c0%ae/x", nil},
		{"PROPFIND", "/fake/./dir", []string{"Depth: 1\r\n"}},
		{"MOVE", "/fake/dir/a.txt", []string{"Destination: /fake/../other/x\r\n"}},
		{"MOVE", "/fake/dir/a.txt", []string{"Destination: /other/x\r\n"}},
		{"COPY", "/fake/dir/a.txt", []string{"Destination: /other/x\r\n"}},
		{"MOVE", "/fake/dir/a.txt", []string{"Destination: ftp://h/fake/x\r\n"}},
		{"MOVE", "/fake/dir/a.txt", []string{"Destination: /\r\n"}},
		{"MOVE", "/fake", []string{"Destination: /fake2\r\n"}},
		{"DELETE", "/fake", nil},
		{"DELETE", "/", nil},
		{"PUT", "/fake/dir/", nil},
		{"PROPFIND", "/fake/", []string{"Depth: infinity\r\n"}},
	}
	for _, tc := range tests {
		b := fmt.Sprint(e.cloud.Counters().Snapshot())
		code := rawRequest(t, addr, tc.method, tc.target, tc.headers...)
		if a := fmt.Sprint(e.cloud.Counters().Snapshot()); a != b {
			t.Errorf("%s %s reached the cloud", tc.method, tc.target)
		}
		if code < 400 || code >= 500 && code != http.StatusBadGateway {
			t.Errorf("%s %s %v: %d, want a 4xx", tc.method, tc.target, tc.headers, code)
		}
	}
	if after := e.cloud.Counters().Snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("hostile requests reached the cloud: %v -> %v", before, after)
	}
	t.Logf("%d hostile requests, 0 got through", len(tests))
}

func TestHostileBodies(t *testing.T) {
	e := newEnv(t)
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>` +
		`<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>`
	big := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` + strings.Repeat("<D:displayname/>", 80000) + `</D:prop></D:propfind>`
	for name, body := range map[string]string{"entity expansion": laughs, "over 1 MiB": big} {
		for _, m := range []string{"PROPFIND", "PROPPATCH", "LOCK"} {
			resp := e.do(t, m, "/fake/", map[string]string{"Depth": "0"}, body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s with %s: %d", m, name, resp.StatusCode)
			}
		}
	}
}

// authed serves fs behind auth.RequireAuth, wired as the server wires it.
func authed(t *testing.T, fs *FileSystem, users []auth.User) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(auth.RequireAuth(NewHandler(fs), users, zerolog.Nop(), auth.Options{
		FailuresPerMinute: 10,
		IsWrite:           IsWrite,
		AnonymousOptions:  http.HandlerFunc(AnonymousOptions),
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestUsersSeeTheirMounts: a user sees and reaches only their mounts, and
// a read-only user writes nothing. The login itself is internal/auth's
// (see its tests).
func TestUsersSeeTheirMounts(t *testing.T) {
	_, d := mountCloud(t, zerolog.Nop())
	fs, err := NewFileSystem([]MountSpec{{Path: "/a", Drive: d}, {Path: "/b", Drive: d}}, Options{Log: zerolog.Nop(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	srv := authed(t, fs, []auth.User{
		{Name: "alice", Password: string(hash)},
		{Name: "bob", Password: "plain", ReadOnly: true, Mounts: []string{"/b"}},
	})
	do := func(method, p, user, pass string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+p, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		req.Header.Set("Depth", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := do("OPTIONS", "/", "", ""); r.StatusCode != 200 {
		t.Fatalf("OPTIONS without auth: %d", r.StatusCode)
	}
	if r := do("PROPFIND", "/", "", ""); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d", r.StatusCode)
	}
	if r := do("PROPFIND", "/", "alice", "s3cret"); r.StatusCode != 207 {
		t.Fatalf("alice: %d", r.StatusCode)
	}
	r := do("PROPFIND", "/", "bob", "plain")
	if body := readAll(t, r); r.StatusCode != 207 || strings.Contains(body, "/a/") || !strings.Contains(body, "/b/") {
		t.Fatalf("bob sees: %s", body)
	}
	if r := do("PROPFIND", "/a/", "bob", "plain"); r.StatusCode != 404 {
		t.Fatalf("bob outside his mounts: %d", r.StatusCode)
	}
	if r := do("MKCOL", "/b/x", "bob", "plain"); r.StatusCode != 403 {
		t.Fatalf("read-only bob wrote: %d", r.StatusCode)
	}
	if r := do("MOVE", "/b/x", "bob", "plain"); r.StatusCode != 403 {
		t.Fatalf("read-only bob moved: %d", r.StatusCode)
	}
}

func TestAnonymousOptionsRevealsNothing(t *testing.T) {
	c, d := mountCloud(t, zerolog.Nop())
	c.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	fs, _ := NewFileSystem([]MountSpec{{Path: "/m", Drive: d}}, Options{Log: zerolog.Nop(), StateDir: t.TempDir()})
	srv := authed(t, fs, []auth.User{{Name: "u", Password: "p"}})
	var allows []string
	for _, p := range []string{"/m/a.txt", "/m/missing", "/m/"} {
		req, _ := http.NewRequest("OPTIONS", srv.URL+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("DAV") != "1, 2" {
			t.Fatalf("OPTIONS %s: %d %q", p, resp.StatusCode, resp.Header.Get("DAV"))
		}
		allows = append(allows, resp.Header.Get("Allow"))
	}
	if allows[0] != allows[1] || allows[1] != allows[2] {
		t.Fatalf("anonymous Allow headers differ by path: %q", allows)
	}
	if n := len(c.Counters().Snapshot()); n != 0 {
		t.Fatalf("anonymous OPTIONS reached the cloud: %v", c.Counters().Snapshot())
	}
}
