package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/internal/admin"
	"pandav/internal/auth"
)

type fakeInfo struct {
	name string
	size int64
	dir  bool
}

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0 }
func (f fakeInfo) ModTime() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return nil }

func TestFolderPage(t *testing.T) {
	c := New(admin.NewService(nil, zerolog.New(io.Discard)), nil, zerolog.New(io.Discard))
	infos := []os.FileInfo{
		fakeInfo{name: "<img src=x onerror=alert(1)>.mp4", size: 3 << 20},
		fakeInfo{name: "b.txt", size: 10},
		fakeInfo{name: "Sub & dir", dir: true},
	}
	r := httptest.NewRequest("GET", "/m/a%20b/?sort=size&order=desc", nil)
	w := httptest.NewRecorder()
	c.ServeFolder(w, r, "/m/a b/", infos)
	body := w.Body.String()
	if strings.Contains(body, "<img src=x") {
		t.Error("the name reached the page as markup")
	}
	for _, want := range []string{
		"&lt;img src=x onerror=alert(1)&gt;.mp4", "3.0 MiB", `href="/m/a%20b/Sub%20&amp;%20dir/"`, `data-play="video"`,
		`aria-sort="descending"`, `<time datetime="2026-01-02T03:04:05Z">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(body, "<script>") {
		t.Error("inline script")
	}
	// Folders first, then by size, largest first.
	dir, big, small := strings.Index(body, "Sub &amp; dir"), strings.Index(body, ".mp4"), strings.Index(body, "b.txt")
	if !(dir < big && big < small) {
		t.Errorf("order: %d %d %d", dir, big, small)
	}
}

// A read-only user, and everyone at the root of mounts, gets no buttons
// that would change anything.
func TestFolderPageReadOnly(t *testing.T) {
	c := New(admin.NewService(nil, zerolog.New(io.Discard)), nil, zerolog.New(io.Discard))
	infos := []os.FileInfo{fakeInfo{name: "a.mp4", size: 1}}
	for _, tc := range []struct {
		folder   string
		user     *auth.User
		readOnly bool
	}{
		{"/m/", &auth.User{Name: "ro", ReadOnly: true}, true},
		{"/m/", &auth.User{Name: "rw"}, false},
		{"/", &auth.User{Name: "rw"}, true},
	} {
		r := httptest.NewRequest("GET", tc.folder, nil)
		r = r.WithContext(auth.WithUser(r.Context(), tc.user))
		w := httptest.NewRecorder()
		c.ServeFolder(w, r, tc.folder, infos)
		body := w.Body.String()
		for _, button := range []string{`class="rename`, `class="delete`, `id="upload"`, `id="mkdir"`, `id="dropzone"`} {
			if strings.Contains(body, button) == tc.readOnly {
				t.Errorf("%s for %s: %s shown: %v", tc.folder, tc.user.Name, button, !tc.readOnly)
			}
		}
		if !strings.Contains(body, `class="play"`) || !strings.Contains(body, "download>") {
			t.Errorf("%s for %s: no play or download link", tc.folder, tc.user.Name)
		}
	}
}

func TestConsolePaths(t *testing.T) {
	for p, want := range map[string]bool{
		"/.pandav": true, "/.pandav/mounts": true, "/.pandav/static/app.css": true, "/.pandav/qr/x.png": true,
		"/.pandav/api/v1/mounts": false, "/.pandavx": false, "/": false, "/.pandav/mount/aliyun-share/seg/1.ts": false,
		"/.pandav/strm/x": false, "/.pandav/healthz": false, "/.pandav/other": false,
	} {
		if IsConsolePath(p) != want {
			t.Errorf("IsConsolePath(%q) = %v", p, !want)
		}
	}
	for in, want := range map[string]string{"": "/", "/a/b?c": "/a/b?c", "//evil.example": "/", "https://evil.example/": "/", "/\\evil": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q", in, got)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 123 << 20: "123 MiB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q", n, got)
		}
	}
}

// With no users, the admin pages answer only this machine's browser.
func TestConsoleLocalOnly(t *testing.T) {
	c := New(admin.NewService(nil, zerolog.New(io.Discard)), nil, zerolog.New(io.Discard))
	for _, tc := range []struct {
		remote, host string
		want         int
	}{{"127.0.0.1:5000", "127.0.0.1:8080", 200}, {"10.0.0.2:5000", "nas:8080", 403}, {"127.0.0.1:5000", "evil.example", 403}} {
		r := httptest.NewRequest("GET", "/.pandav/mounts", nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s asking %s: %d, want %d", tc.remote, tc.host, w.Code, tc.want)
		}
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest("GET", "/.pandav/static/files.js", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Errorf("static: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestSignIn(t *testing.T) {
	log := zerolog.New(io.Discard)
	gate := auth.NewGate([]auth.User{{Name: "root", Password: "rootpw", Admin: true}, {Name: "bob", Password: "bobpw"}}, log, auth.Options{FailuresPerMinute: 3})
	c := New(admin.NewService(nil, log), gate, log)
	post := func(form url.Values, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://nas:8080/.pandav/signin", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		return w
	}
	get := func(p string, cookie *http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://nas:8080"+p, nil)
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		return w
	}
	if w := post(url.Values{"user": {"root"}, "password": {"rootpw"}}, "http://evil.example"); w.Code != http.StatusForbidden {
		t.Errorf("a sign-in from another site: %d", w.Code)
	}
	w := post(url.Values{"user": {"root"}, "password": {"rootpw"}, "next": {"/.pandav/shares"}}, "http://nas:8080")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/.pandav/shares" || len(w.Result().Cookies()) != 1 {
		t.Fatalf("sign-in: %d %q", w.Code, w.Header().Get("Location"))
	}
	rootCookie := w.Result().Cookies()[0]
	if w := get("/.pandav/mounts", rootCookie); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="pandav-token" content="`) {
		t.Errorf("an admin's mounts page: %d", w.Code)
	}
	if w := get("/.pandav/mounts", nil); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), SignInPath+"?next=") {
		t.Errorf("without a session: %d %q", w.Code, w.Header().Get("Location"))
	}
	w = post(url.Values{"user": {"bob"}, "password": {"bobpw"}}, "")
	if w := get("/.pandav/downloads", w.Result().Cookies()[0]); w.Code != http.StatusForbidden {
		t.Errorf("a user who is not an admin: %d", w.Code)
	}
	// Signing out needs the token.
	r := httptest.NewRequest("POST", "http://nas:8080/.pandav/signout", nil)
	r.AddCookie(rootCookie)
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Errorf("sign-out without the token: %d", rec.Code)
	}
	// The form's failures count against the address as Basic's do.
	for i := 0; i < 3; i++ {
		if w := post(url.Values{"user": {"root"}, "password": {"wrong"}}, ""); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "wrong user name or password") {
			t.Errorf("a wrong password: %d", w.Code)
		}
	}
	if w := post(url.Values{"user": {"root"}, "password": {"rootpw"}}, ""); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("past the limit: %d %q", w.Code, w.Header().Get("Retry-After"))
	}
}

// The page a sign-in returns to is always on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/a/b?c=d", "//evil.example/", "/\\evil.example", "https://evil.example", "/%2F%2Fevil", "/\t/evil.example", " /x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil {
			// A browser would not follow it off the site either; but say so.
			t.Skip()
		}
		if !strings.HasPrefix(got, "/") || u.Host != "" || u.Scheme != "" || strings.HasPrefix(got, "//") {
			t.Errorf("safeNext(%q) = %q leaves the site", next, got)
		}
		// Browsers strip tabs and newlines from URLs before they parse them.
		if stripped := strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(got); strings.HasPrefix(stripped, "//") || strings.HasPrefix(stripped, "/\\") {
			t.Errorf("safeNext(%q) = %q leaves the site once a browser strips it", next, got)
		}
	})
}
