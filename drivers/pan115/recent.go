package pan115

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/state"
)

// settleTime is how long a change of ours is laid over 115's listings.
// 115 shows new, renamed and moved entries in listings only after a while
// (docs/protocols/pan115.md, eventual consistency), and a listing that already shows a
// change proves nothing: after a move from A to B and back, a lagging
// listing of A can look right and a later one wrong. So a change is kept
// for settleTime whatever the listings say; the cost is that someone
// else's change to the same entry in that time is hidden.
const settleTime = time.Minute

// recentChanges remembers what this driver changed, per folder, for
// settleTime, so that a listing 115 answers from before
// the change is corrected with what we know: without it a file just
// uploaded, or the new file of an overwrite whose old one is already in
// the recycle bin, would be missing from the folder until 115 catches up.
//
// Replicas on a shared state store tell each other their changes, as
// any of them may list the folder next (shareRecent).
type recentChanges struct {
	mu       sync.Mutex
	byParent map[string][]change
	n        int // changes held
	pruneAt  int // n at which expired changes are next dropped
	tell     func(parent string, c change)
}

// recentTopic is the state store topic of 115 changes.
const recentTopic = "pan115-recent"

// sharedChange is a change as it travels between replicas.
type sharedChange struct {
	Login  string        `json:"login"` // whose (upstream.TokenKey)
	Parent string        `json:"parent"`
	Entry  drivers.Entry `json:"entry"` // Extra is the pick code, a string
	Gone   bool          `json:"gone,omitempty"`
}

// shareRecent makes r tell other replicas of st its changes of the login
// named login, and take theirs. Without a shared store it does nothing.
func shareRecent(r *recentChanges, st state.Store, login string, log zerolog.Logger) {
	w, ok := st.(state.Watcher)
	if !ok || !st.Shared() {
		return
	}
	r.tell = func(parent string, c change) {
		b, _ := json.Marshal(sharedChange{Login: login, Parent: parent, Entry: c.e, Gone: c.gone})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := w.Publish(ctx, recentTopic, string(b)); err != nil {
			log.Warn().Err(err).Msg("pan115: the other replicas were not told of a change; they show it when 115 does")
		}
	}
	w.Watch(func(topic, msg string) {
		var sc sharedChange
		if topic != recentTopic || json.Unmarshal([]byte(msg), &sc) != nil || sc.Login != login {
			return
		}
		r.record(sc.Parent, change{at: time.Now(), e: sc.Entry, gone: sc.Gone})
	})
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
	r.record(parent, c)
	if r.tell != nil {
		r.tell(parent, c)
	}
}

// record is add without telling the other replicas.
func (r *recentChanges) record(parent string, c change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byParent == nil {
		r.byParent = map[string][]change{}
	}
	// A newer change of the same entry in this folder replaces the older.
	cs := r.byParent[parent]
	before := len(cs)
	cs = slices.DeleteFunc(cs, func(o change) bool { return o.e.ID == c.e.ID })
	r.byParent[parent] = append(cs, c)
	r.n += len(cs) + 1 - before
	// Folders that are never listed again would keep their changes for
	// ever; drop what expired, at a cost that stays O(1) per change.
	if r.n >= r.pruneAt {
		for p := range r.byParent {
			r.expire(p)
		}
		r.pruneAt = 2*r.n + 64
	}
}

// expire drops the changes of parent older than settleTime; r.mu is held.
func (r *recentChanges) expire(parent string) []change {
	cs := r.byParent[parent]
	kept := slices.DeleteFunc(cs, func(c change) bool { return time.Since(c.at) > settleTime })
	r.n -= len(cs) - len(kept)
	if len(kept) == 0 {
		delete(r.byParent, parent)
		return nil
	}
	r.byParent[parent] = kept
	return kept
}

// apply lays the changes of parent over a fresh listing of it.
func (r *recentChanges) apply(parent string, listed []drivers.Entry) []drivers.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.expire(parent)
	if len(cs) == 0 {
		return listed
	}
	at := make(map[string]int, len(listed))
	for i, e := range listed {
		at[e.ID] = i
	}
	removed := map[string]bool{}
	for _, c := range cs {
		i, shown := at[c.e.ID]
		switch {
		case c.gone:
			removed[c.e.ID] = true
		case shown:
			// The listing's own figures (time, pick code) are newer.
			listed[i].Name, listed[i].ParentID = c.e.Name, c.e.ParentID
		default:
			at[c.e.ID] = len(listed)
			listed = append(listed, c.e)
		}
	}
	if len(removed) > 0 {
		listed = slices.DeleteFunc(listed, func(e drivers.Entry) bool { return removed[e.ID] })
	}
	return listed
}
