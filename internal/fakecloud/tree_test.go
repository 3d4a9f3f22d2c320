package fakecloud

import (
	"fmt"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testLag = time.Second

// lagTree is a tree with a settable clock: /a holds x.txt, /b is empty,
// both settled.
func lagTree(t *testing.T) (*Tree, *time.Time) {
	t.Helper()
	next := 0
	tree := NewTree("root", func() string { next++; return fmt.Sprint("id", next) })
	clock := time.Date(2025, 6, 6, 0, 0, 0, 0, time.UTC)
	tree.now = func() time.Time { return clock }
	if _, err := tree.PutPath("/a/x.txt", BytesBlob([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := tree.MkdirAll("/b"); err != nil {
		t.Fatal(err)
	}
	tree.SetLag(testLag)
	return tree.Changes(), &clock
}

func mustLookup(t *testing.T, tree *Tree, p string) Node {
	t.Helper()
	n, err := tree.Lookup(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return n
}

// names lists folder p as a lagging reader sees it, "-" if it sees no p.
func names(t *testing.T, tree *Tree, p string) string {
	t.Helper()
	dir, err := tree.VisibleLookup(p)
	if err != nil {
		return "-"
	}
	kids, err := tree.VisibleChildren(dir.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range kids {
		if k.ParentID != dir.ID {
			t.Errorf("%s lists %s with ParentID %s", p, k.Name, k.ParentID)
		}
		out = append(out, k.Name)
	}
	return strings.Join(out, ",")
}

// view is what a lagging reader sees: the listings of /a and /b, paths
// that resolve and paths that do not.
type view struct {
	a, b         string
	seen, unseen []string
}

func TestTreeLag(t *testing.T) {
	cases := []struct {
		name string
		// change changes the tree of lagTree; it may advance the clock.
		change        func(tr *Tree, clock *time.Time, x Node) error
		before, after view // lag/2 after the change, and lag after it
	}{
		{"put", func(tr *Tree, _ *time.Time, x Node) error {
			_, err := tr.Put(x.ParentID, "new.txt", BytesBlob(nil), time.Time{})
			return err
		}, view{"x.txt", "", []string{"/a/x.txt"}, []string{"/a/new.txt"}},
			view{"x.txt,new.txt", "", []string{"/a/new.txt"}, nil}},
		{"putpath", func(tr *Tree, _ *time.Time, _ Node) error {
			_, err := tr.PutPath("/b/c/new.txt", BytesBlob(nil))
			return err
		}, view{"x.txt", "", nil, []string{"/b/c", "/b/c/new.txt"}},
			view{"x.txt", "c", []string{"/b/c/new.txt"}, nil}},
		{"mkdir", func(tr *Tree, _ *time.Time, _ Node) error {
			_, err := tr.Mkdir(tr.RootID(), "d")
			return err
		}, view{"x.txt", "", nil, []string{"/d"}},
			view{"x.txt", "", []string{"/d"}, nil}},
		{"copy", func(tr *Tree, _ *time.Time, x Node) error {
			b, _ := tr.Lookup("/b")
			_, err := tr.Copy(x.ParentID, b.ID, "a2")
			return err
		}, view{"x.txt", "", nil, []string{"/b/a2", "/b/a2/x.txt"}},
			view{"x.txt", "a2", []string{"/b/a2/x.txt"}, nil}},
		{"rename", func(tr *Tree, _ *time.Time, x Node) error {
			_, err := tr.Rename(x.ID, "y.txt")
			return err
		}, view{"x.txt", "", []string{"/a/x.txt"}, []string{"/a/y.txt"}},
			view{"y.txt", "", []string{"/a/y.txt"}, []string{"/a/x.txt"}}},
		// Seen under the first name until the lag has passed since the
		// second rename.
		{"rename twice", func(tr *Tree, clock *time.Time, x Node) error {
			tr.Rename(x.ID, "y.txt")
			*clock = clock.Add(testLag * 3 / 4)
			_, err := tr.Rename(x.ID, "z.txt")
			return err
		}, view{"x.txt", "", []string{"/a/x.txt"}, []string{"/a/y.txt", "/a/z.txt"}},
			view{"z.txt", "", []string{"/a/z.txt"}, []string{"/a/x.txt", "/a/y.txt"}}},
		{"move", func(tr *Tree, _ *time.Time, x Node) error {
			b, _ := tr.Lookup("/b")
			_, err := tr.Move(x.ID, b.ID)
			return err
		}, view{"x.txt", "", []string{"/a/x.txt"}, []string{"/b/x.txt"}},
			view{"", "x.txt", []string{"/b/x.txt"}, []string{"/a/x.txt"}}},
		// Whatever is below a moved folder moves with it.
		{"move folder", func(tr *Tree, _ *time.Time, x Node) error {
			b, _ := tr.Lookup("/b")
			_, err := tr.Move(x.ParentID, b.ID)
			return err
		}, view{"x.txt", "", []string{"/a/x.txt"}, []string{"/b/a", "/b/a/x.txt"}},
			view{"-", "a", []string{"/b/a/x.txt"}, []string{"/a"}}},
		{"trash", func(tr *Tree, _ *time.Time, x Node) error { return tr.Trash(x.ID) },
			view{"", "", nil, []string{"/a/x.txt"}}, view{"", "", nil, []string{"/a/x.txt"}}},
		{"rename then delete", func(tr *Tree, _ *time.Time, x Node) error {
			tr.Rename(x.ID, "y.txt")
			return tr.Delete(x.ID)
		}, view{"", "", nil, []string{"/a/x.txt"}}, view{"", "", nil, []string{"/a/x.txt"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree, clock := lagTree(t)
			x := mustLookup(t, tree, "/a/x.txt")
			if err := tc.change(tree, clock, x); err != nil {
				t.Fatal(err)
			}
			check := func(when string, v view) {
				t.Helper()
				if got := names(t, tree, "/a"); got != v.a {
					t.Errorf("%s: /a lists %q, want %q", when, got, v.a)
				}
				if got := names(t, tree, "/b"); got != v.b {
					t.Errorf("%s: /b lists %q, want %q", when, got, v.b)
				}
				for _, p := range v.seen {
					if n, err := tree.VisibleLookup(p); err != nil || n.Name != path.Base(p) {
						t.Errorf("%s: %s resolves to %+v, %v", when, p, n, err)
					}
				}
				for _, p := range v.unseen {
					if n, err := tree.VisibleLookup(p); err != ErrNotFound {
						t.Errorf("%s: %s resolves to %+v, %v", when, p, n, err)
					}
				}
			}
			*clock = clock.Add(testLag / 2)
			check("before", tc.before)
			// Get, Children and Lookup tell the truth at once.
			if n, err := tree.Get(x.ID); err == nil && !n.Trashed {
				p, _ := tree.Path(x.ID)
				if got := mustLookup(t, tree, p); got.ID != x.ID || got.Name != n.Name {
					t.Errorf("Lookup(%s) = %+v", p, got)
				}
				if kids, _ := tree.Children(n.ParentID); len(kids) == 0 || kids[0].Name != n.Name && kids[len(kids)-1].Name != n.Name {
					t.Errorf("Children of its parent: %+v", kids)
				}
			}
			*clock = clock.Add(testLag / 2)
			check("after", tc.after)
		})
	}
}

// A node seen at its earlier place keeps its place in the creation order,
// the order Children gives.
func TestTreeLagOrder(t *testing.T) {
	tree, clock := lagTree(t)
	a, b := mustLookup(t, tree, "/a"), mustLookup(t, tree, "/b")
	tree.Put(a.ID, "y.txt", BytesBlob(nil), time.Time{})
	tree.Put(b.ID, "w.txt", BytesBlob(nil), time.Time{})
	tree.Put(a.ID, "z.txt", BytesBlob(nil), time.Time{})
	*clock = clock.Add(testLag)
	y := mustLookup(t, tree, "/a/y.txt")
	tree.Move(mustLookup(t, tree, "/a/x.txt").ID, b.ID)
	tree.Move(y.ID, b.ID)
	tree.Rename(y.ID, "v.txt")
	if got := names(t, tree, "/a"); got != "x.txt,y.txt,z.txt" {
		t.Fatalf("/a lists %s", got)
	}
	if got := names(t, tree, "/b"); got != "w.txt" {
		t.Fatalf("/b lists %s", got)
	}
	*clock = clock.Add(testLag)
	if got := names(t, tree, "/b"); got != "x.txt,v.txt,w.txt" {
		t.Fatalf("/b lists %s", got)
	}
}

// With no lag, or once it is turned off or settled, the view is the truth.
func TestTreeLagOff(t *testing.T) {
	tree, _ := lagTree(t)
	settled := func(what string) {
		t.Helper()
		for _, p := range []string{"/", "/a", "/b"} {
			dir := mustLookup(t, tree, p)
			truth, _ := tree.Children(dir.ID)
			seen, _ := tree.VisibleChildren(dir.ID)
			if !reflect.DeepEqual(seen, truth) {
				t.Errorf("%s: %s lists %+v, truth %+v", what, p, seen, truth)
			}
		}
		if n, err := tree.VisibleLookup("/b/c/y.txt"); err != nil || n.Name != "y.txt" {
			t.Errorf("%s: %+v, %v", what, n, err)
		}
	}
	change := func(file, to string) {
		tree.Move(mustLookup(t, tree, file).ID, mustLookup(t, tree, to).ID)
		tree.PutPath("/b/c/y.txt", BytesBlob(nil))
	}
	change("/a/x.txt", "/b")
	tree.Settle()
	settled("Settle")
	tree.Rename(mustLookup(t, tree, "/b/x.txt").ID, "x2.txt")
	tree.Mkdir(tree.RootID(), "e")
	if got := names(t, tree, "/b"); got != "x.txt,c" || names(t, tree, "/") != "a,b" {
		t.Fatalf("the lag no longer applies after Settle: /b lists %s, / %s", got, names(t, tree, "/"))
	}
	tree.SetLag(0)
	settled("SetLag(0)")
	change("/b/x2.txt", "/a")
	settled("no lag")
}

// TestDirectChangesDoNotLag: a test seeding through the Tree itself sets
// the scene; only changes through Changes (the emulated API) lag.
func TestDirectChangesDoNotLag(t *testing.T) {
	api, _ := lagTree(t)
	direct := &Tree{treeState: api.treeState}
	if _, err := direct.PutPath("/b/seeded.txt", BytesBlob([]byte("s"))); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.VisibleLookup("/b/seeded.txt"); err != nil {
		t.Fatalf("seeded content lags: %v", err)
	}
	if _, err := api.PutPath("/b/uploaded.txt", BytesBlob([]byte("u"))); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.VisibleLookup("/b/uploaded.txt"); err == nil {
		t.Fatal("a change through the API handle shows at once")
	}
}
