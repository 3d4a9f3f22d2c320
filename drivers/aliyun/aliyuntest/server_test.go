package aliyuntest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// client talks to the emulator the way a driver would, without one.
type client struct {
	t  *testing.T
	s  *Server
	rt string
	at string
	hc *http.Client
}

func newClient(t *testing.T, o Options) *client {
	if o.RetryAfter == 0 {
		o.RetryAfter = 20 * time.Millisecond
	}
	s := NewServer(o)
	t.Cleanup(s.Close)
	c := &client{t: t, s: s, rt: s.Login().Issue().Refresh, hc: &http.Client{}}
	c.refresh()
	return c
}

// do posts body to path and returns the status, the headers and the body.
func (c *client) do(path, at string, body any) (int, http.Header, []byte) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.s.URL()+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if at != "" {
		req.Header.Set("Authorization", "Bearer "+at)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func (c *client) api(endpoint string, body any) (int, map[string]any) {
	c.t.Helper()
	st, _, b := c.do("/adrive/v1.0/"+endpoint, c.at, body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("%s: answer is not JSON: %s", endpoint, b)
	}
	return st, m
}

func (c *client) refresh() {
	c.t.Helper()
	st, _, b := c.do("/oauth/access_token", "", tokenRequest{ClientID: c.s.ClientID(), ClientSecret: c.s.ClientSecret(), GrantType: "refresh_token", RefreshToken: c.rt})
	if st != 200 {
		c.t.Fatalf("refresh: %d %s", st, b)
	}
	var tr tokenResponse
	json.Unmarshal(b, &tr)
	c.rt, c.at = tr.RefreshToken, tr.AccessToken
}

func wantCode(t *testing.T, st int, m map[string]any, status int, code string) {
	t.Helper()
	if st != status || m["code"] != code {
		t.Fatalf("got %d %v, want %d %s", st, m, status, code)
	}
}

func TestRefreshTokensRotateAndAreSingleUse(t *testing.T) {
	c := newClient(t, Options{})
	for _, tok := range []string{c.rt, c.at} {
		if n := len(strings.Split(tok, ".")); n != 3 {
			t.Fatalf("token %q has %d segments, want a JWT's 3", tok, n)
		}
	}
	if c.s.Login().Latest() != c.rt {
		t.Fatalf("LatestRefreshToken is not the one just issued")
	}
	oldRT, oldAT := c.rt, c.at
	c.refresh()
	if c.rt == oldRT || c.at == oldAT {
		t.Fatalf("refresh did not rotate")
	}
	st, _, b := c.do("/oauth/access_token", "", tokenRequest{ClientID: c.s.ClientID(), ClientSecret: c.s.ClientSecret(), GrantType: "refresh_token", RefreshToken: oldRT})
	if st != 401 || !strings.Contains(string(b), "RefreshTokenInvalid") {
		t.Fatalf("reused refresh token: %d %s", st, b)
	}
	if n := c.s.RefreshTokenReuses(); n != 1 {
		t.Fatalf("RefreshTokenReuses = %d, want 1", n)
	}
	// The old access token lives on until its own TTL.
	c.at = oldAT
	if st, m := c.api("user/getDriveInfo", struct{}{}); st != 200 {
		t.Fatalf("old access token after refresh: %d %v", st, m)
	}
	st, _, b = c.do("/oauth/access_token", "", tokenRequest{ClientID: c.s.ClientID(), ClientSecret: "wrong", GrantType: "refresh_token", RefreshToken: c.rt})
	if st != 401 {
		t.Fatalf("wrong client secret: %d %s", st, b)
	}
	if got := c.s.Counters().Get("oauth/access_token"); got != 4 {
		t.Fatalf("oauth/access_token counted %d, want 4", got)
	}
}

func TestRenewRotatesLikeOAuth(t *testing.T) {
	c := newClient(t, Options{})
	get := func(rt string) renewResponse {
		u := c.s.RenewURL() + "?" + url.Values{"refresh_ui": {rt}, "server_use": {"true"}, "driver_txt": {"alicloud_qr"}}.Encode()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rr renewResponse
		json.NewDecoder(resp.Body).Decode(&rr)
		return rr
	}
	old := c.rt
	rr := get(old)
	if rr.RefreshToken == "" || rr.AccessToken == "" || rr.RefreshToken == old || c.s.Login().Latest() != rr.RefreshToken {
		t.Fatalf("renew: %+v", rr)
	}
	if rr = get(old); rr.RefreshToken != "" || rr.Text == "" {
		t.Fatalf("renew with a spent token: %+v", rr)
	}
	if c.s.RefreshTokenReuses() != 1 || c.s.Counters().Get("renew") != 2 {
		t.Fatalf("reuses %d, renew calls %d", c.s.RefreshTokenReuses(), c.s.Counters().Get("renew"))
	}
}

func TestAccessTokenErrors(t *testing.T) {
	c := newClient(t, Options{})
	good := c.at
	c.at = "not-a-token"
	st, m := c.api("user/getDriveInfo", struct{}{})
	wantCode(t, st, m, 401, "AccessTokenInvalid")
	c.at = good
	st, hdr, b := c.do("/adrive/v1.0/user/getDriveInfo", "", struct{}{})
	if st != 401 || hdr.Get("Content-Type") == "" || !strings.Contains(string(b), "AccessTokenInvalid") {
		t.Fatalf("no Authorization: %d %s", st, b)
	}
	c.s.ExpireAccessTokens()
	st, m = c.api("user/getDriveInfo", struct{}{})
	wantCode(t, st, m, 401, "AccessTokenExpired")
	c.refresh()
	if st, m := c.api("user/getDriveInfo", struct{}{}); st != 200 {
		t.Fatalf("after refresh: %d %v", st, m)
	}
	c.s.SetAccessTTL(time.Millisecond)
	c.refresh()
	time.Sleep(5 * time.Millisecond)
	st, m = c.api("user/getDriveInfo", struct{}{})
	wantCode(t, st, m, 401, "AccessTokenExpired")
}

func TestDrivesAndSpace(t *testing.T) {
	c := newClient(t, Options{})
	st, m := c.api("user/getDriveInfo", struct{}{})
	if st != 200 || m["resource_drive_id"] != resourceDriveID || m["default_drive_id"] != backupDriveID || m["backup_drive_id"] != backupDriveID || m["user_id"] == "" {
		t.Fatalf("getDriveInfo: %d %v", st, m)
	}
	st, m = c.api("openFile/list", map[string]any{"drive_id": "999", "parent_file_id": "root"})
	wantCode(t, st, m, 404, "NotFound.Drive")
	st, m = c.api("openFile/list", map[string]any{"parent_file_id": "root"})
	wantCode(t, st, m, 400, "InvalidParameter.DriveId")
	c.s.Tree().PutPath("/a.bin", fakecloud.BytesBlob(make([]byte, 1234)))
	c.s.SetSpace(1 << 30)
	st, m = c.api("user/getSpaceInfo", struct{}{})
	psi, _ := m["personal_space_info"].(map[string]any)
	if st != 200 || psi["used_size"] != float64(1234) || psi["total_size"] != float64(1<<30) {
		t.Fatalf("getSpaceInfo: %d %v", st, m)
	}
}

var msTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestListShapeAndPaging(t *testing.T) {
	c := newClient(t, Options{RateList: -1})
	dir, _ := c.s.Tree().MkdirAll("/dir")
	for i := 0; i < 120; i++ {
		c.s.Tree().Put(dir.ID, fmt.Sprintf("f%03d.mkv", i), fakecloud.BytesBlob([]byte{byte(i), 'x'}), time.Time{})
	}
	sub, _ := c.s.Tree().Mkdir(dir.ID, "sub")
	st, m := c.api("openFile/list", map[string]any{"drive_id": resourceDriveID, "parent_file_id": dir.ID, "limit": 201})
	wantCode(t, st, m, 400, "InvalidParameter.Limit")
	var names []string
	marker, pages := "", 0
	for {
		body := map[string]any{"drive_id": resourceDriveID, "parent_file_id": dir.ID, "marker": marker}
		st, m := c.api("openFile/list", body) // no limit: 50 a page
		if st != 200 {
			t.Fatalf("list: %d %v", st, m)
		}
		pages++
		items := m["items"].([]any)
		for _, x := range items {
			it := x.(map[string]any)
			names = append(names, it["name"].(string))
			for _, k := range []string{"created_at", "updated_at"} {
				if !msTime.MatchString(it[k].(string)) {
					t.Fatalf("%s %q is not RFC3339 with milliseconds", k, it[k])
				}
			}
			if it["drive_id"] != resourceDriveID || it["parent_file_id"] != dir.ID || len(it["file_id"].(string)) != 40 || it["status"] != "available" {
				t.Fatalf("item %v", it)
			}
			switch it["type"] {
			case "folder":
				if _, has := it["size"]; has || it["file_id"] != sub.ID {
					t.Fatalf("folder item %v has a size", it)
				}
			case "file":
				h := it["content_hash"].(string)
				if h != strings.ToUpper(h) || len(h) != 40 || it["content_hash_name"] != "sha1" || it["size"] != float64(2) ||
					it["file_extension"] != "mkv" || it["category"] != "video" {
					t.Fatalf("file item %v", it)
				}
			default:
				t.Fatalf("type %v", it["type"])
			}
		}
		marker, _ = m["next_marker"].(string)
		if marker == "" {
			break
		}
		if len(items) != 50 {
			t.Fatalf("a middle page holds %d items, want the default 50", len(items))
		}
	}
	if pages != 3 || len(names) != 121 {
		t.Fatalf("%d pages, %d names", pages, len(names))
	}
	st, m = c.api("openFile/list", map[string]any{"drive_id": resourceDriveID, "parent_file_id": dir.ID, "marker": "bm9wZQ=="})
	wantCode(t, st, m, 400, "InvalidParameter.Marker")
	st, m = c.api("openFile/list", map[string]any{"drive_id": resourceDriveID, "parent_file_id": strings.Repeat("ab", 20)})
	wantCode(t, st, m, 404, "NotFound.FileId")
	if err := c.s.Tree().Trash(dir.ID); err != nil {
		t.Fatal(err)
	}
	st, m = c.api("openFile/list", map[string]any{"drive_id": resourceDriveID, "parent_file_id": sub.ID})
	wantCode(t, st, m, 404, "NotFound.FileId")
	st, m = c.api("openFile/list", map[string]any{"drive_id": resourceDriveID, "parent_file_id": "root"})
	if st != 200 || len(m["items"].([]any)) != 0 {
		t.Fatalf("trashed folder still listed: %v", m)
	}
}

func TestGetAndGetByPath(t *testing.T) {
	c := newClient(t, Options{})
	n, _ := c.s.Tree().PutPath("/a/b/c.txt", fakecloud.BytesBlob([]byte("hi")))
	st, m := c.api("openFile/get", map[string]any{"drive_id": resourceDriveID, "file_id": n.ID})
	if st != 200 || m["name"] != "c.txt" {
		t.Fatalf("get: %d %v", st, m)
	}
	st, m = c.api("openFile/get", map[string]any{"drive_id": resourceDriveID, "file_id": strings.Repeat("0", 40)})
	wantCode(t, st, m, 404, "NotFound.FileId")
	st, m = c.api("openFile/get_by_path", map[string]any{"drive_id": resourceDriveID, "file_path": "/a/b/c.txt"})
	if st != 200 || m["file_id"] != n.ID {
		t.Fatalf("get_by_path: %d %v", st, m)
	}
	st, m = c.api("openFile/get_by_path", map[string]any{"drive_id": resourceDriveID, "file_path": "/a/b/missing.txt"})
	wantCode(t, st, m, 404, "NotFound.File")
	st, m = c.api("openFile/get_by_path", map[string]any{"drive_id": resourceDriveID, "file_path": "/a/nope/c.txt"})
	if st != 400 {
		t.Fatalf("missing parent: %d %v, want 400", st, m)
	}
}

// link asks for a download URL for n.
func (c *client) link(n fakecloud.Node, expireSec int) (int, map[string]any) {
	return c.api("openFile/getDownloadUrl", map[string]any{"drive_id": resourceDriveID, "file_id": n.ID, "expire_sec": expireSec})
}

func fetch(t *testing.T, u, rng string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestDownloadURLAndCDN(t *testing.T) {
	c := newClient(t, Options{RateLink: -1, LinkTTL: 120 * time.Second})
	data := []byte("0123456789abcdefghij")
	n, _ := c.s.Tree().PutPath("/v/movie.mp4", fakecloud.BytesBlob(data))
	dir, _ := c.s.Tree().Lookup("/v")
	st, m := c.link(dir, 900)
	wantCode(t, st, m, 400, "InvalidResource.FileTypeFolder")
	st, m = c.link(n, 14400)
	if st != 200 || m["method"] != "GET" || m["size"] != float64(len(data)) || m["content_hash"] != fakecloud.BytesBlob(data).SHA1() {
		t.Fatalf("getDownloadUrl: %d %v", st, m)
	}
	u, _ := url.Parse(m["url"].(string))
	exp, _ := strconv.ParseInt(u.Query().Get("x-oss-expires"), 10, 64)
	if d := time.Until(time.Unix(exp, 0)); d <= 0 || d > 122*time.Second {
		t.Fatalf("x-oss-expires %v away; expire_sec 14400 must be clamped to LinkTTL 120s", d)
	}
	if !msTime.MatchString(m["expiration"].(string)) {
		t.Fatalf("expiration %q", m["expiration"])
	}
	resp, b := fetch(t, u.String(), "bytes=3-6")
	if resp.StatusCode != 206 || string(b) != "3456" {
		t.Fatalf("range: %d %q", resp.StatusCode, b)
	}
	if resp, b = fetch(t, u.String(), ""); resp.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Fatalf("whole: %d %q", resp.StatusCode, b)
	}
	bad := *u
	q := bad.Query()
	q.Set("x-oss-expires", strconv.FormatInt(exp+3600, 10))
	bad.RawQuery = q.Encode()
	if resp, b = fetch(t, bad.String(), ""); resp.StatusCode != 403 || !strings.Contains(string(b), "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("tampered expiry: %d %s", resp.StatusCode, b)
	}
	c.s.ExpireLinks()
	resp, b = fetch(t, u.String(), "")
	if resp.StatusCode != 403 || !strings.Contains(string(b), "<Code>AccessDenied</Code>") || !strings.Contains(string(b), "<Message>Request has expired.</Message>") {
		t.Fatalf("expired link: %d %s", resp.StatusCode, b)
	}
	_, m = c.link(n, 900)
	if resp, _ = fetch(t, m["url"].(string), ""); resp.StatusCode != 200 {
		t.Fatalf("fresh link after ExpireLinks: %d", resp.StatusCode)
	}
	c.s.Tree().Trash(n.ID)
	st, m = c.link(n, 900)
	wantCode(t, st, m, 404, "NotFound.FileId")
	if got := c.s.Counters().Get("cdn"); got != 5 {
		t.Fatalf("cdn counted %d, want 5", got)
	}
}

func TestCDNConcurrencyLimit(t *testing.T) {
	c := newClient(t, Options{RateLink: -1})
	// Big enough that a reader that stops reading holds its slot.
	n, _ := c.s.Tree().PutPath("/big.bin", fakecloud.NewSeededBlob(1, 256<<20, "0000000000000000000000000000000000000000"))
	_, m := c.link(n, 900)
	u := m["url"].(string)
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %d: %v %v", i, resp, err)
		}
		open = append(open, resp)
	}
	resp, b := fetch(t, u, "bytes=0-9")
	if resp.StatusCode != 403 || !strings.Contains(string(b), "ExceedMaxConcurrency") {
		t.Fatalf("4th concurrent GET: %d %s", resp.StatusCode, b)
	}
}

func TestThrottlingAndFaults(t *testing.T) {
	c := newClient(t, Options{RetryAfter: 1234 * time.Millisecond})
	c.s.Faults().Inject("user/getDriveInfo", fakecloud.Throttle, 1, 1)
	st, hdr, b := c.do("/adrive/v1.0/user/getDriveInfo", c.at, struct{}{})
	if st != 429 || hdr.Get("x-retry-after") != "1234" || !strings.Contains(string(b), `"TooManyRequests"`) {
		t.Fatalf("throttle fault: %d %v %s", st, hdr, b)
	}
	// getDownloadUrl allows 1 a second: the second at once is refused.
	n, _ := c.s.Tree().PutPath("/x.txt", fakecloud.BytesBlob([]byte("x")))
	if st, m := c.link(n, 900); st != 200 {
		t.Fatalf("first link: %d %v", st, m)
	}
	st, m := c.link(n, 900)
	wantCode(t, st, m, 429, "TooManyRequests")

	c.s.Faults().Inject("user/getSpaceInfo", fakecloud.BadGateway, 1, 1)
	c.s.Faults().Inject("user/getSpaceInfo", fakecloud.Garbage, 1, 1)
	c.s.Faults().Inject("user/getSpaceInfo", fakecloud.ServerError, 1, 1)
	if st, _, b := c.do("/adrive/v1.0/user/getSpaceInfo", c.at, struct{}{}); st != 502 || string(b) != "Bad Gateway" {
		t.Fatalf("bad gateway: %d %q", st, b)
	}
	if st, _, b := c.do("/adrive/v1.0/user/getSpaceInfo", c.at, struct{}{}); json.Valid(b) {
		t.Fatalf("garbage: %d %q is JSON", st, b)
	}
	if st, _, _ := c.do("/adrive/v1.0/user/getSpaceInfo", c.at, struct{}{}); st != 500 {
		t.Fatalf("server error: %d", st)
	}
	c.s.Faults().Inject("user/getSpaceInfo", fakecloud.Reset, 1, 1)
	req, _ := http.NewRequest(http.MethodPost, c.s.URL()+"/adrive/v1.0/user/getSpaceInfo", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+c.at)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("reset: got %d", resp.StatusCode)
	}
	if got := c.s.Counters().Get("user/getSpaceInfo"); got != 4 {
		t.Fatalf("getSpaceInfo counted %d, want 4", got)
	}
}
