package pan115

import (
	"encoding/json"
	"testing"
)

func TestLenientNumbers(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{`123`, 123}, {`"123"`, 123}, {`""`, 0}, {`null`, 0}, {`" 7 "`, 7},
		{`5.0`, 5}, {`12.345`, 12}, {`"12.5"`, 12}, {`-1`, -1},
		{`3073323042143855813`, 3073323042143855813}, {`[]`, 0},
	}
	for _, c := range cases {
		var n Int64
		if err := json.Unmarshal([]byte(c.in), &n); err != nil || int64(n) != c.want {
			t.Errorf("Int64(%s) = %d, %v; want %d", c.in, n, err, c.want)
		}
	}
	var n Int64
	if err := json.Unmarshal([]byte(`"abc"`), &n); err == nil {
		t.Error(`Int64("abc") accepted`)
	}
}

func TestIDsKeepEveryDigit(t *testing.T) {
	for _, in := range []string{`3073323042143855813`, `"3073323042143855813"`} {
		var id ID
		if err := json.Unmarshal([]byte(in), &id); err != nil || id != "3073323042143855813" {
			t.Errorf("ID(%s) = %q, %v", in, id, err)
		}
	}
	var r listResp
	if err := json.Unmarshal([]byte(`{"state":true,"cid":3073323042143855813,"path":[{"cid":0},{"cid":3073323042143855813}]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.CID != "3073323042143855813" || r.Path[1].CID != "3073323042143855813" || !r.isFor("3073323042143855813") {
		t.Fatalf("cid %q path %+v", r.CID, r.Path)
	}
}

func TestLenientFlags(t *testing.T) {
	cases := map[string]bool{`true`: true, `false`: false, `1`: true, `0`: false, `"1"`: true, `"0"`: false, `null`: false}
	for in, want := range cases {
		var b Bool
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("Bool(%s) = %v, %v; want %v", in, b, err, want)
		}
	}
}

func TestEnvelopeCodeOrErrno(t *testing.T) {
	cases := []struct {
		in   string
		code int64
		msg  string
	}{
		{`{"state":false,"code":40140125,"message":"m"}`, 40140125, "m"},
		{`{"state":false,"errno":"770004","error":"e"}`, 770004, "e"},
		{`{"state":false,"code":"","errno":406,"message":""}`, 406, ""},
		{`{"state":0,"code":0,"message":123}`, 0, "123"},
	}
	for _, c := range cases {
		var e envelope
		if err := json.Unmarshal([]byte(c.in), &e); err != nil || e.code() != c.code || e.message() != c.msg {
			t.Errorf("%s: code %d msg %q err %v", c.in, e.code(), e.message(), err)
		}
	}
}

func TestObjectOrArray(t *testing.T) {
	var info infoResp
	if err := json.Unmarshal([]byte(`{"state":true,"code":0,"data":[]}`), &info); err != nil || !info.Data.Missing {
		t.Fatalf("get_info data []: %+v %v", info.Data, err)
	}
	if err := json.Unmarshal([]byte(`{"state":true,"data":{"file_id":"1","count":"3","folder_count":2,"ptime":"1700000000","size_byte":10,"play_long":12.5,"paths":[{"file_id":0},{"file_id":"3073323042143855813"}]}}`), &info); err != nil {
		t.Fatal(err)
	}
	if info.Data.Missing || info.Data.Count != 3 || info.Data.PTime != 1700000000 || info.Data.Paths[1].FileID != "3073323042143855813" {
		t.Fatalf("get_info object: %+v", info.Data)
	}
	var down downResp
	if err := json.Unmarshal([]byte(`{"state":true,"data":[]}`), &down); err != nil || len(down.Data) != 0 {
		t.Fatalf("downurl []: %v %v", down.Data, err)
	}
	if err := json.Unmarshal([]byte(`{"state":true,"data":{"5":{"file_size":"9","url":false},"6":{"url":{"url":"http://x/y"}}}}`), &down); err != nil {
		t.Fatal(err)
	}
	if down.Data["5"].URL.URL != "" || down.Data["5"].FileSize != 9 || down.Data["6"].URL.URL != "http://x/y" {
		t.Fatalf("downurl object: %+v", down.Data)
	}
	var ref refreshResp
	if err := json.Unmarshal([]byte(`{"state":0,"code":40140120,"data":{}}`), &ref); err != nil || bool(ref.State) || ref.code() != 40140120 {
		t.Fatalf("refresh failure: %+v %v", ref, err)
	}
}

func TestListItemTypes(t *testing.T) {
	raw := `{"fid":"3073323042143855900","pid":"3073323042143855813","fc":"1","fn":"a.mkv","pc":"abc","upt":1700000000,"uet":1700000001,"uppt":1600000000,"fs":"42","sha1":"abcdef","isp":0,"play_long":5.0}`
	var it fileItem
	if err := json.Unmarshal([]byte(raw), &it); err != nil {
		t.Fatal(err)
	}
	e := itemEntry(&it, "3073323042143855813")
	if e.ID != "3073323042143855900" || e.IsDir || e.Size != 42 || e.SHA1 != "ABCDEF" || e.ModTime.Unix() != 1700000000 || e.Extra != "abc" {
		t.Fatalf("entry %+v", e)
	}
	folder := `{"fid":"7","pid":"0","fc":"0","fn":"d","pc":"p","upt":1,"sha1":""}`
	if err := json.Unmarshal([]byte(folder), &it); err != nil {
		t.Fatal(err)
	}
	if e := itemEntry(&it, "0"); !e.IsDir || e.Size != 0 {
		t.Fatalf("folder %+v", e)
	}
}
