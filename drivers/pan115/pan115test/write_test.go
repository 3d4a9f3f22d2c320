package pan115test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// client calls proapi with a valid access token.
type client struct {
	t   *testing.T
	s   *Server
	tok string
}

func newClient(t *testing.T) *client { return newClientWith(t, Options{QPS: -1}) }

func newClientWith(t *testing.T, o Options) *client {
	s := NewServer(o)
	t.Cleanup(s.Close)
	r := post(t, s.PassportURL()+"/open/refreshToken", url.Values{"refresh_token": {s.Login().Issue().Refresh}})
	return &client{t: t, s: s, tok: r["data"].(map[string]any)["access_token"].(string)}
}

func (c *client) do(method, path string, form url.Values) map[string]any {
	c.t.Helper()
	var body io.Reader
	u := c.s.APIURL() + path
	if method == http.MethodGet {
		u += "?" + form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	d := json.NewDecoder(resp.Body)
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

func code(m map[string]any) string { return fmt.Sprint(m["code"]) }

func data(m map[string]any) map[string]any {
	if d, isMap := m["data"].(map[string]any); isMap {
		return d
	}
	if a, isArr := m["data"].([]any); isArr && len(a) == 1 {
		return a[0].(map[string]any)
	}
	return nil
}

func TestUpdateKeepsExtensionAndSuffixes(t *testing.T) {
	c := newClient(t)
	tree := c.s.Tree()
	cases := []struct{ from, ask, want string }{
		{"a.txt", "b.md", "b.txt"},
		{"c.txt", "d", "d.txt"},
		{"e.txt", "f.txt", "f.txt"},
		{"noext", "g.mkv", "g"},
		{"h.txt", "b.txt", "b(1).txt"}, // b.txt was made by the first case
		{"i.txt", "b.txt", "b(2).txt"},
	}
	for _, tc := range cases {
		n, _ := tree.PutPath("/u/"+tc.from, fakecloud.BytesBlob(nil))
		r := c.do(http.MethodPost, "/open/ufile/update", url.Values{"file_id": {n.ID}, "file_name": {tc.ask}})
		got, _ := tree.Get(n.ID)
		if code(r) != "0" || data(r)["file_name"] != tc.want || got.Name != tc.want {
			t.Fatalf("%s asked %s: answer %v, node %q, want %q", tc.from, tc.ask, r, got.Name, tc.want)
		}
	}
	dir, _ := tree.MkdirAll("/u/folder.v1")
	if r := c.do(http.MethodPost, "/open/ufile/update", url.Values{"file_id": {dir.ID}, "file_name": {"folder 2"}}); data(r)["file_name"] != "folder 2" {
		t.Fatalf("folders take any name: %v", r)
	}
	gone, _ := tree.PutPath("/u/gone.txt", fakecloud.BytesBlob(nil))
	tree.Trash(gone.ID)
	if r := c.do(http.MethodPost, "/open/ufile/update", url.Values{"file_id": {gone.ID}, "file_name": {"x.txt"}}); r["state"] != true {
		t.Fatalf("update of a deleted file must 'succeed': %v", r)
	}
}

func TestFolderAddCodes(t *testing.T) {
	c := newClient(t)
	r := c.do(http.MethodPost, "/open/folder/add", url.Values{"pid": {"0"}, "file_name": {"新建"}})
	if code(r) != "0" || data(r)["file_name"] != "新建" || data(r)["file_id"] == "" {
		t.Fatalf("add: %v", r)
	}
	for name, want := range map[string]string{"新建": "20004", `a"b`: "20003", strings.Repeat("x", 256): "20002", "": "20001"} {
		if r := c.do(http.MethodPost, "/open/folder/add", url.Values{"pid": {"0"}, "file_name": {name}}); code(r) != want {
			t.Fatalf("%.10q: %v, want %s", name, r, want)
		}
	}
	if r := c.do(http.MethodPost, "/open/folder/add", url.Values{"pid": {"3073323042149999999"}, "file_name": {"x"}}); code(r) != "20009" {
		t.Fatalf("unknown pid: %v", r)
	}
}

func TestMoveCopyDelete(t *testing.T) {
	c := newClient(t)
	tree := c.s.Tree()
	a, _ := tree.PutPath("/a/x.txt", fakecloud.BytesBlob([]byte("1")))
	tree.PutPath("/b/x.txt", fakecloud.BytesBlob([]byte("2")))
	b, _ := tree.Lookup("/b")
	if r := c.do(http.MethodPost, "/open/ufile/move", url.Values{"file_ids": {a.ID}, "to_cid": {b.ID}}); code(r) != "0" {
		t.Fatal(r)
	}
	if n, _ := tree.Get(a.ID); n.ParentID != b.ID || n.Name != "x(1).txt" {
		t.Fatalf("moved onto a taken name: %+v", n)
	}
	aDir, _ := tree.Lookup("/a")
	if r := c.do(http.MethodPost, "/open/ufile/move", url.Values{"file_ids": {aDir.ID}, "to_cid": {aDir.ID}}); code(r) != "91002" {
		t.Fatalf("move into itself: %v", r)
	}
	if r := c.do(http.MethodPost, "/open/ufile/copy", url.Values{"file_id": {a.ID}, "pid": {b.ID}, "nodupli": {"0"}}); code(r) != "0" {
		t.Fatal(r)
	}
	if _, err := tree.ChildByName(b.ID, "x(1)(1).txt"); err != nil {
		t.Fatal("copy into the same folder is not suffixed")
	}
	if r := c.do(http.MethodPost, "/open/ufile/copy", url.Values{"file_id": {a.ID}, "pid": {b.ID}, "nodupli": {"1"}}); code(r) == "0" {
		t.Fatalf("nodupli=1 onto a taken name: %v", r)
	}
	if r := c.do(http.MethodPost, "/open/ufile/copy", url.Values{"file_id": {b.ID}, "pid": {b.ID}}); code(r) != "91002" {
		t.Fatalf("copy into itself: %v", r)
	}
	// rb/del takes only what is in the bin.
	if r := c.do(http.MethodPost, "/open/rb/del", url.Values{"tid": {a.ID}}); code(r) == "0" {
		t.Fatalf("rb/del of a live file: %v", r)
	}
	if r := c.do(http.MethodPost, "/open/ufile/delete", url.Values{"file_ids": {a.ID}}); code(r) != "0" {
		t.Fatal(r)
	}
	if n, _ := tree.Get(a.ID); !n.Trashed {
		t.Fatal("not trashed")
	}
	if r := c.do(http.MethodPost, "/open/rb/del", url.Values{"tid": {a.ID}}); code(r) != "0" {
		t.Fatal(r)
	}
	if _, err := tree.Get(a.ID); err == nil {
		t.Fatal("still stored after rb/del")
	}
}

func TestGetTokenShapes(t *testing.T) {
	c := newClient(t)
	shapes := map[string]bool{}
	for i := 0; i < 2; i++ {
		r := c.do(http.MethodGet, "/open/upload/get_token", url.Values{})
		_, isArr := r["data"].([]any)
		shapes[fmt.Sprint(isArr)] = true
		d := data(r)
		if d["endpoint"] != c.s.OSSURL() || d["AccessKeyId"] == "" || d["SecurityToken"] == "" {
			t.Fatalf("token %v", d)
		}
		exp, err := time.Parse(time.RFC3339, d["Expiration"].(string))
		if err != nil || time.Until(exp) < 59*time.Minute {
			t.Fatalf("expiration %v %v", d["Expiration"], err)
		}
	}
	if len(shapes) != 2 {
		t.Fatal("data is never an array (or never an object)")
	}
}

func TestUploadInitRapidAndProofs(t *testing.T) {
	c := newClient(t)
	content := make([]byte, SignCheckMin+10)
	fakecloud.NewSeededBlob(1, int64(len(content)), "").ReadAt(content, 0)
	blob := fakecloud.BytesBlob(content)
	c.s.Tree().PutPath("/orig.bin", blob)
	form := url.Values{
		"file_name": {"copy.bin"}, "file_size": {fmt.Sprint(len(content))}, "target": {"U_1_0"},
		"fileid": {blob.SHA1()}, "preid": {upperSHA1(content[:PreIDSize])}, "topupload": {"0"},
	}
	r := data(c.do(http.MethodPost, "/open/upload/init", form))
	if fmt.Sprint(r["status"]) != "7" || fmt.Sprint(r["code"]) != "701" {
		t.Fatalf("first init: %v", r)
	}
	var start, end int
	fmt.Sscanf(r["sign_check"].(string), "%d-%d", &start, &end)
	form.Set("sign_key", r["sign_key"].(string))
	form.Set("sign_val", upperSHA1([]byte("wrong")))
	r = data(c.do(http.MethodPost, "/open/upload/init", form))
	if fmt.Sprint(r["status"]) != "6" || fmt.Sprint(r["code"]) != "700" {
		t.Fatalf("wrong proof: %v", r)
	}
	fmt.Sscanf(r["sign_check"].(string), "%d-%d", &start, &end)
	form.Set("sign_key", r["sign_key"].(string))
	form.Set("sign_val", upperSHA1(content[start:end+1]))
	r = data(c.do(http.MethodPost, "/open/upload/init", form))
	if fmt.Sprint(r["status"]) != "2" || r["file_id"] == "" || r["pick_code"] == "" {
		t.Fatalf("right proof: %v", r)
	}
	if n, _ := c.s.Tree().Get(r["file_id"].(string)); n.Name != "copy.bin" || n.Blob.SHA1() != blob.SHA1() {
		t.Fatalf("rapid upload made %+v", n)
	}
	form.Set("preid", upperSHA1([]byte("not the head")))
	if m := c.do(http.MethodPost, "/open/upload/init", form); m["state"] != false {
		t.Fatalf("wrong preid: %v", m)
	}
	form.Set("fileid", strings.Repeat("0", 40))
	form.Del("preid")
	r = data(c.do(http.MethodPost, "/open/upload/init", form))
	cb, isMap := r["callback"].(map[string]any)
	if fmt.Sprint(r["status"]) != "1" || r["bucket"] != Bucket || r["object"] == "" || !isMap || !json.Valid([]byte(cb["callback"].(string))) {
		t.Fatalf("unknown content: %v", r)
	}
}

func TestOSSRefusesBadSignatureAndExpiredToken(t *testing.T) {
	c := newClient(t)
	d := data(c.do(http.MethodPost, "/open/upload/init", url.Values{
		"file_name": {"n.bin"}, "file_size": {"3"}, "target": {"U_1_0"}, "fileid": {upperSHA1([]byte("abc"))},
	}))
	tok := data(c.do(http.MethodGet, "/open/upload/get_token", url.Values{}))
	put := func(secret string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, c.s.OSSURL()+"/"+Bucket+"/"+d["object"].(string), bytes.NewReader([]byte("abc")))
		req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("x-oss-security-token", tok["SecurityToken"].(string))
		req.Header.Set("Authorization", "OSS "+tok["AccessKeyId"].(string)+":"+ossSign(secret, OSSStringToSign(req, Bucket, d["object"].(string))))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := put("wrong secret"); st != http.StatusForbidden || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("bad signature: %d %s", st, body)
	}
	// Signed right but without the callback: stored, yet no file appears.
	if st, body := put(tok["AccessKeySecret"].(string)); st != http.StatusOK {
		t.Fatalf("good signature: %d %s", st, body)
	}
	if kids, _ := c.s.Tree().Children("0"); len(kids) != 0 || c.s.UploadedBytes() != 3 {
		t.Fatalf("files %v, received %d", kids, c.s.UploadedBytes())
	}
	c.s.ExpireSTS()
	if st, body := put(tok["AccessKeySecret"].(string)); st != http.StatusForbidden || !strings.Contains(body, "<Code>SecurityTokenExpired</Code>") {
		t.Fatalf("expired token: %d %s", st, body)
	}
}
