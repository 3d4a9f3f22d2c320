package pan115test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"

	"pandav/internal/fakecloud"
)

func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/open/ufile/files", s.endpoint(EndpointFiles, s.handleFiles))
	mux.HandleFunc("/open/folder/get_info", s.endpoint(EndpointGetInfo, s.handleGetInfo))
	mux.HandleFunc("/open/ufile/downurl", s.endpoint(EndpointDownURL, s.handleDownURL))
	mux.HandleFunc("/open/user/info", s.endpoint(EndpointUser, s.handleUserInfo))
	s.writeRoutes(mux)
	s.uploadRoutes(mux)
	s.offlineRoutes(mux)
	return s.settling(mux)
}

// visible returns the node with id unless it, or a folder above it, is in
// the recycle bin or gone.
func (s *Server) visible(id string) (fakecloud.Node, bool) {
	n, err := s.tree.Get(id)
	if err != nil || n.Trashed {
		return fakecloud.Node{}, false
	}
	for cur := n; cur.ID != s.tree.RootID(); {
		p, err := s.tree.Get(cur.ParentID)
		if err != nil || p.Trashed {
			return fakecloud.Node{}, false
		}
		cur = p
	}
	return n, true
}

// pickCode is the file's opaque download handle. It is derived from the
// ID, and remembered so that downurl can map it back.
func (s *Server) pickCode(id string) string {
	sum := sha1.Sum([]byte("pickcode:" + id))
	pc := string(rune('a'+sum[0]%26)) + hex.EncodeToString(sum[1:9])
	s.mu.Lock()
	s.pickCodes[pc] = id
	s.mu.Unlock()
	return pc
}

// ancestors returns the folders from the root down to id's parent.
func (s *Server) ancestors(n fakecloud.Node) []fakecloud.Node {
	var out []fakecloud.Node
	for cur := n; cur.ID != s.tree.RootID(); {
		p, err := s.tree.Get(cur.ParentID)
		if err != nil {
			break
		}
		out = append([]fakecloud.Node{p}, out...)
		cur = p
	}
	return out
}

var videoExt = map[string]bool{"mp4": true, "mkv": true, "avi": true, "mov": true, "ts": true, "rmvb": true, "m2ts": true}

func ext(name string) string { return strings.ToLower(strings.TrimPrefix(path.Ext(name), ".")) }

// item is one entry of /open/ufile/files with the field types the real
// API uses (docs/protocols/pan115.md §2): IDs and flags as strings, times and sizes as
// numbers, size and media fields absent on folders.
type item struct {
	Fid      string          `json:"fid"`
	Aid      string          `json:"aid"`
	Pid      string          `json:"pid"`
	Fc       string          `json:"fc"`
	Fn       string          `json:"fn"`
	Fco      string          `json:"fco"`
	Ism      string          `json:"ism"`
	Isp      int             `json:"isp"`
	Pc       string          `json:"pc"`
	Upt      int64           `json:"upt"`
	Uet      int64           `json:"uet"`
	Uppt     int64           `json:"uppt"`
	Cm       int             `json:"cm"`
	Fdesc    string          `json:"fdesc"`
	Ispl     int             `json:"ispl"`
	Fl       []any           `json:"fl"`
	Sha1     string          `json:"sha1"`
	Fs       any             `json:"fs,omitempty"`
	Fta      string          `json:"fta,omitempty"`
	Ico      string          `json:"ico,omitempty"`
	Fatr     string          `json:"fatr,omitempty"`
	Isv      any             `json:"isv,omitempty"`
	Def      any             `json:"def,omitempty"`
	Def2     any             `json:"def2,omitempty"`
	PlayLong json.RawMessage `json:"play_long,omitempty"`
	VImg     string          `json:"v_img,omitempty"`
	Thumb    string          `json:"thumb,omitempty"`
}

func (s *Server) renderItem(n fakecloud.Node) item {
	it := item{
		Fid: n.ID, Aid: "1", Pid: n.ParentID, Fc: "1", Fn: n.Name, Ism: "0",
		Pc: s.pickCode(n.ID), Upt: n.Modified.Unix(), Uet: n.Modified.Unix(), Uppt: n.Created.Unix(),
		Fl: []any{},
	}
	if n.IsDir {
		it.Fc = "0"
		return it
	}
	it.Sha1 = n.Blob.SHA1()
	if s.o.StringNumbers {
		it.Fs = strconv.FormatInt(n.Size(), 10)
	} else {
		it.Fs = n.Size()
	}
	it.Fta, it.Ico, it.Fatr = "1", ext(n.Name), "0"
	it.Isv, it.Def, it.Def2 = 0, 0, 0
	if videoExt[it.Ico] {
		it.Isv, it.Def, it.Def2 = 1, 1, 1
		// Durations arrive as floats, sometimes with a fraction and
		// sometimes as 5.0, which breaks strict integer decoders.
		if n.ID[len(n.ID)-1]%2 == 0 {
			it.PlayLong = json.RawMessage("5.0")
		} else {
			it.PlayLong = json.RawMessage("12.345")
		}
		it.VImg = "https://thumb.115.com/" + n.ID + ".jpg"
	}
	return it
}

type pathItem struct {
	Name string      `json:"name"`
	Aid  int         `json:"aid"`
	Cid  json.Number `json:"cid"`
	Pid  json.Number `json:"pid"`
	Isp  int         `json:"isp"`
	PCid json.Number `json:"p_cid"`
	Fv   string      `json:"fv"`
}

// listPath is the `path[]` of a listing of folder n: the root first, n
// last, every cid a JSON number.
func (s *Server) listPath(n fakecloud.Node) []pathItem {
	chain := append(s.ancestors(n), n)
	out := make([]pathItem, 0, len(chain))
	for _, c := range chain {
		name, pid := c.Name, c.ParentID
		if c.ID == s.tree.RootID() {
			name, pid = "根目录", "0"
		}
		out = append(out, pathItem{Name: name, Aid: 1, Cid: json.Number(c.ID), Pid: json.Number(pid), PCid: json.Number(pid), Fv: "0"})
	}
	return out
}

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// handleFiles is GET /open/ufile/files. An unknown or unlistable cid is
// served as the root listing, as 115 does, so a client must compare the
// returned cid with the one it asked for. The cid is found by ID, exactly,
// but its entries lag (Options.Lag).
func (s *Server) handleFiles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dir, found := s.visible(q.Get("cid"))
	if !found || !dir.IsDir {
		dir, _ = s.tree.Get(s.tree.RootID())
	}
	kids, err := s.tree.VisibleChildren(dir.ID)
	if err != nil {
		fail(w, 990002, "参数错误")
		return
	}
	if q.Get("show_dir") != "1" {
		kept := kids[:0]
		for _, k := range kids {
			if !k.IsDir {
				kept = append(kept, k)
			}
		}
		kids = kept
	}
	sortNodes(kids, q.Get("o"), q.Get("asc") != "0", q.Get("custom_order") != "2")

	limit := atoiDefault(q.Get("limit"), 20)
	if limit <= 0 {
		limit = 20
	}
	if limit > s.o.PageCap {
		limit = s.o.PageCap
	}
	offset := atoiDefault(q.Get("offset"), 0)
	if offset < 0 {
		offset = 0
	}
	page := []item{}
	for i := offset; i < len(kids) && i < offset+limit && !truncated(r); i++ {
		page = append(page, s.renderItem(kids[i]))
	}
	var lim, off any = limit, offset
	if s.o.StringNumbers {
		lim, off = strconv.Itoa(limit), strconv.Itoa(offset)
	}
	order := q.Get("o")
	if order == "" {
		order = "user_ptime"
	}
	isAsc := 1
	if q.Get("asc") == "0" {
		isAsc = 0
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"state": true, "code": 0, "message": "",
		"data":  page,
		"count": len(kids), "sys_count": 0,
		"offset": off, "limit": lim,
		"aid": 1, "cid": json.Number(dir.ID),
		"is_asc": isAsc, "order": order, "star": 0, "type": 0, "suffix": "",
		"cur": 0, "stdir": 0, "fields": "", "min_size": 0, "max_size": 0,
		"sys_dir": "", "hide_data": "0", "record_open_time": "1",
		"path": s.listPath(dir),
	})
}

func sortNodes(ns []fakecloud.Node, o string, asc, foldersFirst bool) {
	var less func(a, b fakecloud.Node) int
	switch o {
	case "file_name":
		less = func(a, b fakecloud.Node) int { return strings.Compare(a.Name, b.Name) }
	case "file_size":
		less = func(a, b fakecloud.Node) int { return cmpInt(a.Size(), b.Size()) }
	case "user_utime", "user_ptime", "user_otime":
		// p115client: on this endpoint the upload and open times sort
		// like the modification time.
		less = func(a, b fakecloud.Node) int { return a.Modified.Compare(b.Modified) }
	case "file_type":
		less = func(a, b fakecloud.Node) int { return strings.Compare(ext(a.Name), ext(b.Name)) }
	default:
		return
	}
	sort.SliceStable(ns, func(i, j int) bool {
		a, b := ns[i], ns[j]
		if foldersFirst && a.IsDir != b.IsDir {
			return a.IsDir
		}
		c := less(a, b)
		if !asc {
			c = -c
		}
		return c < 0
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// handleGetInfo is GET ?file_id= or POST form path=. Not found is code
// 430004 by ID but an empty data array (state true) by path. By ID it is
// exact; by path it lags (Options.Lag), and finds a renamed or moved entry
// at its old path for a while.
func (s *Server) handleGetInfo(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("file_id")
	p := r.FormValue("path")
	switch {
	case id != "":
		n, found := s.visible(id)
		if !found {
			fail(w, 430004, "文件（夹）不存在或已删除")
			return
		}
		ok(w, s.renderInfo(n))
	case p != "":
		if p[0] != '/' && p[0] != '>' {
			ok(w, []any{})
			return
		}
		n, err := s.tree.VisibleLookup(strings.ReplaceAll(p, ">", "/"))
		if err != nil {
			ok(w, []any{})
			return
		}
		ok(w, s.renderInfo(n))
	default:
		fail(w, 40100000, "参数缺失")
	}
}

type infoPath struct {
	FileID   json.Number `json:"file_id"`
	FileName string      `json:"file_name"`
}

func (s *Server) renderInfo(n fakecloud.Node) map[string]any {
	files, folders, size := s.subtree(n)
	paths := []infoPath{}
	for _, a := range s.ancestors(n) {
		name := a.Name
		if a.ID == s.tree.RootID() {
			name = "根目录"
		}
		paths = append(paths, infoPath{FileID: json.Number(a.ID), FileName: name})
	}
	category, sha, pc, playLong := "1", "", "", any(0)
	if n.IsDir {
		category, playLong = "0", -1
	} else {
		sha = n.Blob.SHA1()
		if videoExt[ext(n.Name)] {
			playLong = json.RawMessage("12.345")
		}
	}
	if n.ID != s.tree.RootID() {
		pc = s.pickCode(n.ID)
	}
	name := n.Name
	if n.ID == s.tree.RootID() {
		name = "根目录"
	}
	return map[string]any{
		"count":          files,
		"folder_count":   folders,
		"size":           formatSize(size),
		"size_byte":      size,
		"play_long":      playLong,
		"show_play_long": 0,
		"ptime":          strconv.FormatInt(n.Created.Unix(), 10),
		"utime":          strconv.FormatInt(n.Modified.Unix(), 10),
		"is_share":       "0",
		"file_name":      name,
		"pick_code":      pc,
		"sha1":           sha,
		"is_mark":        "0",
		"open_time":      0,
		"file_category":  category,
		"file_id":        n.ID,
		"paths":          paths,
	}
}

// subtree totals what is below a folder, as get_info does (slowly, on the
// real service); a file counts as itself.
func (s *Server) subtree(n fakecloud.Node) (files, folders, size int64) {
	if !n.IsDir {
		return 1, 0, n.Size()
	}
	kids, _ := s.tree.Children(n.ID)
	for _, k := range kids {
		if k.IsDir {
			folders++
		}
		f, d, sz := s.subtree(k)
		files, folders, size = files+f, folders+d, size+sz
	}
	return files, folders, size
}

func formatSize(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + units[i]
}
