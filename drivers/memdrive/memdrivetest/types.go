package memdrivetest

import (
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// The wire shapes of docs/protocols/memdrive.md, as the cloud writes
// them. drivers/memdrive has its own copies, on purpose: the emulator
// stands for the cloud, so sharing one set of structs would let a
// mistake in them agree with itself and pass every test.

// file is the file object (§2).
type file struct {
	ID       string    `json:"id"`
	ParentID string    `json:"parent_id"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"` // "file" | "folder"
	Size     int64     `json:"size"`
	SHA1     string    `json:"sha1,omitempty"`
	Modified time.Time `json:"modified"`
}

func fileOf(n fakecloud.Node) file {
	f := file{ID: n.ID, ParentID: n.ParentID, Name: n.Name, Kind: "folder", Modified: n.Modified.UTC()}
	if !n.IsDir {
		f.Kind, f.Size, f.SHA1 = "file", n.Size(), strings.ToLower(n.Blob.SHA1())
	}
	return f
}

type page struct {
	Items      []file `json:"items"`
	NextCursor string `json:"next_cursor"`
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

type linkAnswer struct {
	URL string `json:"url"`
}

type quotaAnswer struct {
	Used  int64 `json:"used"`
	Total int64 `json:"total"`
}

// placement is the body of mkdir, copy and PATCH (§4); a field PATCH
// leaves out keeps its value.
type placement struct {
	ParentID *string `json:"parent_id"`
	Name     *string `json:"name"`
}

type errorAnswer struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
