package pan115

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The 115 API types one field differently from call to call and release to
// release (docs/protocols/pan115.md §6): numbers arrive as strings, flags as numbers or
// bools, IDs above 2^53 as bare JSON numbers, objects as []. The lenient
// types below accept every form seen, and never route an ID through a
// float64.

// Int64 is a number, a numeric string, "" or null (both 0). A fraction is
// truncated.
type Int64 int64

func (n *Int64) UnmarshalJSON(b []byte) error {
	s, isNull := scalar(b)
	if isNull || s == "" {
		*n = 0
		return nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Int64(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("pan115: %q is not a number", s)
	}
	*n = Int64(f)
	return nil
}

// Float is a number or a numeric string (play_long arrives as 5.0, 12.345
// or "12"). "" and null are 0.
type Float float64

func (n *Float) UnmarshalJSON(b []byte) error {
	s, isNull := scalar(b)
	if isNull || s == "" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("pan115: %q is not a number", s)
	}
	*n = Float(f)
	return nil
}

// ID is a file or folder ID, sent as a string or as a JSON number of 19
// digits; it keeps the digits exactly as sent.
type ID string

func (id *ID) UnmarshalJSON(b []byte) error {
	s, isNull := scalar(b)
	if isNull {
		*id = ""
		return nil
	}
	*id = ID(s)
	return nil
}

// Bool is true, false, 1, 0, "1", "0", "true" or "false" (refreshToken's
// state is a number, proapi's a bool).
type Bool bool

func (v *Bool) UnmarshalJSON(b []byte) error {
	s, isNull := scalar(b)
	switch {
	case isNull:
		*v = false
	case s == "true":
		*v = true
	case s == "false" || s == "":
		*v = false
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("pan115: %q is not a flag", s)
		}
		*v = f != 0
	}
	return nil
}

// Text is a string, though some pages document numbers in its place
// (`message` is typed as number on the listing page).
type Text string

func (t *Text) UnmarshalJSON(b []byte) error {
	s, isNull := scalar(b)
	if isNull {
		*t = ""
		return nil
	}
	*t = Text(s)
	return nil
}

// scalar returns the text of a JSON string, number or bool, unquoted. An
// object or array reads as "" so that a misplaced `[]` does not fail the
// whole answer.
func scalar(b []byte) (s string, isNull bool) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return "", true
	case b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err == nil {
			return strings.TrimSpace(str), false
		}
		return "", false
	case b[0] == '{' || b[0] == '[':
		return "", false
	}
	return string(b), false
}

// isArray says whether raw JSON is an array, which 115 sends in place of
// an object to mean "nothing".
func isArray(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '['
}

// envelope is what every answer carries. The error code may come as code
// or errno, and the message as message or error.
type envelope struct {
	State   Bool  `json:"state"`
	Code    Int64 `json:"code"`
	Errno   Int64 `json:"errno"`
	Message Text  `json:"message"`
	Error   Text  `json:"error"`
}

func (e *envelope) code() int64 {
	if e.Code != 0 {
		return int64(e.Code)
	}
	return int64(e.Errno)
}

func (e *envelope) message() string {
	if e.Message != "" {
		return string(e.Message)
	}
	return string(e.Error)
}

// refreshResp is POST passportapi/open/refreshToken. On failure data is
// {} or [].
type refreshResp struct {
	envelope
	Data refreshData `json:"data"`
}

type refreshData struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    Int64  `json:"expires_in"`
}

func (d *refreshData) UnmarshalJSON(b []byte) error {
	if isArray(b) || string(bytes.TrimSpace(b)) == "null" {
		*d = refreshData{}
		return nil
	}
	*d = refreshData{}
	type plain refreshData
	return json.Unmarshal(b, (*plain)(d))
}

// listResp is GET /open/ufile/files.
type listResp struct {
	envelope
	Data []fileItem `json:"data"`
	// Count is nil when the answer has none, which no listing lacks.
	Count  *Int64     `json:"count"`
	Offset Int64      `json:"offset"`
	Limit  Int64      `json:"limit"`
	CID    ID         `json:"cid"`
	Path   []pathItem `json:"path"`
}

type pathItem struct {
	Name string `json:"name"`
	CID  ID     `json:"cid"`
	PID  ID     `json:"pid"`
}

// fileItem is one entry of a listing (docs/protocols/pan115.md §2 item table).
type fileItem struct {
	FID      ID     `json:"fid"`
	CID      ID     `json:"cid"` // cookie-API folders carry their ID here
	PID      ID     `json:"pid"`
	FC       Text   `json:"fc"` // "0" folder, "1" file
	Name     string `json:"fn"`
	PickCode string `json:"pc"`
	Size     Int64  `json:"fs"`
	SHA1     string `json:"sha1"`
	UPT      Int64  `json:"upt"`
	UET      Int64  `json:"uet"`
	UPPT     Int64  `json:"uppt"`
	ISP      Int64  `json:"isp"`
	PlayLong Float  `json:"play_long"`
}

// infoResp is GET|POST /open/folder/get_info. A not-found lookup by path
// answers state true with data [].
type infoResp struct {
	envelope
	Data infoData `json:"data"`
}

type infoData struct {
	Missing      bool       `json:"-"`
	FileID       ID         `json:"file_id"`
	FileName     string     `json:"file_name"`
	PickCode     string     `json:"pick_code"`
	SHA1         string     `json:"sha1"`
	FileCategory Text       `json:"file_category"` // "1" file, "0" folder
	SizeByte     Int64      `json:"size_byte"`
	Count        Int64      `json:"count"`
	FolderCount  Int64      `json:"folder_count"`
	PTime        Int64      `json:"ptime"`
	UTime        Int64      `json:"utime"`
	PlayLong     Float      `json:"play_long"`
	Paths        []infoPath `json:"paths"`
}

func (d *infoData) UnmarshalJSON(b []byte) error {
	if isArray(b) || string(bytes.TrimSpace(b)) == "null" {
		*d = infoData{Missing: true}
		return nil
	}
	*d = infoData{}
	type plain infoData
	return json.Unmarshal(b, (*plain)(d))
}

type infoPath struct {
	FileID   ID     `json:"file_id"`
	FileName string `json:"file_name"`
}

// downResp is POST /open/ufile/downurl: data keyed by file ID, or [] when
// nothing matched.
type downResp struct {
	envelope
	Data downData `json:"data"`
}

type downData map[string]downItem

func (d *downData) UnmarshalJSON(b []byte) error {
	if isArray(b) || string(bytes.TrimSpace(b)) == "null" {
		*d = nil
		return nil
	}
	m := map[string]downItem{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*d = m
	return nil
}

type downItem struct {
	FileName string  `json:"file_name"`
	FileSize Int64   `json:"file_size"`
	PickCode string  `json:"pick_code"`
	SHA1     string  `json:"sha1"`
	URL      downURL `json:"url"`
}

// downURL is {"url": "..."}, or a falsy value (false, "", []) for a folder.
type downURL struct {
	URL string `json:"url"`
}

func (u *downURL) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		*u = downURL{}
		return nil
	}
	type plain downURL
	return json.Unmarshal(b, (*plain)(u))
}

// userResp is GET /open/user/info.
type userResp struct {
	envelope
	Data struct {
		UserID    ID   `json:"user_id"`
		UserName  Text `json:"user_name"`
		SpaceInfo struct {
			Total  spaceFigure `json:"all_total"`
			Remain spaceFigure `json:"all_remain"`
			Use    spaceFigure `json:"all_use"`
		} `json:"rt_space_info"`
		VIP one[vipInfo] `json:"vip_info"`
	} `json:"data"`
}

// vipInfo is the membership: 原石会员, 尝鲜VIP, ... 长期VIP, and when it
// ends (unix seconds).
type vipInfo struct {
	LevelName Text  `json:"level_name"`
	Expire    Int64 `json:"expire"`
}

// The device-code login (docs/protocols/accounts-offline-shares.md
// §1.2-§1.4). Its envelope's state is a number.

// deviceCodeResp is POST passportapi/open/authDeviceCode.
type deviceCodeResp struct {
	envelope
	Data one[struct {
		UID    Text  `json:"uid"`
		Time   Int64 `json:"time"`
		QRCode Text  `json:"qrcode"`
		Sign   Text  `json:"sign"`
	}] `json:"data"`
}

// qrStatusResp is GET qrcodeapi/get/status/. data is missing or empty
// until the app has scanned: status 0.
type qrStatusResp struct {
	envelope
	Data one[struct {
		Msg    Text  `json:"msg"`
		Status Int64 `json:"status"`
	}] `json:"data"`
}

type spaceFigure struct {
	Size   Int64  `json:"size"`
	Format string `json:"size_format"`
}

// The answers of the write and upload endpoints (docs/protocols/pan115.md §4). Like the
// read types in types.go they are lenient: upload callbacks, get_token and
// resume send an object or an array of one.

// one is a JSON object that may also arrive as an array holding it (the
// first element is taken), as [] or as a falsy scalar (both zero).
type one[T any] struct {
	V T
}

func (o *one[T]) UnmarshalJSON(b []byte) error {
	var zero T
	o.V = zero
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '{':
		return json.Unmarshal(b, &o.V)
	case b[0] == '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil {
			return err
		}
		if len(arr) > 0 && len(bytes.TrimSpace(arr[0])) > 0 && bytes.TrimSpace(arr[0])[0] == '{' {
			return json.Unmarshal(arr[0], &o.V)
		}
	}
	return nil
}

// folderAddResp is POST /open/folder/add.
type folderAddResp struct {
	envelope
	Data one[struct {
		FileName string `json:"file_name"`
		FileID   ID     `json:"file_id"`
	}] `json:"data"`
}

// updateResp is POST /open/ufile/update: data.file_name is the name the
// file ended up with, which need not be the one asked for.
type updateResp struct {
	envelope
	Data one[struct {
		FileName string `json:"file_name"`
	}] `json:"data"`
}

// anyResp is an answer whose data the driver does not need (move, copy,
// delete, rb/del).
type anyResp struct {
	envelope
}

// initResp is POST /open/upload/init.
type initResp struct {
	envelope
	Data one[initData] `json:"data"`
}

// Upload statuses of init's data.status.
const (
	initUpload    = 1 // send the content to OSS
	initDone      = 2 // rapid upload: the file exists now
	initSignAgain = 6 // the range hash was wrong; a new range is asked
	initSign      = 7 // prove possession: hash the sign_check range
	initSignFail  = 8
)

type initData struct {
	Status    Int64             `json:"status"`
	Code      Int64             `json:"code"`
	PickCode  Text              `json:"pick_code"`
	FileID    ID                `json:"file_id"`
	Target    Text              `json:"target"`
	Bucket    Text              `json:"bucket"`
	Object    Text              `json:"object"`
	SignKey   Text              `json:"sign_key"`
	SignCheck Text              `json:"sign_check"`
	Callback  one[initCallback] `json:"callback"`
}

type initCallback struct {
	Callback    string `json:"callback"`
	CallbackVar string `json:"callback_var"`
}

// tokenResp is GET /open/upload/get_token: STS credentials for OSS.
type tokenResp struct {
	envelope
	Data one[struct {
		Endpoint        string `json:"endpoint"`
		AccessKeyID     string `json:"AccessKeyId"`
		AccessKeySecret string `json:"AccessKeySecret"`
		SecurityToken   string `json:"SecurityToken"`
		Expiration      Text   `json:"Expiration"`
	}] `json:"data"`
}

// callbackResp is the body OSS relays from 115's upload callback.
type callbackResp struct {
	envelope
	Data one[struct {
		PickCode Text   `json:"pick_code"`
		FileName string `json:"file_name"`
		FileSize Int64  `json:"file_size"`
		FileID   ID     `json:"file_id"`
		SHA1     Text   `json:"sha1"`
		CID      ID     `json:"cid"`
	}] `json:"data"`
}

// The cloud-download answers (docs/protocols/accounts-offline-shares.md
// §2). Like every answer of this API they are lenient: numbers come as
// strings, percentDone as anything, data as an object or an array.

// many is a JSON array, or one object standing for an array of it, or a
// falsy value or {} standing for none.
type many[T any] []T

func (m *many[T]) UnmarshalJSON(b []byte) error {
	*m = nil
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '[':
		var out []T
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		*m = out
	case b[0] == '{' && string(bytes.Join(bytes.Fields(b), nil)) != "{}":
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*m = []T{v}
	}
	return nil
}

// Percent is a progress figure: 42, 42.75, "42.75", null, "" or garbage
// (0), clamped to 0-100 (failed tasks say -1, done ones 100.0001).
type Percent float64

func (p *Percent) UnmarshalJSON(b []byte) error {
	s, _ := scalar(b)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		f = 0 // a range error leaves ±Inf, which clamps
	}
	*p = Percent(min(max(f, 0), 100))
	return nil
}

// addURLsResp is POST /open/offline/add_task_urls: a result per link.
type addURLsResp struct {
	envelope
	Data many[addURLItem] `json:"data"`
}

type addURLItem struct {
	State    Bool  `json:"state"`
	Code     Int64 `json:"code"`
	Message  Text  `json:"message"`
	InfoHash Text  `json:"info_hash"`
	URL      Text  `json:"url"`
}

// torrentResp is POST /open/offline/torrent: what a .torrent in the
// drive holds.
type torrentResp struct {
	envelope
	Data one[struct {
		FileSize    Int64              `json:"file_size"`
		TorrentName Text               `json:"torrent_name"`
		FileCount   Int64              `json:"file_count"`
		InfoHash    Text               `json:"info_hash"`
		FileList    many[torrentEntry] `json:"torrent_filelist"`
	}] `json:"data"`
}

type torrentEntry struct {
	Size   Int64 `json:"size"`
	Path   Text  `json:"path"`
	Wanted Int64 `json:"wanted"`
}

// taskListResp is GET /open/offline/get_task_list: one page.
type taskListResp struct {
	envelope
	Data one[struct {
		Page      Int64          `json:"page"`
		PageCount Int64          `json:"page_count"`
		Count     Int64          `json:"count"`
		Tasks     many[taskItem] `json:"tasks"`
	}] `json:"data"`
}

type taskItem struct {
	InfoHash    Text    `json:"info_hash"`
	AddTime     Int64   `json:"add_time"`
	PercentDone Percent `json:"percentDone"`
	Size        Int64   `json:"size"`
	Name        Text    `json:"name"`
	LastUpdate  Int64   `json:"last_update"`
	FileID      ID      `json:"file_id"`
	Status      Int64   `json:"status"`
	URL         Text    `json:"url"`
	WpPathID    ID      `json:"wp_path_id"`
}

// quotaResp is GET /open/offline/get_quota_info.
type quotaResp struct {
	envelope
	Data one[struct {
		Count    Int64              `json:"count"`
		Surplus  Int64              `json:"surplus"`
		Used     Int64              `json:"used"`
		Packages many[quotaPackage] `json:"package"`
	}] `json:"data"`
}

type quotaPackage struct {
	Name    Text  `json:"name"`
	Count   Int64 `json:"count"`
	Used    Int64 `json:"used"`
	Surplus Int64 `json:"surplus"`
	Expires many[struct {
		Surplus    Int64 `json:"surplus"`
		ExpireTime Int64 `json:"expire_time"`
	}] `json:"expire_info"`
}
