package pan115

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"pandav/drivers"
	"pandav/internal/torrent"
)

// 115's cloud download (云下载, docs/protocols/accounts-offline-shares.md
// §2): links and torrents the cloud fetches by itself into a folder, the
// task list, its cleaning, and the quota. Links are checked here first,
// so that a malformed one costs no call and names its fault plainly.

const (
	// defaultTaskPoll is how often running tasks are looked at;
	// maxTaskPoll how rarely, once nothing has changed for a while (a
	// task 115 never finishes must not cost a call every few seconds for
	// ever).
	defaultTaskPoll = 10 * time.Second
	maxTaskPoll     = 5 * time.Minute
	// quietPolls is how many polls without news before the wait grows.
	quietPolls = 5
	// folderPathTTL is how long a task folder's path is trusted.
	folderPathTTL = time.Minute
)

// checkWatch cleans the watch folders, which must be paths from the
// mount's root.
func (o *Options) checkWatch() error {
	for i, w := range o.CloudDownloadWatch {
		w = strings.TrimSpace(w)
		if !strings.HasPrefix(w, "/") {
			return fmt.Errorf("pan115: cloud_download_watch %q must be a path from the mount's root, starting with /", w)
		}
		o.CloudDownloadWatch[i] = path.Clean(w)
	}
	if o.CloudDownloadPoll < 0 {
		return fmt.Errorf("pan115: cloud_download_poll must be positive")
	}
	return nil
}

// CloudDownloadWatch names the mount's watch folders (options
// cloud_download_watch).
func (d *Drive) CloudDownloadWatch() []string { return d.o.CloudDownloadWatch }

// linkFault says why 115 could not take link, or "" when it looks like a
// link it downloads: HTTP(S), FTP, a magnet with a btih, an ed2k file.
func linkFault(link string) string {
	scheme, rest, found := strings.Cut(link, ":")
	if !found {
		return "it is not a link"
	}
	switch strings.ToLower(scheme) {
	case "http", "https", "ftp":
		if u, err := url.Parse(link); err != nil || u.Host == "" {
			return "the link names no host"
		}
	case "magnet":
		if _, ok := torrent.MagnetHash(link); !ok {
			return "the magnet link has no valid btih hash (xt=urn:btih:...)"
		}
	case "ed2k":
		parts := strings.Split(strings.TrimPrefix(rest, "//"), "|")
		if len(parts) < 6 || parts[1] != "file" || parts[2] == "" || len(parts[4]) != 32 {
			return "the ed2k link is not of the form ed2k://|file|NAME|SIZE|HASH|/"
		}
		if n, err := strconv.ParseInt(parts[3], 10, 64); err != nil || n < 0 {
			return "the ed2k link's size is not a number"
		}
	default:
		return "it is not an HTTP(S), FTP, magnet or ed2k link"
	}
	return ""
}

// refusal turns a final answer of the service into a sentence for an
// AddResult, or returns the error when it is no refusal of the input.
func refusal(err error) (string, error) {
	var ae *apiError
	if errors.As(err, &ae) {
		if why, ok := taskRefusals[ae.Code]; ok {
			return why, nil
		}
	}
	return "", err
}

// AddLinks adds a task per link, into dir, with add_task_urls (one call
// for every link that looks right). A link already in 115's task list is
// Existed, its task found by hash (magnets) or by URL.
func (d *Drive) AddLinks(ctx context.Context, dir drivers.Entry, links []string) ([]drivers.AddResult, error) {
	op := "pan115 add cloud-download links"
	results := make([]drivers.AddResult, len(links))
	var sent []int
	for i, l := range links {
		l = strings.TrimSpace(l)
		results[i].Link = l
		if why := linkFault(l); why != "" {
			results[i].Refused = why
			continue
		}
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return results, nil
	}
	urls := make([]string, len(sent))
	for j, i := range sent {
		urls[j] = results[i].Link
	}
	var r addURLsResp
	err := d.post(ctx, op, "/open/offline/add_task_urls", url.Values{"urls": {strings.Join(urls, "\n")}, "wp_path_id": {dir.ID}}, &r)
	if err != nil {
		why, err := refusal(err)
		if err != nil {
			return nil, err
		}
		for _, i := range sent {
			results[i].Refused = why
		}
		return results, nil
	}
	byURL := map[string]addURLItem{}
	for _, it := range r.Data {
		byURL[string(it.URL)] = it
	}
	var existed []int
	added := map[string]string{}
	for j, i := range sent {
		it, found := byURL[results[i].Link]
		if !found && j < len(r.Data) {
			it, found = r.Data[j], true
		}
		switch {
		case !found:
			results[i].Refused = "115 said nothing about the link"
		case bool(it.State) && it.InfoHash != "":
			results[i].TaskID = strings.ToLower(string(it.InfoHash))
			added[results[i].TaskID] = dir.ID
		case int64(it.Code) == taskExistsCode:
			results[i].Existed = true
			existed = append(existed, i)
		default:
			why, ok := taskRefusals[int64(it.Code)]
			if !ok {
				why = fmt.Sprintf("115 refused it: %s (code %d)", strings.TrimSpace(string(it.Message)), it.Code)
			}
			results[i].Refused = why
		}
	}
	d.watch.follow(added)
	if len(existed) > 0 {
		d.findExisting(ctx, results, existed)
	}
	return results, nil
}

// findExisting fills in the task of links 115 already had: by a
// magnet's hash, else by URL. A list that cannot be read leaves TaskID
// empty; the link is still no failure.
func (d *Drive) findExisting(ctx context.Context, results []drivers.AddResult, which []int) {
	tasks, err := d.Tasks(ctx)
	if err != nil {
		return
	}
	for _, i := range which {
		hash, isMagnet := torrent.MagnetHash(results[i].Link)
		for _, t := range tasks {
			if isMagnet && t.ID == hash || !isMagnet && t.URL == results[i].Link {
				results[i].TaskID = t.ID
				break
			}
		}
	}
}

// AddTorrent adds the task of every file of a torrent. Given as bytes,
// the torrent is read here first, then uploaded into dir under a name of
// its own for 115 to read, and removed again whatever happens.
func (d *Drive) AddTorrent(ctx context.Context, dir drivers.Entry, t drivers.Torrent) (drivers.AddResult, error) {
	res := drivers.AddResult{Link: t.Name}
	file := t.File
	if file == nil {
		meta, err := torrent.Parse(t.Data)
		if err != nil {
			res.Refused = "it is not a torrent file (" + strings.TrimPrefix(err.Error(), torrent.ErrNotTorrent.Error()+": ") + ")"
			return res, nil
		}
		staged, err := d.Upload(ctx, dir, ".pandav-torrent-"+meta.InfoHash+".torrent", drivers.NewBytesSource(t.Data, time.Time{}))
		if err != nil {
			return res, err
		}
		defer func() {
			// Not with ctx: a client gone away must not leave it behind.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := d.Remove(cctx, staged, true); err != nil {
				d.env.Log.Warn().Str("mount", d.env.MountPath).Err(err).Msg("pan115: the uploaded .torrent of a cloud download could not be removed")
			}
		}()
		file = &staged
	}
	pickCode, _ := file.Extra.(string)
	op := "pan115 add torrent " + file.ID
	form := url.Values{"torrent_sha1": {strings.ToUpper(file.SHA1)}, "pick_code": {pickCode}}
	var tr torrentResp
	if err := d.post(ctx, op, "/open/offline/torrent", form, &tr); err != nil {
		why, err := refusal(err)
		res.Refused = why
		return res, err
	}
	info := tr.Data.V
	hash := strings.ToLower(string(info.InfoHash))
	n := len(info.FileList)
	if n == 0 || hash == "" {
		return res, fmt.Errorf("%s: %w: 115 read no files in the torrent", op, drivers.ErrUpstream)
	}
	wanted := make([]string, n)
	for i := range wanted {
		wanted[i] = strconv.Itoa(i)
	}
	form.Set("info_hash", hash)
	form.Set("wanted", strings.Join(wanted, ","))
	form.Set("save_path", savePath(string(info.TorrentName), info.FileList, hash))
	form.Set("wp_path_id", dir.ID)
	var r anyResp
	res.TaskID = hash
	if err := d.post(ctx, op, "/open/offline/add_task_bt", form, &r); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == taskExistsCode {
			res.Existed = true
			return res, nil
		}
		why, err := refusal(err)
		res.TaskID, res.Refused = "", why
		return res, err
	}
	d.watch.follow(map[string]string{hash: dir.ID})
	return res, nil
}

// savePath is the folder, below the target, that a torrent's files go
// into (add_task_bt requires one): named after the torrent, without the
// extension of a single-file torrent's name.
func savePath(name string, files many[torrentEntry], hash string) string {
	if len(files) == 1 && string(files[0].Path) == name {
		if stem, _ := splitExt(name); stem != "" {
			name = stem
		}
	}
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune("/\\\"<>\x00", r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	if name == "" || name == "." || name == ".." {
		return hash
	}
	return name
}

// Tasks reads every page of the task list.
func (d *Drive) Tasks(ctx context.Context) ([]drivers.Task, error) {
	var out []drivers.Task
	for page := 1; ; page++ {
		var r taskListResp
		q := url.Values{"page": {strconv.Itoa(page)}}
		if err := d.call(ctx, "pan115 cloud-download tasks", request{method: http.MethodGet, path: "/open/offline/get_task_list", query: q}, &r); err != nil {
			return nil, err
		}
		p := r.Data.V
		for _, it := range p.Tasks {
			out = append(out, d.task(ctx, it))
		}
		if len(p.Tasks) == 0 || page >= int(p.PageCount) {
			break
		}
	}
	d.watch.seen(ctx, out)
	return out, nil
}

func (d *Drive) task(ctx context.Context, it taskItem) drivers.Task {
	t := drivers.Task{
		ID: strings.ToLower(string(it.InfoHash)), Name: string(it.Name), URL: string(it.URL),
		Status: drivers.TaskStatus(it.Status), Percent: float64(it.PercentDone), Size: int64(it.Size),
		Added: unix(it.AddTime), Updated: unix(it.LastUpdate),
		FolderID: string(it.WpPathID), FileID: string(it.FileID),
	}
	switch t.Status {
	case drivers.TaskDone:
		t.Percent = 100
	case drivers.TaskFailed, drivers.TaskQueued, drivers.TaskDownloading:
	default:
		t.Status = drivers.TaskQueued // a status 115 has not documented
	}
	if t.FolderID == "" {
		t.FolderID = rootID
	}
	t.FolderPath = d.folderPath(ctx, t.FolderID)
	return t
}

type folderPath struct {
	path string
	at   time.Time
}

// folderPath is the path of folder id from the mount's root, "" when it
// lies outside it or cannot be looked up.
func (d *Drive) folderPath(ctx context.Context, id string) string {
	if v, ok := d.folderPaths.Load(id); ok && time.Since(v.(folderPath).at) < folderPathTTL {
		return v.(folderPath).path
	}
	abs := "/"
	if id != rootID {
		var r infoResp
		if err := d.call(ctx, "pan115 task folder "+id, request{method: http.MethodGet, path: "/open/folder/get_info", query: url.Values{"file_id": {id}}}, &r); err != nil || r.Data.Missing {
			return ""
		}
		var segs []string
		for _, p := range r.Data.Paths {
			if p.FileID != rootID {
				segs = append(segs, p.FileName)
			}
		}
		abs = "/" + path.Join(append(segs, r.Data.FileName)...)
	}
	rel := ""
	switch {
	case d.o.Root == "/":
		rel = abs
	case abs == d.o.Root:
		rel = "/"
	case strings.HasPrefix(abs, d.o.Root+"/"):
		rel = abs[len(d.o.Root):]
	}
	d.folderPaths.Store(id, folderPath{rel, time.Now()})
	return rel
}

// RemoveTasks deletes tasks (del_task takes several, comma-separated),
// and with withFiles what they downloaded.
func (d *Drive) RemoveTasks(ctx context.Context, ids []string, withFiles bool) error {
	if len(ids) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[strings.ToLower(id)] = true
	}
	return d.dropTasks(ctx, func(t drivers.Task) bool { return want[t.ID] }, withFiles, func() error {
		form := url.Values{"info_hash": {strings.Join(ids, ",")}, "del_source_file": {"0"}}
		if withFiles {
			form.Set("del_source_file", "1")
		}
		var r anyResp
		return d.post(ctx, "pan115 remove cloud-download tasks", "/open/offline/del_task", form, &r)
	})
}

// ClearTasks removes a set of tasks with clear_task's flags: 0 done, 1
// all, 2 failed, 3 running, 4 done and 5 all with their files.
func (d *Drive) ClearTasks(ctx context.Context, set drivers.TaskSet, withFiles bool) error {
	flag, match := 0, func(drivers.Task) bool { return true }
	switch set {
	case drivers.TasksDone:
		flag, match = 0, func(t drivers.Task) bool { return t.Status == drivers.TaskDone }
	case drivers.TasksAll:
		flag = 1
	case drivers.TasksFailed:
		flag, match = 2, func(t drivers.Task) bool { return t.Status == drivers.TaskFailed }
	case drivers.TasksRunning:
		flag, match = 3, func(t drivers.Task) bool { return !t.Status.Ended() }
	default:
		return fmt.Errorf("pan115 clear tasks: %w: unknown set %d", drivers.ErrUnsupported, set)
	}
	if withFiles {
		if set != drivers.TasksDone && set != drivers.TasksAll {
			return fmt.Errorf("pan115 clear tasks: %w: 115 removes the files only with the done tasks or with all of them", drivers.ErrUnsupported)
		}
		flag += 4
	}
	return d.dropTasks(ctx, match, withFiles, func() error {
		var r anyResp
		return d.post(ctx, "pan115 clear cloud-download tasks", "/open/offline/clear_task", url.Values{"flag": {strconv.Itoa(flag)}}, &r)
	})
}

// dropTasks runs del, which removes the tasks match selects. With their
// files, it first learns which files those are, so that the folders
// they were in stop showing them at once.
func (d *Drive) dropTasks(ctx context.Context, match func(drivers.Task) bool, withFiles bool, del func() error) error {
	var gone []drivers.Task
	if withFiles {
		tasks, err := d.Tasks(ctx)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if match(t) && t.FileID != "" {
				gone = append(gone, t)
			}
		}
	}
	if err := del(); err != nil {
		return err
	}
	for _, t := range gone {
		d.recent.left(t.FolderID, t.FileID)
		d.watch.notify(t.FolderID)
	}
	return nil
}

// DownloadQuota reads get_quota_info.
func (d *Drive) DownloadQuota(ctx context.Context) (drivers.DownloadQuota, error) {
	var r quotaResp
	if err := d.call(ctx, "pan115 cloud-download quota", request{method: http.MethodGet, path: "/open/offline/get_quota_info"}, &r); err != nil {
		return drivers.DownloadQuota{}, err
	}
	v := r.Data.V
	q := drivers.DownloadQuota{Total: int(v.Count), Used: int(v.Used), Left: int(v.Surplus)}
	for _, p := range v.Packages {
		qp := drivers.QuotaPackage{Name: string(p.Name), Total: int(p.Count), Used: int(p.Used), Left: int(p.Surplus)}
		for _, e := range p.Expires {
			qp.Expiries = append(qp.Expiries, drivers.QuotaExpiry{Left: int(e.Surplus), Expires: unix(e.ExpireTime)})
		}
		q.Packages = append(q.Packages, qp)
	}
	return q, nil
}

// NotifyChanges implements drivers.ChangeNotifier: f is told the folder
// ID when a task that saves there ends done, or when a task's files are
// removed from it.
func (d *Drive) NotifyChanges(f func(folderID string)) {
	d.watch.mu.Lock()
	defer d.watch.mu.Unlock()
	d.watch.subs = append(d.watch.subs, f)
}

// taskWatch follows the tasks that run: while there are any, it reads
// the task list now and then, and when one ends done, lays what it
// produced over 115's lagging listing of its folder and tells the
// subscribers (the WebDAV layer drops its cached listing), so the new
// files show at once.
type taskWatch struct {
	d     *Drive
	every time.Duration

	mu      sync.Mutex
	subs    []func(string)
	running map[string]runningTask // by task ID
	polling bool
	// changed is set when a task's status changed since the loop last
	// looked.
	changed bool
	kick    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
}

type runningTask struct {
	folder string
	status drivers.TaskStatus
}

func newTaskWatch(d *Drive, every time.Duration) *taskWatch {
	if every <= 0 {
		every = defaultTaskPoll
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &taskWatch{d: d, every: every, running: map[string]runningTask{}, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

func (w *taskWatch) stop() { w.cancel() }

// follow starts following tasks (ID -> folder ID) just added.
func (w *taskWatch) follow(tasks map[string]string) {
	if len(tasks) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, folder := range tasks {
		w.running[id] = runningTask{folder: folder, status: drivers.TaskQueued}
	}
	w.startLocked()
}

// startLocked starts the poll loop, or hurries it; w.mu is held.
func (w *taskWatch) startLocked() {
	if w.ctx.Err() != nil {
		return
	}
	if w.polling {
		select {
		case w.kick <- struct{}{}:
		default:
		}
		return
	}
	w.polling = true
	go w.loop()
}

func (w *taskWatch) loop() {
	wait, quiet := w.every, 0
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.kick:
			wait, quiet = w.every, 0
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
		_, err := w.d.Tasks(ctx)
		cancel()
		w.mu.Lock()
		changed := err == nil && w.changed
		w.changed = false
		if len(w.running) == 0 {
			w.polling = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if changed {
			wait, quiet = w.every, 0
		} else if quiet++; quiet >= quietPolls || err != nil {
			wait = min(2*wait, maxTaskPoll)
		}
		timer.Reset(wait)
	}
}

// seen takes in a fresh task list: a task that ended done has its
// product laid over its folder's listing and the folder announced; a
// task that runs and is not followed yet (added elsewhere: the 115 app,
// another pandav) is followed from now on.
func (w *taskWatch) seen(ctx context.Context, tasks []drivers.Task) {
	var done []drivers.Task
	w.mu.Lock()
	listed := map[string]bool{}
	for _, t := range tasks {
		listed[t.ID] = true
		rt, followed := w.running[t.ID]
		switch {
		case t.Status.Ended() && followed:
			delete(w.running, t.ID)
			w.changed = true
			if t.Status == drivers.TaskDone {
				done = append(done, t)
			}
		case !t.Status.Ended() && (!followed || rt.status != t.Status):
			w.running[t.ID] = runningTask{folder: t.FolderID, status: t.Status}
			w.changed = true
		}
	}
	for id := range w.running {
		if !listed[id] {
			delete(w.running, id) // removed from the list elsewhere
		}
	}
	if len(w.running) > 0 {
		w.startLocked()
	}
	w.mu.Unlock()
	for _, t := range done {
		if t.FileID != "" {
			e, err := w.d.Get(ctx, t.FileID)
			switch {
			case err == nil:
				if e.ParentID == "" {
					e.ParentID = t.FolderID
				}
				w.d.recent.placed(e)
			case !errors.Is(err, drivers.ErrNotFound):
				// Announced now, the folder would be listed anew without
				// the file, which 115 shows late: try again next time.
				w.mu.Lock()
				w.running[t.ID] = runningTask{folder: t.FolderID, status: drivers.TaskDownloading}
				w.startLocked()
				w.mu.Unlock()
				continue
			}
		}
		w.notify(t.FolderID)
	}
}

// notify tells every subscriber that folder changed.
func (w *taskWatch) notify(folder string) {
	w.mu.Lock()
	subs := append([]func(string){}, w.subs...)
	w.mu.Unlock()
	for _, f := range subs {
		f(folder)
	}
}
