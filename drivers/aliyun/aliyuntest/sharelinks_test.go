package aliyuntest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// ownShareRig is a logged-in web client with files of its own to share.
type ownShareRig struct {
	*webClient
	folder, qrc, video fakecloud.Node
}

func newOwnShareRig(t *testing.T) *ownShareRig {
	c := newWebClient(t)
	c.register()
	r := &ownShareRig{webClient: c}
	r.video, _ = c.s.Tree().PutPath("/Films/a.mkv", fakecloud.BytesBlob([]byte("film")))
	r.qrc, _ = c.s.Tree().PutPath("/Films/lyrics.qrc", fakecloud.BytesBlob([]byte("[0,1]la")))
	r.folder, _ = c.s.Tree().Lookup("/Films")
	return r
}

func (r *ownShareRig) create(body map[string]any) (int, map[string]any) {
	r.t.Helper()
	if _, ok := body["drive_id"]; !ok {
		body["drive_id"] = resourceDriveID
	}
	return r.post("/adrive/v2/share_link/create", r.signed(), body)
}

func (r *ownShareRig) listIDs(includeCanceled bool) []string {
	r.t.Helper()
	st, out := r.post("/adrive/v3/share_link/list", r.signed(), map[string]any{"limit": 100, "include_canceled": includeCanceled})
	if st != 200 {
		r.t.Fatalf("list: %d %v", st, out)
	}
	var ids []string
	for _, it := range out["items"].([]any) {
		ids = append(ids, it.(map[string]any)["share_id"].(string))
	}
	return ids
}

func TestShareCreateRefusals(t *testing.T) {
	r := newOwnShareRig(t)
	future := time.Now().Add(time.Hour).UTC().Format(timeFormat)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"a code of 3", map[string]any{"file_id_list": []string{r.folder.ID}, "share_pwd": "abc"}, 400, "InvalidParameter.SharePwd"},
		{"a code of 5", map[string]any{"file_id_list": []string{r.folder.ID}, "share_pwd": "abcde"}, 400, "InvalidParameter.SharePwd"},
		{"a code with a space", map[string]any{"file_id_list": []string{r.folder.ID}, "share_pwd": "ab 1"}, 400, "InvalidParameter.SharePwd"},
		{"an expiry in the past", map[string]any{"file_id_list": []string{r.folder.ID}, "expiration": "2020-01-01T00:00:00.000Z"}, 400, "InvalidParameter.Expiration"},
		{"an expiry that is no time", map[string]any{"file_id_list": []string{r.folder.ID}, "expiration": "tomorrow"}, 400, "InvalidParameter.Expiration"},
		{"a .qrc", map[string]any{"file_id_list": []string{r.folder.ID, r.qrc.ID}, "share_pwd": "ab12", "expiration": future}, 403, "FileShareNotAllowed"},
		{"the root", map[string]any{"file_id_list": []string{"root"}}, 400, "InvalidParameter.FileIdList"},
		{"no file", map[string]any{"file_id_list": []string{}}, 400, "InvalidParameter.FileIdList"},
		{"an unknown file", map[string]any{"file_id_list": []string{strings.Repeat("0", 40)}}, 404, "NotFound.File"},
		{"another's drive", map[string]any{"file_id_list": []string{r.folder.ID}, "drive_id": sharerDriveID}, 404, "NotFound.Drive"},
	} {
		if st, out := r.create(tc.body); st != tc.status || out["code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, st, out, tc.status, tc.code)
		}
	}
	if ids := r.listIDs(true); len(ids) != 0 {
		t.Errorf("refused creates made %v", ids)
	}
	st, out := r.post("/adrive/v2/share_link/check_available", r.signed(), map[string]any{"drive_file_list": []any{
		map[string]string{"drive_id": resourceDriveID, "file_id": r.folder.ID}, map[string]string{"drive_id": resourceDriveID, "file_id": r.qrc.ID}}})
	bad, _ := out["invalid_items"].([]any)
	if st != 200 || len(bad) != 1 || bad[0].(map[string]any)["file_extension"] != "qrc" {
		t.Errorf("check_available: %d %v", st, out)
	}
}

// TestOwnShareLife makes a link of a folder, opens it as anyone does,
// changes its code and cancels it.
func TestOwnShareLife(t *testing.T) {
	r := newOwnShareRig(t)
	st, out := r.create(map[string]any{"file_id_list": []string{r.folder.ID}, "share_pwd": "ab12", "description": "films"})
	id, _ := out["share_id"].(string)
	msg, _ := out["full_share_msg"].(string)
	if st != 200 || id == "" || out["share_name"] != "Films" || out["expiration"] != "" || out["share_url"] != shareURLBase+id ||
		!strings.Contains(msg, "「Films」"+shareURLBase+id+" 提取码: ab12\n") || out["file_id_list"].([]any)[0] != r.folder.ID {
		t.Fatalf("create: %d %v", st, out)
	}
	// Anyone opens it with its code, and lists it.
	if st, out := r.post("/adrive/v2/share_link/get_share_by_anonymous", nil, map[string]string{"share_id": id}); st != 200 || out["share_name"] != "Films" || out["has_pwd"] != true {
		t.Fatalf("anonymous info: %d %v", st, out)
	}
	token := func(pwd string) (int, map[string]any) {
		return r.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": id, "share_pwd": pwd})
	}
	st, out = token("ab12")
	if st != 200 {
		t.Fatalf("share token: %d %v", st, out)
	}
	sh := http.Header{"X-Share-Token": {out["share_token"].(string)}}
	list := func() (int, map[string]any) {
		return r.post("/adrive/v3/file/list", sh, map[string]any{"share_id": id, "parent_file_id": r.folder.ID})
	}
	if st, out := list(); st != 200 || len(out["items"].([]any)) != 2 {
		t.Fatalf("share listing: %d %v", st, out)
	}
	for _, p := range []string{"/adrive/v2/share_link/get", "/adrive/v2/share_link/get_share_msg"} {
		if st, out := r.post(p, r.signed(), map[string]string{"share_id": id}); st != 200 || out["full_share_msg"] != msg {
			t.Errorf("%s: %d %v", p, st, out)
		}
	}
	if st, out := r.post("/adrive/v2/share_link/get", r.signed(), map[string]string{"share_id": "S0nobody"}); st != 404 || out["code"] != "NotFound.ShareLink" {
		t.Errorf("get of an unknown link: %d %v", st, out)
	}
	if st, out := r.post("/adrive/v2/share_link/get", r.signed(), map[string]string{"share_id": id}); st != 200 || out["preview_count"].(float64) != 1 || out["description"] != "films" {
		t.Errorf("counts and description: %d %v", st, out)
	}

	// A new code ends the tokens of the old one and refuses it.
	st, out = r.post("/v2/share_link/update", r.signed(), map[string]string{"share_id": id, "share_pwd": "cd34"})
	if st != 200 || out["share_pwd"] != "cd34" || !strings.Contains(out["full_share_msg"].(string), "提取码: cd34") || out["description"] != "films" {
		t.Fatalf("update: %d %v", st, out)
	}
	if st, out := list(); st != 401 || out["code"] != "ShareLinkTokenInvalid" {
		t.Errorf("a token of the old code: %d %v", st, out)
	}
	if st, out := token("ab12"); st != 400 || out["code"] != "InvalidResource.SharePwd" {
		t.Errorf("the old code: %d %v", st, out)
	}
	if st, _ := token("cd34"); st != 200 {
		t.Errorf("the new code: %d", st)
	}
	for _, bad := range []map[string]string{{"share_id": id, "share_pwd": "x"}, {"share_id": id, "expiration": "2001-01-01T00:00:00.000Z"}} {
		if st, out := r.post("/adrive/v2/share_link/update", r.signed(), bad); st != 400 {
			t.Errorf("update %v: %d %v", bad, st, out)
		}
	}

	// Cancelled: anyone is told so, and the list leaves it out.
	if st, b := r.raw("/adrive/v2/share_link/cancel", r.signed(), map[string]string{"share_id": id}); st != 200 || len(b) != 0 {
		t.Fatalf("cancel: %d %q", st, b)
	}
	if st, out := token("cd34"); st != 400 || out["code"] != "ShareLink.Cancelled" {
		t.Errorf("a cancelled link: %d %v", st, out)
	}
	if ids := r.listIDs(false); len(ids) != 0 {
		t.Errorf("the list holds cancelled links %v", ids)
	}
	if ids := r.listIDs(true); len(ids) != 1 || ids[0] != id {
		t.Errorf("the list with cancelled links: %v", ids)
	}
	if st, out := r.post("/adrive/v2/share_link/update", r.signed(), map[string]string{"share_id": id, "description": "x"}); st != 400 || out["code"] != "ShareLink.Cancelled" {
		t.Errorf("update of a cancelled link: %d %v", st, out)
	}
}

func TestOwnShareExpires(t *testing.T) {
	r := newOwnShareRig(t)
	at := time.Now().Add(1200 * time.Millisecond)
	st, out := r.create(map[string]any{"file_id_list": []string{r.video.ID}, "expiration": at.UTC().Format(timeFormat)})
	if st != 200 || out["expired"] != false {
		t.Fatalf("create: %d %v", st, out)
	}
	id := out["share_id"].(string)
	time.Sleep(time.Until(at) + 50*time.Millisecond)
	if st, out := r.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": id}); st != 400 || out["code"] != "ShareLink.Expired" {
		t.Errorf("past its expiration: %d %v", st, out)
	}
	if st, out := r.post("/adrive/v2/share_link/get", r.signed(), map[string]string{"share_id": id}); st != 200 || out["expired"] != true {
		t.Errorf("get of an expired link: %d %v", st, out)
	}
}

func TestOwnShareListPagesAndBatchCancel(t *testing.T) {
	r := newOwnShareRig(t)
	var made []string
	for range 3 {
		_, out := r.create(map[string]any{"file_id_list": []string{r.video.ID}})
		made = append(made, out["share_id"].(string))
	}
	var got []string
	marker := ""
	for page := 0; ; page++ {
		st, out := r.post("/adrive/v3/share_link/list", r.signed(), map[string]any{"limit": 2, "marker": marker, "creator": r.userID})
		if st != 200 || page > 3 {
			t.Fatalf("list page %d: %d %v", page, st, out)
		}
		for _, it := range out["items"].([]any) {
			got = append(got, it.(map[string]any)["share_id"].(string))
		}
		if marker = out["next_marker"].(string); marker == "" {
			break
		}
	}
	if len(got) != 3 {
		t.Fatalf("listed %v, made %v", got, made)
	}
	if st, out := r.post("/adrive/v3/share_link/list", r.signed(), map[string]any{"limit": 101}); st != 400 {
		t.Errorf("limit 101: %d %v", st, out)
	}
	if st, out := r.post("/adrive/v3/share_link/list", r.signed(), map[string]any{"creator": "someone else"}); st != 403 {
		t.Errorf("another's links: %d %v", st, out)
	}
	var reqs []any
	for _, id := range []string{made[0], made[1], "S0nobody"} {
		reqs = append(reqs, map[string]any{"id": id, "method": "POST", "url": "/share_link/cancel", "body": map[string]string{"share_id": id}})
	}
	st, out := r.post("/adrive/v4/batch", r.signed(), map[string]any{"resource": "file", "requests": reqs})
	res := out["responses"].([]any)
	if st != 200 || len(res) != 3 || res[0].(map[string]any)["status"].(float64) != 204 || res[1].(map[string]any)["status"].(float64) != 204 || res[2].(map[string]any)["status"].(float64) != 404 {
		t.Fatalf("batch cancel: %d %v", st, out)
	}
	if ids := r.listIDs(false); len(ids) != 1 || ids[0] != made[2] {
		t.Errorf("left %v", ids)
	}
}

func TestOpenCreateShare(t *testing.T) {
	s := NewServer(Options{})
	t.Cleanup(s.Close)
	g := s.Login().Issue()
	f, _ := s.Tree().PutPath("/a/b.mp4", fakecloud.BytesBlob([]byte("x")))
	c := &webClient{t: t, s: s}
	h := http.Header{"Authorization": {"Bearer " + g.Access}}
	st, out := c.post("/adrive/v1.0/openFile/createShare", h, map[string]any{"driveId": resourceDriveID, "fileIdList": []string{f.ID}, "sharePwd": "zz99"})
	if st != 200 || out["share_id"] == "" || out["share_pwd"] != "zz99" || out["update_at"] == nil {
		t.Fatalf("createShare: %d %v", st, out)
	}
	if st, out := c.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": out["share_id"].(string), "share_pwd": "zz99"}); st != 200 {
		t.Errorf("the link does not open: %d %v", st, out)
	}
	if st, out := c.post("/adrive/v1.0/openFile/createShare", h, map[string]any{"driveId": resourceDriveID, "fileIdList": []string{f.ID}, "sharePwd": "zz9"}); st != 400 || out["code"] != "InvalidParameter.SharePwd" {
		t.Errorf("a code of 3: %d %v", st, out)
	}
}

func get(t *testing.T, u string) (int, []byte, *url.URL) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Request.URL
}

// TestSharePreview plays a shared video's transcoded preview: play info,
// its redirect to the playlist, segments that expire, and a full drive
// that refuses the copy.
func TestSharePreview(t *testing.T) {
	r := newOwnShareRig(t)
	_, out := r.create(map[string]any{"file_id_list": []string{r.folder.ID}})
	id := out["share_id"].(string)
	_, out = r.post("/v2/share_link/get_share_token", nil, map[string]string{"share_id": id})
	login := http.Header{"Authorization": {"Bearer " + r.at}, "X-Share-Token": {out["share_token"].(string)}}
	info := func(fileID string) (int, map[string]any) {
		return r.post("/v2/file/get_share_link_video_preview_play_info", login, map[string]any{"share_id": id, "drive_id": resourceDriveID,
			"file_id": fileID, "category": "live_transcoding", "get_preview_url": true})
	}
	if st, out := info(r.qrc.ID); st != 400 {
		t.Errorf("the preview of a .qrc: %d %v", st, out)
	}
	st, out := info(r.video.ID)
	tasks := out["video_preview_play_info"].(map[string]any)["live_transcoding_task_list"].([]any)
	if st != 200 || len(tasks) != 3 {
		t.Fatalf("play info: %d %v", st, out)
	}
	sd := tasks[1].(map[string]any)
	if sd["template_id"] != "SD" || sd["status"] != "finished" || tasks[2].(map[string]any)["url"] != nil {
		t.Fatalf("tasks: %v", tasks)
	}
	st, list, final := get(t, sd["url"].(string))
	if st != 200 || !strings.HasPrefix(string(list), "#EXTM3U") || !strings.Contains(final.Path, "/preview/") {
		t.Fatalf("playlist: %d %s at %s", st, list, final)
	}
	var segs []string
	for _, line := range strings.Split(string(list), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			ref, _ := url.Parse(line)
			segs = append(segs, final.ResolveReference(ref).String())
		}
	}
	if len(segs) != len(previewSegments) {
		t.Fatalf("%d segments listed", len(segs))
	}
	r.s.ExpirePreviewsAfter(2)
	for i, u := range segs[:3] {
		st, b, _ := get(t, u)
		want := 200
		if i == 2 {
			want = 403
		}
		if st != want || (st == 200 && string(b) != string(previewSegments[i].data)) {
			t.Errorf("segment %d: %d, %d bytes; want %d", i, st, len(b), want)
		}
	}
	if st, out := info(r.video.ID); st != 200 {
		t.Fatalf("renewed play info: %d %v", st, out)
	} else if u := out["video_preview_play_info"].(map[string]any)["live_transcoding_task_list"].([]any)[0].(map[string]any)["url"].(string); u == sd["url"] {
		t.Errorf("renewed play info repeats its URL")
	}

	// A full drive refuses the copy.
	r.s.SetSpace(r.s.Tree().Usage())
	tmp, _ := r.s.Tree().MkdirAll("/tmp")
	h := r.signed()
	h.Set("X-Share-Token", login.Get("X-Share-Token"))
	st, out = r.post("/adrive/v2/batch", h, map[string]any{"resource": "file", "requests": []any{map[string]any{"id": "0", "method": "POST", "url": "/file/copy",
		"body": map[string]any{"file_id": r.video.ID, "share_id": id, "to_parent_file_id": tmp.ID, "to_drive_id": resourceDriveID}}}})
	if res := out["responses"].([]any)[0].(map[string]any); st != 200 || res["status"].(float64) != 400 || res["body"].(map[string]any)["code"] != "QuotaExhausted.Drive" {
		t.Errorf("a copy into a full drive: %d %v", st, out)
	}
}
