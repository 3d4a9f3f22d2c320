package aliyuntest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	endpoint := r.PathValue("endpoint")
	if !s.begin(w, endpoint) {
		return
	}
	user, ok := s.authorize(w, r)
	if !ok {
		return
	}
	if !s.allow(user, classOf(endpoint)) {
		s.throttle(w)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	switch endpoint {
	case "user/getDriveInfo":
		s.driveInfo(w)
	case "user/getSpaceInfo":
		s.spaceInfo(w)
	case "openFile/list":
		var req listRequest
		if decode(w, body, &req) {
			s.list(w, req)
		}
	case "openFile/createShare":
		s.openCreateShare(w, body)
	case "openFile/get", "openFile/get_by_path", "openFile/getDownloadUrl":
		var req fileRequest
		if !decode(w, body, &req) {
			return
		}
		switch endpoint {
		case "openFile/get":
			s.get(w, req)
		case "openFile/get_by_path":
			s.getByPath(w, req)
		default:
			s.downloadURL(w, req, user)
		}
	default:
		if !s.writeAPI(w, r, endpoint, body) {
			s.handleUnknown(w, r)
		}
	}
}

func decode(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidParameter", "The input parameter body is not valid JSON.")
		return false
	}
	return true
}

func (s *Server) driveInfo(w http.ResponseWriter) {
	info := driveInfo{
		UserID: s.userID, Name: UserName, Avatar: "",
		DefaultDriveID: backupDriveID, ResourceDriveID: resourceDriveID, BackupDriveID: backupDriveID,
	}
	if s.options().NoResourceDrive {
		info.ResourceDriveID = ""
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) spaceInfo(w http.ResponseWriter) {
	var out spaceInfo
	out.PersonalSpaceInfo.UsedSize = s.tree.Usage() + s.backup.Usage()
	s.mu.Lock()
	out.PersonalSpaceInfo.TotalSize = s.totalSpace
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// drive finds the tree for drive_id and writes the real service's error
// when there is none.
func (s *Server) drive(w http.ResponseWriter, id string) (*fakecloud.Tree, bool) {
	switch {
	case id == "":
		writeErr(w, http.StatusBadRequest, "InvalidParameter.DriveId", "The input parameter drive_id is not valid.")
		return nil, false
	case id == resourceDriveID && !s.options().NoResourceDrive:
		return s.tree, true
	case id == backupDriveID:
		return s.backup, true
	}
	writeErr(w, http.StatusNotFound, "NotFound.Drive", "The resource drive cannot be found. drive_id "+id)
	return nil, false
}

// live returns id's node unless it or a folder above it is trashed, or
// it is an upload not yet completed.
func live(t *fakecloud.Tree, id string) (fakecloud.Node, bool) {
	n, err := t.Get(id)
	if err != nil || pending(n) {
		return fakecloud.Node{}, false
	}
	for cur := n; ; {
		if cur.Trashed {
			return fakecloud.Node{}, false
		}
		if cur.ID == t.RootID() {
			return n, true
		}
		if cur, err = t.Get(cur.ParentID); err != nil {
			return fakecloud.Node{}, false
		}
	}
}

func notFoundFileID(w http.ResponseWriter, id string) {
	writeErr(w, http.StatusNotFound, "NotFound.FileId", "The resource file_id cannot be found. file_id "+id)
}

var categories = map[string]string{}

func init() {
	for cat, exts := range map[string]string{
		"video": "mp4 mkv avi mov flv wmv ts m2ts rmvb rm webm m4v mpg mpeg iso",
		"audio": "mp3 flac wav aac m4a ogg ape wma",
		"image": "jpg jpeg png gif bmp webp heic tif tiff",
		"doc":   "txt pdf doc docx xls xlsx ppt pptx md srt ass ssa vtt epub",
		"zip":   "zip rar 7z tar gz bz2 xz",
		"app":   "apk exe dmg ipa msi",
	} {
		for _, e := range strings.Fields(exts) {
			categories[e] = cat
		}
	}
}

func item(driveID string, t *fakecloud.Tree, n fakecloud.Node) fileItem {
	it := fileItem{
		DriveID: driveID, FileID: n.ID, ParentFileID: n.ParentID, Name: n.Name,
		Type: "folder", Status: "available",
		CreatedAt: n.Created.UTC().Format(timeFormat), UpdatedAt: n.Modified.UTC().Format(timeFormat),
	}
	if n.ID == t.RootID() {
		it.Name = "root"
	}
	if n.IsDir {
		return it
	}
	it.LocalModifiedAt = it.UpdatedAt
	if !n.ClientModified.IsZero() {
		it.LocalModifiedAt = n.ClientModified.UTC().Format(timeFormat)
	}
	size := n.Size()
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(n.Name), "."))
	it.Type, it.Size, it.FileExtension = "file", &size, ext
	it.ContentHash, it.ContentHashName = strings.ToUpper(n.Blob.SHA1()), "sha1"
	it.Category = categories[ext]
	if it.Category == "" {
		it.Category = "others"
	}
	it.MimeType = mime.TypeByExtension("." + ext)
	if it.MimeType == "" {
		it.MimeType = "application/octet-stream"
	}
	return it
}

func (s *Server) list(w http.ResponseWriter, req listRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	s.listIn(w, t, req.DriveID, req, nil)
}

// listIn pages through a folder of t; decorate, if set, adds what a
// share listing's items carry.
func (s *Server) listIn(w http.ResponseWriter, t *fakecloud.Tree, driveID string, req listRequest, decorate func(*fileItem)) {
	limit := 50
	if req.Limit != nil && *req.Limit != 0 {
		limit = *req.Limit
	}
	if max := s.options().MaxPageLimit; limit < 0 || limit > max {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Limit", "The input parameter limit is not valid. limit should be less than "+itoa(int64(max)))
		return
	}
	parent := req.ParentFileID
	if parent == "" {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ParentFileId", "The input parameter parent_file_id is not valid.")
		return
	}
	if _, ok := live(t, parent); !ok {
		notFoundFileID(w, parent)
		return
	}
	kids, err := t.Children(parent)
	if errors.Is(err, fakecloud.ErrNotDir) {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ParentFileId", "The input parameter parent_file_id is not a folder.")
		return
	} else if err != nil {
		notFoundFileID(w, parent)
		return
	}
	kids = visibleChildren(t, parent)
	off := 0
	if req.Marker != "" {
		var m listMarker
		b, err := base64.StdEncoding.DecodeString(req.Marker)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil || m.Parent != parent || m.Offset < 0 {
			writeErr(w, http.StatusBadRequest, "InvalidParameter.Marker", "The input parameter marker is not valid.")
			return
		}
		off = m.Offset
	}
	sortNodes(kids, req.OrderBy, strings.EqualFold(req.OrderDirection, "DESC"))
	type_ := strings.ToLower(req.Type)
	if type_ == "file" || type_ == "folder" {
		kept := kids[:0]
		for _, k := range kids {
			if k.IsDir == (type_ == "folder") {
				kept = append(kept, k)
			}
		}
		kids = kept
	}
	out := listResponse{Items: []fileItem{}}
	end := min(off+limit, len(kids))
	for i := off; i < end; i++ {
		it := item(driveID, t, kids[i])
		if decorate != nil {
			decorate(&it)
		}
		out.Items = append(out.Items, it)
	}
	if end < len(kids) {
		b, _ := json.Marshal(listMarker{Parent: parent, Offset: end})
		out.NextMarker = base64.StdEncoding.EncodeToString(b)
	}
	writeJSON(w, http.StatusOK, out)
}

// sortNodes orders a listing as order_by asks; without it the order is
// creation order, which Tree.Children already gives.
func sortNodes(kids []fakecloud.Node, by string, desc bool) {
	var less func(a, b fakecloud.Node) bool
	switch by {
	case "name", "name_enhanced":
		less = func(a, b fakecloud.Node) bool { return a.Name < b.Name }
	case "size":
		less = func(a, b fakecloud.Node) bool { return a.Size() < b.Size() }
	case "updated_at":
		less = func(a, b fakecloud.Node) bool { return a.Modified.Before(b.Modified) }
	case "created_at":
		less = func(a, b fakecloud.Node) bool { return a.Created.Before(b.Created) }
	default:
		return
	}
	sort.SliceStable(kids, func(i, j int) bool {
		if desc {
			return less(kids[j], kids[i])
		}
		return less(kids[i], kids[j])
	})
}

func (s *Server) get(w http.ResponseWriter, req fileRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	n, ok := live(t, req.FileID)
	if !ok {
		notFoundFileID(w, req.FileID)
		return
	}
	writeJSON(w, http.StatusOK, item(req.DriveID, t, n))
}

// getByPath answers a missing last component with 404, and a missing or
// non-folder parent with 400, as users of the real service have seen both.
func (s *Server) getByPath(w http.ResponseWriter, req fileRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	if !strings.HasPrefix(req.FilePath, "/") {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.FilePath", "The input parameter file_path is not valid.")
		return
	}
	parts := strings.Split(strings.Trim(path.Clean(req.FilePath), "/"), "/")
	cur, _ := t.Get(t.RootID())
	for i, part := range parts {
		if part == "" {
			continue
		}
		if !cur.IsDir {
			writeErr(w, http.StatusBadRequest, "InvalidParameter.FilePath", "The input parameter file_path is not valid. parent is not a folder")
			return
		}
		next, found := sibling(t, cur.ID, part, "")
		if !found {
			if i < len(parts)-1 {
				writeErr(w, http.StatusBadRequest, "InvalidParameter.FilePath", "The input parameter file_path is not valid. parent folder not exist")
			} else {
				writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_path "+req.FilePath)
			}
			return
		}
		cur = next
	}
	writeJSON(w, http.StatusOK, item(req.DriveID, t, cur))
}

func (s *Server) downloadURL(w http.ResponseWriter, req fileRequest, user string) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	n, ok := live(t, req.FileID)
	if !ok {
		notFoundFileID(w, req.FileID)
		return
	}
	if n.IsDir {
		writeErr(w, http.StatusBadRequest, "InvalidResource.FileTypeFolder", "The resource file_id is a folder, not a file.")
		return
	}
	expUnix, seq := s.newLink(&s.linkSeq, req.ExpireSec)
	writeJSON(w, http.StatusOK, downloadURLResponse{
		URL:        s.signURL(req.DriveID, n, user, expUnix, seq),
		Expiration: time.Unix(expUnix, 0).UTC().Format(timeFormat),
		Method:     "GET", Size: n.Size(), ContentHash: strings.ToUpper(n.Blob.SHA1()),
		ContentHashName: "sha1", FileID: n.ID,
	})
}
