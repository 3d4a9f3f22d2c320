package memdrivetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// answer is one HTTP exchange, read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) code() string {
	var e errorAnswer
	json.Unmarshal([]byte(a.body), &e)
	return e.Error.Code
}

func do(t *testing.T, token, method, u string, body io.Reader, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func start(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	s := NewServer(o)
	t.Cleanup(s.Close)
	return s, s.Login().Issue().Access
}

func TestRefreshTokensAreSingleUse(t *testing.T) {
	s, _ := start(t, Options{})
	rt := s.Login().Issue().Refresh
	trade := func() answer {
		return do(t, "", http.MethodPost, s.APIURL()+"/v1/oauth/token",
			strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()),
			"Content-Type", "application/x-www-form-urlencoded")
	}
	first := trade()
	var tok tokenAnswer
	if err := json.Unmarshal([]byte(first.body), &tok); err != nil || first.status != http.StatusOK ||
		tok.RefreshToken == rt || tok.RefreshToken != s.Login().Latest() || tok.ExpiresIn != 3600 {
		t.Fatalf("first trade: %d %s", first.status, first.body)
	}
	if again := trade(); again.status != http.StatusBadRequest || again.code() != "invalid_grant" {
		t.Fatalf("second trade of one token: %d %s", again.status, again.body)
	}
	if s.Login().Reuses() != 1 || s.Counters().Get(EndpointToken) != 2 {
		t.Fatalf("%d reuses, %d calls", s.Login().Reuses(), s.Counters().Get(EndpointToken))
	}
	if a := do(t, tok.AccessToken, http.MethodGet, s.APIURL()+"/v1/quota", nil); a.status != http.StatusOK {
		t.Fatalf("the traded access token: %d %s", a.status, a.body)
	}
	s.Login().ExpireAccess()
	if a := do(t, tok.AccessToken, http.MethodGet, s.APIURL()+"/v1/quota", nil); a.status != http.StatusUnauthorized || a.code() != "token_expired" {
		t.Fatalf("an expired access token: %d %s", a.status, a.body)
	}
}

// TestEndpointsCounted calls every endpoint once without a token and
// once with one: each call is counted, and the token is checked first.
func TestEndpointsCounted(t *testing.T) {
	s, tok := start(t, Options{Rate: -1})
	f, _ := s.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	d, _ := s.Tree().MkdirAll("/d")
	for _, tc := range []struct {
		endpoint, method, path, body string
		want                         int
	}{
		{EndpointGet, http.MethodGet, "/v1/files/" + f.ID, "", http.StatusOK},
		{EndpointChildren, http.MethodGet, "/v1/files/root/children", "", http.StatusOK},
		{EndpointLink, http.MethodPost, "/v1/files/" + f.ID + "/link", "", http.StatusOK},
		{EndpointMkdir, http.MethodPost, "/v1/folders", `{"parent_id":"root","name":"new"}`, http.StatusCreated},
		{EndpointPatch, http.MethodPatch, "/v1/files/" + f.ID, `{"name":"b.txt","parent_id":"` + d.ID + `"}`, http.StatusOK},
		{EndpointCopy, http.MethodPost, "/v1/files/" + f.ID + "/copy", `{"parent_id":"root"}`, http.StatusCreated},
		{EndpointUpload, http.MethodPut, "/v1/upload?parent_id=root&name=u.txt", "uploaded", http.StatusCreated},
		{EndpointQuota, http.MethodGet, "/v1/quota", "", http.StatusOK},
		{EndpointDelete, http.MethodDelete, "/v1/files/" + f.ID, "", http.StatusNoContent},
	} {
		if a := do(t, "", tc.method, s.APIURL()+tc.path, strings.NewReader(tc.body)); a.status != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d %s", tc.endpoint, a.status, a.body)
		}
		if a := do(t, tok, tc.method, s.APIURL()+tc.path, strings.NewReader(tc.body)); a.status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.endpoint, a.status, a.body, tc.want)
		}
		if n := s.Counters().Get(tc.endpoint); n != 2 {
			t.Errorf("%s counted %d times, want 2", tc.endpoint, n)
		}
	}
	if got, _ := s.Tree().Get(f.ID); got.ParentID != d.ID || got.Name != "b.txt" {
		t.Errorf("PATCH did not rename and move at once: %+v", got)
	}
	if s.UploadedBytes() != int64(len("uploaded")) {
		t.Errorf("UploadedBytes %d", s.UploadedBytes())
	}
}

// TestListingPages: a limit above the cap is capped silently, pages come
// newest first, and a cursor is good only for its own folder.
func TestListingPages(t *testing.T) {
	s, tok := start(t, Options{PageCap: 2, Rate: -1})
	dir, _ := s.Tree().MkdirAll("/many")
	for i := range 5 {
		s.Tree().Put(dir.ID, strconv.Itoa(i), fakecloud.BytesBlob(nil), time.Time{})
	}
	var names []string
	cursor, pages := "", 0
	for {
		a := do(t, tok, http.MethodGet, s.APIURL()+"/v1/files/"+dir.ID+"/children?limit=100&cursor="+cursor, nil)
		var p page
		if err := json.Unmarshal([]byte(a.body), &p); err != nil || a.status != http.StatusOK || len(p.Items) > 2 {
			t.Fatalf("page %d: %d %s", pages, a.status, a.body)
		}
		pages++
		for _, it := range p.Items {
			names = append(names, it.Name)
		}
		if p.NextCursor == "" {
			break
		}
		if cursor == "" {
			if other := do(t, tok, http.MethodGet, s.APIURL()+"/v1/files/root/children?cursor="+p.NextCursor, nil); other.code() != "bad_cursor" {
				t.Fatalf("a cursor used on another folder: %d %s", other.status, other.body)
			}
			// Added between pages, it sorts first and shifts nothing.
			s.Tree().Put(dir.ID, "late", fakecloud.BytesBlob(nil), time.Time{})
		}
		cursor = p.NextCursor
	}
	if got := strings.Join(names, ","); got != "4,3,2,1,0" || pages != 3 {
		t.Fatalf("listed %s in %d pages, want 4,3,2,1,0 in 3", got, pages)
	}
}

func TestLinksExpire(t *testing.T) {
	s, tok := start(t, Options{LinkTTL: time.Hour})
	f, _ := s.Tree().PutPath("/v.mkv", fakecloud.BytesBlob([]byte("0123456789")))
	issue := func() string {
		a := do(t, tok, http.MethodPost, s.APIURL()+"/v1/files/"+f.ID+"/link", nil)
		var l linkAnswer
		if err := json.Unmarshal([]byte(a.body), &l); err != nil || l.URL == "" {
			t.Fatalf("link: %d %s", a.status, a.body)
		}
		return l.URL
	}
	link := issue()
	u, _ := url.Parse(link)
	exp, _ := strconv.ParseInt(u.Query().Get("expires"), 10, 64)
	if d := time.Until(time.Unix(exp, 0)); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires says %v from now, want the hour of LinkTTL", d)
	}
	if a := do(t, "", http.MethodGet, link, nil, "Range", "bytes=2-4"); a.status != http.StatusPartialContent || a.body != "234" {
		t.Fatalf("ranged fetch: %d %q", a.status, a.body)
	}
	q := u.Query()
	q.Set("expires", strconv.FormatInt(exp+3600, 10))
	u.RawQuery = q.Encode()
	if a := do(t, "", http.MethodGet, u.String(), nil); a.status != http.StatusForbidden {
		t.Fatalf("a link with its expiry pushed back: %d", a.status)
	}
	s.ExpireLinks()
	if a := do(t, "", http.MethodGet, link, nil); a.status != http.StatusForbidden {
		t.Fatalf("an expired link: %d", a.status)
	}
	if a := do(t, "", http.MethodGet, issue(), nil); a.status != http.StatusOK || a.body != "0123456789" {
		t.Fatalf("a new link after expiry: %d %q", a.status, a.body)
	}
	if n := s.Counters().Get(EndpointCDN); n != 4 {
		t.Fatalf("%d CDN fetches counted, want 4", n)
	}
}

func TestRateLimit(t *testing.T) {
	for _, tc := range []struct {
		rate       float64
		retryAfter time.Duration
		throttled  bool
		hint       string // the Retry-After of the 429
	}{{1, 0, true, "1"}, {1, 1500 * time.Millisecond, true, "2"}, {-1, 0, false, ""}} {
		s, tok := start(t, Options{Rate: tc.rate, RetryAfter: tc.retryAfter})
		do(t, tok, http.MethodGet, s.APIURL()+"/v1/quota", nil)
		a := do(t, tok, http.MethodGet, s.APIURL()+"/v1/quota", nil)
		if got := a.status == http.StatusTooManyRequests; got != tc.throttled {
			t.Fatalf("rate %v: the second call answered %d", tc.rate, a.status)
		}
		if tc.throttled && (a.header.Get("Retry-After") != tc.hint || a.code() != "rate_limited") {
			t.Fatalf("429 without its hint %s: %v %s", tc.hint, a.header, a.body)
		}
		// The count is per token: another login is not throttled.
		if other := do(t, s.Login().Issue().Access, http.MethodGet, s.APIURL()+"/v1/quota", nil); other.status != http.StatusOK {
			t.Fatalf("another token: %d", other.status)
		}
	}
}

func TestNameRules(t *testing.T) {
	s, tok := start(t, Options{Rate: -1})
	s.Tree().MkdirAll("/taken")
	for _, tc := range []struct {
		name, code string
	}{
		{"新 folder ✨", ""},
		{"", "invalid_name"},
		{"..", "invalid_name"},
		{"a/b", "invalid_name"},
		{`a\b`, "invalid_name"},
		{"tab\there", "invalid_name"},
		{strings.Repeat("é", 128), "invalid_name"},
		{"taken", "name_exists"},
	} {
		body, _ := json.Marshal(map[string]string{"parent_id": "root", "name": tc.name})
		a := do(t, tok, http.MethodPost, s.APIURL()+"/v1/folders", strings.NewReader(string(body)))
		if a.code() != tc.code {
			t.Errorf("mkdir %q: %d %s, want code %q", tc.name, a.status, a.body, tc.code)
		}
	}
}

func TestUploadRefusals(t *testing.T) {
	s, tok := start(t, Options{Rate: -1})
	put := func(body io.Reader, header ...string) answer {
		return do(t, tok, http.MethodPut, s.APIURL()+"/v1/upload?parent_id=root&name=f.bin", body, header...)
	}
	// Only a query can carry invalid UTF-8: JSON replaces it.
	if a := do(t, tok, http.MethodPut, s.APIURL()+"/v1/upload?parent_id=root&name=%FF", strings.NewReader("x")); a.code() != "invalid_name" {
		t.Fatalf("an upload named 0xFF: %d %s", a.status, a.body)
	}
	if a := put(io.MultiReader(strings.NewReader("no length"))); a.status != http.StatusLengthRequired {
		t.Fatalf("an upload without Content-Length: %d %s", a.status, a.body)
	}
	if a := put(strings.NewReader("abc"), "X-Content-SHA1", strings.Repeat("0", 40)); a.code() != "checksum_mismatch" {
		t.Fatalf("a wrong SHA1: %d %s", a.status, a.body)
	}
	if a := put(strings.NewReader("abc"), "X-Content-SHA1", "A9993E364706816ABA3E25717850C26C9CD0D89D"); a.status != http.StatusCreated {
		t.Fatalf("the right SHA1, in uppercase: %d %s", a.status, a.body)
	}
	// A namesake is a second entry, listed first.
	a := put(strings.NewReader("second"))
	var second file
	json.Unmarshal([]byte(a.body), &second)
	kids := do(t, tok, http.MethodGet, s.APIURL()+"/v1/files/root/children", nil)
	var p page
	json.Unmarshal([]byte(kids.body), &p)
	if a.status != http.StatusCreated || len(p.Items) != 2 || p.Items[0].ID != second.ID {
		t.Fatalf("a second f.bin: %d %s; listing %s", a.status, a.body, kids.body)
	}
	s.SetSpace(s.Tree().Usage() + 2)
	if a := put(strings.NewReader("abc")); a.status != http.StatusInsufficientStorage || a.code() != "quota_exceeded" {
		t.Fatalf("an upload beyond the quota: %d %s", a.status, a.body)
	}
}
