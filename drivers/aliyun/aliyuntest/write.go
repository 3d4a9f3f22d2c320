package aliyuntest

import (
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// maxNameBytes is the service's limit on a name (docs/protocols/aliyun.md §6).
const maxNameBytes = 1024

// writeAPI serves the endpoints that change the drive; false means
// endpoint is none of them.
func (s *Server) writeAPI(w http.ResponseWriter, r *http.Request, endpoint string, body []byte) bool {
	switch endpoint {
	case "openFile/create":
		var req createRequest
		if !decode(w, body, &req) {
			break
		}
		switch req.Type {
		case "folder":
			s.createFolder(w, req)
		case "file":
			s.createFile(w, r, req)
		default:
			writeErr(w, http.StatusBadRequest, "InvalidParameter.Type", "The input parameter type is not valid.")
		}
	case "openFile/getUploadUrl", "openFile/listUploadedParts", "openFile/complete":
		var req uploadRequest
		if !decode(w, body, &req) {
			break
		}
		switch endpoint {
		case "openFile/getUploadUrl":
			s.getUploadURL(w, req)
		case "openFile/listUploadedParts":
			s.listUploadedParts(w, req)
		default:
			s.complete(w, req)
		}
	case "openFile/update":
		var req updateRequest
		if decode(w, body, &req) {
			s.update(w, req)
		}
	case "openFile/move", "openFile/copy":
		var req moveRequest
		if !decode(w, body, &req) {
			break
		}
		if endpoint == "openFile/move" {
			s.move(w, req)
		} else {
			s.copy(w, req)
		}
	case "openFile/recyclebin/trash", "openFile/delete":
		var req fileRequest
		if decode(w, body, &req) {
			s.remove(w, req, endpoint == "openFile/delete")
		}
	case "openFile/async_task/get":
		var req asyncTaskRequest
		if decode(w, body, &req) {
			s.asyncTask(w, req)
		}
	default:
		return false
	}
	return true
}

func validName(w http.ResponseWriter, name string) bool {
	if name == "" || len(name) > maxNameBytes || strings.Contains(name, "/") {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Name", "The input parameter name is not valid.")
		return false
	}
	return true
}

// nameMode reads check_name_mode; the Open API's default is ignore, and
// overwrite is the web API's only.
func nameMode(w http.ResponseWriter, mode string) (string, bool) {
	switch mode {
	case "":
		return "ignore", true
	case "refuse", "auto_rename", "ignore":
		return mode, true
	}
	writeErr(w, http.StatusBadRequest, "InvalidParameter.CheckNameMode", "The input parameter check_name_mode is not valid.")
	return "", false
}

// target finds a node a write operates on: missing (or an unfinished
// upload) is 404, trashed is ForbiddenFileInTheRecycleBin.
func target(w http.ResponseWriter, t *fakecloud.Tree, id string) (fakecloud.Node, bool) {
	n, err := t.Get(id)
	if err != nil || pending(n) {
		notFoundFileID(w, id)
		return fakecloud.Node{}, false
	}
	if _, ok := live(t, id); !ok {
		writeErr(w, http.StatusForbidden, "ForbiddenFileInTheRecycleBin", "The resource file is in the recycle bin. file_id "+id)
		return fakecloud.Node{}, false
	}
	return n, true
}

func folder(w http.ResponseWriter, t *fakecloud.Tree, id string) (fakecloud.Node, bool) {
	if id == "" {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ParentFileId", "The input parameter parent_file_id is not valid.")
		return fakecloud.Node{}, false
	}
	n, ok := target(w, t, id)
	if ok && !n.IsDir {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ParentFileId", "The input parameter parent_file_id is not a folder.")
		return fakecloud.Node{}, false
	}
	return n, ok
}

func notRoot(w http.ResponseWriter, t *fakecloud.Tree, n fakecloud.Node) bool {
	if n.ID == t.RootID() {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.FileId", "The input parameter file_id is not valid. the root folder cannot be changed")
		return false
	}
	return true
}

// visibleChildren are the children a listing shows.
func visibleChildren(t *fakecloud.Tree, parent string) []fakecloud.Node {
	kids, _ := t.Children(parent)
	out := kids[:0]
	for _, k := range kids {
		if !pending(k) {
			out = append(out, k)
		}
	}
	return out
}

// sibling finds a visible child of parent called name, other than except.
func sibling(t *fakecloud.Tree, parent, name, except string) (fakecloud.Node, bool) {
	for _, k := range visibleChildren(t, parent) {
		if k.Name == name && k.ID != except {
			return k, true
		}
	}
	return fakecloud.Node{}, false
}

// freeName is auto_rename's choice: "a(1).txt", "a(2).txt", ...
func freeName(t *fakecloud.Tree, parent, name string) string {
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; ; i++ {
		c := base + "(" + itoa(int64(i)) + ")" + ext
		if _, taken := sibling(t, parent, c, ""); !taken {
			return c
		}
	}
}

// stamp is the time of a finished upload, strictly after the previous
// one, so that duplicate names order the same way on every listing.
func (s *Server) stamp() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if !now.After(s.lastStamp) {
		now = s.lastStamp.Add(time.Millisecond)
	}
	s.lastStamp = now
	return now
}

// task starts an async task for work on a folder; files need none.
func (s *Server) task(isDir bool) string {
	if !isDir {
		return ""
	}
	id := randHex(16)
	s.mu.Lock()
	s.tasks[id] = 0
	s.mu.Unlock()
	return id
}

func (s *Server) createFolder(w http.ResponseWriter, req createRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok || !validName(w, req.Name) {
		return
	}
	mode, ok := nameMode(w, req.CheckNameMode)
	if !ok {
		return
	}
	parent, ok := folder(w, t, req.ParentFileID)
	if !ok {
		return
	}
	name := req.Name
	if old, taken := sibling(t, parent.ID, name, ""); taken {
		switch mode {
		case "refuse":
			// Not an error: the existing item comes back with exist:true.
			writeJSON(w, http.StatusCreated, created(req.DriveID, old, true))
			return
		case "auto_rename":
			name = freeName(t, parent.ID, name)
		}
	}
	n, err := t.Mkdir(parent.ID, name)
	if err != nil {
		notFoundFileID(w, parent.ID)
		return
	}
	writeJSON(w, http.StatusCreated, created(req.DriveID, n, false))
}

func created(driveID string, n fakecloud.Node, exist bool) createResponse {
	out := createResponse{
		DriveID: driveID, DomainID: "bj29", FileID: n.ID, ParentFileID: n.ParentID, FileName: n.Name,
		Type: "folder", Status: "available", Exist: exist,
		CreatedAt: n.Created.UTC().Format(timeFormat), UpdatedAt: n.Modified.UTC().Format(timeFormat),
	}
	if !n.IsDir {
		out.Type = "file"
	}
	return out
}

func (s *Server) update(w http.ResponseWriter, req updateRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	n, ok := target(w, t, req.FileID)
	if !ok || !notRoot(w, t, n) {
		return
	}
	if req.Name != "" && req.Name != n.Name {
		if !validName(w, req.Name) {
			return
		}
		mode, ok := nameMode(w, req.CheckNameMode)
		if !ok {
			return
		}
		name := req.Name
		if other, taken := sibling(t, n.ParentID, name, n.ID); taken {
			switch mode {
			case "refuse":
				writeErr(w, http.StatusConflict, "AlreadyExist.File", "The resource file has the same name file already exists, can't update. file_id "+other.ID)
				return
			case "auto_rename":
				name = freeName(t, n.ParentID, name)
			}
		}
		var err error
		if n, err = t.Rename(n.ID, name); err != nil {
			notFoundFileID(w, req.FileID)
			return
		}
	}
	writeJSON(w, http.StatusOK, item(req.DriveID, t, n))
}

func (s *Server) move(w http.ResponseWriter, req moveRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	if req.ToDriveID != "" && req.ToDriveID != req.DriveID {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ToDriveId", "The input parameter to_drive_id is not valid. move between drives is not supported")
		return
	}
	mode, ok := nameMode(w, req.CheckNameMode)
	if !ok {
		return
	}
	n, ok := target(w, t, req.FileID)
	if !ok || !notRoot(w, t, n) {
		return
	}
	parent, ok := folder(w, t, req.ToParentFileID)
	if !ok {
		return
	}
	name := n.Name
	if req.NewName != "" {
		if !validName(w, req.NewName) {
			return
		}
		name = req.NewName
	}
	if other, taken := sibling(t, parent.ID, name, n.ID); taken {
		switch mode {
		case "refuse":
			writeJSON(w, http.StatusOK, taskResponse{DriveID: req.DriveID, FileID: other.ID, Exist: true})
			return
		case "auto_rename":
			name = freeName(t, parent.ID, name)
		}
	}
	if _, err := t.Move(n.ID, parent.ID); errors.Is(err, fakecloud.ErrLoop) {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ToParentFileId", "The input parameter to_parent_file_id is not valid. cannot move a folder into itself")
		return
	} else if err != nil {
		notFoundFileID(w, req.FileID)
		return
	}
	if name != n.Name {
		t.Rename(n.ID, name)
	}
	writeJSON(w, http.StatusOK, taskResponse{DriveID: req.DriveID, FileID: n.ID, AsyncTaskID: s.task(n.IsDir)})
}

// within says whether id is at or below ancestor.
func within(t *fakecloud.Tree, id, ancestor string) bool {
	for {
		if id == ancestor {
			return true
		}
		n, err := t.Get(id)
		if err != nil || id == t.RootID() {
			return false
		}
		id = n.ParentID
	}
}

func (s *Server) copy(w http.ResponseWriter, req moveRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	toDrive := req.ToDriveID
	if toDrive == "" {
		toDrive = req.DriveID
	}
	dst, ok := s.drive(w, toDrive)
	if !ok {
		return
	}
	n, ok := target(w, t, req.FileID)
	if !ok || !notRoot(w, t, n) {
		return
	}
	parent, ok := folder(w, dst, req.ToParentFileID)
	if !ok {
		return
	}
	if dst == t && within(t, parent.ID, n.ID) {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ToParentFileId", "The input parameter to_parent_file_id is not valid. cannot copy a folder into itself")
		return
	}
	name := n.Name
	if req.NewName != "" {
		if !validName(w, req.NewName) {
			return
		}
		name = req.NewName
	}
	if _, taken := sibling(dst, parent.ID, name, ""); taken && req.AutoRename {
		name = freeName(dst, parent.ID, name)
	}
	c, err := copyNode(t, n, dst, parent.ID, name)
	if err != nil {
		notFoundFileID(w, parent.ID)
		return
	}
	writeJSON(w, http.StatusOK, taskResponse{DriveID: toDrive, FileID: c.ID, AsyncTaskID: s.task(n.IsDir)})
}

// copyNode copies n and what it holds, leaving out unfinished uploads.
func copyNode(src *fakecloud.Tree, n fakecloud.Node, dst *fakecloud.Tree, parent, name string) (fakecloud.Node, error) {
	if !n.IsDir {
		return dst.Put(parent, name, n.Blob, n.Modified)
	}
	c, err := dst.Mkdir(parent, name)
	if err != nil {
		return fakecloud.Node{}, err
	}
	for _, k := range visibleChildren(src, n.ID) {
		if _, err := copyNode(src, k, dst, c.ID, k.Name); err != nil {
			return fakecloud.Node{}, err
		}
	}
	return c, nil
}

// remove trashes, or deletes for good. Deleting what is in the recycle
// bin is how the bin is emptied, so delete accepts trashed items.
func (s *Server) remove(w http.ResponseWriter, req fileRequest, permanent bool) {
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	var n fakecloud.Node
	if permanent {
		var err error
		if n, err = t.Get(req.FileID); err != nil || pending(n) {
			notFoundFileID(w, req.FileID)
			return
		}
	} else if n, ok = target(w, t, req.FileID); !ok {
		return
	}
	if !notRoot(w, t, n) {
		return
	}
	var err error
	if permanent {
		err = t.Delete(n.ID)
	} else {
		err = t.Trash(n.ID)
	}
	if err != nil {
		notFoundFileID(w, req.FileID)
		return
	}
	writeJSON(w, http.StatusOK, taskResponse{DriveID: req.DriveID, FileID: n.ID, AsyncTaskID: s.task(n.IsDir)})
}

// asyncTask reports Running on the first poll and Succeed after: the
// work itself is done at once, but a driver must poll to see it.
func (s *Server) asyncTask(w http.ResponseWriter, req asyncTaskRequest) {
	s.mu.Lock()
	polls, ok := s.tasks[req.AsyncTaskID]
	if ok {
		s.tasks[req.AsyncTaskID]++
	}
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, "NotFound.AsyncTask", "The resource async_task cannot be found. async_task_id "+req.AsyncTaskID)
		return
	}
	state := "Succeed"
	if polls == 0 {
		state = "Running"
	}
	writeJSON(w, http.StatusOK, asyncTaskResponse{AsyncTaskID: req.AsyncTaskID, State: state})
}
