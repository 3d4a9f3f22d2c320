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
type Tree struct {
	mu       sync.RWMutex
	rootID   string
	nodes    map[string]*Node
	children map[string][]string
	newID    func() string
	seq      int64
	now      func() time.Time
}

// NewTree returns a tree holding only its root folder. newID makes IDs in
// the emulated cloud's format.
func NewTree(rootID string, newID func() string) *Tree {
	t := &Tree{
		rootID:   rootID,
		nodes:    map[string]*Node{},
		children: map[string][]string{},
		newID:    newID,
		now:      func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	}
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
	n, ok := t.nodes[id]
	if !ok || n.Trashed {
		return nil, ErrNotFound
	}
	if !n.IsDir {
		return nil, ErrNotDir
	}
	out := make([]Node, 0, len(t.children[id]))
	for _, cid := range t.children[id] {
		if c := t.nodes[cid]; !c.Trashed {
			out = append(out, *c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
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
	cur := *t.nodes[t.rootID]
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		next, err := t.childByName(cur.ID, part)
		if err != nil {
			return Node{}, err
		}
		cur = next
	}
	return cur, nil
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
