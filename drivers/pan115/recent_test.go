package pan115

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/pan115/pan115test"
)

func TestRecentChangesOverLaggingListings(t *testing.T) {
	f := func(id, name string) drivers.Entry { return drivers.Entry{ID: id, ParentID: "D", Name: name} }
	names := func(es []drivers.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID+":"+e.Name)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name    string
		record  func(r *recentChanges)
		listed  []drivers.Entry
		want    []string
		pending int // changes of D still held for later listings
	}{
		{"upload not listed yet", func(r *recentChanges) { r.placed(f("2", "new.txt")) },
			[]drivers.Entry{f("1", "a.txt")}, []string{"1:a.txt", "2:new.txt"}, 1},
		{"upload listed", func(r *recentChanges) { r.placed(f("2", "new.txt")) },
			[]drivers.Entry{f("1", "a.txt"), f("2", "new.txt")}, []string{"1:a.txt", "2:new.txt"}, 1},
		{"rename listed under the old name", func(r *recentChanges) { r.placed(f("1", "b.txt")) },
			[]drivers.Entry{f("1", "a.txt")}, []string{"1:b.txt"}, 1},
		{"removal still listed", func(r *recentChanges) { r.left("D", "1") },
			[]drivers.Entry{f("1", "a.txt"), f("3", "c.txt")}, []string{"3:c.txt"}, 1},
		{"removal no longer listed", func(r *recentChanges) { r.left("D", "1") },
			[]drivers.Entry{f("3", "c.txt")}, []string{"3:c.txt"}, 1},
		{"moved away and back, a lagging listing still without it", func(r *recentChanges) {
			r.left("D", "5")
			r.placed(f("5", "m.txt"))
		}, []drivers.Entry{f("1", "a.txt")}, []string{"1:a.txt", "5:m.txt"}, 1},
		{"overwrite: new file unlisted, old one gone", func(r *recentChanges) {
			r.placed(f("9", "a.txt"))
			r.left("D", "1")
		}, []drivers.Entry{f("1", "a.txt")}, []string{"9:a.txt"}, 2},
		{"moved in, then out again", func(r *recentChanges) {
			r.placed(f("5", "m.txt"))
			r.left("D", "5")
		}, nil, nil, 1},
		{"too old to lay over", func(r *recentChanges) {
			r.placed(f("2", "new.txt"))
			r.byParent["D"][0].at = time.Now().Add(-settleTime - time.Second)
		}, []drivers.Entry{f("1", "a.txt")}, []string{"1:a.txt"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recentChanges
			tt.record(&r)
			got := names(r.apply("D", slices.Clone(tt.listed)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("listing %v, want %v", got, tt.want)
			}
			if n := len(r.byParent["D"]); n != tt.pending {
				t.Errorf("%d changes still pending, want %d", n, tt.pending)
			}
			if other := r.apply("E", []drivers.Entry{{ID: "7", Name: "x"}}); len(other) != 1 {
				t.Errorf("another folder's listing changed: %v", other)
			}
		})
	}
}

func TestRecentChangesExpireUnlisted(t *testing.T) {
	var r recentChanges
	for i := range 1000 {
		r.placed(drivers.Entry{ID: fmt.Sprint(i), ParentID: fmt.Sprint("folder", i), Name: "x"})
		for _, cs := range r.byParent {
			cs[len(cs)-1].at = time.Now().Add(-settleTime - time.Second)
		}
	}
	if len(r.byParent) > 200 || r.n > 200 {
		t.Fatalf("%d folders, %d changes held for folders never listed again", len(r.byParent), r.n)
	}
}

// TestTwoMountsOfOneLoginShareRecentChanges: a file uploaded through one
// mount shows at once in another mount of the same login, although 115
// lists it only after its lag.
func TestTwoMountsOfOneLoginShareRecentChanges(t *testing.T) {
	f := setup(t, pan115test.Options{PageCap: 100, QPS: -1, Lag: time.Hour}, nil)
	other := open(t, f.srv, f.d.o, f.stateDir, f.shared)
	root := dirEntry(rootID)
	if _, err := f.d.Upload(ctxT(t), root, "shared.txt", drivers.NewBytesSource([]byte("x"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	kids, err := other.d.List(ctxT(t), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if k.Name == "shared.txt" {
			return
		}
	}
	t.Fatalf("the other mount lists %d entries, without the file just uploaded", len(kids))
}
