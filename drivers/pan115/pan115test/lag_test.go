package pan115test

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// list is the names in folder cid as /open/ufile/files gives them, after
// checking that count and every pid agree.
func (c *client) list(cid string) string {
	c.t.Helper()
	r := c.do(http.MethodGet, "/open/ufile/files", url.Values{"cid": {cid}, "show_dir": {"1"}, "limit": {"100"}})
	items, _ := r["data"].([]any)
	if fmt.Sprint(r["cid"]) != cid || fmt.Sprint(r["count"]) != fmt.Sprint(len(items)) {
		c.t.Fatalf("listing %s: %v", cid, r)
	}
	var out []string
	for _, it := range items {
		m := it.(map[string]any)
		if m["pid"] != cid {
			c.t.Errorf("%v listed in %s", m, cid)
		}
		out = append(out, m["fn"].(string))
	}
	return strings.Join(out, ",")
}

// pathInfo is get_info by path: nil when not found.
func (c *client) pathInfo(p string) map[string]any {
	c.t.Helper()
	return data(c.do(http.MethodPost, "/open/folder/get_info", url.Values{"path": {p}}))
}

// lagView is what a client sees: the listings of /a and /b, and paths
// that get_info finds and does not find.
type lagView struct {
	a, b         string
	seen, unseen []string
}

// Listings and path lookups lag behind every write; lookups by ID do not,
// and deletes show at once.
func TestLag(t *testing.T) {
	content := []byte("x")
	cases := []struct {
		name string
		// change writes through the API and returns the ID it changed.
		change        func(c *client, x, b fakecloud.Node) string
		before, after lagView
	}{
		{"upload", func(c *client, x, b fakecloud.Node) string {
			r := data(c.do(http.MethodPost, "/open/upload/init", url.Values{
				"file_name": {"up.txt"}, "file_size": {"1"}, "target": {"U_1_" + b.ID}, "fileid": {upperSHA1(content)},
			}))
			if fmt.Sprint(r["status"]) != "2" {
				c.t.Fatalf("rapid upload: %v", r)
			}
			return r["file_id"].(string)
		}, lagView{"x.txt", "", []string{"/a/x.txt"}, []string{"/b/up.txt"}},
			lagView{"x.txt", "up.txt", []string{"/b/up.txt"}, nil}},
		{"mkdir", func(c *client, x, b fakecloud.Node) string {
			return data(c.do(http.MethodPost, "/open/folder/add", url.Values{"pid": {b.ID}, "file_name": {"d"}}))["file_id"].(string)
		}, lagView{"x.txt", "", nil, []string{"/b/d"}},
			lagView{"x.txt", "d", []string{"/b/d"}, nil}},
		{"rename", func(c *client, x, b fakecloud.Node) string {
			c.do(http.MethodPost, "/open/ufile/update", url.Values{"file_id": {x.ID}, "file_name": {"y.txt"}})
			return x.ID
		}, lagView{"x.txt", "", []string{"/a/x.txt"}, []string{"/a/y.txt"}},
			lagView{"y.txt", "", []string{"/a/y.txt"}, []string{"/a/x.txt"}}},
		{"move", func(c *client, x, b fakecloud.Node) string {
			c.do(http.MethodPost, "/open/ufile/move", url.Values{"file_ids": {x.ID}, "to_cid": {b.ID}})
			return x.ID
		}, lagView{"x.txt", "", []string{"/a/x.txt"}, []string{"/b/x.txt"}},
			lagView{"", "x.txt", []string{"/b/x.txt"}, []string{"/a/x.txt"}}},
		{"copy", func(c *client, x, b fakecloud.Node) string {
			c.do(http.MethodPost, "/open/ufile/copy", url.Values{"file_id": {x.ID}, "pid": {b.ID}})
			n, _ := c.s.Tree().ChildByName(b.ID, "x.txt")
			return n.ID
		}, lagView{"x.txt", "", []string{"/a/x.txt"}, []string{"/b/x.txt"}},
			lagView{"x.txt", "x.txt", []string{"/a/x.txt", "/b/x.txt"}, nil}},
		{"delete", func(c *client, x, b fakecloud.Node) string {
			c.do(http.MethodPost, "/open/ufile/delete", url.Values{"file_ids": {x.ID}})
			return x.ID
		}, lagView{"", "", nil, []string{"/a/x.txt"}},
			lagView{"", "", nil, []string{"/a/x.txt"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// An hour, so that nothing shows before SetLag below.
			c := newClientWith(t, Options{QPS: -1, Lag: time.Hour})
			x, _ := c.s.Tree().PutPath("/a/x.txt", fakecloud.BytesBlob(content))
			b, _ := c.s.Tree().MkdirAll("/b")
			c.s.Tree().Settle()
			id := tc.change(c, x, b)
			if id == "" {
				t.Fatal("nothing changed")
			}
			check := func(when string, v lagView) {
				t.Helper()
				if got := c.list(x.ParentID); got != v.a {
					t.Errorf("%s: /a lists %q, want %q", when, got, v.a)
				}
				if got := c.list(b.ID); got != v.b {
					t.Errorf("%s: /b lists %q, want %q", when, got, v.b)
				}
				for _, p := range v.seen {
					if info := c.pathInfo(p); info == nil || info["file_name"] != path.Base(p) {
						t.Errorf("%s: get_info %s: %v", when, p, info)
					}
				}
				for _, p := range v.unseen {
					if info := c.pathInfo(p); info != nil {
						t.Errorf("%s: get_info %s found %v", when, p, info)
					}
				}
				// By ID, exact.
				r := c.do(http.MethodGet, "/open/folder/get_info", url.Values{"file_id": {id}})
				if n, err := c.s.Tree().Get(id); err != nil || n.Trashed {
					if code(r) != "430004" {
						t.Errorf("%s: get_info of gone %s: %v", when, id, r)
					}
				} else if data(r)["file_name"] != n.Name {
					t.Errorf("%s: get_info of %s: %v, want %s", when, id, r, n.Name)
				}
			}
			check("before", tc.before)
			c.s.SetLag(time.Millisecond)
			time.Sleep(5 * time.Millisecond)
			check("after", tc.after)
		})
	}
}

// The zero Options lag by DefaultLag; a negative Lag does not lag.
func TestLagOptions(t *testing.T) {
	for _, tc := range []struct {
		lag  time.Duration
		want string
	}{{0, ""}, {-1, "d"}} {
		c := newClientWith(t, Options{QPS: -1, Lag: tc.lag})
		c.do(http.MethodPost, "/open/folder/add", url.Values{"pid": {"0"}, "file_name": {"d"}})
		if got := c.list("0"); got != tc.want {
			t.Errorf("Lag %v: the root lists %q at once, want %q", tc.lag, got, tc.want)
		}
	}
}
