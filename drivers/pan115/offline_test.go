package pan115

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"pandav/drivers"
)

// percentDone and its neighbours arrive in every type (docs/protocols/
// accounts-offline-shares.md §2.4).
func TestTaskItemDecodesMixedTypes(t *testing.T) {
	for in, want := range map[string]float64{
		`42`: 42, `42.75`: 42.75, `"42.75"`: 42.75, `null`: 0, `""`: 0, `-1`: 0, `100.0001`: 100, `"garbage"`: 0, `[]`: 0, `1e400`: 100,
	} {
		var it taskItem
		body := `{"info_hash":"AB","percentDone":` + in + `,"size":"1024","status":"1","add_time":"1700000000","file_id":3073323042143855813,"wp_path_id":0}`
		if err := json.Unmarshal([]byte(body), &it); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if float64(it.PercentDone) != want || it.Size != 1024 || it.Status != 1 || it.FileID != "3073323042143855813" || it.WpPathID != "0" {
			t.Fatalf("percentDone %s: %+v, want %v", in, it, want)
		}
	}
	var r taskListResp
	if err := json.Unmarshal([]byte(`{"state":true,"code":0,"data":[{"page":"1","page_count":"1","count":0,"tasks":{}}]}`), &r); err != nil || r.Data.V.PageCount != 1 || len(r.Data.V.Tasks) != 0 {
		t.Fatalf("a page as an array of one, tasks as {}: %+v, %v", r, err)
	}
	var a addURLsResp
	if err := json.Unmarshal([]byte(`{"state":true,"data":{"state":false,"code":"10008","url":"https://x"}}`), &a); err != nil || len(a.Data) != 1 || a.Data[0].Code != 10008 {
		t.Fatalf("one result as an object: %+v, %v", a, err)
	}
}

func TestRefusalsAreOneSentence(t *testing.T) {
	for code, want := range map[int64]string{1000012: "quota", 10007: "quota", 10010: "quota", 91006: "space", 20018: "no longer in the drive", 990002: "parameters", 10004: "cannot read"} {
		why, err := refusal(&apiError{Op: "x", Code: code, Message: "msg"})
		if err != nil || !strings.Contains(why, want) || strings.ContainsAny(why, "\n") {
			t.Errorf("code %d: %q, %v", code, why, err)
		}
	}
	other := &apiError{Op: "x", Code: 430004}
	if why, err := refusal(other); why != "" || !errors.Is(err, drivers.ErrNotFound) {
		t.Errorf("another code: %q, %v", why, err)
	}
}

func TestLinkFault(t *testing.T) {
	for link, bad := range map[string]bool{
		"https://example.com/a.iso": false, "ftp://ftp.example.com/x": false, "HTTP://EXAMPLE.COM": false,
		"magnet:?xt=urn:btih:" + strings.Repeat("a", 40): false, "magnet:?xt=urn:btih:" + strings.Repeat("A", 32): false,
		"ed2k://|file|a b.avi|123|0123456789abcdef0123456789ABCDEF|/": false,
		"http:///nohost": true, "magnet:?dn=x": true, "ed2k://|file|x|-1|0123456789abcdef0123456789ABCDEF|/": true,
		"ed2k://|server|1.2.3.4|4242|/": true, "file:///etc/passwd": true, "just words": true,
	} {
		if got := linkFault(link) != ""; got != bad {
			t.Errorf("%s: fault %q", link, linkFault(link))
		}
	}
}

func TestSavePath(t *testing.T) {
	multi := many[torrentEntry]{{Path: "Show/E01.mkv"}, {Path: "Show/E02.mkv"}}
	single := many[torrentEntry]{{Path: "film.mkv"}}
	for _, tc := range []struct {
		name  string
		files many[torrentEntry]
		want  string
	}{
		{"Show", multi, "Show"}, {"film.mkv", single, "film"}, {`a/b<c>"d`, multi, "a_b_c__d"}, {"  ", multi, "hash"}, {"..", multi, "hash"},
	} {
		if got := savePath(tc.name, tc.files, "hash"); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.name, got, tc.want)
		}
	}
}
