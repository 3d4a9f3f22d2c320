package aliyuntest

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

func (c *client) put(u string, body []byte, contentType string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func parts(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"part_number": i + 1}
	}
	return out
}

func partURLs(t *testing.T, m map[string]any) []string {
	t.Helper()
	var out []string
	for _, x := range m["part_info_list"].([]any) {
		p := x.(map[string]any)
		if ct, ok := p["content_type"]; !ok || ct != "" {
			t.Fatalf("part %v: content_type must be present and empty", p)
		}
		out = append(out, p["upload_url"].(string))
	}
	return out
}

func (c *client) createFile(parent, name string, size int64, extra map[string]any) (int, map[string]any) {
	c.t.Helper()
	body := map[string]any{"drive_id": resourceDriveID, "parent_file_id": parent, "name": name, "type": "file",
		"check_name_mode": "ignore", "size": size}
	for k, v := range extra {
		body[k] = v
	}
	return c.api("openFile/create", body)
}

func (c *client) names(parent string) []string {
	c.t.Helper()
	st, m := c.api("openFile/list", map[string]any{"drive_id": resourceDriveID, "parent_file_id": parent})
	if st != 200 {
		c.t.Fatalf("list: %d %v", st, m)
	}
	var out []string
	for _, x := range m["items"].([]any) {
		out = append(out, x.(map[string]any)["name"].(string))
	}
	return out
}

func TestCreateFolderNameModes(t *testing.T) {
	c := newClient(t, Options{})
	mk := func(name, mode string) (int, map[string]any) {
		return c.api("openFile/create", map[string]any{"drive_id": resourceDriveID, "parent_file_id": "root", "name": name, "type": "folder", "check_name_mode": mode})
	}
	st, a := mk("films", "refuse")
	if st != 201 || a["exist"] != false || a["file_name"] != "films" || a["type"] != "folder" || len(a["file_id"].(string)) != 40 {
		t.Fatalf("create: %d %v", st, a)
	}
	if _, has := a["name"]; has {
		t.Fatalf("create answers with name, want file_name: %v", a)
	}
	st, b := mk("films", "refuse")
	if st != 201 || b["exist"] != true || b["file_id"] != a["file_id"] {
		t.Fatalf("refused create: %d %v", st, b)
	}
	if st, m := mk("films", "auto_rename"); st != 201 || m["file_name"] != "films(1)" {
		t.Fatalf("auto_rename: %d %v", st, m)
	}
	if st, m := mk("films", ""); st != 201 || m["file_name"] != "films" || m["file_id"] == a["file_id"] {
		t.Fatalf("default (ignore): %d %v", st, m)
	}
	if got := strings.Join(c.names("root"), ","); got != "films,films(1),films" {
		t.Fatalf("root holds %s", got)
	}
	st, m := mk("a/b", "refuse")
	wantCode(t, st, m, 400, "InvalidParameter.Name")
	st, m = mk(strings.Repeat("x", 1025), "refuse")
	wantCode(t, st, m, 400, "InvalidParameter.Name")
	if got := c.s.Counters().Get("openFile/create"); got != 6 {
		t.Fatalf("openFile/create counted %d", got)
	}
}

func TestMultipartUpload(t *testing.T) {
	c := newClient(t, Options{})
	data := []byte("0123456789abcdefghij")
	st, m := c.createFile("root", "v.mkv", int64(len(data)), map[string]any{"part_info_list": parts(2), "content_hash_name": "none", "proof_version": "v1"})
	if st != 200 || m["rapid_upload"] != false || m["upload_id"] == "" || m["file_name"] != "v.mkv" {
		t.Fatalf("create: %d %v", st, m)
	}
	id, uploadID := m["file_id"].(string), m["upload_id"].(string)
	urls := partURLs(t, m)
	if !strings.Contains(urls[0], "/oss/") || !strings.Contains(urls[0], "Expires=") || !strings.Contains(urls[0], "Signature=") {
		t.Fatalf("upload URL %s is not presigned OSS-style", urls[0])
	}
	// Pending: neither listed nor found.
	if n := c.names("root"); len(n) != 0 {
		t.Fatalf("pending upload listed: %v", n)
	}
	st, g := c.api("openFile/get", map[string]any{"drive_id": resourceDriveID, "file_id": id})
	wantCode(t, st, g, 404, "NotFound.FileId")

	if st, b := c.put(urls[0], data[:12], "application/octet-stream"); st != 403 || !strings.Contains(b, "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("PUT with a Content-Type: %d %s", st, b)
	}
	if st, b := c.put(urls[0], data[:12], ""); st != 200 {
		t.Fatalf("PUT part 1: %d %s", st, b)
	}
	if st, b := c.put(urls[0], data[:12], ""); st != 409 || !strings.Contains(b, "PartAlreadyExist") {
		t.Fatalf("PUT part 1 again: %d %s", st, b)
	}
	req := map[string]any{"drive_id": resourceDriveID, "file_id": id, "upload_id": uploadID}
	st, m = c.api("openFile/complete", req)
	wantCode(t, st, m, 400, "InvalidParameter.PartInfoList")
	st, m = c.api("openFile/listUploadedParts", req)
	if up := m["uploaded_parts"].([]any); st != 200 || len(up) != 1 || m["parallelUpload"] != false {
		t.Fatalf("listUploadedParts: %d %v", st, m)
	}

	c.s.ExpireUploadURLs()
	if st, b := c.put(urls[1], data[12:], ""); st != 403 || !strings.Contains(b, "<Code>AccessDenied</Code>") || !strings.Contains(b, "expired") {
		t.Fatalf("PUT to an expired URL: %d %s", st, b)
	}
	st, m = c.api("openFile/getUploadUrl", map[string]any{"drive_id": resourceDriveID, "file_id": id, "upload_id": uploadID, "part_info_list": parts(2)[1:]})
	if st != 200 {
		t.Fatalf("getUploadUrl: %d %v", st, m)
	}
	if st, b := c.put(partURLs(t, m)[0], data[12:], ""); st != 200 {
		t.Fatalf("PUT part 2 with a fresh URL: %d %s", st, b)
	}
	st, m = c.api("openFile/complete", req)
	sum := sha1.Sum(data)
	if st != 200 || m["name"] != "v.mkv" || m["size"] != float64(len(data)) || m["content_hash"] != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Fatalf("complete: %d %v", st, m)
	}
	if n := c.names("root"); len(n) != 1 {
		t.Fatalf("completed upload not listed: %v", n)
	}
	if got := c.s.UploadedBytes(); got != int64(len(data)) {
		t.Fatalf("UploadedBytes = %d, want %d", got, len(data))
	}
	if got := c.s.Counters().Get("oss/put"); got != 5 {
		t.Fatalf("oss/put counted %d, want 5", got)
	}
	n, _ := c.s.Tree().Get(id)
	b := make([]byte, len(data))
	n.Blob.ReadAt(b, 0)
	if !bytes.Equal(b, data) {
		t.Fatalf("stored %q", b)
	}
	if st, m := c.createFile("root", "x", 1, map[string]any{"part_info_list": parts(10001)}); st != 400 || !strings.Contains(m["message"].(string), "10000") {
		t.Fatalf("10001 parts: %d %v", st, m)
	}
}

func TestUploadWrongSizeIsRefused(t *testing.T) {
	c := newClient(t, Options{})
	_, m := c.createFile("root", "a", 10, map[string]any{"part_info_list": parts(1)})
	if st, _ := c.put(partURLs(t, m)[0], []byte("short"), ""); st != 200 {
		t.Fatalf("PUT: %d", st)
	}
	st, m := c.api("openFile/complete", map[string]any{"drive_id": resourceDriveID, "file_id": m["file_id"], "upload_id": m["upload_id"]})
	if st != 400 {
		t.Fatalf("complete with 5 of 10 bytes: %d %v", st, m)
	}
}

func TestBigUploadIsStagedOnDisk(t *testing.T) {
	c := newClient(t, Options{MemoryUploadMax: 16})
	data := []byte("part one--part two--part 3")
	_, m := c.createFile("root", "big.bin", int64(len(data)), map[string]any{"part_info_list": parts(3)})
	urls := partURLs(t, m)
	// Out of order, so the parts must be reassembled.
	for _, p := range []struct {
		i        int
		from, to int
	}{{2, 10, 20}, {0, 0, 10}, {1, 20, 26}} {
		if st, b := c.put(urls[p.i], data[p.from:p.to], ""); st != 200 {
			t.Fatalf("PUT %d: %d %s", p.i+1, st, b)
		}
	}
	// Part 3 (bytes 10..20) arrived first and part 2 holds bytes 20..26.
	want := append(append(append([]byte{}, data[:10]...), data[20:26]...), data[10:20]...)
	st, m := c.api("openFile/complete", map[string]any{"drive_id": resourceDriveID, "file_id": m["file_id"], "upload_id": m["upload_id"]})
	if st != 200 {
		t.Fatalf("complete: %d %v", st, m)
	}
	n, _ := c.s.Tree().Get(m["file_id"].(string))
	fb, ok := n.Blob.(*uploadBlob).get().(*FileBlob)
	if !ok {
		t.Fatalf("a big upload is held as %T", n.Blob.(*uploadBlob).get())
	}
	got := make([]byte, n.Size())
	if _, err := n.Blob.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("assembled %q, want %q", got, want)
	}
	name := fb.f.Name()
	c.s.Close()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("temp file %s left after Close: %v", name, err)
	}
}

func TestRapidUpload(t *testing.T) {
	c := newClient(t, Options{})
	data := bytes.Repeat([]byte("rapid!"), 50000)
	src, _ := c.s.Tree().PutPath("/src.bin", fakecloud.BytesBlob(data))
	blob := fakecloud.BytesBlob(data)
	size := int64(len(data))
	st, m := c.createFile("root", "copy.bin", size, map[string]any{"part_info_list": parts(1), "pre_hash": PreHash(blob, size)})
	wantCode(t, st, m, 409, "PreHashMatched")
	other := PreHash(fakecloud.BytesBlob([]byte("something else")), 14)
	if st, m := c.createFile("root", "other.bin", size, map[string]any{"part_info_list": parts(1), "pre_hash": other}); st != 200 || m["rapid_upload"] != false || m["upload_id"] == "" {
		t.Fatalf("unmatched pre_hash: %d %v", st, m)
	}
	full := map[string]any{"part_info_list": parts(1), "content_hash": blob.SHA1(), "content_hash_name": "sha1", "proof_version": "v1"}
	full["proof_code"] = ProofCode("some other token", blob, size)
	if full["proof_code"] == ProofCode(c.at, blob, size) {
		t.Skip("the two tokens happen to give the same proof")
	}
	st, m = c.createFile("root", "copy.bin", size, full)
	wantCode(t, st, m, 400, "InvalidRapidProof")
	full["proof_code"] = ProofCode(c.at, blob, size)
	st, m = c.createFile("root", "copy.bin", size, full)
	if st != 200 || m["rapid_upload"] != true || m["file_id"] == src.ID {
		t.Fatalf("rapid upload: %d %v", st, m)
	}
	st, m = c.api("openFile/complete", map[string]any{"drive_id": resourceDriveID, "file_id": m["file_id"], "upload_id": m["upload_id"]})
	if st != 200 || m["name"] != "copy.bin" || m["size"] != float64(size) {
		t.Fatalf("complete after rapid upload: %d %v", st, m)
	}
	if c.s.UploadedBytes() != 0 {
		t.Fatalf("rapid upload received bytes")
	}
}

func TestProofCode(t *testing.T) {
	b := fakecloud.BytesBlob([]byte("0123456789"))
	// MD5("token")[:16] = 94a08da1fecbb6e8, mod 10 = 6: bytes "6789".
	if got := ProofCode("token", b, 10); got != "Njc4OQ==" {
		t.Fatalf("ProofCode = %q", got)
	}
	if got := ProofCode("token", b, 0); got != "" {
		t.Fatalf("empty file proof = %q", got)
	}
}

var timeZero time.Time

func TestRenameMoveCopyRemove(t *testing.T) {
	c := newClient(t, Options{})
	dir, _ := c.s.Tree().MkdirAll("/dir")
	dst, _ := c.s.Tree().MkdirAll("/dst")
	a, _ := c.s.Tree().Put(dir.ID, "a.txt", fakecloud.BytesBlob([]byte("a")), timeZero)
	c.s.Tree().Put(dir.ID, "b.txt", fakecloud.BytesBlob([]byte("b")), timeZero)
	upd := func(id, name string) (int, map[string]any) {
		return c.api("openFile/update", map[string]any{"drive_id": resourceDriveID, "file_id": id, "name": name, "check_name_mode": "refuse"})
	}
	st, m := upd(a.ID, "b.txt")
	wantCode(t, st, m, 409, "AlreadyExist.File")
	if st, m := upd(a.ID, "c.txt"); st != 200 || m["name"] != "c.txt" {
		t.Fatalf("rename: %d %v", st, m)
	}
	// Moving a folder is an async task: Running once, then Succeed.
	st, m = c.api("openFile/move", map[string]any{"drive_id": resourceDriveID, "file_id": dir.ID, "to_parent_file_id": dst.ID, "new_name": "moved", "check_name_mode": "refuse"})
	task, _ := m["async_task_id"].(string)
	if st != 200 || m["exist"] == true || task == "" || m["file_id"] != dir.ID {
		t.Fatalf("move: %d %v", st, m)
	}
	for _, want := range []string{"Running", "Succeed"} {
		if st, m := c.api("openFile/async_task/get", map[string]any{"async_task_id": task}); st != 200 || m["state"] != want {
			t.Fatalf("async_task/get: %d %v, want %s", st, m, want)
		}
	}
	if p, _ := c.s.Tree().Path(a.ID); p != "/dst/moved/c.txt" {
		t.Fatalf("after move: %s", p)
	}
	other, _ := c.s.Tree().Put(dst.ID, "c.txt", fakecloud.BytesBlob([]byte("x")), timeZero)
	st, m = c.api("openFile/move", map[string]any{"drive_id": resourceDriveID, "file_id": a.ID, "to_parent_file_id": dst.ID, "check_name_mode": "refuse"})
	if st != 200 || m["exist"] != true || m["file_id"] != other.ID {
		t.Fatalf("refused move: %d %v", st, m)
	}
	st, m = c.api("openFile/move", map[string]any{"drive_id": resourceDriveID, "file_id": dir.ID, "to_parent_file_id": a.ParentID})
	if st != 400 {
		t.Fatalf("move into itself: %d %v", st, m)
	}

	st, m = c.api("openFile/copy", map[string]any{"drive_id": resourceDriveID, "file_id": dir.ID, "to_drive_id": resourceDriveID, "to_parent_file_id": dst.ID, "auto_rename": true})
	if st != 200 || m["async_task_id"] == "" {
		t.Fatalf("copy: %d %v", st, m)
	}
	if p, _ := c.s.Tree().Path(m["file_id"].(string)); p != "/dst/moved(1)" {
		t.Fatalf("auto-renamed copy at %s", p)
	}
	if n, err := c.s.Tree().Lookup("/dst/moved(1)/b.txt"); err != nil || n.Size() != 1 {
		t.Fatalf("copied child: %v %v", n, err)
	}

	st, m = c.api("openFile/recyclebin/trash", map[string]any{"drive_id": resourceDriveID, "file_id": a.ID})
	if st != 200 || m["file_id"] != a.ID || m["async_task_id"] != "" {
		t.Fatalf("trash: %d %v", st, m)
	}
	st, m = upd(a.ID, "d.txt")
	wantCode(t, st, m, 403, "ForbiddenFileInTheRecycleBin")
	st, m = c.api("openFile/recyclebin/trash", map[string]any{"drive_id": resourceDriveID, "file_id": a.ID})
	wantCode(t, st, m, 403, "ForbiddenFileInTheRecycleBin")
	if st, m := c.api("openFile/delete", map[string]any{"drive_id": resourceDriveID, "file_id": a.ID}); st != 200 {
		t.Fatalf("delete from the bin: %d %v", st, m)
	}
	st, m = c.api("openFile/delete", map[string]any{"drive_id": resourceDriveID, "file_id": a.ID})
	wantCode(t, st, m, 404, "NotFound.FileId")
	for _, ep := range []string{"openFile/update", "openFile/move", "openFile/copy", "openFile/recyclebin/trash", "openFile/delete", "openFile/async_task/get"} {
		if c.s.Counters().Get(ep) == 0 {
			t.Errorf("%s not counted", ep)
		}
	}
}

func TestWritesAreThrottledAndFaulted(t *testing.T) {
	c := newClient(t, Options{RateOther: 1})
	mk := map[string]any{"drive_id": resourceDriveID, "parent_file_id": "root", "name": "x", "type": "folder"}
	c.api("openFile/create", mk)
	st, hdr, b := c.do("/adrive/v1.0/openFile/create", c.at, mk)
	if st != 429 || hdr.Get("x-retry-after") == "" || !strings.Contains(string(b), "TooManyRequests") {
		t.Fatalf("second create at once: %d %v %s", st, hdr, b)
	}
	c.s.Faults().Inject("oss/put", fakecloud.ServerError, 1, 1)
	req, _ := http.NewRequest(http.MethodPut, c.s.URL()+"/oss/x/y", strings.NewReader("z"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("faulted PUT: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestLocalModifiedAtFormat(t *testing.T) {
	c := newClient(t, Options{})
	for _, tc := range []struct {
		at   string
		want int
	}{
		{"2024-05-06T07:08:09.123Z", 200},
		{"", 200},
		{"2024-05-06T07:08:09Z", 400},
		{"2024-05-06T07:08:09.123+08:00", 400},
	} {
		if st, out := c.createFile("root", "t.txt", 0, map[string]any{"local_modified_at": tc.at}); st != tc.want {
			t.Errorf("local_modified_at %q: %d %v, want %d", tc.at, st, out, tc.want)
		}
	}
}
