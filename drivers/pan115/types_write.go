package pan115

import (
	"bytes"
	"encoding/json"
)

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
