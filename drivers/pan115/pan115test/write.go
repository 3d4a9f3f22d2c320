package pan115test

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	"pandav/internal/fakecloud"
)

// Busy codes of the batch operations: 990009 "操作尚未执行完成" for every
// one of them, 990019 as move says it.
const (
	CodeBusy     = 990009
	CodeMoveBusy = 990019
)

func (s *Server) writeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/open/folder/add", s.endpoint(EndpointFolderAdd, s.handleFolderAdd))
	mux.HandleFunc("/open/ufile/update", s.endpoint(EndpointUpdate, s.handleUpdate))
	mux.HandleFunc("/open/ufile/move", s.busyEndpoint(EndpointMove, CodeMoveBusy, s.handleMove))
	mux.HandleFunc("/open/ufile/copy", s.busyEndpoint(EndpointCopy, CodeBusy, s.handleCopy))
	mux.HandleFunc("/open/ufile/delete", s.busyEndpoint(EndpointDelete, CodeBusy, s.handleDelete))
	mux.HandleFunc("/open/rb/del", s.busyEndpoint(EndpointRBDel, CodeBusy, s.handleRBDel))
}

// 115's name rules (docs/protocols/pan115.md §6): a length in bytes, and
// characters no name may hold besides "/".
const (
	maxNameBytes       = 255
	forbiddenNameChars = `"<>`
)

// checkName applies 115's name rules (docs/protocols/pan115.md §6) and returns the error
// code for a bad name, 0 for a good one.
func checkName(name string) (int, string) {
	switch {
	case strings.TrimSpace(name) == "":
		return 20001, "文件名不能为空"
	case len(name) > maxNameBytes:
		return 20002, "文件名过长"
	case strings.ContainsAny(name, forbiddenNameChars+"/"):
		return 20003, `文件名不能包含以下字符："<>`
	}
	return 0, ""
}

// splitExt splits a name at its last dot, the way 115 sees extensions.
func splitExt(name string) (stem, ext string) {
	e := path.Ext(name)
	return strings.TrimSuffix(name, e), e
}

// freeName returns name, or the first of name(1), name(2)... (the number
// before the extension) that no live child of parent other than self
// holds: 115's answer to a collision on rename, move and copy.
func (s *Server) freeName(parent, name, self string) string {
	kids, _ := s.tree.Children(parent)
	taken := map[string]bool{}
	for _, k := range kids {
		if k.ID != self {
			taken[k.Name] = true
		}
	}
	if !taken[name] {
		return name
	}
	stem, ext := splitExt(name)
	for i := 1; ; i++ {
		if c := fmt.Sprintf("%s(%d)%s", stem, i, ext); !taken[c] {
			return c
		}
	}
}

// visibleDir is like visible, for a folder.
func (s *Server) visibleDir(id string) (fakecloud.Node, bool) {
	n, found := s.visible(id)
	return n, found && n.IsDir
}

// within says whether id is dir or lies below it.
func (s *Server) within(id, dir string) bool {
	n, err := s.tree.Get(id)
	if err != nil {
		return false
	}
	if n.ID == dir {
		return true
	}
	for _, a := range s.ancestors(n) {
		if a.ID == dir {
			return true
		}
	}
	return false
}

func ids(v string) []string {
	var out []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

func isPost(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		fail(w, 40100000, "参数缺失")
		return false
	}
	return true
}

// handleFolderAdd is POST /open/folder/add (pid, file_name). Unlike
// uploads, folders refuse a taken name: 20004.
func (s *Server) handleFolderAdd(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	name := r.PostFormValue("file_name")
	if code, msg := checkName(name); code != 0 {
		fail(w, code, msg)
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	pid := r.PostFormValue("pid")
	if _, found := s.visibleDir(pid); !found {
		fail(w, 20009, "父目录不存在")
		return
	}
	if _, err := s.tree.ChildByName(pid, name); err == nil {
		fail(w, 20004, "该目录名称已存在。")
		return
	}
	n, err := s.changes.Mkdir(pid, name)
	if err != nil {
		fail(w, 20009, "父目录不存在")
		return
	}
	ok(w, map[string]any{"file_name": n.Name, "file_id": n.ID})
}

// handleUpdate is POST /open/ufile/update (file_id, file_name). It has
// 115's two surprises: a file keeps its extension whatever the new name
// says (stem of the new name + extension of the old one), and a taken
// name becomes name(1).ext. It "succeeds" for an ID that is gone.
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	name := r.PostFormValue("file_name")
	if name == "" && r.PostFormValue("star") != "" {
		ok(w, map[string]any{"file_name": "", "star": r.PostFormValue("star")})
		return
	}
	if code, msg := checkName(name); code != 0 {
		fail(w, code, msg)
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, found := s.visible(r.PostFormValue("file_id"))
	if !found || n.ID == s.tree.RootID() {
		ok(w, map[string]any{"file_name": name, "star": "0"})
		return
	}
	final := name
	if !n.IsDir {
		stem, _ := splitExt(name)
		_, oldExt := splitExt(n.Name)
		final = stem + oldExt
	}
	final = s.freeName(n.ParentID, final, n.ID)
	if _, err := s.changes.Rename(n.ID, final); err != nil {
		fail(w, 430004, "文件（夹）不存在或已删除")
		return
	}
	ok(w, map[string]any{"file_name": final, "star": "0"})
}

// handleMove is POST /open/ufile/move (file_ids, to_cid). Taken names get
// a (1) suffix; moving into the same folder changes nothing.
func (s *Server) handleMove(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	to := r.PostFormValue("to_cid")
	if to == "" {
		to = s.tree.RootID()
	}
	if _, found := s.visibleDir(to); !found {
		fail(w, 20009, "目标目录不存在")
		return
	}
	nodes, valid := s.sources(w, r.PostFormValue("file_ids"), to, "不能移动到自身或其子目录")
	if !valid {
		return
	}
	for _, n := range nodes {
		if n.ParentID == to {
			continue
		}
		if _, err := s.changes.Move(n.ID, to); err != nil {
			fail(w, 91002, "不能移动到自身或其子目录")
			return
		}
		if name := s.freeName(to, n.Name, n.ID); name != n.Name {
			s.changes.Rename(n.ID, name)
		}
	}
	ok(w, []any{})
}

// handleCopy is POST /open/ufile/copy (pid, file_id, nodupli). It does not
// say what it created. With nodupli=0 a taken name becomes name(1), with
// nodupli=1 it is refused.
func (s *Server) handleCopy(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	pid := r.PostFormValue("pid")
	if _, found := s.visibleDir(pid); !found {
		fail(w, 20009, "目标目录不存在")
		return
	}
	nodes, valid := s.sources(w, r.PostFormValue("file_id"), pid, "不能复制到自身或其子目录")
	if !valid {
		return
	}
	for _, n := range nodes {
		name := s.freeName(pid, n.Name, "")
		if name != n.Name && r.PostFormValue("nodupli") == "1" {
			fail(w, 20004, "目标目录存在同名文件")
			return
		}
		if _, err := s.changes.Copy(n.ID, pid, name); err != nil {
			if errors.Is(err, fakecloud.ErrLoop) {
				fail(w, 91002, "不能复制到自身或其子目录")
			} else {
				fail(w, 430004, "文件（夹）不存在或已删除")
			}
			return
		}
	}
	ok(w, []any{})
}

// handleDelete is POST /open/ufile/delete (file_ids): to the recycle bin.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	list := ids(r.PostFormValue("file_ids"))
	if len(list) == 0 {
		fail(w, 40100000, "参数缺失")
		return
	}
	for _, id := range list {
		if n, found := s.visible(id); !found || n.ID == s.tree.RootID() {
			fail(w, 430004, "文件（夹）不存在或已删除")
			return
		}
	}
	for _, id := range list {
		s.tree.Trash(id)
	}
	ok(w, list)
}

// handleRBDel is POST /open/rb/del (tid): delete from the recycle bin for
// good. Only what is in the bin can be deleted this way.
func (s *Server) handleRBDel(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	list := ids(r.PostFormValue("tid"))
	if len(list) == 0 {
		fail(w, 40100000, "参数缺失")
		return
	}
	for _, id := range list {
		if n, err := s.tree.Get(id); err != nil || !n.Trashed {
			fail(w, 430004, "回收站中不存在该文件")
			return
		}
	}
	for _, id := range list {
		s.tree.Delete(id)
	}
	ok(w, []any{})
}

// sources resolves the comma-separated ids a move or copy names into
// target, answering the service's error (with loopMsg for a move into the
// item's own subtree) when one cannot go.
func (s *Server) sources(w http.ResponseWriter, list, target, loopMsg string) ([]fakecloud.Node, bool) {
	var nodes []fakecloud.Node
	for _, id := range ids(list) {
		n, found := s.visible(id)
		if !found || n.ID == s.tree.RootID() {
			fail(w, 430004, "文件（夹）不存在或已删除")
			return nil, false
		}
		if s.within(target, n.ID) {
			fail(w, 91002, loopMsg)
			return nil, false
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		fail(w, 40100000, "参数缺失")
		return nil, false
	}
	return nodes, true
}
