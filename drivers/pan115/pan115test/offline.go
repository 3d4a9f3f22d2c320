package pan115test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"pandav/internal/fakecloud"
	"pandav/internal/torrent"
)

// The cloud-download service (云下载,
// docs/protocols/accounts-offline-shares.md §2): add_task_urls, torrent, add_task_bt, get_task_list,
// del_task, clear_task and get_quota_info. Each task goes queued →
// downloading, its progress rising → done, its files appearing in the
// target folder (through the lagging API view, as every change the API
// makes), or failed; on a clock of the emulator's own (SetDownloadSpeed,
// AdvanceDownloads), which every API call catches up with.

var _ fakecloud.CloudDownloads = (*Server)(nil)

// Endpoint names of the cloud-download service.
const (
	EndpointOfflineAddURLs = "open/offline/add_task_urls"
	EndpointOfflineTorrent = "open/offline/torrent"
	EndpointOfflineAddBT   = "open/offline/add_task_bt"
	EndpointOfflineList    = "open/offline/get_task_list"
	EndpointOfflineDel     = "open/offline/del_task"
	EndpointOfflineClear   = "open/offline/clear_task"
	EndpointOfflineQuota   = "open/offline/get_quota_info"
)

// Codes of the service. 10008 (the link is in the task list already) is
// one client's; 1000012, 91006, 20018 and 990002 the docs'; 10010 is the
// offline service's own "quota used up" that the docs map to 1000012;
// 10004 for a link 115 cannot read is this emulator's guess (no source
// names one).
const (
	CodeTaskExists     = 10008
	CodeBadLink        = 10004
	CodeQuotaItem      = 10010
	CodeQuotaExhausted = 1000012
	CodeNoSpace        = 91006
	CodeTorrentMissing = 20018
	CodeBadParam       = 990002
)

// The lifecycle on the emulator's clock: queued for downloadQueue, then
// downloading for downloadRun. A failing task fails at failAt of the way;
// a stalled one stays downloading at stallPercent for ever, as 115 Open's
// tasks are seen to (docs/protocols/user-demands.md §2).
const (
	downloadQueue = time.Second
	downloadRun   = 4 * time.Second
	failAt        = 0.6
	stallPercent  = 42.75
	// offlinePage is how many tasks one page of get_task_list holds.
	offlinePage = 30
	// defaultDownloadQuota is the month's quota of a VIP account.
	defaultDownloadQuota = 1500
)

type offlineTask struct {
	seq      int
	hash     string
	url      string // "" for a BT task
	name     string
	size     int64
	folder   string // wp_path_id
	savePath string // BT: the folder made below folder
	files    []torrent.File
	multi    bool
	added    time.Duration // on the clock
	addedAt  time.Time     // wall time, for add_time
	fail     bool
	stall    bool
	produced string // file_id, once done
	removed  bool
}

type offline struct {
	mu       sync.Mutex
	seq      int
	tasks    []*offlineTask // in the order added
	used     int
	total    int
	torrents map[string]torrent.Meta // parsed torrents, by info hash
	failRule func(string) bool
	stall    func(string) bool
	// The clock: base plus the real time since `since`, times speed.
	speed float64
	since time.Time
	base  time.Duration
}

func (o *offline) init() {
	o.total = defaultDownloadQuota
	o.torrents = map[string]torrent.Meta{}
	o.speed, o.since = 1, time.Now()
}

func (o *offline) now() time.Duration {
	return o.base + time.Duration(float64(time.Since(o.since))*o.speed)
}

// SetDownloadSpeed sets how fast the tasks' clock runs against real
// time: 1 is real time, 0 stops it.
func (s *Server) SetDownloadSpeed(factor float64) {
	s.off.mu.Lock()
	s.off.base, s.off.since, s.off.speed = s.off.now(), time.Now(), max(factor, 0)
	s.off.mu.Unlock()
	s.settleDownloads()
}

// AdvanceDownloads moves the tasks' clock on by d.
func (s *Server) AdvanceDownloads(d time.Duration) {
	s.off.mu.Lock()
	s.off.base += d
	s.off.mu.Unlock()
	s.settleDownloads()
}

// DownloadTime is how long a task takes on the clock, added to done.
func (s *Server) DownloadTime() time.Duration { return downloadQueue + downloadRun }

// SetDownloadQuota sets how many more tasks the account may add.
func (s *Server) SetDownloadQuota(left int) {
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	s.off.total = s.off.used + max(left, 0)
}

// DownloadQuota is how many tasks were charged, and how many may still
// be added.
func (s *Server) DownloadQuota() (used, left int) {
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	return s.off.used, s.off.total - s.off.used
}

// FailDownloads makes the tasks of links match accepts fail; nil
// restores the default, under which magnets without a tracker (tr=)
// fail, as magnets that find no peers do
// (docs/protocols/accounts-offline-shares.md §2.4).
func (s *Server) FailDownloads(match func(link string) bool) {
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	s.off.failRule = match
}

// StallDownloads makes the tasks of links match accepts stay
// downloading for ever.
func (s *Server) StallDownloads(match func(link string) bool) {
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	s.off.stall = match
}

// WatchMountOptions make folders the mount's cloud-download watch
// folders, and have the driver follow its tasks every half second.
func (s *Server) WatchMountOptions(folders ...string) map[string]any {
	return map[string]any{"cloud_download_watch": folders, "cloud_download_poll": "500ms"}
}

func trackerless(link string) bool {
	return strings.HasPrefix(strings.ToLower(link), "magnet:") && !strings.Contains(link, "tr=")
}

func (s *Server) offlineRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/open/offline/add_task_urls", s.endpoint(EndpointOfflineAddURLs, s.handleAddURLs))
	mux.HandleFunc("/open/offline/torrent", s.endpoint(EndpointOfflineTorrent, s.handleTorrent))
	mux.HandleFunc("/open/offline/add_task_bt", s.endpoint(EndpointOfflineAddBT, s.handleAddBT))
	mux.HandleFunc("/open/offline/get_task_list", s.endpoint(EndpointOfflineList, s.handleTaskList))
	mux.HandleFunc("/open/offline/del_task", s.endpoint(EndpointOfflineDel, s.handleDelTask))
	mux.HandleFunc("/open/offline/clear_task", s.endpoint(EndpointOfflineClear, s.handleClearTask))
	mux.HandleFunc("/open/offline/get_quota_info", s.endpoint(EndpointOfflineQuota, s.handleQuotaInfo))
}

// settling catches the tasks up with the clock before every API call,
// so that a listing after a task's end shows its files.
func (s *Server) settling(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.settleDownloads()
		h.ServeHTTP(w, r)
	})
}

// taskState is where t stands at now: status, percent.
func (o *offline) taskState(t *offlineTask, now time.Duration) (int, float64) {
	el := now - t.added
	switch {
	case el < downloadQueue:
		return 0, 0
	case t.stall:
		return 1, min(stallPercent, 100*float64(el-downloadQueue)/float64(downloadRun))
	case t.fail && el >= downloadQueue+time.Duration(failAt*float64(downloadRun)):
		return -1, 100 * failAt
	case el < downloadQueue+downloadRun:
		return 1, 100 * float64(el-downloadQueue) / float64(downloadRun)
	}
	if t.fail {
		return -1, 100 * failAt
	}
	return 2, 100
}

// settleDownloads puts the files of every task that ended done since the
// last call into its folder.
func (s *Server) settleDownloads() {
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	now := s.off.now()
	for _, t := range s.off.tasks {
		if st, _ := s.off.taskState(t, now); st == 2 && t.produced == "" && !t.removed {
			t.produced = s.produce(t)
		}
	}
}

// produce writes what t downloaded, with generated content, and returns
// the top file or folder. A task whose folder is gone saves into the
// root, as 115 does with wp_path_id 0.
func (s *Server) produce(t *offlineTask) string {
	parent := t.folder
	if n, found := s.visibleDir(parent); !found {
		parent = s.tree.RootID()
	} else {
		parent = n.ID
	}
	seed := seedOf(t.hash)
	if !t.multi && len(t.files) == 1 && t.savePath == "" {
		n, err := s.changes.Put(parent, t.files[0].Path, fakecloud.NewSeededBlob(seed, t.files[0].Size, ""), time.Time{})
		if err != nil {
			return ""
		}
		return n.ID
	}
	top := t.savePath
	if top == "" {
		top = t.name
	}
	root, err := s.mkdirs(parent, top)
	if err != nil {
		return ""
	}
	for i, f := range t.files {
		dir, err := s.mkdirs(root, path.Dir(f.Path))
		if err != nil {
			continue
		}
		s.changes.Put(dir, path.Base(f.Path), fakecloud.NewSeededBlob(seed+uint64(i), f.Size, ""), time.Time{})
	}
	return root
}

// mkdirs makes the folders of rel below parent, reusing those there.
func (s *Server) mkdirs(parent, rel string) (string, error) {
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." {
			continue
		}
		if n, err := s.tree.ChildByName(parent, seg); err == nil && n.IsDir {
			parent = n.ID
			continue
		}
		n, err := s.changes.Mkdir(parent, seg)
		if err != nil {
			return "", err
		}
		parent = n.ID
	}
	return parent, nil
}

func seedOf(hash string) uint64 {
	sum := sha1.Sum([]byte(hash))
	var v uint64
	for _, b := range sum[:8] {
		v = v<<8 | uint64(b)
	}
	return v
}

// linkTask reads a link as 115 would: its hash, name, size and files, or
// false for a link it cannot read.
func (s *Server) linkTask(link string) (*offlineTask, bool) {
	scheme, rest, found := strings.Cut(link, ":")
	if !found {
		return nil, false
	}
	sum := sha1.Sum([]byte(link))
	t := &offlineTask{url: link, hash: hex.EncodeToString(sum[:])}
	small := 256<<10 + int64(seedOf(t.hash)%(2<<20))
	switch strings.ToLower(scheme) {
	case "http", "https", "ftp":
		u, err := url.Parse(link)
		if err != nil || u.Host == "" {
			return nil, false
		}
		name := path.Base(u.Path)
		if name == "/" || name == "." || name == "" {
			name = u.Hostname() + ".html"
		}
		t.name, t.size = name, small
		t.files = []torrent.File{{Path: name, Size: small}}
	case "magnet":
		u, err := url.Parse(link)
		if err != nil {
			return nil, false
		}
		q := u.Query()
		hash, readable := torrent.MagnetHash(link)
		if !readable {
			return nil, false
		}
		t.hash = hash
		t.name = q.Get("dn")
		if t.name == "" {
			t.name = hash
		}
		if meta, known := s.off.torrents[hash]; known {
			t.name, t.files, t.multi = meta.Name, meta.Files, meta.MultiFile
		} else {
			t.files, t.multi = []torrent.File{{Path: t.name + ".mkv", Size: small}}, true
		}
		for _, f := range t.files {
			t.size += f.Size
		}
	case "ed2k":
		// ed2k://|file|NAME|SIZE|MD4|/
		parts := strings.Split(strings.TrimPrefix(rest, "//"), "|")
		if len(parts) < 6 || parts[1] != "file" || parts[2] == "" || len(parts[4]) != 32 {
			return nil, false
		}
		size, err := strconv.ParseInt(parts[3], 10, 64)
		if _, herr := hex.DecodeString(parts[4]); err != nil || herr != nil || size < 0 {
			return nil, false
		}
		name, err := url.PathUnescape(parts[2])
		if err != nil {
			return nil, false
		}
		t.name, t.size = name, size
		t.files = []torrent.File{{Path: name, Size: size}}
	default:
		return nil, false
	}
	return t, true
}

// find returns the live task with hash, or nil; off.mu is held.
func (o *offline) find(hash string) *offlineTask {
	for _, t := range o.tasks {
		if t.hash == hash && !t.removed {
			return t
		}
	}
	return nil
}

// add charges one task of the quota and lists t; off.mu is held.
func (o *offline) add(t *offlineTask) {
	o.seq++
	t.seq = o.seq
	t.added, t.addedAt = o.now(), time.Now()
	// A torrent's task is matched as the magnet of its hash, but the
	// default rule spares it: a torrent names its trackers.
	link, rule := t.url, o.failRule
	if link == "" {
		link = "magnet:?xt=urn:btih:" + t.hash + "&tr="
	}
	if rule == nil {
		rule = trackerless
	}
	t.fail = rule(link)
	t.stall = o.stall != nil && o.stall(link)
	o.used++
	o.tasks = append(o.tasks, t)
}

// handleAddURLs is POST /open/offline/add_task_urls (urls, newline-
// separated; wp_path_id). The answer holds one result per link, and is
// state true even when every link failed; only an account with no quota
// left is refused as a whole.
func (s *Server) handleAddURLs(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	var links []string
	for _, l := range strings.Split(strings.ReplaceAll(r.FormValue("urls"), "\r", ""), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			links = append(links, l)
		}
	}
	if len(links) == 0 {
		fail(w, CodeBadParam, "参数错误")
		return
	}
	folder := r.FormValue("wp_path_id")
	if folder == "" {
		folder = s.tree.RootID()
	}
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	if s.off.used >= s.off.total {
		fail(w, CodeQuotaExhausted, "云下载配额已用完")
		return
	}
	results := []map[string]any{}
	for _, l := range links {
		t, readable := s.linkTask(l)
		switch {
		case !readable:
			results = append(results, map[string]any{"state": false, "code": CodeBadLink, "message": "链接格式错误", "url": l})
		case s.off.find(t.hash) != nil:
			results = append(results, map[string]any{"state": false, "code": CodeTaskExists, "message": "任务已存在", "url": l})
		case s.off.used >= s.off.total:
			results = append(results, map[string]any{"state": false, "code": CodeQuotaItem, "message": "云下载配额不足", "url": l})
		default:
			t.folder = folder
			s.off.add(t)
			results = append(results, map[string]any{"state": true, "code": 0, "message": "", "info_hash": t.hash, "url": l})
		}
	}
	ok(w, results)
}

// torrentFile is the .torrent a request names by pick_code and
// torrent_sha1, read and parsed; a failure is written to w.
func (s *Server) torrentFile(w http.ResponseWriter, r *http.Request) (torrent.Meta, bool) {
	s.mu.Lock()
	id := s.pickCodes[r.FormValue("pick_code")]
	s.mu.Unlock()
	n, found := s.visible(id)
	if id == "" || !found || n.IsDir {
		fail(w, CodeTorrentMissing, "文件不存在或已删除")
		return torrent.Meta{}, false
	}
	if sum := r.FormValue("torrent_sha1"); !strings.EqualFold(sum, n.Blob.SHA1()) {
		fail(w, CodeBadParam, "参数错误")
		return torrent.Meta{}, false
	}
	data, err := io.ReadAll(io.NewSectionReader(n.Blob, 0, n.Size()))
	if err != nil {
		fail(w, CodeTorrentMissing, "文件不存在或已删除")
		return torrent.Meta{}, false
	}
	meta, err := torrent.Parse(data)
	if err != nil {
		fail(w, CodeBadParam, "种子文件解析失败")
		return torrent.Meta{}, false
	}
	s.off.mu.Lock()
	s.off.torrents[meta.InfoHash] = meta
	s.off.mu.Unlock()
	return meta, true
}

// handleTorrent is POST /open/offline/torrent (torrent_sha1, pick_code):
// what the torrent holds. Its data is an object, though the docs' table
// says array.
func (s *Server) handleTorrent(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	meta, found := s.torrentFile(w, r)
	if !found {
		return
	}
	list := []map[string]any{}
	for _, f := range meta.Files {
		wanted := 1
		if f.Size < 1024 {
			wanted = 0 // 115 leaves small extras (nfo, txt) unselected
		}
		path := f.Path
		if meta.MultiFile {
			path = meta.Name + "/" + f.Path
		}
		list = append(list, map[string]any{"size": f.Size, "path": path, "wanted": wanted})
	}
	ok(w, map[string]any{
		"file_size": meta.Size(), "torrent_name": meta.Name, "file_count": len(meta.Files),
		"info_hash": meta.InfoHash, "torrent_filelist": list,
	})
}

// handleAddBT is POST /open/offline/add_task_bt (info_hash, wanted,
// save_path, torrent_sha1, pick_code, wp_path_id). Space is checked
// before the quota is charged.
func (s *Server) handleAddBT(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	savePath := strings.Trim(r.FormValue("save_path"), "/")
	if savePath == "" || r.FormValue("wanted") == "" {
		fail(w, CodeBadParam, "参数错误")
		return
	}
	meta, found := s.torrentFile(w, r)
	if !found {
		return
	}
	if !strings.EqualFold(r.FormValue("info_hash"), meta.InfoHash) {
		fail(w, CodeBadParam, "参数错误")
		return
	}
	var files []torrent.File
	var size int64
	for _, v := range strings.Split(r.FormValue("wanted"), ",") {
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(meta.Files) {
			fail(w, CodeBadParam, "参数错误")
			return
		}
		files = append(files, meta.Files[i])
		size += meta.Files[i].Size
	}
	folder := r.FormValue("wp_path_id")
	if folder == "" {
		folder = s.tree.RootID()
	}
	s.mu.Lock()
	free := s.spaceTotal - s.tree.Usage()
	s.mu.Unlock()
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	switch {
	case s.off.find(meta.InfoHash) != nil:
		fail(w, CodeTaskExists, "任务已存在")
	case size > free:
		fail(w, CodeNoSpace, "存储空间不足")
	case s.off.used >= s.off.total:
		fail(w, CodeQuotaExhausted, "云下载配额已用完")
	default:
		s.off.add(&offlineTask{hash: meta.InfoHash, name: meta.Name, size: size, folder: folder, savePath: savePath, files: files, multi: true})
		ok(w, []any{})
	}
}

// handleTaskList is GET /open/offline/get_task_list?page=N (page may also
// come as a form field), newest first. Fields come as the mixed types
// clients meet: percentDone as 42, 42.75, "42.75", null or out of range,
// size and status now and then as strings.
func (s *Server) handleTaskList(w http.ResponseWriter, r *http.Request) {
	pageText := r.FormValue("page")
	if pageText == "" && r.Body != nil {
		// The SDK sends page as a form, on a GET, whose body net/http
		// does not parse.
		b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		form, _ := url.ParseQuery(string(b))
		pageText = form.Get("page")
	}
	page := atoiDefault(pageText, 1)
	if page < 1 {
		page = 1
	}
	s.off.mu.Lock()
	now := s.off.now()
	var live []*offlineTask
	for i := len(s.off.tasks) - 1; i >= 0; i-- {
		if t := s.off.tasks[i]; !t.removed {
			live = append(live, t)
		}
	}
	pages := max(1, (len(live)+offlinePage-1)/offlinePage)
	tasks := []map[string]any{}
	for i := (page - 1) * offlinePage; i < len(live) && i < page*offlinePage; i++ {
		t := live[i]
		st, pct := s.off.taskState(t, now)
		tasks = append(tasks, s.renderTask(t, st, pct))
	}
	s.off.mu.Unlock()
	ok(w, map[string]any{"page": page, "page_count": pages, "count": len(live), "tasks": tasks})
}

func (s *Server) renderTask(t *offlineTask, st int, pct float64) map[string]any {
	var percent any = math.Round(pct*100) / 100
	switch {
	case st == 0 && t.seq%2 == 0:
		percent = nil
	case st == -1 && t.seq%2 == 1:
		percent = -1 // out of range, as some failed tasks say
	case st == 2 && t.seq%3 == 0:
		percent = 100.0001
	case t.seq%4 == 1:
		percent = int(pct)
	case t.seq%4 == 2:
		percent = strconv.FormatFloat(pct, 'f', 2, 64)
	}
	var size any = t.size
	if st == 0 && t.url != "" && strings.HasPrefix(t.url, "magnet:") {
		size = 0 // a magnet's size is known once its metadata is
	}
	if t.seq%2 == 0 {
		size = fmt.Sprint(size)
	}
	var status any = st
	if t.seq%5 == 0 {
		status = strconv.Itoa(st)
	}
	fileID, deleteID := "", ""
	if st == 2 {
		fileID, deleteID = t.produced, t.produced
	}
	return map[string]any{
		"info_hash": t.hash, "add_time": t.addedAt.Unix(), "percentDone": percent, "size": size,
		"name": t.name, "last_update": time.Now().Unix(), "file_id": fileID, "delete_file_id": deleteID,
		"status": status, "url": t.url, "wp_path_id": t.folder, "def2": 0, "play_long": 0, "can_appeal": 0,
	}
}

// handleDelTask is POST /open/offline/del_task (info_hash, several
// comma-separated; del_source_file 0|1). An unknown hash is no error.
func (s *Server) handleDelTask(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	hashes := ids(r.FormValue("info_hash"))
	if len(hashes) == 0 {
		fail(w, CodeBadParam, "参数错误")
		return
	}
	withFiles := r.FormValue("del_source_file") == "1"
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	for _, h := range hashes {
		if t := s.off.find(strings.ToLower(h)); t != nil {
			s.dropTask(t, withFiles)
		}
	}
	ok(w, []any{})
}

// dropTask takes t off the list, and with withFiles what it downloaded
// to the recycle bin; off.mu is held.
func (s *Server) dropTask(t *offlineTask, withFiles bool) {
	t.removed = true
	if withFiles && t.produced != "" {
		s.tree.Trash(t.produced)
	}
}

// handleClearTask is POST /open/offline/clear_task (flag 0-5).
func (s *Server) handleClearTask(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	flag, err := strconv.Atoi(r.FormValue("flag"))
	if err != nil || flag < 0 || flag > 5 {
		fail(w, CodeBadParam, "参数错误")
		return
	}
	s.off.mu.Lock()
	defer s.off.mu.Unlock()
	now := s.off.now()
	for _, t := range s.off.tasks {
		if t.removed {
			continue
		}
		st, _ := s.off.taskState(t, now)
		var match bool
		switch flag {
		case 0, 4:
			match = st == 2
		case 1, 5:
			match = true
		case 2:
			match = st == -1
		case 3:
			match = st == 0 || st == 1
		}
		if match {
			s.dropTask(t, flag >= 4)
		}
	}
	ok(w, []any{})
}

// handleQuotaInfo is GET /open/offline/get_quota_info: the totals as
// count/surplus/used, as the SDK reads them, and one package.
func (s *Server) handleQuotaInfo(w http.ResponseWriter, r *http.Request) {
	s.off.mu.Lock()
	used, total := s.off.used, s.off.total
	s.off.mu.Unlock()
	now := time.Now()
	monthEnd := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.Local).Unix()
	ok(w, map[string]any{
		"count": total, "surplus": strconv.Itoa(total - used), "used": used,
		"package": []any{map[string]any{
			"name": "VIP 月配额", "count": total, "used": used, "surplus": total - used,
			"expire_info": []any{map[string]any{"surplus": total - used, "expire_time": monthEnd}},
		}},
	})
}
