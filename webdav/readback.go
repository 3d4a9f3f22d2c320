package webdav

import (
	"container/list"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"pandav/drivers"
)

// readBack keeps, on disk in state_dir, the files pandav itself just
// uploaded, so that the GET which so often follows a PUT (Office, rclone
// check, Finder previews, an editor reopening a file, git) is served
// from there, without asking the cloud for a download link: a link call
// is paced to about one a second, so a read-back waits seconds for it
// under load.
//
// A kept file is the content of one cloud entry: its mount and ID, its
// size and its SHA1, checked against the entry each time it is served.
// When the cloud's entry changes (another ID at the path, another hash)
// the copy is no longer served and goes. Copies live ttl at most, are at
// most maxFile bytes each and maxTotal together, the oldest going first.
type readBack struct {
	dir               string
	maxFile, maxTotal int64
	ttl               time.Duration

	mu    sync.Mutex
	items map[string]*list.Element // of *readBackItem, by key
	order *list.List               // oldest first
	total int64
}

type readBackItem struct {
	key   string
	file  string
	size  int64
	sha1  string
	added time.Time
}

// newReadBack keeps copies in stateDir/readback, which it empties: a
// copy from an earlier run is no proof of what the cloud holds now.
func newReadBack(stateDir string, maxFile, maxTotal int64, ttl time.Duration) *readBack {
	dir := filepath.Join(stateDir, "readback")
	os.RemoveAll(dir)
	return &readBack{dir: dir, maxFile: maxFile, maxTotal: maxTotal, ttl: ttl, items: map[string]*list.Element{}, order: list.New()}
}

func readBackKey(mount, id string) string { return mount + "\x00" + id }

// keeps says whether an upload of size bytes gets a copy.
func (rb *readBack) keeps(size int64) bool {
	return rb.maxFile > 0 && size >= 0 && size <= rb.maxFile
}

// create makes the file a copy is written to before it is adopted.
func (rb *readBack) create() (*os.File, error) {
	if err := os.MkdirAll(rb.dir, 0o700); err != nil {
		return nil, err
	}
	return os.CreateTemp(rb.dir, "new-*")
}

// adopt takes the file at name (moved into the store, or removed) as the
// content of entry e of mount, whose SHA1 pandav computed as sum while
// sending it. A cloud entry that disagrees is not kept.
func (rb *readBack) adopt(mount string, e drivers.Entry, name string, size int64, sum string) {
	if !rb.keeps(size) || e.Size != size || e.SHA1 != "" && !strings.EqualFold(e.SHA1, sum) || e.ID == "" {
		os.Remove(name)
		return
	}
	if err := os.MkdirAll(rb.dir, 0o700); err != nil {
		os.Remove(name)
		return
	}
	kept := filepath.Join(rb.dir, "kept-"+randomSuffix())
	if err := os.Rename(name, kept); err != nil {
		os.Remove(name)
		return
	}
	key := readBackKey(mount, e.ID)
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if el, ok := rb.items[key]; ok {
		rb.removeLocked(el)
	}
	rb.trimLocked(time.Now())
	for rb.total+size > rb.maxTotal && rb.order.Len() > 0 {
		rb.removeLocked(rb.order.Front())
	}
	it := &readBackItem{key: key, file: kept, size: size, sha1: strings.ToUpper(sum), added: time.Now()}
	rb.items[key] = rb.order.PushBack(it)
	rb.total += size
}

// open returns the kept copy of e, if there is one and it is still e's
// content.
func (rb *readBack) open(mount string, e drivers.Entry) (*os.File, bool) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	el, ok := rb.items[readBackKey(mount, e.ID)]
	if !ok {
		return nil, false
	}
	it := el.Value.(*readBackItem)
	if time.Since(it.added) >= rb.ttl || it.size != e.Size || e.SHA1 != "" && !strings.EqualFold(e.SHA1, it.sha1) {
		rb.removeLocked(el)
		return nil, false
	}
	// Open under the lock, so that no trim removes the file in between;
	// once open, a removal leaves the reader its bytes.
	f, err := os.Open(it.file)
	if err != nil {
		rb.removeLocked(el)
		return nil, false
	}
	return f, true
}

// drop forgets the copy of entry id of mount: removed or replaced.
func (rb *readBack) drop(mount, id string) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if el, ok := rb.items[readBackKey(mount, id)]; ok {
		rb.removeLocked(el)
	}
}

// trim removes the copies whose time is up.
func (rb *readBack) trim() {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	rb.trimLocked(time.Now())
}

func (rb *readBack) trimLocked(now time.Time) {
	for el := rb.order.Front(); el != nil; el = rb.order.Front() {
		if now.Sub(el.Value.(*readBackItem).added) < rb.ttl {
			return
		}
		rb.removeLocked(el)
	}
}

func (rb *readBack) removeLocked(el *list.Element) {
	it := el.Value.(*readBackItem)
	rb.order.Remove(el)
	delete(rb.items, it.key)
	rb.total -= it.size
	os.Remove(it.file)
}

// kept is how many copies are kept and their bytes, for tests.
func (rb *readBack) kept() (n int, bytes int64) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return rb.order.Len(), rb.total
}
