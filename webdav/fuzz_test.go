package webdav

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// FuzzMountMapping: whatever the path, the guard either refuses it or it
// maps inside exactly one mount (or a virtual folder), never above one.
func FuzzMountMapping(f *testing.F) {
	for _, s := range []string{"/aliyun/a/b", "/115/../aliyun", "/share/demo/x", "/share", "//aliyun//x/", "/aliyun/%2e%2e/x", "/a\\b", "/\x00", "/aliyun/\xc0\xae"} {
		f.Add(s)
	}
	_, d := mountCloud(f, zerolog.Nop())
	fs, err := NewFileSystem([]MountSpec{{Path: "/aliyun", Drive: d}, {Path: "/115", Drive: d}, {Path: "/share/demo", Drive: d}}, Options{Log: zerolog.Nop(), StateDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if badPath(p, "") != "" {
			return
		}
		name := cleanPath(p)
		m, rel := fs.locate(name)
		if m == nil {
			if _, virtual := fs.virtual[name]; !virtual && strings.HasPrefix(name, "/aliyun/") {
				t.Fatalf("%q inside /aliyun maps to no mount", p)
			}
			return
		}
		if !strings.HasPrefix(rel, "/") || m.fullPath(rel) != name {
			t.Fatalf("%q maps to %s + %q", p, m.path, rel)
		}
		if strings.Contains(rel, "..") && strings.Contains("/"+rel+"/", "/../") {
			t.Fatalf("%q escapes: %q", p, rel)
		}
		if !utf8.ValidString(rel) {
			t.Fatalf("%q: invalid UTF-8 got through", p)
		}
	})
}

// FuzzHeaders: the If and Destination handling never panics, and a
// Destination the guard lets through is a clean path.
func FuzzHeaders(f *testing.F) {
	f.Add(`(<opaquelocktoken:1>)`, "/aliyun/a")
	f.Add(`<http://h/a> (Not <2> ["etag"]) (<3>)`, "http://other/aliyun/%E4%B8%AD")
	f.Add(`((<`, "ftp://x")
	f.Add(`<<>>`, "/aliyun/../115")
	f.Fuzz(func(t *testing.T, ifHdr, dest string) {
		if lists, ok := parseIfHeader(ifHdr); ok {
			for _, l := range lists {
				for _, c := range l.conds {
					if (c.token == "") == (c.etag == "") && !strings.Contains(ifHdr, "<>") && !strings.Contains(ifHdr, "[]") {
						t.Fatalf("%q: a condition with neither or both of token and entity tag: %+v", ifHdr, c)
					}
				}
			}
		}
		ifHeaderETags(ifHdr, "/aliyun/a", true, `"x"`)
		lists, _ := parseIfHeader(ifHdr)
		for _, c := range submittedTokens(lists) {
			if strings.ContainsAny(c.Token, "<>") {
				t.Fatalf("token %q keeps brackets", c.Token)
			}
		}
		r, err := http.NewRequest("MOVE", "http://h/aliyun/a", nil)
		if err != nil {
			t.Skip()
		}
		r.Header.Set("Destination", dest)
		if code, _ := guardRequest(r); code == 0 && dest != "" {
			u, err := url.Parse(dest)
			if err != nil {
				t.Fatalf("guard passed an unparsable Destination %q", dest)
			}
			if cleanPath(u.Path) != strings.TrimSuffix(u.Path, "/") && u.Path != "/" && !strings.Contains(u.Path, "//") {
				t.Fatalf("guard passed a Destination that cleans differently: %q", u.Path)
			}
		}
	})
}
