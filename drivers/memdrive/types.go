package memdrive

import (
	"errors"
	"time"
)

// The wire shapes of docs/protocols/memdrive.md, as this driver reads
// them. memdrivetest has its own copies, on purpose: the emulator stands
// for the cloud, so sharing one set of structs would let a mistake in
// them agree with itself and pass every test.

// file is the file object (§2).
type file struct {
	ID       string    `json:"id"`
	ParentID string    `json:"parent_id"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"` // "file" | "folder"
	Size     int64     `json:"size"`
	SHA1     string    `json:"sha1"` // lowercase hex; "" for folders
	Modified time.Time `json:"modified"`
}

// page is one page of a listing (§2).
type page struct {
	Items      []file `json:"items"`
	NextCursor string `json:"next_cursor"` // "" on the last page
}

// incomplete: a page has items, [] in an empty folder.
func (p *page) incomplete() error {
	if p.Items == nil {
		return errors.New("a page without its items")
	}
	return nil
}

// tokenAnswer is the token endpoint's answer (§1).
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"` // seconds
}

type linkAnswer struct {
	URL string `json:"url"`
}

type quotaAnswer struct {
	Used  int64 `json:"used"`
	Total int64 `json:"total"`
}

// placement is the body of mkdir, copy and PATCH (§4). PATCH keeps the
// parent when ParentID is left out; the name is always sent, so that an
// empty one is refused rather than read as "unchanged".
type placement struct {
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
}

// errorAnswer is the cloud's error envelope (§5).
type errorAnswer struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
