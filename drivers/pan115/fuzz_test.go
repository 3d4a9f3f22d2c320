package pan115

import (
	"encoding/json"
	"net/url"
	"regexp"
	"testing"
	"time"
)

var digits = regexp.MustCompile(`^-?[0-9]+$`)

// FuzzLenientJSON: the lenient decoders never panic on whatever 115 sends,
// and an ID that arrives as a bare number keeps every digit.
func FuzzLenientJSON(f *testing.F) {
	for _, s := range []string{
		`{"state":true,"code":0,"count":"2","offset":0,"limit":"1150","cid":3073323042143855813,"path":[{"cid":0},{"cid":"3073323042143855813"}],"data":[{"fid":"3073323042143855814","pid":"3073323042143855813","fc":"1","fn":"a.mkv","fs":"123","play_long":12.5,"sha1":"ABC","upt":1700000000}]}`,
		`{"state":1,"code":"40140125","errno":40140125,"data":[]}`,
		`{"state":false,"code":0,"message":"","data":{}}`,
		`{"state":true,"data":{"3073323042143855814":{"file_name":"a","file_size":"","pick_code":"pc","url":{"url":"http://x/?t=1"}}}}`,
		`{"state":true,"data":{"count":1e3,"size_byte":-1,"paths":[{"file_id":12345678901234567890}]}}`,
		`{"cid":1.5e300}`, `[]`, `null`, `{"data":"str"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var l listResp
		if json.Unmarshal(b, &l) == nil {
			for i := range l.Data {
				itemEntry(&l.Data[i], "0")
			}
		}
		var info infoResp
		json.Unmarshal(b, &info)
		var down downResp
		json.Unmarshal(b, &down)
		var ref refreshResp
		json.Unmarshal(b, &ref)
		var id ID
		if json.Unmarshal(b, &id) == nil && digits.Match(b) && string(id) != string(b) {
			t.Fatalf("ID %s decoded as %s", b, id)
		}
	})
}

// FuzzLinkQuery: t= and c= parsing never trusts a link beyond an hour and
// never reports negative connections.
func FuzzLinkQuery(f *testing.F) {
	for _, s := range []string{"t=1700000000&c=2&f=1", "t=&c=", "t=9999999999999999999&c=-3", "t=abc&c=1e9", "t=1.5"} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, q string) {
		u := &url.URL{RawQuery: q}
		if exp := linkExpiry(u, now); exp.After(now.Add(maxLinkLife)) {
			t.Fatalf("%q trusted until %v", q, exp)
		}
		if c := linkConns(u); c < 0 {
			t.Fatalf("%q: %d connections", q, c)
		}
	})
}
