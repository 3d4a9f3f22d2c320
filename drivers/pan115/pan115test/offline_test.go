package pan115test

import (
	"bytes"
	"encoding/json"
	mpart "mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The service takes its forms urlencoded, as the SDK sends them, and
// multipart, as the docs say; get_task_list its page as a query or a
// form field (docs/protocols/accounts-offline-shares.md §2).
func TestOfflineBodies(t *testing.T) {
	s := NewServer(Options{QPS: -1})
	defer s.Close()
	s.SetDownloadSpeed(0)
	tok := s.login.Issue().Access
	call := func(method, path, ctype string, body *bytes.Buffer) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, s.APIURL()+path, body)
		req.Header.Set("Authorization", "Bearer "+tok)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	form := url.Values{"urls": {"https://a.example.com/1.bin\nnot a link"}}
	out := call(http.MethodPost, "/open/offline/add_task_urls", "application/x-www-form-urlencoded", bytes.NewBufferString(form.Encode()))
	items := out["data"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["state"] != true || items[1].(map[string]any)["code"] != float64(CodeBadLink) {
		t.Fatalf("urlencoded: %v", out)
	}
	var mp bytes.Buffer
	w := mpart.NewWriter(&mp)
	w.WriteField("urls", "https://a.example.com/1.bin\r\nhttps://a.example.com/2.bin")
	w.Close()
	out = call(http.MethodPost, "/open/offline/add_task_urls", w.FormDataContentType(), &mp)
	items = out["data"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["code"] != float64(CodeTaskExists) || items[1].(map[string]any)["state"] != true {
		t.Fatalf("multipart, one link already listed: %v", out)
	}
	for i := 0; i < 40; i++ {
		call(http.MethodPost, "/open/offline/add_task_urls", "application/x-www-form-urlencoded", bytes.NewBufferString(url.Values{"urls": {"https://b.example.com/" + strings.Repeat("x", i+1)}}.Encode()))
	}
	page2 := url.Values{"page": {"2"}}
	out = call(http.MethodGet, "/open/offline/get_task_list", "application/x-www-form-urlencoded", bytes.NewBufferString(page2.Encode()))
	data := out["data"].(map[string]any)
	if data["page"] != float64(2) || data["page_count"] != float64(2) || data["count"] != float64(42) || len(data["tasks"].([]any)) != 12 {
		t.Fatalf("page 2 asked by form: page %v of %v, %v tasks, count %v", data["page"], data["page_count"], len(data["tasks"].([]any)), data["count"])
	}
	out = call(http.MethodGet, "/open/offline/get_task_list?page=1", "", &bytes.Buffer{})
	if d := out["data"].(map[string]any); len(d["tasks"].([]any)) != offlinePage {
		t.Fatalf("page 1 asked by query: %v tasks", len(d["tasks"].([]any)))
	}
	s.SetDownloadQuota(0)
	out = call(http.MethodPost, "/open/offline/add_task_urls", "application/x-www-form-urlencoded", bytes.NewBufferString(url.Values{"urls": {"https://c.example.com/z"}}.Encode()))
	if out["state"] != false || out["code"] != float64(CodeQuotaExhausted) {
		t.Fatalf("no quota: %v", out)
	}
}
