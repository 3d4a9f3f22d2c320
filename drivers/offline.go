package drivers

import (
	"context"
	"time"
)

// The cloud-download capabilities (115's 云下载,
// docs/protocols/accounts-offline-shares.md §2): the cloud fetches an HTTP(S), FTP, magnet or
// ed2k link, or a torrent, by itself, into a folder of the drive. A drive
// whose cloud has no such service implements none of them, and the CLI,
// the admin API and the WebDAV watch folders say it lacks the feature.

// TaskStatus is where a cloud-download task stands.
type TaskStatus int

const (
	TaskFailed      TaskStatus = -1
	TaskQueued      TaskStatus = 0
	TaskDownloading TaskStatus = 1
	TaskDone        TaskStatus = 2
)

// Ended says whether the task can make no more progress.
func (s TaskStatus) Ended() bool { return s == TaskFailed || s == TaskDone }

func (s TaskStatus) String() string {
	switch s {
	case TaskFailed:
		return "failed"
	case TaskQueued:
		return "queued"
	case TaskDownloading:
		return "downloading"
	case TaskDone:
		return "done"
	}
	return "unknown"
}

// Task is one cloud-download task, as the cloud lists it.
type Task struct {
	// ID names the task for RemoveTasks: for 115, its info hash.
	ID     string
	Name   string
	URL    string // the link it downloads; "" for a torrent's task
	Status TaskStatus
	// Percent is the progress, 0 to 100.
	Percent float64
	Size    int64 // 0 while unknown
	Added   time.Time
	Updated time.Time
	// FolderID is the folder the task saves into; FolderPath is that
	// folder's path from the mount's root ("/" for the root), "" when it
	// lies outside the mount's root or is unknown.
	FolderID   string
	FolderPath string
	// FileID is the file or folder the task produced, once it has.
	FileID string
}

// AddResult is what became of one link (or torrent) given to the cloud.
type AddResult struct {
	Link string // as given
	// TaskID is the task that downloads it: a new one, or, with Existed,
	// the one already in the cloud's task list.
	TaskID  string
	Existed bool
	// Refused, when not empty, says in one sentence why the cloud took
	// no task for the link (a malformed link, the quota used up): the
	// link's fault or the account's, not a failure of the cloud.
	Refused string
}

// OK says the link is being downloaded.
func (r AddResult) OK() bool { return r.Refused == "" }

// LinkAdder adds tasks for links, each into dir, with a result per link
// in their order. A link already in the cloud's task list is no failure
// (Existed). The error is for the call itself: the cloud failed,
// throttled, or refused the login; then no result is meaningful.
type LinkAdder interface {
	AddLinks(ctx context.Context, dir Entry, links []string) ([]AddResult, error)
}

// Torrent is a .torrent to download from: its bytes, or a file of the
// drive (Data nil).
type Torrent struct {
	Name string // the file's name, for the words of a refusal
	Data []byte
	File *Entry
}

// TorrentAdder adds the task of every file of a torrent, saving into
// dir. A torrent given as bytes is checked before anything is sent, and
// what the driver must store in the drive to add it is removed again:
// a refusal leaves nothing behind.
type TorrentAdder interface {
	AddTorrent(ctx context.Context, dir Entry, t Torrent) (AddResult, error)
}

// TaskLister lists every task of the account, across every page.
type TaskLister interface {
	Tasks(ctx context.Context) ([]Task, error)
}

// TaskRemover removes tasks by ID, and with withFiles what they
// downloaded.
type TaskRemover interface {
	RemoveTasks(ctx context.Context, ids []string, withFiles bool) error
}

// TaskSet is which tasks ClearTasks removes.
type TaskSet int

const (
	TasksDone TaskSet = iota
	TasksFailed
	TasksRunning // queued or downloading
	TasksAll
)

// TaskClearer removes every task of a set; withFiles (only with
// TasksDone and TasksAll, as clouds offer it) removes what they
// downloaded too.
type TaskClearer interface {
	ClearTasks(ctx context.Context, set TaskSet, withFiles bool) error
}

// DownloadQuota is how many tasks the account may still add.
type DownloadQuota struct {
	Total, Used, Left int
	Packages          []QuotaPackage
}

// QuotaPackage is one kind of quota the account holds (a month's, a
// purchase), with when its parts expire.
type QuotaPackage struct {
	Name              string
	Total, Used, Left int
	Expiries          []QuotaExpiry
}

// QuotaExpiry is a part of a package and when it lapses.
type QuotaExpiry struct {
	Left    int
	Expires time.Time
}

// DownloadQuotaer reports the cloud-download quota.
type DownloadQuotaer interface {
	DownloadQuota(ctx context.Context) (DownloadQuota, error)
}

// CloudDownloader is a drive with every cloud-download capability: what
// `pandav offline` and the admin API ask for.
type CloudDownloader interface {
	LinkAdder
	TorrentAdder
	TaskLister
	TaskRemover
	TaskClearer
	DownloadQuotaer
}

// CloudDownloadWatcher is a CloudDownloader with watch folders, as
// torrent clients have: a .torrent, .magnet, .ed2k or .links file put
// into one of them, or below, becomes tasks saving into the folder it was
// put in, instead of a file (docs/DESIGN.md, cloud download).
type CloudDownloadWatcher interface {
	// CloudDownloadWatch names the watch folders, as paths from the
	// mount's root ("/云下载"); none means the feature is off.
	CloudDownloadWatch() []string
}
