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
// so a restart still removes them, and retried on every Tick.
type pendingRemovals struct {
	path string
	mu   sync.Mutex
	list []pendingRemoval
}

type pendingRemoval struct {
	Mount string        `json:"mount"`
	Entry drivers.Entry `json:"entry"`
}

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
	for _, r := range todo {
		m := fs.mountAt(r.Mount)
		if m == nil {
			continue // the mount is gone from the config: nothing to do
		}
		rm, ok := m.drive.(drivers.Remover)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := rm.Remove(ctx, r.Entry, m.noTrash)
		cancel()
		if err != nil && !errors.Is(err, drivers.ErrNotFound) {
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
