package aliyun

import (
	"encoding/json"
	"testing"
)

// FuzzListPage: a list page of any shape decodes or fails cleanly, and
// its items become entries without panicking; the marker is passed back
// as the opaque string it is.
func FuzzListPage(f *testing.F) {
	for _, s := range []string{
		`{"items":[{"file_id":"abc","parent_file_id":"root","name":"a.mkv","type":"file","size":12,"content_hash":"ABCDEF","updated_at":"2022-03-09T10:29:23.272Z"},{"file_id":"d","name":"dir","type":"folder"}],"next_marker":"WyJhIl0="}`,
		`{"items":null,"next_marker":""}`,
		`{"items":[{"size":"12","updated_at":"yesterday"}],"next_marker":123}`,
		`{"next_marker":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var page listResponse
		if json.Unmarshal(b, &page) != nil {
			return
		}
		for _, it := range page.Items {
			e := toEntry(it)
			if e.IsDir && e.Size != 0 {
				t.Fatalf("folder with size %d", e.Size)
			}
		}
	})
}

// FuzzLinkExpiry: the expiry comes from x-oss-expires, else expiration,
// else is unknown; no input panics.
func FuzzLinkExpiry(f *testing.F) {
	for _, s := range [][2]string{
		{"https://cdn/x?x-oss-expires=1700000000&x-oss-signature=s", ""},
		{"https://cdn/x?x-oss-expires=-1", "2026-01-01T00:00:00.000Z"},
		{"%zz", "not a time"},
		{"https://cdn/x?x-oss-expires=99999999999999999999", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, u, exp string) {
		linkExpiry(downloadURLResponse{URL: u, Expiration: exp})
	})
}
