package memdrivetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"pandav/internal/fakecloud"
)

// nameProblem says which name rule of docs/protocols/memdrive.md §5 name breaks, or "".
func nameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case name == "." || name == "..":
		return "is reserved"
	case len(name) > 255:
		return "is longer than 255 bytes"
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.ContainsAny(name, `/\`):
		return `holds a / or \`
	case strings.ContainsFunc(name, unicode.IsControl):
		return "holds a control character"
	}
	return ""
}

// placeable answers, and returns false, unless name may go in folder
// parent: a valid name, a live folder, and, unless namesakes are
// allowed, no other live child (than self) called name.
func (s *Server) placeable(w http.ResponseWriter, parent, name, self string, namesakes bool) bool {
	if why := nameProblem(name); why != "" {
		fail(w, http.StatusBadRequest, "invalid_name", fmt.Sprintf("the name %q %s", name, why))
		return false
	}
	p, ok := s.live(parent)
	switch {
	case !ok:
		notFound(w)
		return false
	case !p.IsDir:
		fail(w, http.StatusBadRequest, "not_a_folder", "the parent is a file")
		return false
	}
	if c, err := s.tree.ChildByName(parent, name); !namesakes && err == nil && c.ID != self {
		fail(w, http.StatusConflict, "name_exists", fmt.Sprintf("the folder already holds %q", name))
		return false
	}
	return true
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "invalid_request", "the body is not the JSON this call takes")
		return false
	}
	return true
}

// placed answers a move or copy the tree refused.
func placed(w http.ResponseWriter, n fakecloud.Node, err error, status int) {
	switch {
	case errors.Is(err, fakecloud.ErrLoop):
		fail(w, http.StatusBadRequest, "would_loop", "a folder cannot go inside itself")
	case err != nil:
		notFound(w)
	default:
		writeJSON(w, status, fileOf(n))
	}
}

func (s *Server) handleMkdir(w http.ResponseWriter, r *http.Request) {
	var p placement
	if !decode(w, r, &p) {
		return
	}
	if p.ParentID == nil || p.Name == nil {
		fail(w, http.StatusBadRequest, "invalid_request", "parent_id and name are required")
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.placeable(w, *p.ParentID, *p.Name, "", false) {
		return
	}
	n, err := s.tree.Mkdir(*p.ParentID, *p.Name)
	placed(w, n, err, http.StatusCreated)
}

// handlePatch renames, moves, or both at once (docs/protocols/memdrive.md §4).
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	var p placement
	if !decode(w, r, &p) {
		return
	}
	id := r.PathValue("id")
	if id == rootID {
		fail(w, http.StatusBadRequest, "invalid_request", "the root folder cannot be renamed or moved")
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.live(id)
	if !ok {
		notFound(w)
		return
	}
	parent, name := n.ParentID, n.Name
	if p.ParentID != nil {
		parent = *p.ParentID
	}
	if p.Name != nil {
		name = *p.Name
	}
	if !s.placeable(w, parent, name, id, false) {
		return
	}
	var err error
	if parent != n.ParentID {
		n, err = s.tree.Move(id, parent)
	}
	if err == nil && name != n.Name {
		n, err = s.tree.Rename(id, name)
	}
	placed(w, n, err, http.StatusOK)
}

func (s *Server) handleCopy(w http.ResponseWriter, r *http.Request) {
	var p placement
	if !decode(w, r, &p) {
		return
	}
	if p.ParentID == nil {
		fail(w, http.StatusBadRequest, "invalid_request", "parent_id is required")
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.live(r.PathValue("id"))
	if !ok {
		notFound(w)
		return
	}
	name := n.Name
	if p.Name != nil {
		name = *p.Name
	}
	if !s.placeable(w, *p.ParentID, name, "", false) {
		return
	}
	c, err := s.tree.Copy(n.ID, *p.ParentID, name)
	placed(w, c, err, http.StatusCreated)
}

// handleDelete trashes, or with permanent=true removes for good.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == rootID {
		fail(w, http.StatusBadRequest, "invalid_request", "the root folder cannot be removed")
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.live(id); !ok {
		notFound(w)
		return
	}
	if r.URL.Query().Get("permanent") == "true" {
		s.tree.Delete(id)
	} else {
		s.tree.Trash(id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleUpload stores the body as a new file (docs/protocols/memdrive.md §4). Every
// refusal it can make without the content comes before the first read,
// because the read is what sends "100 Continue" and lets the body come.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	parent, name := q.Get("parent_id"), q.Get("name")
	if !s.placeable(w, parent, name, "", true) {
		return
	}
	if r.ContentLength < 0 {
		fail(w, http.StatusLengthRequired, "length_required", "Content-Length is required")
		return
	}
	s.mu.Lock()
	total, most := s.total, s.most
	s.mu.Unlock()
	if r.ContentLength > most {
		fail(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the cloud takes files of at most %d bytes", most))
		return
	}
	if s.tree.Usage()+r.ContentLength > total {
		fail(w, http.StatusInsufficientStorage, "quota_exceeded", "the file does not fit in the space left")
		return
	}
	body, err := io.ReadAll(r.Body)
	s.uploaded.Add(int64(len(body)))
	if err != nil {
		fail(w, http.StatusBadRequest, "invalid_request", "the body ended before its Content-Length")
		return
	}
	blob := fakecloud.BytesBlob(body)
	if want := r.Header.Get("X-Content-SHA1"); want != "" && !strings.EqualFold(want, blob.SHA1()) {
		fail(w, http.StatusBadRequest, "checksum_mismatch", "the body does not match X-Content-SHA1")
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, err := s.tree.Put(parent, name, blob, time.Time{})
	placed(w, n, err, http.StatusCreated)
}
