package pan115

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// List pages through the folder. It advances by what each page held, not
// by what it asked for, because 115 caps the page silently; and it checks
// the answer is about dir, because 115 serves an unknown folder as the
// root.
//
// A listing that does not add up is never returned short: a page without
// a count, an empty page before the count is reached, a count that
// changes from page to page, or fewer entries than the count, are what
// 115 answers under load (docs/protocols/pan115.md §2, "Listings that do
// not add up"). A page is retried as throttled, and a whole listing that
// still does not add up is made again from its first page; if it never
// does, the caller gets drivers.RateLimitedError, which a client sees as
// 503, and a library tool as a failure rather than an empty folder.
func (d *Drive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	if !dir.IsDir {
		return nil, fmt.Errorf("pan115 list %s: not a folder", dir.ID)
	}
	op := "pan115 list " + dir.ID
	var out []drivers.Entry
	p := d.policy
	p.Attempts = listAttempts
	err := upstream.Do(ctx, p, op, func(ctx context.Context) error {
		var err error
		out, err = d.listOnce(ctx, op, dir)
		return err
	})
	if err != nil {
		return nil, err
	}
	out = d.recent.apply(dir.ID, out)
	newestFirst(out)
	return out, nil
}

// listAttempts is how many times a listing whose pages do not add up is
// made from its first page: a folder that changed while it was paged
// through adds up the next time.
const listAttempts = 3

// listOnce pages through dir once.
func (d *Drive) listOnce(ctx context.Context, op string, dir drivers.Entry) ([]drivers.Entry, error) {
	var out []drivers.Entry
	seen := map[string]bool{}
	count := int64(-1)
	for offset := int64(0); ; {
		q := url.Values{
			"cid":          {dir.ID},
			"show_dir":     {"1"},
			"limit":        {fmt.Sprint(d.o.PageSize)},
			"offset":       {fmt.Sprint(offset)},
			"o":            {"file_name"},
			"asc":          {"1"},
			"custom_order": {"1"},
		}
		var r listResp
		check := func() error {
			err := r.complete(op, offset)
			if err != nil {
				r = listResp{} // the retry decodes afresh
			}
			return err
		}
		if err := d.call(ctx, op, request{method: http.MethodGet, path: "/open/ufile/files", query: q, class: listClass, check: check}, &r); err != nil {
			return nil, err
		}
		if !r.isFor(dir.ID) {
			return nil, fmt.Errorf("%s: %w", op, drivers.ErrNotFound)
		}
		if count >= 0 && int64(*r.Count) != count {
			return nil, upstream.Throttled(fmt.Errorf("%s: the folder's count went from %d to %d between pages", op, count, *r.Count), 0)
		}
		count = int64(*r.Count)
		for i := range r.Data {
			e := itemEntry(&r.Data[i], dir.ID)
			if e.ID == "" || seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			out = append(out, e)
		}
		offset += int64(len(r.Data))
		if len(r.Data) == 0 || offset >= count {
			if int64(len(out)) < count {
				return nil, upstream.Throttled(fmt.Errorf("%s: %d entries listed of the %d the folder holds", op, len(out), count), 0)
			}
			return out, nil
		}
	}
}

// complete says whether one page, asked for at offset, is a page of a
// listing: it carries the folder's count, and it is empty only at the
// end. 115 under load answers success with neither.
func (r *listResp) complete(op string, offset int64) error {
	switch {
	case r.Count == nil:
		return upstream.Throttled(fmt.Errorf("%s: an answer without a count, which is no listing", op), 0)
	case len(r.Data) == 0 && offset < int64(*r.Count):
		return upstream.Throttled(fmt.Errorf("%s: an empty page at %d of a folder of %d", op, offset, *r.Count), 0)
	}
	return nil
}

// isFor says whether a listing is of folder id: the answer's cid, or else
// its path's last cid, must match. Root always matches.
func (r *listResp) isFor(id string) bool {
	if id == rootID {
		return true
	}
	if r.CID != "" {
		return string(r.CID) == id
	}
	if n := len(r.Path); n > 0 {
		return string(r.Path[n-1].CID) == id
	}
	// An answer that names no folder cannot be checked; take it.
	return true
}

func itemEntry(it *fileItem, parent string) drivers.Entry {
	id := it.FID
	if id == "" {
		id = it.CID
	}
	e := drivers.Entry{
		ID:       string(id),
		ParentID: parent,
		Name:     it.Name,
		IsDir:    it.FC == "0",
		ModTime:  unix(it.UPT, it.UET, it.UPPT),
		Extra:    it.PickCode,
	}
	if !e.IsDir {
		e.Size = int64(it.Size)
		e.SHA1 = strings.ToUpper(it.SHA1)
	}
	return e
}

func infoEntry(in *infoData) drivers.Entry {
	e := drivers.Entry{
		ID:      string(in.FileID),
		Name:    in.FileName,
		IsDir:   in.FileCategory == "0",
		ModTime: unix(in.UTime, in.PTime),
		Extra:   in.PickCode,
	}
	if n := len(in.Paths); n > 0 {
		e.ParentID = string(in.Paths[n-1].FileID)
	}
	if !e.IsDir {
		e.Size = int64(in.SizeByte)
		e.SHA1 = strings.ToUpper(in.SHA1)
	}
	return e
}

// unix returns the first non-zero of the given unix-second times.
func unix(ts ...Int64) time.Time {
	for _, t := range ts {
		if t > 0 {
			return time.Unix(int64(t), 0).UTC()
		}
	}
	return time.Time{}
}

// Get looks one file or folder up by ID. Not found is code 430004, or an
// empty data array.
func (d *Drive) Get(ctx context.Context, id string) (drivers.Entry, error) {
	if id == rootID {
		return drivers.Entry{ID: rootID, IsDir: true}, nil
	}
	op := "pan115 get " + id
	var r infoResp
	if err := d.call(ctx, op, request{method: http.MethodGet, path: "/open/folder/get_info", query: url.Values{"file_id": {id}}}, &r); err != nil {
		return drivers.Entry{}, err
	}
	if r.Data.Missing || r.Data.FileID == "" {
		return drivers.Entry{}, fmt.Errorf("%s: %w", op, drivers.ErrNotFound)
	}
	return infoEntry(&r.Data), nil
}

// newestFirst reorders entries that share a name, newest (highest ID:
// 115's IDs grow with time) first, leaving every other entry where it
// was. 115 states no order among namesakes; this one makes a path that
// names several resolve to the one uploaded last, listing after listing.
func newestFirst(es []drivers.Entry) {
	byName := map[string][]int{}
	for i, e := range es {
		byName[e.Name] = append(byName[e.Name], i)
	}
	for _, idx := range byName {
		if len(idx) < 2 {
			continue
		}
		group := make([]drivers.Entry, len(idx))
		for j, i := range idx {
			group[j] = es[i]
		}
		sort.SliceStable(group, func(a, b int) bool { return idLess(group[b].ID, group[a].ID) })
		for j, i := range idx {
			es[i] = group[j]
		}
	}
}

// idLess compares decimal IDs as numbers.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// Root returns the configured root folder, looking its path up once.
func (d *Drive) Root(ctx context.Context) (drivers.Entry, error) {
	if d.o.Root == "/" {
		return drivers.Entry{ID: rootID, IsDir: true}, nil
	}
	d.rootMu.Lock()
	defer d.rootMu.Unlock()
	// A new login may be another account's, whose folder ids differ.
	gen := d.ts.Generation()
	if d.root != nil && d.rootGen == gen {
		return *d.root, nil
	}
	op := fmt.Sprintf("pan115 root %q", d.o.Root)
	var r infoResp
	if err := d.call(ctx, op, request{method: http.MethodPost, path: "/open/folder/get_info", form: url.Values{"path": {d.o.Root}}}, &r); err != nil {
		return drivers.Entry{}, err
	}
	if r.Data.Missing || r.Data.FileID == "" {
		return drivers.Entry{}, fmt.Errorf("%s: %w", op, drivers.ErrNotFound)
	}
	e := infoEntry(&r.Data)
	if !e.IsDir {
		return drivers.Entry{}, fmt.Errorf("%s: is a file, not a folder", op)
	}
	d.root, d.rootGen = &e, gen
	return e, nil
}
