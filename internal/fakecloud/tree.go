package fakecloud

import (
	"errors"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// Errors returned by Tree; each emulator renders them in its cloud's words.
var (
	ErrNotFound = errors.New("fakecloud: not found")
	ErrNotDir   = errors.New("fakecloud: not a folder")
	ErrExist    = errors.New("fakecloud: name exists")
	ErrLoop     = errors.New("fakecloud: move or copy into itself")
)

// Node is one file or folder. Emulators read Nodes; only Tree changes them.
type Node struct {
	ID       string
	ParentID string
	Name     string
	IsDir    bool
	Blob     Blob // nil for folders
	Created  time.Time
	Modified time.Time
	// ClientModified is the modification time an uploading client gave
	// (Aliyun's local_modified_at); zero when none was given.
	ClientModified time.Time
	Trashed        bool
	seq            int64 // creation order, the clouds' default listing order
}

// Size is the blob's size, 0 for a folder.
func (n *Node) Size() int64 {
	if n.Blob == nil {
		return 0
	}
	return n.Blob.Size()
}

// Tree is a concurrency-safe, ID-addressed folder tree. Duplicate names in
// one folder are allowed, as both clouds allow them; callers that must
// refuse them check with ChildByName first.
//
// A Tree is a handle on the tree's state; Changes returns a second handle
// on the same state whose changes lag (SetLag), for an emulator's API
// handlers, while a test's direct seeding through the first is the world
// as it was before the test began.
type Tree struct {
	*treeState
	lagsChanges bool
}

type treeState struct {
	mu       sync.RWMutex
	rootID   string
	nodes    map[string]*Node
	children map[string][]string
	newID    func() string
	seq      int64
	now      func() time.Time
	// lag and lagging are the lagging view (SetLag): lagging holds, for
	// each node created or placed elsewhere within lag, when that happened
	// and where a lagging reader still sees it. Empty while lag is zero.
	lag     time.Duration
	lagging map[string]lagRec
	// pruneAt is the size of lagging at which settled records are next
	// dropped, so that pruning costs O(1) per change amortized.
	pruneAt int
}

// Changes returns a handle on the same tree whose creations, renames and
// moves lag behind in VisibleChildren and VisibleLookup, as changes made
// through a cloud's API do.
func (t *Tree) Changes() *Tree { return &Tree{treeState: t.treeState, lagsChanges: true} }

// lagRec is how a lagging reader sees a node that changed less than the
// lag ago.
type lagRec struct {
	at time.Time // the latest change
	// isNew: the node did not exist, as far as the reader knows, so it is
	// hidden; otherwise it is shown in parent under name.
	isNew        bool
	parent, name string
}

// NewTree returns a tree holding only its root folder. newID makes IDs in
// the emulated cloud's format.
func NewTree(rootID string, newID func() string) *Tree {
	t := &Tree{treeState: &treeState{
		rootID:   rootID,
		nodes:    map[string]*Node{},
		children: map[string][]string{},
		newID:    newID,
		now:      func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	}}
	now := t.now()
	t.nodes[rootID] = &Node{ID: rootID, Name: "", IsDir: true, Created: now, Modified: now}
	return t
}

// RootID is the ID of the root folder.
func (t *Tree) RootID() string { return t.rootID }

// Get returns a copy of the node with id, trashed or not.
func (t *Tree) Get(id string) (Node, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n, ok := t.nodes[id]
	if !ok {
		return Node{}, ErrNotFound
	}
	return *n, nil
}

// Children returns copies of the live children of folder id, in creation
// order.
func (t *Tree) Children(id string) ([]Node, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.sortedKids(id, false)
}

// VisibleChildren is Children as a lagging reader sees it (SetLag): a node
// changed less than the lag ago is shown where it was before, with that
// ParentID and Name, or not at all if it is new. Folder id itself is
// found by ID, which the clouds answer exactly.
func (t *Tree) VisibleChildren(id string) ([]Node, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.sortedKids(id, t.lag > 0)
}

func (t *Tree) sortedKids(id string, view bool) ([]Node, error) {
	n, ok := t.nodes[id]
	if !ok || n.Trashed {
		return nil, ErrNotFound
	}
	if !n.IsDir {
		return nil, ErrNotDir
	}
	out := t.kids(id, view)
	sort.SliceStable(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

// kids returns the live children of id in the order they arrived there;
// with view, as a lagging reader sees them: lagging nodes are left out,
// and those whose earlier placement is id follow, under their earlier
// name, in creation order.
func (t *Tree) kids(id string, view bool) []Node {
	var now time.Time
	if view {
		now = t.now()
	}
	out := make([]Node, 0, len(t.children[id]))
	for _, cid := range t.children[id] {
		c := t.nodes[cid]
		if c.Trashed || view && t.lags(t.lagging[cid], now) {
			continue
		}
		out = append(out, *c)
	}
	if !view {
		return out
	}
	var old []Node
	for cid, rec := range t.lagging {
		if c := t.nodes[cid]; !rec.isNew && rec.parent == id && !c.Trashed && t.lags(rec, now) {
			n := *c
			n.ParentID, n.Name = rec.parent, rec.name
			old = append(old, n)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].seq < old[j].seq })
	return append(out, old...)
}

// ChildByName returns the first live child of parent called name.
func (t *Tree) ChildByName(parent, name string) (Node, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.childByName(parent, name)
}

func (t *Tree) childByName(parent, name string) (Node, error) {
	for _, cid := range t.children[parent] {
		if c := t.nodes[cid]; !c.Trashed && c.Name == name {
			return *c, nil
		}
	}
	return Node{}, ErrNotFound
}

// Lookup resolves a slash-separated path from the root.
func (t *Tree) Lookup(p string) (Node, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.lookup(p, t.childByName)
}

// VisibleLookup is Lookup as a lagging reader sees it (SetLag): a path
// that exists only because of a change less than the lag ago is not
// found, and the path a lagging node had before still resolves to it.
func (t *Tree) VisibleLookup(p string) (Node, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.lag <= 0 {
		return t.lookup(p, t.childByName)
	}
	return t.lookup(p, func(parent, name string) (Node, error) {
		for _, c := range t.kids(parent, true) {
			if c.Name == name {
				return c, nil
			}
		}
		return Node{}, ErrNotFound
	})
}

func (t *Tree) lookup(p string, child func(parent, name string) (Node, error)) (Node, error) {
	cur := *t.nodes[t.rootID]
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		next, err := child(cur.ID, part)
		if err != nil {
			return Node{}, err
		}
		cur = next
	}
	return cur, nil
}

// SetLag makes the lagging view (VisibleChildren, VisibleLookup) lag d
// behind changes made through a Changes handle, as the listings and path
// lookups of an eventually consistent cloud do: from now on a node that is
// created, renamed or moved there is seen where it was before, or not at all if it is new, until d
// has passed since its latest change. Deletes and Trash stay immediate, as
// they are on the clouds. A new d also applies to the changes already
// recorded; zero or negative turns the lag off and settles them all.
func (t *Tree) SetLag(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d <= 0 {
		t.lag, t.lagging = 0, nil
		return
	}
	t.lag = d
	if t.lagging == nil {
		t.lagging = map[string]lagRec{}
	}
}

// Settle makes every change so far visible at once, as if the lag had
// passed, for a test that seeds content and then lists it. The lag
// applies again to later changes.
func (t *Tree) Settle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.lagging)
}

// record notes, before it happens, that n is created (isNew) or placed
// elsewhere. A node still lagging from an earlier change keeps the
// placement readers see: a node renamed twice in quick succession is
// still seen under its first name, and a new one stays hidden.
func (t *Tree) record(n *Node, isNew bool) {
	now := t.now()
	rec, ok := t.lagging[n.ID]
	if !ok || !t.lags(rec, now) {
		rec = lagRec{isNew: isNew, parent: n.ParentID, name: n.Name}
	}
	rec.at = now
	t.lagging[n.ID] = rec
	if len(t.lagging) >= t.pruneAt {
		for id, r := range t.lagging {
			if !t.lags(r, now) {
				delete(t.lagging, id)
			}
		}
		t.pruneAt = 2*len(t.lagging) + 64
	}
}

// lags says whether the change recorded in rec is still hidden at now;
// the zero lagRec (no change recorded) is not.
func (t *Tree) lags(rec lagRec, now time.Time) bool {
	return !rec.at.IsZero() && now.Sub(rec.at) < t.lag
}

// Path returns the slash-separated path of id from the root.
func (t *Tree) Path(id string) (string, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var parts []string
	for id != t.rootID {
		n, ok := t.nodes[id]
		if !ok {
			return "", ErrNotFound
		}
		parts = append([]string{n.Name}, parts...)
		id = n.ParentID
	}
	return "/" + strings.Join(parts, "/"), nil
}

func (t *Tree) add(parent, name string, isDir bool, blob Blob, mtime time.Time) (Node, error) {
	p, ok := t.nodes[parent]
	if !ok || p.Trashed {
		return Node{}, ErrNotFound
	}
	if !p.IsDir {
		return Node{}, ErrNotDir
	}
	now := t.now()
	if mtime.IsZero() {
		mtime = now
	}
	t.seq++
	n := &Node{ID: t.newID(), ParentID: parent, Name: name, IsDir: isDir, Blob: blob, Created: now, Modified: mtime, seq: t.seq}
	t.nodes[n.ID] = n
	t.children[parent] = append(t.children[parent], n.ID)
	p.Modified = now
	if t.lagsChanges && t.lag > 0 {
		t.record(n, true)
	}
	return *n, nil
}

// Mkdir adds a folder. It does not refuse duplicate names.
func (t *Tree) Mkdir(parent, name string) (Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.add(parent, name, true, nil, time.Time{})
}

// MkdirAll makes every folder of p that is missing and returns the last.
func (t *Tree) MkdirAll(p string) (Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := *t.nodes[t.rootID]
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		next, err := t.childByName(cur.ID, part)
		if err == ErrNotFound {
			next, err = t.add(cur.ID, part, true, nil, time.Time{})
		}
		if err != nil {
			return Node{}, err
		}
		cur = next
	}
	return cur, nil
}

// Put adds a file. It does not refuse duplicate names. A zero mtime means
// now.
func (t *Tree) Put(parent, name string, blob Blob, mtime time.Time) (Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.add(parent, name, false, blob, mtime)
}

// PutPath adds a file at p, making its folders.
func (t *Tree) PutPath(p string, blob Blob) (Node, error) {
	dir, err := t.MkdirAll(path.Dir(p))
	if err != nil {
		return Node{}, err
	}
	return t.Put(dir.ID, path.Base(p), blob, time.Time{})
}

// Rename changes a node's name.
func (t *Tree) Rename(id, name string) (Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[id]
	if !ok || n.Trashed || id == t.rootID {
		return Node{}, ErrNotFound
	}
	if t.lagsChanges && t.lag > 0 {
		t.record(n, false)
	}
	n.Name = name
	n.Modified = t.now()
	return *n, nil
}

func (t *Tree) isWithin(id, ancestor string) bool {
	for cur := id; cur != ""; {
		if cur == ancestor {
			return true
		}
		n, ok := t.nodes[cur]
		if !ok || cur == t.rootID {
			return false
		}
		cur = n.ParentID
	}
	return false
}

// Move puts id under newParent.
func (t *Tree) Move(id, newParent string) (Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[id]
	p, pok := t.nodes[newParent]
	if !ok || !pok || n.Trashed || p.Trashed || id == t.rootID {
		return Node{}, ErrNotFound
	}
	if !p.IsDir {
		return Node{}, ErrNotDir
	}
	if t.isWithin(newParent, id) {
		return Node{}, ErrLoop
	}
	if t.lagsChanges && t.lag > 0 {
		t.record(n, false)
	}
	t.unlink(n)
	n.ParentID = newParent
	t.children[newParent] = append(t.children[newParent], id)
	return *n, nil
}

func (t *Tree) unlink(n *Node) {
	sib := t.children[n.ParentID]
	for i, cid := range sib {
		if cid == n.ID {
			t.children[n.ParentID] = append(sib[:i:i], sib[i+1:]...)
			break
		}
	}
}

// Copy duplicates id, and everything below it, under newParent.
func (t *Tree) Copy(id, newParent, newName string) (Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[id]
	if !ok || n.Trashed {
		return Node{}, ErrNotFound
	}
	if t.isWithin(newParent, id) {
		return Node{}, ErrLoop
	}
	if newName == "" {
		newName = n.Name
	}
	return t.copyRec(n, newParent, newName)
}

func (t *Tree) copyRec(n *Node, parent, name string) (Node, error) {
	c, err := t.add(parent, name, n.IsDir, n.Blob, n.Modified)
	if err != nil {
		return Node{}, err
	}
	for _, cid := range append([]string(nil), t.children[n.ID]...) {
		if ch := t.nodes[cid]; !ch.Trashed {
			if _, err := t.copyRec(ch, c.ID, ch.Name); err != nil {
				return Node{}, err
			}
		}
	}
	return c, nil
}

// Trash hides id (and so its subtree) from listings; Get still finds it.
func (t *Tree) Trash(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[id]
	if !ok || n.Trashed || id == t.rootID {
		return ErrNotFound
	}
	n.Trashed = true
	return nil
}

// Delete removes id and its subtree for good.
func (t *Tree) Delete(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[id]
	if !ok || id == t.rootID {
		return ErrNotFound
	}
	t.unlink(n)
	t.deleteRec(id)
	return nil
}

func (t *Tree) deleteRec(id string) {
	for _, cid := range t.children[id] {
		t.deleteRec(cid)
	}
	delete(t.children, id)
	delete(t.nodes, id)
	delete(t.lagging, id)
}

// SetModified sets a node's modification time.
func (t *Tree) SetModified(id string, mtime time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[id]
	if !ok {
		return ErrNotFound
	}
	n.Modified = mtime
	return nil
}

// SetClientModified records the time an uploading client gave.
func (t *Tree) SetClientModified(id string, mtime time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[id]
	if !ok {
		return ErrNotFound
	}
	n.ClientModified = mtime
	return nil
}

// Usage is the total size of every live file.
func (t *Tree) Usage() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var sum int64
	for _, n := range t.nodes {
		if !n.Trashed {
			sum += n.Size()
		}
	}
	return sum
}
