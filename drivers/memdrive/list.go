package memdrive

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"pandav/drivers"
)

// rootID is the literal the cloud gives its root folder (docs/protocols/memdrive.md §2).
const rootID = "root"

// Root is the cloud's root folder. Its ID is fixed, so it costs no call.
func (d *Drive) Root(context.Context) (drivers.Entry, error) {
	return drivers.Entry{ID: rootID, IsDir: true}, nil
}

// List follows next_cursor to the last page. It never counts entries to
// decide it is done: the cloud caps a page below the limit asked for
// without saying so (docs/protocols/memdrive.md §2). Each page is its own call, so a
// throttled page is retried alone, not the listing.
func (d *Drive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	op := "memdrive list " + dir.ID
	q := url.Values{"limit": {strconv.Itoa(d.o.PageSize)}}
	var out []drivers.Entry
	for {
		var p page
		if err := d.call(ctx, op, request{method: http.MethodGet, path: "/v1/files/" + url.PathEscape(dir.ID) + "/children", query: q, class: listClass}, &p); err != nil {
			return nil, err
		}
		for i := range p.Items {
			out = append(out, p.Items[i].entry())
		}
		if p.NextCursor == "" {
			return out, nil
		}
		q.Set("cursor", p.NextCursor)
	}
}

// Get looks one entry up by ID.
func (d *Drive) Get(ctx context.Context, id string) (drivers.Entry, error) {
	var f file
	if err := d.call(ctx, "memdrive get "+id, request{method: http.MethodGet, path: "/v1/files/" + url.PathEscape(id)}, &f); err != nil {
		return drivers.Entry{}, err
	}
	return f.entry(), nil
}

// entry is f as pandav sees it. The cloud's SHA1 is lowercase; an Entry's
// is uppercase, the form ETags and checksums are compared in.
func (f *file) entry() drivers.Entry {
	return drivers.Entry{
		ID:       f.ID,
		ParentID: f.ParentID,
		Name:     f.Name,
		IsDir:    f.Kind == "folder",
		Size:     f.Size,
		ModTime:  f.Modified,
		SHA1:     strings.ToUpper(f.SHA1),
	}
}
