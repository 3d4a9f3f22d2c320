package pan115

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"pandav/drivers"
)

// checkName refuses, before any call, what 115 would refuse (20001-20003)
// or silently mangle: empty names, more than 255 bytes, `"<>`, a slash,
// NUL, invalid UTF-8, "." and "..".
func checkName(op, name string) error {
	why := ""
	switch {
	case strings.TrimSpace(name) == "":
		why = "empty"
	case name == "." || name == "..":
		why = "reserved"
	case len(name) > 255:
		why = "longer than 255 bytes"
	case strings.ContainsAny(name, "\"<>/\x00"):
		why = `contains one of " < > / NUL`
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	default:
		return nil
	}
	return fmt.Errorf("%s: %w: %q is %s", op, drivers.ErrInvalidName, name, why)
}

// splitExt splits a name at its last dot, as 115 sees extensions.
func splitExt(name string) (stem, ext string) {
	e := path.Ext(name)
	return strings.TrimSuffix(name, e), e
}

func (d *Drive) post(ctx context.Context, op, p string, form url.Values, out any) error {
	return d.call(ctx, op, request{method: http.MethodPost, path: p, form: form}, out)
}

// Mkdir creates name in parent. A taken name is ErrExist (115's 20004).
func (d *Drive) Mkdir(ctx context.Context, parent drivers.Entry, name string) (drivers.Entry, error) {
	op := fmt.Sprintf("pan115 mkdir %q in %s", name, parent.ID)
	if err := checkName(op, name); err != nil {
		return drivers.Entry{}, err
	}
	if !parent.IsDir {
		return drivers.Entry{}, fmt.Errorf("%s: parent is not a folder", op)
	}
	var r folderAddResp
	if err := d.post(ctx, op, "/open/folder/add", url.Values{"pid": {parent.ID}, "file_name": {name}}, &r); err != nil {
		return drivers.Entry{}, err
	}
	v := r.Data.V
	if v.FileID == "" {
		return drivers.Entry{}, fmt.Errorf("%s: %w: 115 named no new folder", op, drivers.ErrUpstream)
	}
	if v.FileName != "" {
		name = v.FileName
	}
	e := drivers.Entry{ID: string(v.FileID), ParentID: parent.ID, Name: name, IsDir: true, ModTime: time.Now().UTC().Truncate(time.Second)}
	d.recent.placed(e)
	return e, nil
}

// update asks 115 to rename id and returns the name it chose, which is
// not always the one asked for.
func (d *Drive) update(ctx context.Context, op, id, name string) (string, error) {
	var r updateResp
	if err := d.post(ctx, op, "/open/ufile/update", url.Values{"file_id": {id}, "file_name": {name}}, &r); err != nil {
		return "", err
	}
	if r.Data.V.FileName == "" {
		return name, nil
	}
	return r.Data.V.FileName, nil
}

// Rename gives e exactly newName. 115's update keeps a file's extension
// whatever it is asked ("a.txt" asked "b.md" becomes "b.txt"), and adds
// "(1)" on a taken name. The first is repaired (see renameByReupload); the
// second is undone and reported as ErrExist.
func (d *Drive) Rename(ctx context.Context, e drivers.Entry, newName string) (drivers.Entry, error) {
	op := "pan115 rename " + e.ID
	if err := checkName(op, newName); err != nil {
		return drivers.Entry{}, err
	}
	if e.ID == "" || e.ID == rootID {
		return drivers.Entry{}, fmt.Errorf("%s: %w: the root cannot be renamed", op, drivers.ErrUnsupported)
	}
	if newName == e.Name {
		return e, nil
	}
	final, err := d.update(ctx, op, e.ID, newName)
	if err != nil {
		return drivers.Entry{}, err
	}
	if final == newName {
		e.Name = newName
		d.recent.placed(e)
		return e, nil
	}
	stem, _ := splitExt(newName)
	_, oldExt := splitExt(e.Name)
	if !e.IsDir && final == stem+oldExt {
		cur := e
		cur.Name = final
		return d.renameByReupload(ctx, op, cur, e.Name, newName)
	}
	// 115 suffixed the name: it is taken. Put the old one back.
	if _, err := d.update(ctx, op, e.ID, e.Name); err != nil {
		return drivers.Entry{}, fmt.Errorf("%s: %q is taken, and restoring %q failed: %w", op, newName, e.Name, err)
	}
	return drivers.Entry{}, fmt.Errorf("%s: %w: %q", op, drivers.ErrExist, newName)
}

func (d *Drive) move(ctx context.Context, op, id, to string) error {
	var r anyResp
	return d.post(ctx, op, "/open/ufile/move", url.Values{"file_ids": {id}, "to_cid": {to}}, &r)
}

// Move puts e in newParent as newName (e's own name if empty). 115 moves
// onto a taken name by suffixing "(1)"; that is undone and reported as
// ErrExist.
func (d *Drive) Move(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	op := "pan115 move " + e.ID
	want := e.Name
	if newName != "" {
		want = newName
	}
	if err := checkName(op, want); err != nil {
		return drivers.Entry{}, err
	}
	if e.ID == "" || e.ID == rootID {
		return drivers.Entry{}, fmt.Errorf("%s: %w: the root cannot be moved", op, drivers.ErrUnsupported)
	}
	if !newParent.IsDir {
		return drivers.Entry{}, fmt.Errorf("%s: target %s is not a folder", op, newParent.ID)
	}
	if e.ParentID == newParent.ID {
		return d.Rename(ctx, e, want)
	}
	if err := d.move(ctx, op, e.ID, newParent.ID); err != nil {
		return drivers.Entry{}, err
	}
	moved := e
	moved.ParentID = newParent.ID
	undo := func(name string) {
		if e.ParentID == "" {
			return
		}
		if d.move(ctx, op, e.ID, e.ParentID) == nil && name != e.Name {
			d.update(ctx, op, e.ID, e.Name)
		}
	}
	if want == e.Name {
		// The move's answer does not say whether it suffixed the name.
		got, err := d.Get(ctx, e.ID)
		if err != nil {
			return drivers.Entry{}, err
		}
		if got.Name != e.Name {
			undo(got.Name)
			return drivers.Entry{}, fmt.Errorf("%s: %w: %q", op, drivers.ErrExist, want)
		}
		d.recent.left(e.ParentID, e.ID)
		d.recent.placed(got)
		return got, nil
	}
	r, err := d.Rename(ctx, moved, want)
	if errors.Is(err, drivers.ErrExist) {
		undo(e.Name)
	}
	if err == nil {
		d.recent.left(e.ParentID, e.ID)
	}
	return r, err
}

// copyShowTimeout bounds how long Copy waits for 115 to list the copy.
const copyShowTimeout = 20 * time.Second

// isCopyName says whether name is orig or a suffixed copy of it,
// stem(N).ext.
func isCopyName(name, orig string) bool {
	if name == orig {
		return true
	}
	stem, ext := splitExt(orig)
	mid, found := strings.CutPrefix(name, stem+"(")
	if !found {
		return false
	}
	mid, found = strings.CutSuffix(mid, ")"+ext)
	return found && mid != "" && strings.Trim(mid, "0123456789") == ""
}

// Copy copies e (a folder with all it holds) into newParent as newName.
// 115's copy does not say what it created, so the target is listed before
// and after; a taken target name is ErrExist, found before copying.
func (d *Drive) Copy(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	op := "pan115 copy " + e.ID
	want := e.Name
	if newName != "" {
		want = newName
	}
	if err := checkName(op, want); err != nil {
		return drivers.Entry{}, err
	}
	if e.ID == "" || e.ID == rootID {
		return drivers.Entry{}, fmt.Errorf("%s: %w: the root cannot be copied", op, drivers.ErrUnsupported)
	}
	before, err := d.List(ctx, newParent)
	if err != nil {
		return drivers.Entry{}, err
	}
	seen := map[string]bool{}
	for _, k := range before {
		if k.Name == want {
			return drivers.Entry{}, fmt.Errorf("%s: %w: %q", op, drivers.ErrExist, want)
		}
		seen[k.ID] = true
	}
	var r anyResp
	if err := d.post(ctx, op, "/open/ufile/copy", url.Values{"pid": {newParent.ID}, "file_id": {e.ID}, "nodupli": {"0"}}, &r); err != nil {
		return drivers.Entry{}, err
	}
	var found *drivers.Entry
	// 115 shows what it just made only after a while (eventual
	// consistency), and its copy answer names nothing, so the target is
	// listed until the copy shows.
	deadline := time.Now().Add(copyShowTimeout)
	for try := 0; found == nil; try++ {
		if try > 0 {
			if time.Now().After(deadline) {
				break
			}
			if err := sleep(ctx, min(d.policy.BaseDelay<<try, 2*time.Second)); err != nil {
				return drivers.Entry{}, err
			}
		}
		after, err := d.List(ctx, newParent)
		if err != nil {
			return drivers.Entry{}, err
		}
		for i, k := range after {
			if !seen[k.ID] && k.IsDir == e.IsDir && isCopyName(k.Name, e.Name) {
				found = &after[i]
				break
			}
		}
	}
	if found == nil {
		return drivers.Entry{}, fmt.Errorf("%s: %w: the copy does not show in the target folder", op, drivers.ErrUpstream)
	}
	if found.Name == want {
		d.recent.placed(*found)
		return *found, nil
	}
	out, err := d.Rename(ctx, *found, want)
	if err != nil {
		d.remove(ctx, op, found.ID, found.ParentID, true)
		return drivers.Entry{}, err
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Remove sends e to 115's recycle bin, and with permanent empties it from
// there too.
func (d *Drive) Remove(ctx context.Context, e drivers.Entry, permanent bool) error {
	op := "pan115 remove " + e.ID
	if e.ID == "" || e.ID == rootID {
		return fmt.Errorf("%s: %w: the root cannot be removed", op, drivers.ErrUnsupported)
	}
	return d.remove(ctx, op, e.ID, e.ParentID, permanent)
}

func (d *Drive) remove(ctx context.Context, op, id, parentID string, permanent bool) error {
	form := url.Values{"file_ids": {id}}
	if parentID != "" {
		form.Set("parent_id", parentID)
	}
	var r anyResp
	if err := d.post(ctx, op, "/open/ufile/delete", form, &r); err != nil {
		return err
	}
	d.recent.left(parentID, id)
	if !permanent {
		return nil
	}
	return d.post(ctx, op+" for good", "/open/rb/del", url.Values{"tid": {id}}, &r)
}
