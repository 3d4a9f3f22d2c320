package webdav

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"
)

// lockSystem wraps x/net/webdav's in-memory locks to fix what clients trip
// over:
//   - a MOVE that holds the source's token but names an unlocked
//     destination is refused by the stock Confirm (golang/go#43556), which
//     breaks Office saves and davfs2's mv;
//   - it remembers which paths are locked, so a placeholder under a lock
//     is not uploaded while its owner is still writing.
//
// Lock timeouts are clamped by the Handler before they reach here, so
// that the Timeout it answers is the one in force.
type lockSystem struct {
	webdav.LockSystem

	mu    sync.Mutex
	roots map[string]lockRoot // token -> root
}

type lockRoot struct {
	root      string
	zeroDepth bool
	expires   time.Time
	owner     string // who took it: a user name, or the address of an anonymous client
}

func newLockSystem() *lockSystem {
	return &lockSystem{LockSystem: webdav.NewMemLS(), roots: map[string]lockRoot{}}
}

func (l *lockSystem) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	release, err := l.LockSystem.Confirm(now, name0, name1, conditions...)
	if err != webdav.ErrConfirmationFailed || name0 == "" || name1 == "" {
		return release, err
	}
	// One of the two may simply be unlocked: confirm the other with the
	// tokens given, and hold a short lock on the free one for the request.
	for _, pair := range [][2]string{{name0, name1}, {name1, name0}} {
		locked, free := pair[0], pair[1]
		tok, err := l.LockSystem.Create(now, webdav.LockDetails{Root: free, Duration: time.Minute, ZeroDepth: true})
		if err != nil {
			continue // free is locked by someone: its token was needed
		}
		rel, err := l.LockSystem.Confirm(now, locked, "", conditions...)
		if err != nil {
			l.LockSystem.Unlock(now, tok)
			continue
		}
		return func() { rel(); l.LockSystem.Unlock(now, tok) }, nil
	}
	return nil, webdav.ErrConfirmationFailed
}

func (l *lockSystem) Create(now time.Time, details webdav.LockDetails) (string, error) {
	tok, err := l.LockSystem.Create(now, details)
	if err == nil {
		l.mu.Lock()
		l.roots[tok] = lockRoot{root: details.Root, zeroDepth: details.ZeroDepth, expires: now.Add(details.Duration)}
		l.mu.Unlock()
	}
	return tok, err
}

func (l *lockSystem) Refresh(now time.Time, token string, duration time.Duration) (webdav.LockDetails, error) {
	ld, err := l.LockSystem.Refresh(now, token, duration)
	if err == nil {
		l.mu.Lock()
		l.roots[token] = lockRoot{root: ld.Root, zeroDepth: ld.ZeroDepth, expires: now.Add(ld.Duration), owner: l.roots[token].owner}
		l.mu.Unlock()
	}
	return ld, err
}

func (l *lockSystem) Unlock(now time.Time, token string) error {
	l.mu.Lock()
	delete(l.roots, token)
	l.mu.Unlock()
	return l.LockSystem.Unlock(now, token)
}

// covers says whether a live lock covers p.
func (l *lockSystem) covers(p string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for tok, r := range l.roots {
		if now.After(r.expires) {
			delete(l.roots, tok)
			continue
		}
		if r.root == p || strings.HasPrefix(p, strings.TrimSuffix(r.root, "/")+"/") {
			return true
		}
	}
	return false
}

// tokensHold says whether the lock-token conditions of an If-header list
// are true of the resource at p (RFC 4918 §10.4.2): each token is that of
// a live lock on p, or, under Not, is not. Entity tags are judged
// elsewhere (see writePreconditionFailed).
func (l *lockSystem) tokensHold(now time.Time, conds []ifCondition, p string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range conds {
		if c.token == "" {
			continue
		}
		r, ok := l.roots[c.token]
		locks := ok && now.Before(r.expires) && r.locks(p)
		if locks == c.not {
			return false
		}
	}
	return true
}

// locks says whether the lock covers the cleaned path p.
func (r lockRoot) locks(p string) bool {
	root := cleanPath(r.root)
	if p == root {
		return true
	}
	return !r.zeroDepth && (root == "/" || strings.HasPrefix(p, root+"/"))
}

// ownedBy is the number of live locks owner holds, for the per-user cap.
func (l *lockSystem) ownedBy(owner string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	now := time.Now()
	for tok, r := range l.roots {
		if !now.Before(r.expires) {
			delete(l.roots, tok) // expired locks leave no record behind
			continue
		}
		if r.owner == owner {
			n++
		}
	}
	return n
}

// setOwner records who took the lock with token.
func (l *lockSystem) setOwner(token, owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.roots[token]; ok {
		r.owner = owner
		l.roots[token] = r
	}
}
