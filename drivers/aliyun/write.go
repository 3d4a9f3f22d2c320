package aliyun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pandav/drivers"
)

var (
	_ drivers.Mkdirer  = (*Drive)(nil)
	_ drivers.Uploader = (*Drive)(nil)
	_ drivers.Renamer  = (*Drive)(nil)
	_ drivers.Mover    = (*Drive)(nil)
	_ drivers.Copier   = (*Drive)(nil)
	_ drivers.Remover  = (*Drive)(nil)
)

const (
	maxNameBytes    = 1024 // the service's limit (docs/protocols/aliyun.md §6)
	defaultTaskPoll = 250 * time.Millisecond
	maxTaskPoll     = 4 * time.Second
	// maxTaskWait bounds the wait for one folder move, copy or removal.
	maxTaskWait = 30 * time.Minute
)

// checkName rejects, before any call, a name the service would refuse or
// treat as a path.
func checkName(op, name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("aliyun %s: %w: %q", op, drivers.ErrInvalidName, name)
	case strings.Contains(name, "/"):
		return fmt.Errorf("aliyun %s %q: %w: contains \"/\"", op, name, drivers.ErrInvalidName)
	case len(name) > maxNameBytes:
		return fmt.Errorf("aliyun %s: %w: %d bytes, the limit is %d", op, drivers.ErrInvalidName, len(name), maxNameBytes)
	}
	return nil
}

// Mkdir creates name in parent, refusing an existing name: the service
// then answers with exist:true rather than an error.
func (d *Drive) Mkdir(ctx context.Context, parent drivers.Entry, name string) (drivers.Entry, error) {
	if err := d.writable(); err != nil {
		return drivers.Entry{}, err
	}
	if err := checkName("mkdir", name); err != nil {
		return drivers.Entry{}, err
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	var out createResponse
	req := createRequest{DriveID: driveID, ParentFileID: parent.ID, Name: name, Type: "folder", CheckNameMode: "refuse"}
	if err := d.call(ctx, "other", "openFile/create", req, &out); err != nil {
		return drivers.Entry{}, fmt.Errorf("mkdir %q: %w", name, err)
	}
	if out.Exist {
		return drivers.Entry{}, fmt.Errorf("aliyun mkdir %q: %w", name, drivers.ErrExist)
	}
	if out.FileID == "" {
		return drivers.Entry{}, fmt.Errorf("aliyun mkdir %q: %w: no file_id in the answer", name, drivers.ErrUpstream)
	}
	return createdEntry(out, parent.ID, name, true), nil
}

// createdEntry makes an Entry from create's answer, which has no size or
// hash of its own.
func createdEntry(out createResponse, parentID, name string, isDir bool) drivers.Entry {
	it := fileItem{FileID: out.FileID, ParentFileID: out.ParentFileID, FileName: out.FileName, Type: "file",
		CreatedAt: out.CreatedAt, UpdatedAt: out.UpdatedAt}
	if isDir {
		it.Type = "folder"
	}
	e := toEntry(it)
	if e.ParentID == "" {
		e.ParentID = parentID
	}
	if e.Name == "" {
		e.Name = name
	}
	if e.ModTime.IsZero() {
		e.ModTime = time.Now()
	}
	return e
}

// Rename renames e in place, refusing a name that is taken.
func (d *Drive) Rename(ctx context.Context, e drivers.Entry, newName string) (drivers.Entry, error) {
	if err := d.writable(); err != nil {
		return drivers.Entry{}, err
	}
	if err := checkName("rename", newName); err != nil {
		return drivers.Entry{}, err
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	var it fileItem
	req := updateRequest{DriveID: driveID, FileID: e.ID, Name: newName, CheckNameMode: "refuse"}
	if err := d.call(ctx, "other", "openFile/update", req, &it); err != nil {
		return drivers.Entry{}, fmt.Errorf("rename %q to %q: %w", e.Name, newName, err)
	}
	got := toEntry(it)
	if got.ID == "" {
		got = e
	}
	got.Name = newName
	return got, nil
}

// Move puts e in newParent, renaming it in the same call when asked.
func (d *Drive) Move(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	if err := d.writable(); err != nil {
		return drivers.Entry{}, err
	}
	if newName == "" {
		newName = e.Name
	}
	if err := checkName("move", newName); err != nil {
		return drivers.Entry{}, err
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	req := moveRequest{DriveID: driveID, FileID: e.ID, ToParentFileID: newParent.ID, CheckNameMode: "refuse"}
	if newName != e.Name {
		req.NewName = newName
	}
	var out taskResponse
	if err := d.call(ctx, "other", "openFile/move", req, &out); err != nil {
		return drivers.Entry{}, fmt.Errorf("move %q: %w", e.Name, err)
	}
	if out.Exist {
		return drivers.Entry{}, fmt.Errorf("aliyun move %q: %w: %q is taken in the target folder", e.Name, drivers.ErrExist, newName)
	}
	if err := d.waitTask(ctx, "move "+e.Name, out.AsyncTaskID); err != nil {
		return drivers.Entry{}, err
	}
	moved := e
	moved.ParentID, moved.Name = newParent.ID, newName
	return moved, nil
}

// Copy copies e (a folder with all it holds) into newParent. The service
// copies under the old name, picking another if that is taken; a rename
// then gives the name asked for, or the copy is removed again and the
// answer is ErrExist.
func (d *Drive) Copy(ctx context.Context, e drivers.Entry, newParent drivers.Entry, newName string) (drivers.Entry, error) {
	if err := d.writable(); err != nil {
		return drivers.Entry{}, err
	}
	if newName == "" {
		newName = e.Name
	}
	if err := checkName("copy", newName); err != nil {
		return drivers.Entry{}, err
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	req := copyRequest{DriveID: driveID, FileID: e.ID, ToDriveID: driveID, ToParentFileID: newParent.ID, AutoRename: true}
	var out taskResponse
	if err := d.call(ctx, "other", "openFile/copy", req, &out); err != nil {
		return drivers.Entry{}, fmt.Errorf("copy %q: %w", e.Name, err)
	}
	if out.FileID == "" {
		return drivers.Entry{}, fmt.Errorf("aliyun copy %q: %w: no file_id in the answer", e.Name, drivers.ErrUpstream)
	}
	if err := d.waitTask(ctx, "copy "+e.Name, out.AsyncTaskID); err != nil {
		return drivers.Entry{}, err
	}
	c, err := d.Get(ctx, out.FileID)
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("copy %q: %w", e.Name, err)
	}
	if c.Name == newName {
		return c, nil
	}
	renamed, err := d.Rename(ctx, c, newName)
	if err != nil {
		if rmErr := d.Remove(ctx, c, true); rmErr != nil {
			d.log.Warn().Err(rmErr).Str("file_id", c.ID).Str("name", c.Name).Msg("a copy that could not be renamed is left behind")
		}
		return drivers.Entry{}, err
	}
	return renamed, nil
}

// Remove trashes e, or deletes it for good. What is already gone counts
// as removed.
func (d *Drive) Remove(ctx context.Context, e drivers.Entry, permanent bool) error {
	if err := d.writable(); err != nil {
		return err
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return err
	}
	endpoint := "openFile/recyclebin/trash"
	if permanent {
		endpoint = "openFile/delete"
	}
	var out taskResponse
	err = d.call(ctx, "other", endpoint, getRequest{DriveID: driveID, FileID: e.ID}, &out)
	if errors.Is(err, drivers.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %q: %w", e.Name, err)
	}
	return d.waitTask(ctx, "remove "+e.Name, out.AsyncTaskID)
}

// waitTask polls an async task until it succeeds or fails, backing off.
func (d *Drive) waitTask(ctx context.Context, op, id string) error {
	if id == "" {
		return nil
	}
	wait := d.t.taskPoll
	if wait <= 0 {
		wait = defaultTaskPoll
	}
	deadline := time.Now().Add(maxTaskWait)
	for {
		var st asyncTaskResponse
		if err := d.call(ctx, "other", "openFile/async_task/get", asyncTaskRequest{AsyncTaskID: id}, &st); err != nil {
			return fmt.Errorf("%s: waiting for the service: %w", op, err)
		}
		switch strings.ToLower(st.State) {
		case "succeed", "success", "finished":
			return nil
		case "failed", "fail", "error":
			msg := st.Message
			if msg == "" {
				msg = "the service reports the task failed"
			}
			return fmt.Errorf("aliyun %s: %w: %s", op, drivers.ErrUpstream, truncate(msg, 200))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aliyun %s: %w: the task is still running after %s", op, drivers.ErrUpstream, maxTaskWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, maxTaskPoll)
	}
}
