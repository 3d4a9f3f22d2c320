package webdav

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/webdav"

	"pandav/internal/state"
)

// Lock is one WebDAV write lock (RFC 4918 §6, §9.10), as it is kept in
// the state store.
type Lock = state.Lock

// covers says whether the lock covers the cleaned path p: its root, or,
// for a depth-infinity lock, anything below it.
func covers(l *Lock, p string) bool {
	return p == l.Root || !l.ZeroDepth && within(p, l.Root)
}

// within says whether p lies strictly below dir.
func within(p, dir string) bool {
	return dir == "/" && p != "/" || strings.HasPrefix(p, dir+"/")
}

// writeFileAtomic replaces name with b: a temporary file beside it,
// synced, then renamed over it.
func writeFileAtomic(name string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	return err
}

// lockSystem holds the locks. x/net/webdav's own (memLS) has exclusive
// locks only, decimal counters for tokens and no persistence, and its
// Confirm refuses a MOVE that submits the source's token when the
// destination is unlocked (golang/go#43556), which breaks Office saves
// and davfs2's mv. So the Handler answers LOCK and UNLOCK itself and
// checks every write's locks before x/net/webdav sees it (see
// Handler.confirmLocks); x/net/webdav gets passLocks.
//
// Besides the locks clients take, a write in progress holds its paths
// (hold): a LOCK on them waits until the write ends, so that a lock is
// granted only on a resource nobody is changing without one (RFC 4918
// §7), and a client that locks a file whose upload is in progress gets
// its lock, as it would on a stored file.
//
// The locks live in the state store; every change is one transaction of
// it (UpdateLocks), so replicas sharing a store never grant two
// conflicting locks. locks is what the last read or change saw: with a
// store of its own it is the truth, and with a shared one it is read
// again before every decision (sync), and serves lockdiscovery as it is.
type lockSystem struct {
	mu    sync.Mutex
	locks map[string]Lock // by token
	holds map[string]int  // path -> writes in progress that hold it
	store state.Locks
	// shared: other processes change the store too.
	shared bool
}

// newLockSystem loads the live locks of store.
func newLockSystem(store state.Locks, shared bool, now time.Time) (*lockSystem, error) {
	l := &lockSystem{holds: map[string]int{}, store: store, shared: shared}
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	locks, err := store.LiveLocks(ctx, now)
	if err != nil {
		return nil, err
	}
	l.locks = locks
	return l, nil
}

// stateTimeout bounds one call of the state store.
const stateTimeout = 10 * time.Second

// syncLocked reads the locks again when other processes may have changed
// them. A store that cannot be read fails the request (503), as a
// decision on what may be stale could overwrite another's lock.
func (l *lockSystem) syncLocked(now time.Time) error {
	if !l.shared {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	locks, err := l.store.LiveLocks(ctx, now)
	if err != nil {
		return err
	}
	l.locks = locks
	return nil
}

// reload reads the locks again, for lockdiscovery, after another replica
// changed them.
func (l *lockSystem) reload() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncLocked(time.Now())
}

// updateLocked changes the locks in one transaction of the store, and
// keeps what it stored.
func (l *lockSystem) updateLocked(now time.Time, fn func(map[string]Lock) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	var after map[string]Lock
	err := l.store.UpdateLocks(ctx, now, func(m map[string]Lock) error {
		if err := fn(m); err != nil {
			return err
		}
		after = maps.Clone(m)
		return nil
	})
	if err == nil {
		l.locks = after
	}
	return err
}

var (
	errLockConflict = errors.New("the resource is locked")
	errNoSuchLock   = errors.New("no such lock")
	// errBeingWritten: a write without a lock is changing the resource;
	// a LOCK waits for it to end, as it would on a stored file.
	errBeingWritten = errors.New("the resource is being written")
)

// expireLocked drops the locks whose time is up from what is held;
// the store forgets them at its next change.
func (l *lockSystem) expireLocked(now time.Time) {
	for tok, lk := range l.locks {
		if !now.Before(lk.Expires) {
			delete(l.locks, tok)
		}
	}
}

// create grants a new lock, or refuses it with errLockConflict when it
// would overlap a lock it cannot share, or a write in progress. The
// token is filled in.
func (l *lockSystem) create(now time.Time, lk Lock) (Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.holds {
		if p == lk.Root || !lk.ZeroDepth && within(p, lk.Root) {
			return Lock{}, errBeingWritten
		}
	}
	lk.Token = "urn:uuid:" + uuid.NewString()
	lk.Expires = now.Add(lk.Timeout)
	err := l.updateLocked(now, func(m map[string]Lock) error {
		for _, o := range m {
			overlaps := covers(&o, lk.Root) || !lk.ZeroDepth && within(o.Root, lk.Root)
			if overlaps && !(o.Shared && lk.Shared) {
				return errLockConflict
			}
		}
		m[lk.Token] = lk
		return nil
	})
	if err != nil {
		return Lock{}, err
	}
	return lk, nil
}

// refresh restarts the timeout of the lock with token, which must cover
// p (RFC 4918 §9.10.2).
func (l *lockSystem) refresh(now time.Time, token, p string, timeout time.Duration) (Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var c Lock
	err := l.updateLocked(now, func(m map[string]Lock) error {
		lk, ok := m[token]
		if !ok || !covers(&lk, p) {
			return errNoSuchLock
		}
		lk.Timeout, lk.Expires = timeout, now.Add(timeout)
		m[token], c = lk, lk
		return nil
	})
	return c, err
}

// unlock removes the lock with token.
func (l *lockSystem) unlock(now time.Time, token string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.updateLocked(now, func(m map[string]Lock) error {
		if _, ok := m[token]; !ok {
			return errNoSuchLock
		}
		delete(m, token)
		return nil
	})
}

// dropUnder removes the locks rooted at p or below it: the resource is
// gone (RFC 4918 §9.6.1, §9.9.2: a DELETE or MOVE ends the locks on what
// it removed).
func (l *lockSystem) dropUnder(p string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.updateLocked(time.Now(), func(m map[string]Lock) error {
		for tok, lk := range m {
			if lk.Root == p || within(lk.Root, p) {
				delete(m, tok)
			}
		}
		return nil
	})
}

// on returns the live locks that cover p, for lockdiscovery, as last
// read: a PROPFIND does not read the store once per file.
func (l *lockSystem) on(now time.Time, p string) []Lock {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Lock
	for _, lk := range l.locks {
		if now.Before(lk.Expires) && covers(&lk, p) {
			out = append(out, lk)
		}
	}
	return out
}

// covers says whether a live lock covers p.
func (l *lockSystem) covers(p string) bool { return len(l.on(time.Now(), p)) > 0 }

// tokensHold says whether the lock-token conditions of an If-header list
// are true of the resource at p (RFC 4918 §10.4.2): each token is that of
// a live lock covering p, or, under Not, is not. Entity tags are judged
// elsewhere (see writePreconditionFailed).
func (l *lockSystem) tokensHold(now time.Time, conds []ifCondition, p string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.syncLocked(now); err != nil {
		return false, err
	}
	for _, c := range conds {
		if c.token == "" {
			continue
		}
		lk, ok := l.locks[c.token]
		locks := ok && now.Before(lk.Expires) && covers(&lk, p)
		if locks == c.not {
			return false, nil
		}
	}
	return true, nil
}

// hold checks that a write may change each of paths ("" is none): every
// path under a lock must have one of its covering locks among submitted
// (RFC 4918 §7.1: for shared locks, any one of them). It then holds the
// paths against new locks until release is called. locked names the
// first path that failed.
// With subtree, the locks on anything below each path count too: a
// DELETE, or a MOVE or COPY that replaces a folder, changes all of it
// (RFC 4918 §9.6.1).
func (l *lockSystem) hold(now time.Time, submitted map[string]bool, subtree bool, paths ...string) (release func(), locked string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.syncLocked(now); err != nil {
		return nil, "", err
	}
	l.expireLocked(now)
	if p := l.lockedLocked(submitted, subtree, paths); p != "" {
		return nil, p, nil
	}
	var held []string
	for _, p := range paths {
		if p != "" {
			held = append(held, p)
		}
	}
	for _, p := range held {
		l.holds[p]++
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, p := range held {
			if l.holds[p]--; l.holds[p] <= 0 {
				delete(l.holds, p)
			}
		}
	}, "", nil
}

func (l *lockSystem) lockedLocked(submitted map[string]bool, subtree bool, paths []string) string {
	for _, p := range paths {
		if p == "" {
			continue
		}
		covered, ok := false, false
		for tok, lk := range l.locks {
			switch {
			case covers(&lk, p):
				covered = true
				ok = ok || submitted[tok]
			case subtree && within(lk.Root, p) && !submitted[tok]:
				return p // a lock below that the request does not hold
			}
		}
		if covered && !ok {
			return p
		}
	}
	return ""
}

// ownedBy is the number of live locks principal holds, for the per-user
// cap.
func (l *lockSystem) ownedBy(now time.Time, principal string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncLocked(now) // a cap, not a guard: what was last read will do
	l.expireLocked(now)
	n := 0
	for _, lk := range l.locks {
		if lk.Principal == principal {
			n++
		}
	}
	return n
}

// passLocks is the webdav.LockSystem x/net/webdav gets: the Handler has
// checked and holds every write's locks before x/net/webdav is called,
// so nothing is left to confirm, and LOCK and UNLOCK never reach it.
type passLocks struct{}

func (passLocks) Confirm(time.Time, string, string, ...webdav.Condition) (func(), error) {
	return func() {}, nil
}
func (passLocks) Create(time.Time, webdav.LockDetails) (string, error) {
	return "urn:uuid:" + uuid.NewString(), nil
}
func (passLocks) Refresh(time.Time, string, time.Duration) (webdav.LockDetails, error) {
	return webdav.LockDetails{}, webdav.ErrNoSuchLock
}
func (passLocks) Unlock(time.Time, string) error { return nil }
