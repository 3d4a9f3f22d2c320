package memdrive

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"pandav/drivers"
)

// The writes map one to one onto the cloud's calls (docs/protocols/memdrive.md §4). The
// cloud checks names itself, and classify turns its invalid_name and
// name_exists into the ErrInvalidName and ErrExist the contract asks
// for, so nothing here second-guesses it.

// Mkdir creates name in parent.
func (d *Drive) Mkdir(ctx context.Context, parent drivers.Entry, name string) (drivers.Entry, error) {
	op := fmt.Sprintf("memdrive mkdir %q in %s", name, parent.ID)
	return d.place(ctx, op, http.MethodPost, "/v1/folders", placement{ParentID: parent.ID, Name: name})
}

// Rename gives e newName in its folder.
func (d *Drive) Rename(ctx context.Context, e drivers.Entry, newName string) (drivers.Entry, error) {
	op := fmt.Sprintf("memdrive rename %s to %q", e.ID, newName)
	return d.place(ctx, op, http.MethodPatch, "/v1/files/"+url.PathEscape(e.ID), placement{Name: newName})
}

// Move puts e in newParent, renaming it on the way when newName is set:
// one PATCH does both, so no state exists in which only half is done.
func (d *Drive) Move(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	op := fmt.Sprintf("memdrive move %s to %s", e.ID, newParent.ID)
	return d.place(ctx, op, http.MethodPatch, "/v1/files/"+url.PathEscape(e.ID), placement{ParentID: newParent.ID, Name: cmp.Or(newName, e.Name)})
}

// Copy copies e, a folder with all it holds, into newParent.
func (d *Drive) Copy(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	op := fmt.Sprintf("memdrive copy %s to %s", e.ID, newParent.ID)
	return d.place(ctx, op, http.MethodPost, "/v1/files/"+url.PathEscape(e.ID)+"/copy", placement{ParentID: newParent.ID, Name: cmp.Or(newName, e.Name)})
}

// place makes one of the calls above; each answers the entry as it now
// is, so no listing is needed to return it.
func (d *Drive) place(ctx context.Context, op, method, path string, p placement) (drivers.Entry, error) {
	var f file
	if err := d.call(ctx, op, request{method: method, path: path, body: p}, &f); err != nil {
		return drivers.Entry{}, err
	}
	return f.entry(), nil
}

// Remove sends e to the trash, or removes it for good.
func (d *Drive) Remove(ctx context.Context, e drivers.Entry, permanent bool) error {
	var q url.Values
	if permanent {
		q = url.Values{"permanent": {"true"}}
	}
	return d.call(ctx, "memdrive remove "+e.ID, request{method: http.MethodDelete, path: "/v1/files/" + url.PathEscape(e.ID), query: q}, nil)
}
