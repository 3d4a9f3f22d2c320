package pan115

import (
	"slices"
	"sync"
	"time"

	"pandav/drivers"
)

// settleCap bounds how long a change of ours is laid over 115's listings.
// 115 shows new, renamed and moved entries in listings only after a while
// (pan115.md, eventual consistency); a change is dropped as soon as a
// listing shows it, so the cap only matters for a change the cloud never
// confirms, such as a file someone else deleted meanwhile.
const settleCap = 2 * time.Minute

// recentChanges remembers what this driver changed, per folder, until a
// listing of the cloud shows it, so that a listing 115 answers from before
// the change is corrected with what we know: without it a file just
// uploaded, or the new file of an overwrite whose old one is already in
// the recycle bin, would be missing from the folder until 115 catches up.
type recentChanges struct {
	mu       sync.Mutex
	byParent map[string][]change
}

// change is one entry arriving in (placed) or leaving (gone) a folder.
type change struct {
	at   time.Time
	e    drivers.Entry // as it is now; only ID matters when gone
	gone bool
}

// placed records that e is now in e.ParentID under e.Name.
func (r *recentChanges) placed(e drivers.Entry) {
	r.add(e.ParentID, change{at: time.Now(), e: e})
}

// left records that the entry id is no longer in parent.
func (r *recentChanges) left(parent, id string) {
	r.add(parent, change{at: time.Now(), e: drivers.Entry{ID: id}, gone: true})
}

func (r *recentChanges) add(parent string, c change) {
	if parent == "" || c.e.ID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byParent == nil {
		r.byParent = map[string][]change{}
	}
	// A newer change of the same entry in this folder replaces the older.
	cs := slices.DeleteFunc(r.byParent[parent], func(o change) bool { return o.e.ID == c.e.ID })
	r.byParent[parent] = append(cs, c)
}

// apply lays the unconfirmed changes of parent over a fresh listing of it,
// and forgets those the listing already shows.
func (r *recentChanges) apply(parent string, listed []drivers.Entry) []drivers.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.byParent[parent]
	if len(cs) == 0 {
		return listed
	}
	at := make(map[string]int, len(listed))
	for i, e := range listed {
		at[e.ID] = i
	}
	var pending []change
	removed := map[string]bool{}
	for _, c := range cs {
		i, shown := at[c.e.ID]
		switch {
		case time.Since(c.at) > settleCap:
		case c.gone && !shown, !c.gone && shown && listed[i].Name == c.e.Name:
			// The cloud has caught up.
		case c.gone:
			removed[c.e.ID] = true
			pending = append(pending, c)
		case shown:
			listed[i] = c.e
			pending = append(pending, c)
		default:
			listed = append(listed, c.e)
			pending = append(pending, c)
		}
	}
	if len(pending) == 0 {
		delete(r.byParent, parent)
	} else {
		r.byParent[parent] = pending
	}
	if len(removed) > 0 {
		listed = slices.DeleteFunc(listed, func(e drivers.Entry) bool { return removed[e.ID] })
	}
	return listed
}
