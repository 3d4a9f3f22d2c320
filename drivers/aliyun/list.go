package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
)

// Root resolves options.root once and caches it.
func (d *Drive) Root(ctx context.Context) (drivers.Entry, error) {
	if d.o.Root == "/" {
		return drivers.Entry{ID: "root", IsDir: true}, nil
	}
	if _, r, _ := d.cached(); r != nil {
		return *r, nil
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	d.initMu.Lock()
	defer d.initMu.Unlock()
	_, r, gen := d.cached()
	if r != nil {
		return *r, nil
	}
	var it fileItem
	if d.o.API == "web" {
		err = d.webGetByPath(ctx, driveID, d.o.Root, &it)
	} else {
		err = d.call(ctx, "other", "openFile/get_by_path", getByPathRequest{DriveID: driveID, FilePath: d.o.Root}, &it)
	}
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusNotFound) {
		// A missing path is 404 or, for a missing parent, 400.
		return drivers.Entry{}, fmt.Errorf("aliyun: options.root %q: %w (%v)", d.o.Root, drivers.ErrNotFound, err)
	}
	if err != nil {
		return drivers.Entry{}, err
	}
	e := toEntry(it)
	if !e.IsDir {
		return drivers.Entry{}, fmt.Errorf("aliyun: options.root %q is a file, not a folder", d.o.Root)
	}
	d.remember(gen, func() { d.root = &e })
	return e, nil
}

// List returns every child of dir, following next_marker to the last page.
func (d *Drive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	driveID, err := d.drive(ctx)
	if err != nil {
		return nil, err
	}
	if d.o.API == "web" {
		kids, err := d.webList(ctx, driveID, dir)
		return hideTempFolder(dir, kids), err
	}
	req := listRequest{DriveID: driveID, ParentFileID: dir.ID, Limit: d.o.PageSize}
	out, err := listEntries(dir, "openFile/list", func(marker string) (page listResponse, err error) {
		req.Marker = marker
		err = d.call(ctx, "list", "openFile/list", req, &page)
		return page, err
	})
	if err != nil {
		return nil, err
	}
	d.logDuplicates(dir, out)
	return hideTempFolder(dir, out), nil
}

// listPages follows next_marker from the first page (marker "") to the
// last, with page fetching one. A marker the service repeats would loop
// for ever, so it is an error.
func listPages(dir drivers.Entry, endpoint string, page func(marker string) (listResponse, error)) ([]fileItem, error) {
	var items []fileItem
	seen := map[string]bool{}
	for marker := ""; ; {
		p, err := page(marker)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", dir.Name, err)
		}
		items = append(items, p.Items...)
		if p.NextMarker == "" {
			return items, nil
		}
		if seen[p.NextMarker] {
			return nil, fmt.Errorf("aliyun %s %q: %w: the service repeated a page marker", endpoint, dir.Name, drivers.ErrUpstream)
		}
		seen[p.NextMarker] = true
		marker = p.NextMarker
	}
}

// listEntries is listPages, as entries in orderItems' order.
func listEntries(dir drivers.Entry, endpoint string, page func(marker string) (listResponse, error)) ([]drivers.Entry, error) {
	items, err := listPages(dir, endpoint, page)
	orderItems(items)
	out := make([]drivers.Entry, len(items))
	for i, it := range items {
		out[i] = toEntry(it)
	}
	return out, err
}

// orderItems makes a listing's order deterministic: by name, and among
// equal names (the Open API's default check_name_mode allows them) the
// one uploaded last first, since the layer above serves the first of
// equal names (drivers.Drive.List). Upload time is the service's
// created_at, not the entry's ModTime, which is the time the uploading
// client gave (local_modified_at): an overwrite with an older file must
// still show the new content while the old one awaits removal.
func orderItems(items []fileItem) {
	name := func(it fileItem) string {
		if it.Name != "" {
			return it.Name
		}
		return it.FileName
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if name(a) != name(b) {
			return name(a) < name(b)
		}
		if ua, ub := uploadedAt(a), uploadedAt(b); !ua.Equal(ub) {
			return ua.After(ub)
		}
		return a.FileID > b.FileID
	})
}

// uploadedAt is when the service made the entry; zero if it does not say.
func uploadedAt(it fileItem) time.Time {
	for _, v := range []string{it.CreatedAt, it.UpdatedAt} {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// logDuplicates reports, once per folder and name, the names a listing
// (in orderItems' order) holds more than once.
func (d *Drive) logDuplicates(dir drivers.Entry, es []drivers.Entry) {
	logDuplicates(d.log, &d.dupLogged, dir, es)
}

// logDuplicates is Drive.logDuplicates for any mount; logged remembers
// the duplicates already reported.
func logDuplicates(log zerolog.Logger, logged *sync.Map, dir drivers.Entry, es []drivers.Entry) {
	for i := 1; i < len(es); i++ {
		if es[i].Name != es[i-1].Name || (i > 1 && es[i-2].Name == es[i].Name) {
			continue
		}
		n := 2
		for n+i-1 < len(es) && es[n+i-1].Name == es[i].Name {
			n++
		}
		if _, done := logged.LoadOrStore(dir.ID+"/"+es[i].Name, struct{}{}); !done {
			log.Warn().Str("folder_id", dir.ID).Str("name", es[i].Name).Int("copies", n).
				Str("using", es[i-1].ID).Msg("duplicate names in a folder; the one uploaded last is served")
		}
	}
}

// Get fetches one entry by id.
func (d *Drive) Get(ctx context.Context, id string) (drivers.Entry, error) {
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	if d.o.API == "web" {
		return d.webGet(ctx, driveID, id)
	}
	var it fileItem
	if err := d.call(ctx, "other", "openFile/get", getRequest{DriveID: driveID, FileID: id}, &it); err != nil {
		return drivers.Entry{}, err
	}
	return toEntry(it), nil
}

func toEntry(it fileItem) drivers.Entry {
	e := drivers.Entry{ID: it.FileID, ParentID: it.ParentFileID, Name: it.Name, IsDir: it.Type == "folder"}
	if e.Name == "" {
		e.Name = it.FileName
	}
	if !e.IsDir {
		e.Size = it.Size
		if len(it.ContentHash) == 40 && (it.ContentHashName == "" || strings.EqualFold(it.ContentHashName, "sha1")) {
			e.SHA1 = strings.ToUpper(it.ContentHash)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, it.LocalModifiedAt); err == nil && it.Type != "folder" {
		e.ModTime = t // the time the uploading client gave, which is what it compares
	} else if t, err := time.Parse(time.RFC3339Nano, it.UpdatedAt); err == nil {
		e.ModTime = t
	} else if t, err := time.Parse(time.RFC3339Nano, it.CreatedAt); err == nil {
		e.ModTime = t
	}
	return e
}
