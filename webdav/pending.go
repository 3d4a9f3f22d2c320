package webdav

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"pandav/drivers"
	"pandav/internal/state"
)

// pendingRemovals are old files an overwrite replaced but could not
// remove (the cloud failed at that moment). They are kept in the state
// store, so a restart (or another replica) still removes them, and
// retried from Tick, each after a wait that doubles with every failure,
// so a cloud that keeps refusing is not asked every five seconds for
// ever. The waits are this process's own.
type pendingRemovals struct {
	st   state.Removals
	mu   sync.Mutex
	wait map[string]pendingWait // by removal ID
}

type pendingWait struct {
	next time.Time     // not before then
	wait time.Duration // after the last failure
}

// Bounds of the wait between tries of one removal.
const (
	pendingFirstWait = 5 * time.Second
	pendingMaxWait   = 10 * time.Minute
)

func newPendingRemovals(st state.Removals) *pendingRemovals {
	return &pendingRemovals{st: st, wait: map[string]pendingWait{}}
}

func (p *pendingRemovals) add(mount string, e drivers.Entry) error {
	e.Extra = nil // driver-private, and not always serialisable
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := stateCtx()
	defer cancel()
	_, err = p.st.AddRemoval(ctx, state.Removal{Mount: mount, Entry: b})
	return err
}

// retry removes what it can; the rest waits for the next call.
func (p *pendingRemovals) retry(fs *FileSystem) {
	ctx, cancel := stateCtx()
	todo, err := p.st.Removals(ctx)
	cancel()
	if err != nil || len(todo) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, r := range todo {
		w := p.wait[r.ID]
		if now.Before(w.next) {
			continue
		}
		var e drivers.Entry
		m := fs.mountAt(r.Mount)
		if json.Unmarshal(r.Entry, &e) != nil || m == nil || m.can.remove == nil {
			// Unreadable, or the mount is gone from the config or
			// cannot remove: nothing to do.
			p.done(r.ID)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := m.can.remove.Remove(ctx, e, m.noTrash)
		cancel()
		if err != nil && !errors.Is(err, drivers.ErrNotFound) {
			w.wait = min(max(2*w.wait, pendingFirstWait), pendingMaxWait)
			w.next = time.Now().Add(w.wait)
			p.wait[r.ID] = w
			continue
		}
		p.done(r.ID)
	}
}

func (p *pendingRemovals) done(id string) {
	ctx, cancel := stateCtx()
	defer cancel()
	if p.st.DoneRemoval(ctx, id) == nil {
		delete(p.wait, id)
	}
}
