package webdav

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"pandav/drivers"
)

// pendingRemovals are old files an overwrite replaced but could not
// remove (the cloud failed at that moment). They are kept in state_dir,
// so a restart still removes them, and retried from Tick, each after a
// wait that doubles with every failure, so a cloud that keeps refusing is
// not asked every five seconds for ever.
type pendingRemovals struct {
	path string
	mu   sync.Mutex
	list []pendingRemoval
}

type pendingRemoval struct {
	Mount string        `json:"mount"`
	Entry drivers.Entry `json:"entry"`

	next time.Time     // not before then
	wait time.Duration // after the last failure
}

// Bounds of the wait between tries of one removal.
const (
	pendingFirstWait = 5 * time.Second
	pendingMaxWait   = 10 * time.Minute
)

func newPendingRemovals(stateDir string) *pendingRemovals {
	p := &pendingRemovals{path: filepath.Join(stateDir, "pending-removals.json")}
	if b, err := os.ReadFile(p.path); err == nil {
		json.Unmarshal(b, &p.list)
	}
	return p
}

func (p *pendingRemovals) add(mount string, e drivers.Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.Extra = nil // driver-private, and not always serialisable
	p.list = append(p.list, pendingRemoval{Mount: mount, Entry: e})
	p.saveLocked()
}

// retry removes what it can; the rest waits for the next call.
func (p *pendingRemovals) retry(fs *FileSystem) {
	p.mu.Lock()
	todo := append([]pendingRemoval(nil), p.list...)
	p.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	var left []pendingRemoval
	now := time.Now()
	for _, r := range todo {
		if now.Before(r.next) {
			left = append(left, r)
			continue
		}
		m := fs.mountAt(r.Mount)
		if m == nil {
			continue // the mount is gone from the config: nothing to do
		}
		if m.can.remove == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := m.can.remove.Remove(ctx, r.Entry, m.noTrash)
		cancel()
		if err != nil && !errors.Is(err, drivers.ErrNotFound) {
			r.wait = min(max(2*r.wait, pendingFirstWait), pendingMaxWait)
			r.next = time.Now().Add(r.wait)
			left = append(left, r)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// entries added while we worked stay too
	p.list = append(left, p.list[len(todo):]...)
	p.saveLocked()
}

func (p *pendingRemovals) saveLocked() {
	if len(p.list) == 0 {
		os.Remove(p.path)
		return
	}
	b, _ := json.Marshal(p.list)
	tmp := p.path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, p.path)
	}
}
