package webdav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path"
	"time"

	"golang.org/x/net/webdav"

	"pandav/drivers"
)

// Mkdir implements webdav.FileSystem.
func (fs *FileSystem) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	name = cleanPath(name)
	m, rel, err := fs.writableMount(ctx, "mkdir", name)
	if err != nil {
		if fs.isVirtualOrMount(name) {
			return &os.PathError{Op: "mkdir", Path: name, Err: os.ErrExist}
		}
		return err
	}
	if err := checkName(path.Base(rel)); err != nil {
		return fs.fail(ctx, "mkdir", name, err)
	}
	parent, err := fs.parentDir(ctx, m, rel)
	if err != nil {
		return fs.fail(ctx, "mkdir", name, err)
	}
	if _, err := m.resolve(ctx, rel); err == nil {
		return fs.fail(ctx, "mkdir", name, fmt.Errorf("%s: %w", name, drivers.ErrExist))
	}
	if m.can.mkdir == nil {
		return fs.fail(ctx, "mkdir", name, fmt.Errorf("mkdir: %w", drivers.ErrUnsupported))
	}
	e, err := m.can.mkdir.Mkdir(ctx, parent, path.Base(rel))
	if err != nil {
		return fs.fail(ctx, "mkdir", name, err)
	}
	m.learn(rel, e)
	return nil
}

func (fs *FileSystem) isVirtualOrMount(name string) bool {
	if _, ok := fs.virtual[name]; ok {
		return true
	}
	m, rel := fs.locate(name)
	return m != nil && rel == "/"
}

// RemoveAll implements webdav.FileSystem: to the cloud's trash, or for
// good on a no_trash mount.
func (fs *FileSystem) RemoveAll(ctx context.Context, name string) error {
	name = cleanPath(name)
	m, rel, err := fs.writableMount(ctx, "remove", name)
	if err != nil {
		return err
	}
	if err := fs.awaitUpload(ctx, name); err != nil {
		return fs.fail(ctx, "remove", name, err)
	}
	if fs.held.remove(name) {
		fs.props.remove(m.path, heldID(name))
		if _, err := m.resolve(ctx, rel); err != nil {
			return nil // it lived here only
		}
	}
	e, err := m.resolve(ctx, rel)
	if err != nil {
		return fs.fail(ctx, "remove", name, err)
	}
	if m.can.remove == nil {
		return fs.fail(ctx, "remove", name, fmt.Errorf("remove: %w", drivers.ErrUnsupported))
	}
	if err := m.can.remove.Remove(ctx, e, m.noTrash); err != nil && !errors.Is(err, drivers.ErrNotFound) {
		return fs.fail(ctx, "remove", name, err)
	}
	m.forget(rel)
	fs.props.remove(m.path, e.ID)
	fs.readBack.drop(m.path, e.ID)
	return nil
}

// Rename implements webdav.FileSystem with the cloud's own rename and
// move. The Handler has already refused moves across mounts and of mount
// roots, and removed an existing destination when Overwrite allowed it.
func (fs *FileSystem) Rename(ctx context.Context, oldName, newName string) error {
	if err := checkName(path.Base(cleanPath(newName))); err != nil {
		return fs.fail(ctx, "rename", newName, err)
	}
	return fs.rename(ctx, oldName, newName)
}

// rename is Rename without the name check, so that pandav's own
// temporary names (tempPrefix) can be used.
func (fs *FileSystem) rename(ctx context.Context, oldName, newName string) error {
	oldName, newName = cleanPath(oldName), cleanPath(newName)
	m, oldRel, err := fs.writableMount(ctx, "rename", oldName)
	if err != nil {
		return err
	}
	m2, newRel, err := fs.writableMount(ctx, "rename", newName)
	if err != nil {
		return err
	}
	if m2 != m {
		return fs.fail(ctx, "rename", oldName, errCrossMount)
	}
	if err := fs.awaitUpload(ctx, oldName); err != nil {
		return fs.fail(ctx, "rename", oldName, err)
	}
	if fs.held.rename(oldName, newName) {
		fs.props.move(m.path, heldID(oldName), heldID(newName))
		return nil
	}
	e, err := m.resolve(ctx, oldRel)
	if err != nil {
		return fs.fail(ctx, "rename", oldName, err)
	}
	newParent, err := fs.parentDir(ctx, m, newRel)
	if err != nil {
		return fs.fail(ctx, "rename", newName, err)
	}
	if e.IsDir && (newRel == oldRel || len(newRel) > len(oldRel) && newRel[:len(oldRel)+1] == oldRel+"/") {
		return fs.fail(ctx, "rename", newName, fmt.Errorf("%w: a folder cannot move into itself", os.ErrPermission))
	}
	newBase := path.Base(newRel)
	var moved drivers.Entry
	if newParent.ID == e.ParentID || path.Dir(newRel) == path.Dir(oldRel) {
		if m.can.rename == nil {
			return fs.fail(ctx, "rename", oldName, fmt.Errorf("rename: %w", drivers.ErrUnsupported))
		}
		moved, err = m.can.rename.Rename(ctx, e, newBase)
	} else {
		if m.can.move == nil {
			return fs.fail(ctx, "rename", oldName, fmt.Errorf("move: %w", drivers.ErrUnsupported))
		}
		name := ""
		if newBase != e.Name {
			name = newBase
		}
		moved, err = m.can.move.Move(ctx, e, newParent, name)
	}
	if err != nil {
		return fs.fail(ctx, "rename", oldName, err)
	}
	m.forget(oldRel)
	m.forget(newRel)
	m.learn(newRel, moved)
	if moved.ID != e.ID {
		fs.props.move(m.path, e.ID, moved.ID)
	}
	return nil
}

var errCrossMount = fmt.Errorf("%w: moving or copying between mounts is not supported; copy the files through your client", os.ErrPermission)

// copyEntry copies src to dst server-side; the Handler calls it for
// COPY. overwrite has already been checked against dst.
func (fs *FileSystem) copyEntry(ctx context.Context, src, dst string, depth0 bool) (created bool, err error) {
	m, srcRel := fs.locate(src)
	m2, dstRel, err := fs.writableMount(ctx, "copy", dst)
	if err != nil {
		return false, err
	}
	if m == nil || m2 != m {
		return false, fs.fail(ctx, "copy", src, errCrossMount)
	}
	if err := fs.awaitUpload(ctx, src); err != nil {
		return false, fs.fail(ctx, "copy", src, err)
	}
	if hf, ok := fs.held.get(src); ok {
		c := *hf
		fs.held.put(dst, &c)
		fs.props.copy(m.path, heldID(src), heldID(dst))
		return true, nil
	}
	e, err := m.resolve(ctx, srcRel)
	if err != nil {
		return false, fs.fail(ctx, "copy", src, err)
	}
	dstParent, err := fs.parentDir(ctx, m, dstRel)
	if err != nil {
		return false, fs.fail(ctx, "copy", dst, err)
	}
	if e.IsDir && len(dstRel) > len(srcRel) && dstRel[:len(srcRel)+1] == srcRel+"/" {
		return false, fs.fail(ctx, "copy", dst, fmt.Errorf("%w: a folder cannot be copied into itself", os.ErrPermission))
	}
	if e.IsDir && depth0 {
		// Depth 0 copies the folder but not what it holds.
		if m.can.mkdir == nil {
			return false, fs.fail(ctx, "copy", dst, fmt.Errorf("mkdir: %w", drivers.ErrUnsupported))
		}
		ne, err := m.can.mkdir.Mkdir(ctx, dstParent, path.Base(dstRel))
		if err != nil {
			return false, fs.fail(ctx, "copy", dst, err)
		}
		m.learn(dstRel, ne)
		fs.props.copy(m.path, e.ID, ne.ID)
		return true, nil
	}
	if m.can.copy == nil {
		return false, fs.fail(ctx, "copy", src, fmt.Errorf("copy: %w", drivers.ErrUnsupported))
	}
	name := ""
	if path.Base(dstRel) != e.Name {
		name = path.Base(dstRel)
	}
	ne, err := m.can.copy.Copy(ctx, e, dstParent, name)
	if err != nil {
		return false, fs.fail(ctx, "copy", src, err)
	}
	m.forget(dstRel)
	m.learn(dstRel, ne)
	fs.props.copy(m.path, e.ID, ne.ID)
	return true, nil
}

// replace puts src's content at dst, which exists, never leaving dst
// without content: src is moved (or copied) into dst's folder under a
// temporary name first, the old dst goes to the trash only after that
// worked, and the temporary name becomes dst last. A cloud that fails
// half-way leaves dst as it was, or in the trash with the new content
// beside it, never lost.
func (fs *FileSystem) replace(ctx context.Context, src, dst string, copy bool) error {
	tmp := path.Join(path.Dir(dst), tempPrefix+randomSuffix()+"-"+path.Base(dst))
	var err error
	if copy {
		_, err = fs.copyEntry(ctx, src, tmp, false)
	} else {
		err = fs.rename(ctx, src, tmp)
	}
	if err != nil {
		return err
	}
	if err := fs.RemoveAll(ctx, dst); err != nil {
		fs.undo(ctx, tmp, src, copy)
		return err
	}
	if err := fs.rename(ctx, tmp, dst); err != nil {
		fs.o.Log.Error().Str("path", dst).Str("temporary", tmp).Err(err).Msg("the old file went to the trash but the new one kept its temporary name")
		fs.undo(ctx, tmp, src, copy)
		return err
	}
	return nil
}

// undo puts a half-done replace's temporary entry back, best effort.
func (fs *FileSystem) undo(ctx context.Context, tmp, src string, copied bool) {
	ctx = context.WithoutCancel(ctx)
	var err error
	if copied {
		err = fs.RemoveAll(ctx, tmp)
	} else {
		err = fs.rename(ctx, tmp, src)
	}
	if err != nil {
		fs.o.Log.Warn().Str("temporary", tmp).Err(err).Msg("could not undo a failed replace; the temporary entry is hidden from listings")
	}
}

// heldReader reads a file held in memory (see heldFiles). It keeps dead
// properties as a stored file does, under the held file's own ID, and
// they move to the cloud's entry when its content is stored (see
// FileSystem.committed).
type heldReader struct {
	*bytes.Reader
	fs  *FileSystem
	n   node
	ctx context.Context
}

func (r *heldReader) Close() error                       { return nil }
func (r *heldReader) Write([]byte) (int, error)          { return 0, os.ErrPermission }
func (r *heldReader) Readdir(int) ([]os.FileInfo, error) { return nil, os.ErrInvalid }
func (r *heldReader) Stat() (os.FileInfo, error)         { return r.fs.info(r.n), nil }

// DeadProps implements webdav.DeadPropsHolder.
func (r *heldReader) DeadProps() (map[xml.Name]webdav.Property, error) {
	return r.fs.deadProps(r.ctx, r.n)
}

// Patch implements webdav.DeadPropsHolder.
func (r *heldReader) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	return r.fs.patchProps(r.n, patches)
}

// createEmpty makes the empty file a LOCK on an unmapped URL creates: a
// placeholder (see heldFiles).
func (fs *FileSystem) createEmpty(ctx context.Context, name string) error {
	f, err := fs.OpenFile(ctx, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// materializeIdle uploads placeholders nobody wrote to for grace, as the
// empty files they are, unless a lock still covers them.
func (fs *FileSystem) materializeIdle(grace time.Duration, locked func(string) bool) {
	uploading := map[string]bool{}
	for _, p := range fs.InFlightUploads() {
		uploading[p] = true
	}
	for _, p := range fs.held.idlePlaceholders(time.Now().Add(-grace)) {
		if locked != nil && locked(p) || uploading[p] {
			fs.held.touch(p)
			continue
		}
		m, rel := fs.locate(p)
		if m == nil {
			fs.held.remove(p)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := fs.uploadEmpty(ctx, m, rel)
		cancel()
		if err != nil {
			fs.o.Log.Warn().Str("path", p).Err(err).Msg("could not store an empty file; will retry")
			fs.held.touch(p)
			continue
		}
		fs.held.remove(p)
	}
}

// Flush stores every placeholder now, at shutdown: a client was told the
// file exists, so it must outlive pandav.
func (fs *FileSystem) Flush() {
	fs.materializeIdle(-time.Hour, nil)
}

func (fs *FileSystem) uploadEmpty(ctx context.Context, m *mount, rel string) error {
	if m.can.upload == nil {
		return drivers.ErrUnsupported
	}
	if _, err := m.resolve(ctx, rel); err == nil {
		return nil // content arrived another way
	}
	parent, err := fs.parentDir(ctx, m, rel)
	if err != nil {
		return err
	}
	e, err := m.can.upload.Upload(ctx, parent, path.Base(rel), drivers.NewBytesSource(nil, time.Time{}))
	if err != nil {
		return err
	}
	fs.props.move(m.path, heldID(m.fullPath(rel)), e.ID)
	m.learn(rel, e)
	return nil
}
