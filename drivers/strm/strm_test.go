package strm_test

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/memdrive"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/drivers/strm"
	"pandav/internal/fakecloud"
	"pandav/internal/strmlink"
	"pandav/webdav"
)

// server is pandav in small: a memdrive mount at /cloud, its strm view
// at /lib, and the signed routes in front of WebDAV.
type server struct {
	cloud *memdrivetest.Server
	keys  strmlink.Keys
	srv   *httptest.Server
}

func start(t *testing.T, opts strm.Options) *server {
	t.Helper()
	cloud := memdrivetest.NewServer(memdrivetest.Options{Rate: -1})
	t.Cleanup(cloud.Close)
	for p, body := range map[string]string{
		"/Movies/Film A/Film A.mkv":       strings.Repeat("A", 5000),
		"/Movies/Film A/Film A.srt":       "1\n00:00:01,000 --> 00:00:02,000\nhi\n",
		"/Movies/Film A/Film A.nfo":       "<movie/>",
		"/Movies/Film A/poster.JPG":       "jpeg",
		"/Movies/Film A/notes.txt":        "hidden",
		"/Movies/Film A/theme.mp3":        "hidden",
		"/Movies/Film B/Film B.MP4":       strings.Repeat("B", 3000),
		"/Movies/Film B/Film B.mkv":       strings.Repeat("b", 3000),
		"/Movies/Series/S01/E01 名字 #1.ts": strings.Repeat("E", 1000),
	} {
		if _, err := cloud.Tree().PutPath(p, fakecloud.BytesBlob([]byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	state := t.TempDir()
	src, err := memdrive.New(context.Background(), drivers.Env{MountPath: "/cloud", StateDir: state, Log: zerolog.Nop()},
		memdrive.Options{RefreshToken: cloud.Login().Issue().Refresh, APIURL: cloud.APIURL(), QPS: 1000, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	keys := strmlink.FileKeys(state)
	shared := drivers.NewShared()
	drivers.SharedValue(shared, strmlink.SharedKeys, func() (strmlink.Keys, error) { return keys, nil })
	s := &server{cloud: cloud, keys: keys}
	// The handler is only known once the server's URL is, which the
	// view's links start with.
	var h http.Handler
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(s.srv.Close)
	env := drivers.Env{MountPath: "/lib", StateDir: state, Log: zerolog.Nop(), Shared: shared, ServerURL: s.srv.URL,
		Mount: func(p string) (drivers.Drive, bool) { return src, p == "/cloud" }}
	view, err := strm.New(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := webdav.NewFileSystem([]webdav.MountSpec{{Path: "/cloud", Drive: src}, {Path: "/lib", Drive: view}}, webdav.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dav := webdav.NewHandler(fs)
	h = strmlink.Route(dav, strmlink.NewSigner(keys), dav, zerolog.Nop())
	return s
}

func (s *server) get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// names lists a folder of the view by PROPFIND, as a media server does.
func (s *server) names(t *testing.T, p string) []string {
	t.Helper()
	req, _ := http.NewRequest("PROPFIND", s.srv.URL+p, nil)
	req.Header.Set("Depth", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ms struct {
		Responses []struct {
			Href string `xml:"href"`
		} `xml:"response"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&ms); err != nil {
		t.Fatalf("PROPFIND %s: %s: %v", p, resp.Status, err)
	}
	var out []string
	for _, r := range ms.Responses[1:] {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(r.Href, p+"/"), "/"))
	}
	sort.Strings(out)
	return out
}

func TestViewShowsLinksAndSideFiles(t *testing.T) {
	s := start(t, strm.Options{Source: "/cloud/Movies"})
	if got := strings.Join(s.names(t, "/lib/Film%20A"), ","); got != "Film%20A.nfo,Film%20A.srt,Film%20A.strm,poster.JPG" {
		t.Fatalf("Film A shows %s", got)
	}
	// Two videos of one name keep their extensions, in any case.
	if got := strings.Join(s.names(t, "/lib/Film%20B"), ","); got != "Film%20B.MP4.strm,Film%20B.mkv.strm" {
		t.Fatalf("Film B shows %s", got)
	}
	links := s.cloud.Counters().Get(memdrivetest.EndpointLink)
	code, body := s.get(t, s.srv.URL+"/lib/Film%20A/Film%20A.strm")
	if code != http.StatusOK || !strings.HasPrefix(body, s.srv.URL+strmlink.FilePrefix) || strings.ContainsAny(body, "\n ") {
		t.Fatalf("Film A.strm: %d %q, want one link", code, body)
	}
	if n := s.cloud.Counters().Get(memdrivetest.EndpointLink) - links; n != 0 {
		t.Fatalf("reading a .strm cost %d link calls", n)
	}
	// The link plays the film, ranges and all.
	if code, got := s.get(t, body, "Range", "bytes=10-19"); code != http.StatusPartialContent || got != strings.Repeat("A", 10) {
		t.Fatalf("range through the link: %d %q", code, got)
	}
	// Side files read through the view as they are.
	if code, got := s.get(t, s.srv.URL+"/lib/Film%20A/Film%20A.nfo"); code != http.StatusOK || got != "<movie/>" {
		t.Fatalf("Film A.nfo: %d %q", code, got)
	}
	// A name that needs escaping.
	_, link := s.get(t, s.srv.URL+"/lib/Series/S01/E01%20%E5%90%8D%E5%AD%97%20%231.strm")
	if code, got := s.get(t, link); code != http.StatusOK || got != strings.Repeat("E", 1000) {
		t.Fatalf("E01 through %q: %d, %d bytes", link, code, len(got))
	}
}

func TestLinksRefusedWithoutCloudCalls(t *testing.T) {
	s := start(t, strm.Options{Source: "/cloud/Movies"})
	_, a := s.get(t, s.srv.URL+"/lib/Film%20A/Film%20A.strm")
	_, b := s.get(t, s.srv.URL+"/lib/Film%20B/Film%20B.mkv.strm")
	before := s.cloud.Counters().Snapshot()
	sigA := strings.SplitN(strings.TrimPrefix(a, s.srv.URL+strmlink.FilePrefix), "/", 2)[0]
	pathB := strings.SplitN(strings.TrimPrefix(b, s.srv.URL+strmlink.FilePrefix), "/", 2)[1]
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	i := len(s.srv.URL + strmlink.FilePrefix)
	for name, u := range map[string]string{
		"signature changed":        flip(a, i+5),
		"path changed":             flip(a, len(a)-6),
		"another file's signature": s.srv.URL + strmlink.FilePrefix + sigA + "/" + pathB,
		"a folder":                 s.srv.URL + strmlink.FilePrefix + sigA + "/cloud/Movies",
		"short signature":          s.srv.URL + strmlink.FilePrefix + sigA[1:] + "/" + pathB,
		"listing with a file's":    s.srv.URL + strmlink.ListPrefix + sigA + "/cloud/Movies/Film%20A/Film%20A.mkv",
	} {
		if code, _ := s.get(t, u); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	if after := s.cloud.Counters().Snapshot(); len(after) != len(before) || after[memdrivetest.EndpointLink] != before[memdrivetest.EndpointLink] || after[memdrivetest.EndpointChildren] != before[memdrivetest.EndpointChildren] {
		t.Fatalf("refused links cost cloud calls: %v, then %v", before, after)
	}
	// After a rotation the old link is refused and the view shows a new one.
	if err := s.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.get(t, a); code != http.StatusForbidden {
		t.Fatalf("a link from before the rotation: %d, want 403", code)
	}
	_, fresh := s.get(t, s.srv.URL+"/lib/Film%20A/Film%20A.strm")
	if fresh == a {
		t.Fatal("the view still shows the old link")
	}
	if code, got := s.get(t, fresh); code != http.StatusOK || len(got) != 5000 {
		t.Fatalf("the new link: %d, %d bytes", code, len(got))
	}
	if code, _ := s.get(t, strings.Replace(fresh, strmlink.FilePrefix, strmlink.FilePrefix+"x", 1)); code != http.StatusForbidden {
		t.Fatalf("a malformed link: %d", code)
	}
}

func TestSignedListing(t *testing.T) {
	s := start(t, strm.Options{Source: "/cloud"})
	u, err := strmlink.NewSigner(s.keys).ListURL(s.srv.URL, "/cloud/Movies/Film A")
	if err != nil {
		t.Fatal(err)
	}
	code, body := s.get(t, u)
	if code != http.StatusOK || !strings.Contains(body, `"name":"Film A.mkv"`) || !strings.Contains(body, `"name":"notes.txt"`) {
		t.Fatalf("listing: %d %s", code, body)
	}
	lists := s.cloud.Counters().Get(memdrivetest.EndpointChildren)
	s.get(t, u)
	if n := s.cloud.Counters().Get(memdrivetest.EndpointChildren) - lists; n != 0 {
		t.Fatalf("a cached listing cost %d calls", n)
	}
	s.get(t, u+"?fresh=1")
	if n := s.cloud.Counters().Get(memdrivetest.EndpointChildren) - lists; n != 1 {
		t.Fatalf("a fresh listing cost %d calls, want 1", n)
	}
	s.cloud.Faults().Inject(memdrivetest.EndpointChildren, fakecloud.Throttle, 1, -1)
	req, _ := http.NewRequest(http.MethodGet, u+"?fresh=1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a throttled listing: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
}

func TestOptions(t *testing.T) {
	env := drivers.Env{StateDir: t.TempDir(), ServerURL: "http://127.0.0.1:8080", Log: zerolog.Nop(),
		Mount: func(p string) (drivers.Drive, bool) { return nil, false }}
	for _, tc := range []struct {
		o    strm.Options
		want string
	}{
		{strm.Options{}, "options.source is required"},
		{strm.Options{Source: "/nowhere/Movies"}, "in no mount configured before this one"},
	} {
		if _, err := strm.New(context.Background(), env, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	src := &fakeDrive{}
	env.Mount = func(p string) (drivers.Drive, bool) { return src, p == "/cloud" }
	for _, tc := range []struct {
		o    strm.Options
		want string
	}{
		{strm.Options{Source: "/cloud", Extensions: []string{"srt"}}, "passes through"},
		{strm.Options{Source: "/cloud", Extensions: []string{"a/b"}}, "not a file extension"},
		{strm.Options{Source: "/cloud", BaseURL: "nas:8080"}, "base_url must be an http(s) URL"},
	} {
		if _, err := strm.New(context.Background(), env, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}

type fakeDrive struct{ drivers.Drive }
