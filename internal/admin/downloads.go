package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"pandav/drivers"
)

// The cloud-download part of the API (docs/admin-api.md, cloud
// download): tasks that the cloud of a mount fetches by itself, over the
// drivers' cloud-download capabilities (drivers/offline.go).

// DownloadsAPI is what the API offers of cloud download. Its mount
// arguments may be "" when exactly one mount has cloud download.
type DownloadsAPI interface {
	// Downloads lists the tasks of mount's account.
	Downloads(ctx context.Context, mount string) (DownloadList, error)
	// AddDownloads adds links, or a torrent, into the folder req.To.
	AddDownloads(ctx context.Context, req AddDownloads) (AddedDownloads, error)
	// RemoveDownloads removes tasks, named by ID or an unambiguous start
	// of one, and with withFiles what they downloaded.
	RemoveDownloads(ctx context.Context, req RemoveDownloads) (RemovedDownloads, error)
	// ClearDownloads removes the tasks that are done, failed, running or
	// all of them; withFiles only with done and all.
	ClearDownloads(ctx context.Context, req ClearDownloads) error
	// DownloadQuota says how many tasks the account may still add.
	DownloadQuota(ctx context.Context, mount string) (DownloadQuota, error)
}

// DownloadTask is one task.
type DownloadTask struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Status is failed, queued, downloading or done.
	Status  string     `json:"status"`
	Percent float64    `json:"percent"`
	Size    int64      `json:"size"`
	Added   *time.Time `json:"added,omitempty"`
	// Folder is the WebDAV path of the folder it saves into; "" when that
	// lies outside the mount.
	Folder   string `json:"folder"`
	FolderID string `json:"folder_id"`
	// FileID is what it produced, once done.
	FileID string `json:"file_id,omitempty"`
}

// TaskEnded says whether a task in status can change no more.
func TaskEnded(status string) bool {
	return status == drivers.TaskDone.String() || status == drivers.TaskFailed.String()
}

// DownloadList is the answer to GET downloads.
type DownloadList struct {
	Mount string         `json:"mount"`
	Tasks []DownloadTask `json:"tasks"`
}

// AddDownloads is the body of POST downloads: links, or a torrent given
// as its bytes or as the WebDAV path of a .torrent in the drive.
type AddDownloads struct {
	// To is the WebDAV path of the folder the tasks save into; "" is the
	// root of the one mount with cloud download.
	To          string   `json:"to,omitempty"`
	Links       []string `json:"links,omitempty"`
	TorrentName string   `json:"torrent_name,omitempty"`
	Torrent     []byte   `json:"torrent,omitempty"` // base64 in JSON
	TorrentPath string   `json:"torrent_path,omitempty"`
}

// AddedDownloads is the answer: one result per link, or one for the
// torrent. OK is true when every one was added (or already listed).
type AddedDownloads struct {
	Mount   string          `json:"mount"`
	Folder  string          `json:"folder"`
	OK      bool            `json:"ok"`
	Results []DownloadAdded `json:"results"`
}

// DownloadAdded is what became of one link.
type DownloadAdded struct {
	Link    string `json:"link"`
	Task    string `json:"task,omitempty"`
	Existed bool   `json:"existed,omitempty"`
	// Error says in one sentence why the cloud took no task for it.
	Error string `json:"error,omitempty"`
}

// RemoveDownloads is the body of POST downloads/remove.
type RemoveDownloads struct {
	Mount     string   `json:"mount,omitempty"`
	Tasks     []string `json:"tasks"`
	WithFiles bool     `json:"with_files,omitempty"`
}

// RemovedDownloads names the tasks removed, in full.
type RemovedDownloads struct {
	Mount string   `json:"mount"`
	Tasks []string `json:"tasks"`
}

// ClearDownloads is the body of POST downloads/clear.
type ClearDownloads struct {
	Mount string `json:"mount,omitempty"`
	// Which is done, failed, running or all.
	Which     string `json:"which"`
	WithFiles bool   `json:"with_files,omitempty"`
}

// DownloadQuota is the answer to GET downloads/quota.
type DownloadQuota struct {
	Mount    string                 `json:"mount"`
	Total    int                    `json:"total"`
	Used     int                    `json:"used"`
	Left     int                    `json:"left"`
	Packages []DownloadQuotaPackage `json:"packages,omitempty"`
}

// DownloadQuotaPackage is one kind of quota the account holds.
type DownloadQuotaPackage struct {
	Name     string                `json:"name"`
	Total    int                   `json:"total"`
	Used     int                   `json:"used"`
	Left     int                   `json:"left"`
	Expiries []DownloadQuotaExpiry `json:"expiries,omitempty"`
}

// DownloadQuotaExpiry is a part of a package and when it lapses.
type DownloadQuotaExpiry struct {
	Left    int        `json:"left"`
	Expires *time.Time `json:"expires,omitempty"`
}

var clearSets = map[string]drivers.TaskSet{
	"done": drivers.TasksDone, "failed": drivers.TasksFailed, "running": drivers.TasksRunning, "all": drivers.TasksAll,
}

// downloader is the mount named, or the only one with cloud download.
func (s *Service) downloader(name string) (Mount, drivers.CloudDownloader, *Error) {
	if name == "" {
		var with []Mount
		for _, m := range s.mounts {
			if _, ok := m.Drive.(drivers.CloudDownloader); ok {
				with = append(with, m)
			}
		}
		switch len(with) {
		case 0:
			return Mount{}, nil, errorf(http.StatusBadRequest, "no mount's cloud has cloud download")
		case 1:
			name = with[0].Path
		default:
			var paths []string
			for _, m := range with {
				paths = append(paths, m.Path)
			}
			return Mount{}, nil, errorf(http.StatusBadRequest, "several mounts have cloud download (%s): name one", strings.Join(paths, ", "))
		}
	}
	m, e := s.mount(path.Clean("/" + name))
	if e != nil {
		return Mount{}, nil, e
	}
	cd, ok := m.Drive.(drivers.CloudDownloader)
	if !ok {
		return Mount{}, nil, errorf(http.StatusBadRequest, "the cloud of %s has no cloud download", m.Path)
	}
	return m, cd, nil
}

// cloudError gives a cloud's failure its status: 503 when it throttles,
// 502 when it fails or refuses the login, 400 for what it cannot do.
func cloudError(m Mount, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, drivers.ErrRateLimited):
		return errorf(http.StatusServiceUnavailable, "%s: %v", m.Path, err)
	case errors.Is(err, drivers.ErrUnsupported):
		return errorf(http.StatusBadRequest, "%s: %v", m.Path, err)
	case errors.Is(err, drivers.ErrNotFound):
		return errorf(http.StatusNotFound, "%s: %v", m.Path, err)
	}
	return errorf(http.StatusBadGateway, "%s: %v", m.Path, err)
}

// Downloads implements API.
func (s *Service) Downloads(ctx context.Context, mount string) (DownloadList, error) {
	m, cd, e := s.downloader(mount)
	if e != nil {
		return DownloadList{}, e
	}
	tasks, err := cd.Tasks(ctx)
	if err != nil {
		return DownloadList{}, cloudError(m, err)
	}
	out := DownloadList{Mount: m.Path, Tasks: make([]DownloadTask, 0, len(tasks))}
	for _, t := range tasks {
		dt := DownloadTask{
			ID: t.ID, Name: t.Name, URL: t.URL, Status: t.Status.String(), Percent: t.Percent, Size: t.Size,
			FolderID: t.FolderID, FileID: t.FileID,
		}
		if !t.Added.IsZero() {
			dt.Added = &t.Added
		}
		if t.FolderPath != "" {
			dt.Folder = path.Join(m.Path, t.FolderPath)
		}
		out.Tasks = append(out.Tasks, dt)
	}
	return out, nil
}

// walk resolves a WebDAV path to the entry below its mount, by listing
// from the mount's root.
func (s *Service) walk(ctx context.Context, p string) (Mount, drivers.Entry, *Error) {
	p = path.Clean("/" + p)
	var m Mount
	for _, c := range s.mounts {
		if (p == c.Path || strings.HasPrefix(p, c.Path+"/")) && len(c.Path) > len(m.Path) {
			m = c
		}
	}
	if m.Drive == nil {
		return Mount{}, drivers.Entry{}, errorf(http.StatusNotFound, "%s is in no mount", p)
	}
	cur, err := m.Drive.Root(ctx)
	if err != nil {
		return m, drivers.Entry{}, cloudError(m, err).(*Error)
	}
	for _, name := range strings.Split(strings.TrimPrefix(p[len(m.Path):], "/"), "/") {
		if name == "" {
			continue
		}
		if !cur.IsDir {
			return m, drivers.Entry{}, errorf(http.StatusNotFound, "there is no %s", p)
		}
		kids, err := m.Drive.List(ctx, cur)
		if err != nil {
			return m, drivers.Entry{}, cloudError(m, err).(*Error)
		}
		i := slices.IndexFunc(kids, func(k drivers.Entry) bool { return k.Name == name })
		if i < 0 {
			return m, drivers.Entry{}, errorf(http.StatusNotFound, "there is no %s", p)
		}
		cur = kids[i]
	}
	return m, cur, nil
}

// AddDownloads implements API.
func (s *Service) AddDownloads(ctx context.Context, req AddDownloads) (AddedDownloads, error) {
	hasTorrent := req.Torrent != nil || req.TorrentPath != ""
	switch {
	case len(req.Links) == 0 && !hasTorrent:
		return AddedDownloads{}, errorf(http.StatusBadRequest, "give links, or a torrent (torrent or torrent_path)")
	case len(req.Links) > 0 && hasTorrent, req.Torrent != nil && req.TorrentPath != "":
		return AddedDownloads{}, errorf(http.StatusBadRequest, "give links or one torrent, not both")
	}
	to := req.To
	if to == "" {
		m, _, e := s.downloader("")
		if e != nil {
			return AddedDownloads{}, e
		}
		to = m.Path
	}
	m, dir, e := s.walk(ctx, to)
	if e != nil {
		return AddedDownloads{}, e
	}
	if !dir.IsDir {
		return AddedDownloads{}, errorf(http.StatusBadRequest, "%s is a file, not a folder", to)
	}
	_, cd, e := s.downloader(m.Path)
	if e != nil {
		return AddedDownloads{}, e
	}
	out := AddedDownloads{Mount: m.Path, Folder: path.Clean("/" + to), OK: true}
	var results []drivers.AddResult
	if hasTorrent {
		t := drivers.Torrent{Name: req.TorrentName, Data: req.Torrent}
		if req.TorrentPath != "" {
			tm, f, e := s.walk(ctx, req.TorrentPath)
			switch {
			case e != nil:
				return AddedDownloads{}, e
			case tm.Path != m.Path:
				return AddedDownloads{}, errorf(http.StatusBadRequest, "the torrent %s is not in %s, where the tasks go", req.TorrentPath, m.Path)
			case f.IsDir:
				return AddedDownloads{}, errorf(http.StatusBadRequest, "%s is a folder, not a .torrent", req.TorrentPath)
			}
			t = drivers.Torrent{Name: path.Base(req.TorrentPath), File: &f}
		}
		if t.Name == "" {
			t.Name = "the torrent"
		}
		r, err := cd.AddTorrent(ctx, dir, t)
		if err != nil {
			return AddedDownloads{}, cloudError(m, err)
		}
		results = []drivers.AddResult{r}
	} else {
		var err error
		if results, err = cd.AddLinks(ctx, dir, req.Links); err != nil {
			return AddedDownloads{}, cloudError(m, err)
		}
	}
	for _, r := range results {
		out.Results = append(out.Results, DownloadAdded{Link: r.Link, Task: r.TaskID, Existed: r.Existed, Error: r.Refused})
		out.OK = out.OK && r.OK()
	}
	return out, nil
}

// RemoveDownloads implements API.
func (s *Service) RemoveDownloads(ctx context.Context, req RemoveDownloads) (RemovedDownloads, error) {
	m, cd, e := s.downloader(req.Mount)
	if e != nil {
		return RemovedDownloads{}, e
	}
	if len(req.Tasks) == 0 {
		return RemovedDownloads{}, errorf(http.StatusBadRequest, "name the tasks to remove")
	}
	tasks, err := cd.Tasks(ctx)
	if err != nil {
		return RemovedDownloads{}, cloudError(m, err)
	}
	var ids []string
	for _, want := range req.Tasks {
		want = strings.ToLower(strings.TrimSpace(want))
		var match []string
		for _, t := range tasks {
			if t.ID == want || len(want) >= 4 && strings.HasPrefix(t.ID, want) {
				match = append(match, t.ID)
			}
		}
		switch {
		case len(match) == 0:
			return RemovedDownloads{}, errorf(http.StatusNotFound, "%s has no task %s", m.Path, want)
		case len(match) > 1:
			return RemovedDownloads{}, errorf(http.StatusBadRequest, "%s is the start of %d tasks' IDs: give more of it", want, len(match))
		}
		ids = append(ids, match[0])
	}
	sort.Strings(ids)
	ids = compactStrings(ids)
	if err := cd.RemoveTasks(ctx, ids, req.WithFiles); err != nil {
		return RemovedDownloads{}, cloudError(m, err)
	}
	return RemovedDownloads{Mount: m.Path, Tasks: ids}, nil
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// ClearDownloads implements API.
func (s *Service) ClearDownloads(ctx context.Context, req ClearDownloads) error {
	m, cd, e := s.downloader(req.Mount)
	if e != nil {
		return e
	}
	set, ok := clearSets[req.Which]
	if !ok {
		return errorf(http.StatusBadRequest, "which must be done, failed, running or all, not %q", req.Which)
	}
	if req.WithFiles && set != drivers.TasksDone && set != drivers.TasksAll {
		return errorf(http.StatusBadRequest, "with_files goes only with the done tasks or all of them")
	}
	if err := cd.ClearTasks(ctx, set, req.WithFiles); err != nil {
		return cloudError(m, err)
	}
	return nil
}

// DownloadQuota implements API.
func (s *Service) DownloadQuota(ctx context.Context, mount string) (DownloadQuota, error) {
	m, cd, e := s.downloader(mount)
	if e != nil {
		return DownloadQuota{}, e
	}
	q, err := cd.DownloadQuota(ctx)
	if err != nil {
		return DownloadQuota{}, cloudError(m, err)
	}
	out := DownloadQuota{Mount: m.Path, Total: q.Total, Used: q.Used, Left: q.Left}
	for _, p := range q.Packages {
		dp := DownloadQuotaPackage{Name: p.Name, Total: p.Total, Used: p.Used, Left: p.Left}
		for _, x := range p.Expiries {
			de := DownloadQuotaExpiry{Left: x.Left}
			if !x.Expires.IsZero() {
				de.Expires = &x.Expires
			}
			dp.Expiries = append(dp.Expiries, de)
		}
		out.Packages = append(out.Packages, dp)
	}
	return out, nil
}

// downloadBodyLimit bounds the body of POST downloads, which may carry a
// torrent (base64 in JSON).
const downloadBodyLimit = 16 << 20

// bodyLimit is how large a request body to path may be.
func bodyLimit(p string) int64 {
	if p == Prefix+"downloads" {
		return downloadBodyLimit
	}
	return maxBody
}

// downloadRoutes are the methods of the downloads paths (rest is the
// path below Prefix).
func (h *Handler) downloadRoutes(rest string) methods {
	switch rest {
	case "downloads":
		return methods{http.MethodGet: h.downloads, http.MethodPost: h.addDownloads}
	case "downloads/remove":
		return methods{http.MethodPost: h.removeDownloads}
	case "downloads/clear":
		return methods{http.MethodPost: h.clearDownloads}
	case "downloads/quota":
		return methods{http.MethodGet: h.downloadQuota}
	}
	return nil
}

func (h *Handler) downloads(w http.ResponseWriter, r *http.Request) {
	l, err := h.api.Downloads(r.Context(), r.URL.Query().Get("mount"))
	answer(w, http.StatusOK, l, err)
}

func (h *Handler) addDownloads(w http.ResponseWriter, r *http.Request) {
	var body AddDownloads
	if !decodeBody(w, r, &body, `{"to": "/115/folder", "links": ["magnet:?xt=..."]}`) {
		return
	}
	res, err := h.api.AddDownloads(r.Context(), body)
	answer(w, http.StatusOK, res, err)
}

func (h *Handler) removeDownloads(w http.ResponseWriter, r *http.Request) {
	var body RemoveDownloads
	if !decodeBody(w, r, &body, `{"tasks": ["3f7c..."], "with_files": true}`) {
		return
	}
	res, err := h.api.RemoveDownloads(r.Context(), body)
	answer(w, http.StatusOK, res, err)
}

func (h *Handler) clearDownloads(w http.ResponseWriter, r *http.Request) {
	var body ClearDownloads
	if !decodeBody(w, r, &body, `{"which": "done", "with_files": false}`) {
		return
	}
	if err := h.api.ClearDownloads(r.Context(), body); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) downloadQuota(w http.ResponseWriter, r *http.Request) {
	q, err := h.api.DownloadQuota(r.Context(), r.URL.Query().Get("mount"))
	answer(w, http.StatusOK, q, err)
}

// answer writes v, or err.
func answer(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, v)
}

// decodeBody reads a JSON object into v, or answers 400 with an example.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, example string) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("the body is larger than %d bytes", tooLarge.Limit)})
			return false
		}
		writeJSON(w, http.StatusBadRequest, errorBody{fmt.Sprintf("the body must be a JSON object such as %s: %v", example, err)})
		return false
	}
	return true
}

// Downloads implements API.
func (c *Client) Downloads(ctx context.Context, mount string) (DownloadList, error) {
	var l DownloadList
	err := c.do(ctx, http.MethodGet, "downloads", mountQuery(mount), nil, &l, callTimeout)
	return l, err
}

// AddDownloads implements API.
func (c *Client) AddDownloads(ctx context.Context, req AddDownloads) (AddedDownloads, error) {
	var res AddedDownloads
	err := c.do(ctx, http.MethodPost, "downloads", nil, req, &res, 2*callTimeout)
	return res, err
}

// RemoveDownloads implements API.
func (c *Client) RemoveDownloads(ctx context.Context, req RemoveDownloads) (RemovedDownloads, error) {
	var res RemovedDownloads
	err := c.do(ctx, http.MethodPost, "downloads/remove", nil, req, &res, callTimeout)
	return res, err
}

// ClearDownloads implements API.
func (c *Client) ClearDownloads(ctx context.Context, req ClearDownloads) error {
	return c.do(ctx, http.MethodPost, "downloads/clear", nil, req, nil, callTimeout)
}

// DownloadQuota implements API.
func (c *Client) DownloadQuota(ctx context.Context, mount string) (DownloadQuota, error) {
	var q DownloadQuota
	err := c.do(ctx, http.MethodGet, "downloads/quota", mountQuery(mount), nil, &q, callTimeout)
	return q, err
}
