package aliyuntest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"pandav/internal/fakecloud"
)

// webClient speaks the web API as a driver would, with a device key.
type webClient struct {
	t        *testing.T
	s        *Server
	at       string
	key      *secp256k1.PrivateKey
	deviceID string
	userID   string
}

func newWebClient(t *testing.T) *webClient {
	s := NewServer(Options{RetryAfter: 20 * time.Millisecond})
	t.Cleanup(s.Close)
	c := &webClient{t: t, s: s, deviceID: "dev-1"}
	st, out := c.post("/v2/account/token", nil, map[string]string{"refresh_token": s.WebLogin().Issue().Refresh, "grant_type": "refresh_token"})
	if st != 200 {
		t.Fatalf("web token: %d %v", st, out)
	}
	c.at, c.userID = out["access_token"].(string), out["user_id"].(string)
	c.key, _ = secp256k1.GeneratePrivateKey()
	return c
}

func (c *webClient) signature() string {
	h := sha256.Sum256([]byte(signAppID + ":" + c.deviceID + ":" + c.userID + ":0"))
	cs := ecdsa.SignCompact(c.key, h[:], false)
	return hex.EncodeToString(append(append([]byte{}, cs[1:]...), cs[0]-27))
}

func (c *webClient) signed() http.Header {
	return http.Header{"Authorization": {"Bearer\t" + c.at}, "X-Device-Id": {c.deviceID}, "X-Signature": {c.signature()}}
}

func (c *webClient) register() {
	c.t.Helper()
	pub := c.key.PubKey().SerializeUncompressed()
	st, out := c.post("/users/v1/users/device/create_session", c.signed(), map[string]any{"deviceName": "t", "modelName": "t", "nonce": 0, "pubKey": hex.EncodeToString(pub[1:])})
	if st != 200 {
		c.t.Fatalf("create_session: %d %v", st, out)
	}
}

func (c *webClient) raw(path string, h http.Header, body any) (int, []byte) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.s.URL()+path, bytes.NewReader(b))
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (c *webClient) post(path string, h http.Header, body any) (int, map[string]any) {
	c.t.Helper()
	st, b := c.raw(path, h, body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return st, m
}

func TestWebDeviceChecks(t *testing.T) {
	c := newWebClient(t)
	user := map[string]any{}
	cases := []struct {
		name   string
		h      http.Header
		status int
		code   string
	}{
		{"no device id", http.Header{"Authorization": {"Bearer " + c.at}}, 403, "UserDeviceIllegality"},
		{"unregistered device", c.signed(), 400, "DeviceSessionSignatureInvalid"},
	}
	for _, tc := range cases {
		if st, out := c.post("/v2/user/get", tc.h, user); st != tc.status || out["code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, st, out, tc.status, tc.code)
		}
	}
	c.register()
	for _, auth := range []string{"Bearer " + c.at, "Bearer\t" + c.at, c.at} {
		h := c.signed()
		h.Set("Authorization", auth)
		if st, out := c.post("/v2/user/get", h, user); st != 200 || out["user_id"] != c.userID {
			t.Errorf("Authorization %q: %d %v", strings.Fields(auth)[0], st, out)
		}
	}
	h := c.signed()
	h.Del("X-Signature")
	if st, out := c.post("/v2/user/get", h, user); st != 400 || out["code"] != "DeviceSessionSignatureInvalid" {
		t.Errorf("no signature: %d %v", st, out)
	}
	other, _ := secp256k1.GeneratePrivateKey()
	good := c.key
	c.key = other
	if st, out := c.post("/v2/user/get", c.signed(), user); st != 400 || out["code"] != "DeviceSessionSignatureInvalid" {
		t.Errorf("wrong key: %d %v", st, out)
	}
	c.key = good
	c.s.ResetDeviceSessions()
	if st, _ := c.post("/v2/user/get", c.signed(), user); st != 400 {
		t.Errorf("after ResetDeviceSessions: %d, want 400", st)
	}
	// An Open API token is not a web login.
	c.register()
	h = c.signed()
	h.Set("Authorization", "Bearer "+c.s.jwt("access", time.Hour))
	if st, out := c.post("/v2/user/get", h, user); st != 401 {
		t.Errorf("foreign token: %d %v", st, out)
	}
}

func TestWebTokenRotation(t *testing.T) {
	c := newWebClient(t)
	rt := c.s.WebLogin().Latest()
	st, out := c.post("/v2/account/token", nil, map[string]string{"refresh_token": rt, "grant_type": "refresh_token"})
	if st != 200 || out["refresh_token"] == rt || out["default_drive_id"] == "" {
		t.Fatalf("rotate: %d %v", st, out)
	}
	st, out = c.post("/v2/account/token", nil, map[string]string{"refresh_token": rt, "grant_type": "refresh_token"})
	if st != 400 || out["code"] != "InvalidParameter.RefreshToken" || c.s.RefreshTokenReuses() != 1 {
		t.Fatalf("spent token: %d %v, reuses %d", st, out, c.s.RefreshTokenReuses())
	}
}

func TestWebLinkNeedsReferer(t *testing.T) {
	c := newWebClient(t)
	c.register()
	f, _ := c.s.Tree().PutPath("/v.mp4", fakecloud.BytesBlob([]byte("video bytes")))
	st, out := c.post("/v2/file/get_download_url", c.signed(), map[string]any{"drive_id": resourceDriveID, "file_id": f.ID})
	if st != 200 {
		t.Fatalf("get_download_url: %d %v", st, out)
	}
	u := out["url"].(string)
	if !strings.Contains(u, "x-oss-additional-headers=referer") {
		t.Fatalf("url lacks x-oss-additional-headers: %s", u)
	}
	get := func(referer string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if referer != "" {
			req.Header.Set("Referer", referer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(""); st != 403 || !strings.Contains(body, "At least one of AdditionalHeaders is not in request headers.") {
		t.Fatalf("without Referer: %d %s", st, body)
	}
	if st, body := get("https://www.alipan.com/"); st != 200 || body != "video bytes" {
		t.Fatalf("with Referer: %d %s", st, body)
	}
	stripped := strings.Replace(u, "x-oss-additional-headers=referer&", "", 1)
	if stripped == u {
		t.Fatalf("could not strip the parameter from %s", u)
	}
	u = stripped
	if st, _ := get(""); st != 403 {
		t.Fatalf("a link stripped of its additional headers answered %d", st)
	}
}

func TestShareEndpoints(t *testing.T) {
	c := newWebClient(t)
	c.register()
	dir, _ := c.s.Sharer().MkdirAll("/films")
	f, _ := c.s.Sharer().PutPath("/films/a.mkv", fakecloud.BytesBlob([]byte("aaa")))
	c.s.Sharer().PutPath("/private/b.mkv", fakecloud.BytesBlob([]byte("bbb")))
	priv, _ := c.s.Sharer().Lookup("/private/b.mkv")
	if err := c.s.AddShare("S1", "ab12", dir.ID); err != nil {
		t.Fatal(err)
	}
	st, out := c.post("/adrive/v3/share_link/get_share_by_anonymous?share_id=S1", nil, map[string]string{"share_id": "S1"})
	if st != 200 || out["has_pwd"] != true || out["file_count"].(float64) != 1 {
		t.Fatalf("share info: %d %v", st, out)
	}
	if st, out := c.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": "S1", "share_pwd": "xxxx"}); st != 400 || out["code"] != "InvalidResource.SharePwd" {
		t.Fatalf("wrong pwd: %d %v", st, out)
	}
	st, out = c.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": "S1", "share_pwd": "ab12"})
	if st != 200 || out["expires_in"].(float64) != 7200 {
		t.Fatalf("share token: %d %v", st, out)
	}
	tok := out["share_token"].(string)
	sh := http.Header{"X-Share-Token": {tok}}
	st, out = c.post("/adrive/v3/file/list", sh, map[string]any{"share_id": "S1", "parent_file_id": "root"})
	if st != 200 || len(out["items"].([]any)) != 1 {
		t.Fatalf("share root: %d %v", st, out)
	}
	st, out = c.post("/adrive/v3/file/list", sh, map[string]any{"share_id": "S1", "parent_file_id": dir.ID})
	items, _ := out["items"].([]any)
	if st != 200 || len(items) != 1 || items[0].(map[string]any)["share_id"] != "S1" {
		t.Fatalf("share folder: %d %v", st, out)
	}
	if st, _ := c.post("/adrive/v3/file/list", sh, map[string]any{"share_id": "S1", "parent_file_id": priv.ParentID}); st != 404 {
		t.Fatalf("a folder outside the share listed: %d", st)
	}
	// The direct download is dead, alternately 410 and 429.
	login := http.Header{"Authorization": {"Bearer\t" + c.at}, "X-Share-Token": {tok}}
	dl := map[string]any{"share_id": "S1", "file_id": f.ID, "drive_id": sharerDriveID, "expire_sec": 600}
	st1, _ := c.post("/v2/file/get_share_link_download_url", login, dl)
	st2, out2 := c.post("/v2/file/get_share_link_download_url", login, dl)
	if st1 != 410 || st2 != 429 || out2["code"] != "ParamFlowException" {
		t.Fatalf("dead download: %d, %d %v", st1, st2, out2)
	}
	c.s.SetShareDownloadDead(false)
	if st, out := c.post("/v2/file/get_share_link_download_url", login, map[string]any{"share_id": "S1", "file_id": f.ID, "expire_sec": 601}); st != 400 || out["code"] != "InvalidParameter.ExpireSec" {
		t.Fatalf("expire_sec 601: %d %v", st, out)
	}
	if st, out := c.post("/v2/file/get_share_link_download_url", login, dl); st != 200 || !strings.Contains(out["download_url"].(string), "referer") {
		t.Fatalf("live download: %d %v", st, out)
	}
	// The batch copy wants the share token.
	tmp, _ := c.s.Tree().MkdirAll("/tmp")
	batch := map[string]any{"resource": "file", "requests": []any{map[string]any{"id": "0", "method": "POST", "url": "/file/copy",
		"body": map[string]any{"file_id": f.ID, "share_id": "S1", "auto_rename": true, "to_parent_file_id": tmp.ID, "to_drive_id": resourceDriveID}}}}
	st, out = c.post("/adrive/v2/batch", c.signed(), batch)
	if r := out["responses"].([]any)[0].(map[string]any); st != 200 || r["status"].(float64) != 403 {
		t.Fatalf("copy without share token: %d %v", st, out)
	}
	h := c.signed()
	h.Set("X-Share-Token", tok)
	st, out = c.post("/adrive/v2/batch", h, batch)
	r := out["responses"].([]any)[0].(map[string]any)
	if st != 200 || r["status"].(float64) != 201 {
		t.Fatalf("copy: %d %v", st, out)
	}
	if kids, _ := c.s.Tree().Children(tmp.ID); len(kids) != 1 || kids[0].Name != "a.mkv" || c.s.Counters().Get("file/copy") != 2 {
		t.Fatalf("copied %v, file/copy counted %d", kids, c.s.Counters().Get("file/copy"))
	}
	// Tokens die early; shares die.
	c.s.ExpireShareTokens()
	if st, out := c.post("/adrive/v3/file/list", sh, map[string]any{"share_id": "S1", "parent_file_id": "root"}); st != 401 || out["code"] != "ShareLinkTokenInvalid" {
		t.Fatalf("expired share token: %d %v", st, out)
	}
	for _, tc := range []struct {
		kill func(string)
		code string
	}{{c.s.ForbidShare, "ShareLink.Forbidden"}, {c.s.ExpireShare, "ShareLink.Expired"}, {c.s.CancelShare, "ShareLink.Cancelled"}} {
		tc.kill("S1")
		if _, out := c.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": "S1", "share_pwd": "ab12"}); out["code"] != tc.code {
			t.Errorf("share token of a dead share: %v, want %s", out, tc.code)
		}
	}
	if st, out := c.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": "nope"}); st != 404 || out["code"] != "NotFound.ShareLink" {
		t.Fatalf("unknown share: %d %v", st, out)
	}
}
