package webdav

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"pandav/cache"
	"pandav/drivers"
)

// Cloud download over WebDAV (docs/DESIGN.md, cloud download), for the
// drives that have it, knowing nothing of which cloud that is:
//   - watch folders (drivers.CloudDownloadWatcher): a PUT of a .torrent,
//     .magnet, .ed2k or .links file into one, or below, becomes tasks
//     saving into the folder it was put in, and the file is not stored;
//     201 when every link was taken, 422 with a plain-text list of each
//     refused link and why otherwise;
//   - a read-only status file in each of those folders listing the tasks
//     that save there;
//   - and, for any drive that says when the cloud changed a folder
//     (drivers.ChangeNotifier), the folder's cached listing
//     dropped at once, so what a task downloaded shows without waiting
//     for the cache to expire.

// statusFileName is the status file of a watch folder.
const statusFileName = ".cloud-download.txt"

// dropExts are the files a watch folder takes as tasks.
var dropExts = map[string]bool{".torrent": true, ".magnet": true, ".ed2k": true, ".links": true}

const (
	// maxDrop bounds a dropped file: torrents of large packs run to a few
	// MiB, files of links to far less.
	maxDrop = 16 << 20
	// statusTTL is how long the task list behind status files is reused,
	// so that a PROPFIND and the GETs after it cost one cloud call.
	statusTTL = 3 * time.Second
)

// cloudDownload is a mount's cloud download, for its watch folders.
type cloudDownload struct {
	links    drivers.LinkAdder
	torrents drivers.TorrentAdder
	tasks    drivers.TaskLister
	watch    []string

	mu     sync.Mutex
	listed []drivers.Task
	err    error
	at     time.Time
}

// cloudDownloadOf is d's cloud download, or nil when it has no watch
// folder.
func cloudDownloadOf(d drivers.Drive) *cloudDownload {
	w, ok := d.(drivers.CloudDownloadWatcher)
	cd, ok2 := d.(drivers.CloudDownloader)
	if !ok || !ok2 || len(w.CloudDownloadWatch()) == 0 {
		return nil
	}
	return &cloudDownload{links: cd, torrents: cd, tasks: cd, watch: w.CloudDownloadWatch()}
}

// watches says whether dirRel is a watch folder or lies below one.
func (c *cloudDownload) watches(dirRel string) bool {
	if c == nil {
		return false
	}
	for _, w := range c.watch {
		if w == "/" || dirRel == w || strings.HasPrefix(dirRel, w+"/") {
			return true
		}
	}
	return false
}

// list is the task list, reused for statusTTL.
func (c *cloudDownload) list(ctx context.Context) ([]drivers.Task, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < statusTTL {
		return c.listed, c.err
	}
	c.listed, c.err = c.tasks.Tasks(ctx)
	c.at = time.Now()
	return c.listed, c.err
}

// stale makes the next status file read the task list anew.
func (c *cloudDownload) stale() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

// statusText is the status file of the folder dir, at WebDAV path name.
func (c *cloudDownload) statusText(ctx context.Context, dir drivers.Entry, name string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Cloud downloads saving into %s, as of %s\n\n", name, time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	tasks, err := c.list(ctx)
	if err != nil {
		fmt.Fprintf(&b, "The task list could not be read: %v\n", err)
		return b.Bytes()
	}
	n := 0
	for _, t := range tasks {
		if t.FolderID != dir.ID {
			continue
		}
		if n == 0 {
			fmt.Fprintf(&b, "%-12s %8s %12s  %s\n", "STATUS", "PROGRESS", "SIZE", "NAME")
		}
		n++
		size := "-"
		if t.Size > 0 {
			size = fmt.Sprint(t.Size)
		}
		fmt.Fprintf(&b, "%-12s %7.1f%% %12s  %s\n", t.Status, t.Percent, size, t.Name)
	}
	if n == 0 {
		b.WriteString("No task saves into this folder.\n")
	}
	b.WriteString("\nPut a .torrent, .magnet, .ed2k or .links file (links, one a line) here to add tasks.\n")
	return b.Bytes()
}

// downloadStatus is the node of a watch folder's status file, when name
// is one.
func (fs *FileSystem) downloadStatus(ctx context.Context, m *mount, name, rel string) (node, bool) {
	cd := m.can.download
	if path.Base(rel) != statusFileName || !cd.watches(path.Dir(rel)) {
		return node{}, false
	}
	dir, err := m.resolve(ctx, path.Dir(rel))
	if err != nil || !dir.IsDir {
		return node{}, false
	}
	data := cd.statusText(ctx, dir, path.Dir(name))
	now := time.Now().UTC().Truncate(time.Second)
	hf := &heldFile{data: data, sum: drivers.SHA1Of(data), mod: now}
	e := drivers.Entry{ID: "status:" + name, Name: statusFileName, Size: int64(len(data)), ModTime: now, SHA1: hf.sum}
	return node{name: name, m: m, entry: e, held: hf}, true
}

// withDownloadStatus adds the status file to the listing of a watch
// folder.
func (fs *FileSystem) withDownloadStatus(ctx context.Context, n node, rel string, out []os.FileInfo) []os.FileInfo {
	if !n.m.can.download.watches(rel) {
		return out
	}
	for _, fi := range out {
		if fi.Name() == statusFileName {
			return out
		}
	}
	st, ok := fs.downloadStatus(ctx, n.m, path.Join(n.name, statusFileName), path.Join(rel, statusFileName))
	if !ok {
		return out
	}
	return append(out, &FileInfo{name: statusFileName, entry: st.entry, mod: fs.started})
}

// cloudDownloadWrite answers the writes that watch folders take
// differently: a dropped task file, and any change to a status file. It
// reports whether it answered.
func (h *Handler) cloudDownloadWrite(w *logRecorder, r *http.Request) bool {
	p := cleanPath(r.URL.Path)
	m, rel := h.fs.locate(p)
	if m == nil || m.can.download == nil || rel == "/" {
		return false
	}
	if h.isStatusFile(r, m, rel) {
		drainBody(r)
		http.Error(w, statusFileName+" is written by pandav: it lists the cloud downloads of its folder", http.StatusForbidden)
		return true
	}
	// Finder's ._x.torrent beside x.torrent is metadata, held as always.
	if r.Method != http.MethodPut || !dropExts[strings.ToLower(path.Ext(rel))] || isSystemFile(path.Base(rel)) || !m.can.download.watches(path.Dir(rel)) {
		return false
	}
	h.drop(w, r, m, p, rel)
	return true
}

// isStatusFile says whether r changes a status file: at its own path,
// or as the Destination of a MOVE or COPY.
func (h *Handler) isStatusFile(r *http.Request, m *mount, rel string) bool {
	cd := m.can.download
	if r.Method != "UNLOCK" && path.Base(rel) == statusFileName && cd.watches(path.Dir(rel)) {
		return true
	}
	if r.Method != "MOVE" && r.Method != "COPY" {
		return false
	}
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil {
		return false
	}
	dm, drel := h.fs.locate(cleanPath(u.Path))
	return dm == m && path.Base(drel) == statusFileName && cd.watches(path.Dir(drel))
}

// drop takes a PUT of a task file into a watch folder: its links, or its
// torrent, become tasks saving into the folder, and the file itself is
// not stored.
func (h *Handler) drop(w *logRecorder, r *http.Request, m *mount, p, rel string) {
	ctx := r.Context()
	if !requestOf(ctx).user.MaySee(p) {
		drainBody(r)
		http.Error(w, http.StatusText(http.StatusNotFound), http.StatusNotFound)
		return
	}
	release, code, err := h.confirmLocks(r, "", p, false)
	if err != nil {
		drainBody(r)
		writeError(w, err)
		return
	}
	if code != 0 {
		drainBody(r)
		http.Error(w, http.StatusText(code), code)
		return
	}
	defer release()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDrop+1))
	if err != nil {
		writeError(w, fmt.Errorf("%w: reading the body: %v", drivers.ErrInvalidName, err))
		return
	}
	if len(body) > maxDrop {
		drainBody(r)
		http.Error(w, fmt.Sprintf("%s is larger than the %d MiB a watch folder takes", path.Base(rel), maxDrop>>20), http.StatusRequestEntityTooLarge)
		return
	}
	// A placeholder a client made first (LOCK, or an empty PUT) goes with
	// the drop: nothing is stored at this path.
	h.fs.held.remove(p)
	if len(body) == 0 {
		w.WriteHeader(http.StatusCreated)
		return
	}
	dir, err := m.resolve(ctx, path.Dir(rel))
	switch {
	case err == nil && !dir.IsDir:
		http.Error(w, path.Dir(p)+" is a file", http.StatusConflict)
		return
	case isNotFound(err):
		http.Error(w, "the folder "+path.Dir(p)+" does not exist", http.StatusConflict)
		return
	case err != nil:
		writeError(w, err)
		return
	}
	name := path.Base(rel)
	var results []drivers.AddResult
	if strings.EqualFold(path.Ext(name), ".torrent") {
		var res drivers.AddResult
		res, err = m.can.download.torrents.AddTorrent(ctx, dir, drivers.Torrent{Name: name, Data: body})
		results = []drivers.AddResult{res}
	} else {
		links := linksIn(body)
		if len(links) == 0 {
			dropAnswer(w, http.StatusUnprocessableEntity, name+": no links in it (one a line)\n")
			return
		}
		results, err = m.can.download.links.AddLinks(ctx, dir, links)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	m.can.download.stale()
	var refused, added bytes.Buffer
	for _, res := range results {
		if !res.OK() {
			fmt.Fprintf(&refused, "%s: %s\n", res.Link, res.Refused)
			continue
		}
		what := "added"
		if res.Existed {
			what = "already in the task list"
		}
		fmt.Fprintf(&added, "%s: %s\n", res.Link, what)
	}
	h.log.Info().Str("path", p).Int("links", len(results)).Int("refused", strings.Count(refused.String(), "\n")).Msg("cloud download: tasks from a watch folder")
	if refused.Len() > 0 {
		dropAnswer(w, http.StatusUnprocessableEntity, "Not added:\n"+refused.String()+tail("Added:\n", added.String()))
		return
	}
	dropAnswer(w, http.StatusCreated, "Added, saving into "+path.Dir(p)+" (see "+statusFileName+" there):\n"+added.String())
}

func tail(head, body string) string {
	if body == "" {
		return ""
	}
	return "\n" + head + body
}

func dropAnswer(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, text)
}

// linksIn reads a file of links: one a line, blanks and # notes skipped.
func linksIn(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), maxDrop)
	for sc.Scan() {
		if l := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff")); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// folderIndex maps a folder's ID to the path its listing is cached
// under, for the mounts whose drive says when the cloud changed a
// folder.
type folderIndex struct {
	keys *cache.Store[string]
}

// note records that the folder id is listed at key.
func (x *folderIndex) note(id, key string, ttl time.Duration) {
	if x != nil {
		x.keys.Add(id, key, ttl)
	}
}

// followChanges subscribes to m's drive, when it says when the cloud
// changed a folder (drivers.ChangeNotifier), and drops the folder's
// cached listing then, or everything cached of the mount when the drive
// cannot say which folder.
func (fs *FileSystem) followChanges(m *mount) {
	n, ok := m.drive.(drivers.ChangeNotifier)
	if !ok {
		return
	}
	m.can.folders = &folderIndex{keys: cache.NewStore[string](max(fs.o.CacheEntries/16, 64))}
	n.NotifyChanges(func(id string) {
		if id == "" {
			m.purge()
			return
		}
		m.can.download.stale()
		key, ok := m.can.folders.keys.Get(id)
		if !ok {
			return
		}
		m.caches.gen.Add(1)
		m.caches.listings.Remove(key)
		m.caches.misses.Remove(key)
		m.caches.misses.RemovePrefix(key + "/")
		m.caches.listG.Forget(key + "\x00" + id)
		fs.o.Log.Debug().Str("path", key).Msg("the cloud changed a folder; its listing is read anew")
	})
}
