package webdav

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/webdav"
)

// Lock is one WebDAV write lock (RFC 4918 §6, §9.10), as it is kept
// across restarts.
type Lock struct {
	// Token is a urn:uuid: URI, unique for all time (RFC 4918 §6.5).
	Token     string `json:"token"`
	Root      string `json:"root"` // cleaned path
	ZeroDepth bool   `json:"zero_depth,omitempty"`
	Shared    bool   `json:"shared,omitempty"`
	// OwnerXML is the <owner> the client sent, verbatim; it is given
	// back in lockdiscovery.
	OwnerXML string `json:"owner_xml,omitempty"`
	// Principal is who took it: "user:" and a name, or "addr:" and the
	// address of an anonymous client; locks.max_per_user counts by it.
	Principal string        `json:"principal"`
	Timeout   time.Duration `json:"timeout"`
	Expires   time.Time     `json:"expires"`
}

// covers says whether the lock covers the cleaned path p: its root, or,
// for a depth-infinity lock, anything below it.
func (l *Lock) covers(p string) bool {
	return p == l.Root || !l.ZeroDepth && within(p, l.Root)
}

// within says whether p lies strictly below dir.
func within(p, dir string) bool {
	return dir == "/" && p != "/" || strings.HasPrefix(p, dir+"/")
}

// LockStore keeps locks across restarts. The lock system keeps every
// live lock in memory as well and asks the store only to load them at
// start and to record each change, so a store may be a file, a database
// table or a Redis hash.
type LockStore interface {
	LoadLocks() ([]Lock, error)
	PutLock(Lock) error
	DeleteLock(token string) error
}

// fileLockStore keeps locks in one JSON file in state_dir, rewritten
// atomically on each change: locks change a few times per saved
// document, not per byte.
type fileLockStore struct {
	path string
	mu   sync.Mutex
	m    map[string]Lock
}

// NewFileLockStore keeps locks in dir/locks.json.
func NewFileLockStore(dir string) LockStore {
	return &fileLockStore{path: filepath.Join(dir, "locks.json"), m: map[string]Lock{}}
}

func (s *fileLockStore) LoadLocks() ([]Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []Lock
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%s is unreadable; move it away to start without the locks it held", s.path)
	}
	for _, l := range list {
		s.m[l.Token] = l
	}
	return list, nil
}

func (s *fileLockStore) PutLock(l Lock) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[l.Token] = l
	return s.saveLocked()
}

func (s *fileLockStore) DeleteLock(token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[token]; !ok {
		return nil
	}
	delete(s.m, token)
	return s.saveLocked()
}

func (s *fileLockStore) saveLocked() error {
	if len(s.m) == 0 {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	list := make([]Lock, 0, len(s.m))
	for _, l := range s.m {
		list = append(list, l)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, b)
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
type lockSystem struct {
	mu    sync.Mutex
	locks map[string]*Lock // by token
	holds map[string]int   // path -> writes in progress that hold it
	store LockStore
}

// newLockSystem loads the live locks of store.
func newLockSystem(store LockStore, now time.Time) (*lockSystem, error) {
	l := &lockSystem{locks: map[string]*Lock{}, holds: map[string]int{}, store: store}
	list, err := store.LoadLocks()
	if err != nil {
		return nil, err
	}
	for i := range list {
		lk := list[i]
		if !now.Before(lk.Expires) {
			store.DeleteLock(lk.Token)
			continue
		}
		l.locks[lk.Token] = &lk
	}
	return l, nil
}

var (
	errLockConflict = errors.New("the resource is locked")
	errNoSuchLock   = errors.New("no such lock")
	// errBeingWritten: a write without a lock is changing the resource;
	// a LOCK waits for it to end, as it would on a stored file.
	errBeingWritten = errors.New("the resource is being written")
)

// expireLocked drops the locks whose time is up.
func (l *lockSystem) expireLocked(now time.Time) {
	for tok, lk := range l.locks {
		if !now.Before(lk.Expires) {
			delete(l.locks, tok)
			l.store.DeleteLock(tok)
		}
	}
}

// create grants a new lock, or refuses it with errLockConflict when it
// would overlap a lock it cannot share, or a write in progress. The
// token is filled in.
func (l *lockSystem) create(now time.Time, lk Lock) (Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
	for _, o := range l.locks {
		overlaps := o.covers(lk.Root) || !lk.ZeroDepth && within(o.Root, lk.Root)
		if overlaps && !(o.Shared && lk.Shared) {
			return Lock{}, errLockConflict
		}
	}
	for p := range l.holds {
		if p == lk.Root || !lk.ZeroDepth && within(p, lk.Root) {
			return Lock{}, errBeingWritten
		}
	}
	lk.Token = "urn:uuid:" + uuid.NewString()
	lk.Expires = now.Add(lk.Timeout)
	if err := l.store.PutLock(lk); err != nil {
		return Lock{}, err
	}
	l.locks[lk.Token] = &lk
	return lk, nil
}

// refresh restarts the timeout of the lock with token, which must cover
// p (RFC 4918 §9.10.2).
func (l *lockSystem) refresh(now time.Time, token, p string, timeout time.Duration) (Lock, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
	lk, ok := l.locks[token]
	if !ok || !lk.covers(p) {
		return Lock{}, errNoSuchLock
	}
	c := *lk
	c.Timeout, c.Expires = timeout, now.Add(timeout)
	if err := l.store.PutLock(c); err != nil {
		return Lock{}, err
	}
	*lk = c
	return c, nil
}

// unlock removes the lock with token.
func (l *lockSystem) unlock(now time.Time, token string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
	if _, ok := l.locks[token]; !ok {
		return errNoSuchLock
	}
	delete(l.locks, token)
	return l.store.DeleteLock(token)
}

// dropUnder removes the locks rooted at p or below it: the resource is
// gone (RFC 4918 §9.6.1, §9.9.2: a DELETE or MOVE ends the locks on what
// it removed).
func (l *lockSystem) dropUnder(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for tok, lk := range l.locks {
		if lk.Root == p || within(lk.Root, p) {
			delete(l.locks, tok)
			l.store.DeleteLock(tok)
		}
	}
}

// on returns the live locks that cover p, for lockdiscovery.
func (l *lockSystem) on(now time.Time, p string) []Lock {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Lock
	for _, lk := range l.locks {
		if now.Before(lk.Expires) && lk.covers(p) {
			out = append(out, *lk)
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
func (l *lockSystem) tokensHold(now time.Time, conds []ifCondition, p string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range conds {
		if c.token == "" {
			continue
		}
		lk, ok := l.locks[c.token]
		locks := ok && now.Before(lk.Expires) && lk.covers(p)
		if locks == c.not {
			return false
		}
	}
	return true
}

// hold checks that a write may change each of paths ("" is none): every
// path under a lock must have one of its covering locks among submitted
// (RFC 4918 §7.1: for shared locks, any one of them). It then holds the
// paths against new locks until release is called. locked names the
// first path that failed.
// With subtree, the locks on anything below each path count too: a
// DELETE, or a MOVE or COPY that replaces a folder, changes all of it
// (RFC 4918 §9.6.1).
func (l *lockSystem) hold(now time.Time, submitted map[string]bool, subtree bool, paths ...string) (release func(), locked string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
	if p := l.lockedLocked(submitted, subtree, paths); p != "" {
		return nil, p
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
	}, ""
}

func (l *lockSystem) lockedLocked(submitted map[string]bool, subtree bool, paths []string) string {
	for _, p := range paths {
		if p == "" {
			continue
		}
		covered, ok := false, false
		for tok, lk := range l.locks {
			switch {
			case lk.covers(p):
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
