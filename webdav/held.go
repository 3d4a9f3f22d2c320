package webdav

import (
	"path"
	"strings"
	"sync"
	"time"
)

// heldFiles are files pandav holds in its memory rather than in the
// cloud:
//   - placeholders: the empty file that Windows Explorer PUTs, or that a
//     LOCK on an unmapped URL creates, before the real content arrives.
//     Uploading it would cost a second cloud upload a moment later, so it
//     stays here until its content comes, or it has been idle (and
//     unlocked) for a grace period, when it is uploaded as an empty file.
//   - system files (.DS_Store, ._*, Thumbs.db, desktop.ini): kept out of
//     the cloud, but kept here so the client that wrote one can read it
//     back during the session.
type heldFiles struct {
	mu    sync.Mutex
	files map[string]*heldFile // by full WebDAV path
	max   int                  // system files kept at most
}

type heldFile struct {
	data []byte
	// sum is data's SHA1, its ETag as for a cloud file: the same before
	// and after a placeholder is uploaded, and the same in the PUT's
	// answer as in the next request, which davfs2's If-Match relies on.
	sum         string
	mod         time.Time
	placeholder bool
	idleSince   time.Time // placeholders: last touch
}

const maxSystemFile = 1 << 20 // bytes of one system file kept in memory

// heldIDPrefix starts the entry ID of a held file, under which its dead
// properties are kept until its content is stored.
const heldIDPrefix = "local:"

func heldID(name string) string { return heldIDPrefix + name }

func newHeldFiles() *heldFiles {
	return &heldFiles{files: map[string]*heldFile{}, max: 4096}
}

// isSystemFile says whether name is OS metadata no cloud should keep.
func isSystemFile(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasPrefix(name, "._") || lower == ".ds_store" || lower == "thumbs.db" || lower == "desktop.ini"
}

func (l *heldFiles) get(p string) (*heldFile, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.files[p]
	if !ok {
		return nil, false
	}
	c := *f
	return &c, true
}

func (l *heldFiles) put(p string, f *heldFile) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(f.data) > maxSystemFile {
		f.data = nil // too large to keep; its name still answers
	}
	if !f.placeholder && len(l.files) >= l.max {
		for k, v := range l.files { // evict any system file
			if !v.placeholder {
				delete(l.files, k)
				break
			}
		}
	}
	l.files[p] = f
}

func (l *heldFiles) remove(p string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.files[p]
	delete(l.files, p)
	// a folder's removal takes what is below it
	for k := range l.files {
		if strings.HasPrefix(k, p+"/") {
			delete(l.files, k)
		}
	}
	return ok
}

func (l *heldFiles) rename(from, to string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.files[from]
	if ok {
		delete(l.files, from)
		f.idleSince = time.Now()
		l.files[to] = f
	}
	return ok
}

// touch keeps a placeholder from being materialized for a while.
func (l *heldFiles) touch(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.files[p]; ok {
		f.idleSince = time.Now()
	}
}

// children returns the held files directly inside dir.
func (l *heldFiles) children(dir string) map[string]heldFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]heldFile{}
	for p, f := range l.files {
		if path.Dir(p) == dir {
			out[path.Base(p)] = *f
		}
	}
	return out
}

// idlePlaceholders returns the placeholders untouched since before t.
func (l *heldFiles) idlePlaceholders(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for p, f := range l.files {
		if f.placeholder && f.idleSince.Before(t) {
			out = append(out, p)
		}
	}
	return out
}
