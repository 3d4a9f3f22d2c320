package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// Temporary copies: a shared file is saved into a hidden folder of the
// account's drive with the web API's batch /file/copy, played through
// the account's own links, and deleted for good once nobody reads it.
// The copies belong to the account, not to a share mount, so that the
// janitor of one share never removes another's copy in play.

// tempFolderName is the hidden folder, in the account drive's root,
// that holds the copies.
const tempFolderName = ".pandav-share-tmp"

// copyTimeout bounds the making of one copy, which goes on when the
// reader that asked for it has gone: a half-made copy would be orphaned.
const copyTimeout = 2 * time.Minute

// tempCopies is the account's pool, made at first use.
type tempCopies struct {
	once sync.Once
	pool *copyPool
}

func (d *Drive) copies() *copyPool {
	d.tmp.once.Do(func() { d.tmp.pool = &copyPool{acct: d, byKey: map[string]*tempCopy{}} })
	return d.tmp.pool
}

type copyPool struct {
	acct *Drive

	folderMu sync.Mutex // held while the folder is made and swept
	folderID string

	mu    sync.Mutex
	byKey map[string]*tempCopy // share id + "/" + file id
}

// tempCopy is one shared file's copy and its readers. The copy itself
// (made) comes and goes: a reader may open the file before the copy
// exists, and the entry outlives a copy deleted after its linger.
type tempCopy struct {
	readers int
	made    *madeCopy
	flight  *copyFlight
}

type madeCopy struct {
	entry   drivers.Entry // the copy, in the account's drive
	created time.Time
	linger  time.Duration
	maxAge  time.Duration
	timer   *time.Timer
}

type copyFlight struct {
	done chan struct{}
	err  error
}

// deadline is when m goes if nobody reads it from now on.
func (m *madeCopy) deadline(now time.Time, opened bool) time.Time {
	last := m.created.Add(m.maxAge)
	if !opened {
		return last
	}
	if d := now.Add(m.linger); d.Before(last) {
		return d
	}
	return maxTime(now, last)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (p *copyPool) open(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.byKey[key]
	if c == nil {
		c = &tempCopy{}
		p.byKey[key] = c
	}
	c.readers++
	if c.made != nil && c.made.timer != nil {
		c.made.timer.Stop()
		c.made.timer = nil
	}
}

func (p *copyPool) close(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.byKey[key]
	if c == nil || c.readers == 0 {
		return
	}
	c.readers--
	if c.readers > 0 {
		return
	}
	if c.made != nil {
		p.armLocked(key, c, true)
	} else if c.flight == nil {
		delete(p.byKey, key)
	}
}

// armLocked schedules the deletion of c's copy; p.mu is held.
func (p *copyPool) armLocked(key string, c *tempCopy, opened bool) {
	m := c.made
	if m.timer != nil {
		m.timer.Stop()
	}
	wait := time.Until(m.deadline(time.Now(), opened))
	m.timer = time.AfterFunc(max(wait, 0), func() { p.expire(key, m) })
}

// expire deletes m unless it has been opened again or replaced.
func (p *copyPool) expire(key string, m *madeCopy) {
	p.mu.Lock()
	c := p.byKey[key]
	if c == nil || c.made != m || c.readers > 0 {
		p.mu.Unlock()
		return
	}
	c.made = nil
	if c.flight == nil {
		delete(p.byKey, key)
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), copyTimeout)
	defer cancel()
	if err := p.acct.deleteForGood(ctx, m.entry.ID); err != nil {
		p.acct.log.Warn().Err(err).Str("file_id", m.entry.ID).Msg("a temporary share copy could not be deleted; it is removed at the next start")
		return
	}
	p.acct.log.Debug().Str("name", m.entry.Name).Msg("temporary share copy deleted")
}

// get returns the live copy for key, making it with mk when there is
// none; concurrent callers share one making. The deadline is when the
// copy may be deleted at the earliest, should its readers all close now.
func (p *copyPool) get(ctx context.Context, key string, linger, maxAge time.Duration,
	mk func(ctx context.Context) (drivers.Entry, error)) (drivers.Entry, time.Time, error) {
	p.mu.Lock()
	for {
		c := p.byKey[key]
		if c == nil {
			c = &tempCopy{}
			p.byKey[key] = c
		}
		if m := c.made; m != nil {
			dl := m.deadline(time.Now(), true)
			p.mu.Unlock()
			return m.entry, dl, nil
		}
		if f := c.flight; f != nil {
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return drivers.Entry{}, time.Time{}, ctx.Err()
			case <-f.done:
			}
			if f.err != nil {
				return drivers.Entry{}, time.Time{}, f.err
			}
			p.mu.Lock()
			continue
		}
		f := &copyFlight{done: make(chan struct{})}
		c.flight = f
		p.mu.Unlock()
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), copyTimeout)
		e, err := mk(mctx)
		cancel()
		p.mu.Lock()
		c.flight, f.err = nil, err
		close(f.done)
		if err != nil {
			if c.readers == 0 && c.made == nil {
				delete(p.byKey, key)
			}
			p.mu.Unlock()
			return drivers.Entry{}, time.Time{}, err
		}
		c.made = &madeCopy{entry: e, created: time.Now(), linger: linger, maxAge: maxAge}
		if c.readers == 0 {
			// Asked for without a reader (a redirect): it lives its
			// max age, as nothing will say when the client is done.
			p.armLocked(key, c, false)
		}
	}
}

// forget drops key's copy, which the cloud says is gone.
func (p *copyPool) forget(key string, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.byKey[key]; c != nil && c.made != nil && c.made.entry.ID == id {
		if c.made.timer != nil {
			c.made.timer.Stop()
		}
		c.made = nil
	}
}

// folder returns the temp folder's id, making it at first use and
// sweeping what an earlier run left in it.
func (p *copyPool) folder(ctx context.Context) (string, error) {
	p.folderMu.Lock()
	defer p.folderMu.Unlock()
	if p.folderID != "" {
		return p.folderID, nil
	}
	d := p.acct
	id, err := d.ensureFolder(ctx, tempFolderName)
	if err != nil {
		return "", fmt.Errorf("aliyun share: making the temporary folder %s: %w", tempFolderName, err)
	}
	left, err := d.List(ctx, drivers.Entry{ID: id, Name: tempFolderName, IsDir: true})
	if err != nil {
		return "", fmt.Errorf("aliyun share: listing the temporary folder %s: %w", tempFolderName, err)
	}
	for _, e := range left {
		if err := d.deleteForGood(ctx, e.ID); err != nil {
			d.log.Warn().Err(err).Str("name", e.Name).Msg("a leftover temporary share copy could not be deleted")
		}
	}
	if len(left) > 0 {
		d.log.Info().Int("copies", len(left)).Msg("deleted temporary share copies left by an earlier run")
	}
	p.folderID = id
	return id, nil
}

// hideTempFolder leaves the temp folder out of the drive root's listing:
// its copies come and go with playback and are nobody's files.
func hideTempFolder(dir drivers.Entry, kids []drivers.Entry) []drivers.Entry {
	if dir.ID != "root" {
		return kids
	}
	out := kids[:0]
	for _, k := range kids {
		if !(k.IsDir && k.Name == tempFolderName) {
			out = append(out, k)
		}
	}
	return out
}

// ensureFolder returns the id of the folder name in the drive's root,
// creating it if missing.
func (d *Drive) ensureFolder(ctx context.Context, name string) (string, error) {
	driveID, err := d.drive(ctx)
	if err != nil {
		return "", err
	}
	req := createRequest{DriveID: driveID, ParentFileID: "root", Name: name, Type: "folder", CheckNameMode: "refuse"}
	var out createResponse
	if d.o.API == "web" {
		err = d.web.call(ctx, "other", "/adrive/v2/file/createWithFolders", nil, req, &out)
	} else {
		err = d.call(ctx, "other", "openFile/create", req, &out)
	}
	if err != nil {
		return "", err
	}
	if out.FileID == "" {
		return "", fmt.Errorf("aliyun create %s: %w: no file_id in the answer", name, drivers.ErrUpstream)
	}
	return out.FileID, nil
}

// deleteForGood deletes id, skipping the recycle bin: copies must not
// fill the user's bin. What is already gone counts as deleted.
func (d *Drive) deleteForGood(ctx context.Context, id string) error {
	driveID, err := d.drive(ctx)
	if err != nil {
		return err
	}
	if d.o.API == "web" {
		err = d.web.call(ctx, "other", "/v2/file/delete", nil, getRequest{DriveID: driveID, FileID: id}, nil)
	} else {
		var out taskResponse
		if err = d.call(ctx, "other", "openFile/delete", getRequest{DriveID: driveID, FileID: id}, &out); err == nil {
			err = d.waitTask(ctx, "delete temporary copy", out.AsyncTaskID)
		}
	}
	if errors.Is(err, drivers.ErrNotFound) {
		return nil
	}
	return err
}

// saveShared copies a shared file into the temp folder with the web
// API's batch call, which needs the account's web login and the share
// token, and returns the copy.
func (s *Share) saveShared(ctx context.Context, acct *Drive, f drivers.Entry) (drivers.Entry, error) {
	folder, err := acct.copies().folder(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	driveID, err := acct.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	// The batch call is the account's (web.call), and carries the share
	// token, whose refusal comes back in the sub-answer: the outer Call
	// replaces it, once, and retries a throttled sub-answer.
	const op = "batch file/copy"
	var got taskResponse
	c := upstream.Caller{Policy: s.t.policy, Cred: shareCred{s}}
	err = c.Call(ctx, "aliyun "+op, "", func(ctx context.Context, tok string) error {
		in := batchRequest{Resource: "file", Requests: []batchSubRequest{{
			ID: "0", Method: "POST", URL: "/file/copy", Headers: map[string]string{"Content-Type": "application/json"},
			Body: shareCopyBody{FileID: f.ID, ShareID: s.o.ShareID, AutoRename: true, ToParentFileID: folder, ToDriveID: driveID},
		}}}
		var out batchResponse
		if err := acct.web.call(ctx, "other", "/adrive/v2/batch", http.Header{"X-Share-Token": {tok}}, in, &out); err != nil {
			return err
		}
		if len(out.Responses) != 1 {
			return fmt.Errorf("aliyun %s: %w: %d answers to one request", op, drivers.ErrUpstream, len(out.Responses))
		}
		r := out.Responses[0]
		got = taskResponse{}
		return shareStale(classify(op, upstream.Answer{Status: r.Status, Header: http.Header{}, Body: r.Body}, &got))
	})
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("save %q from the share: %w", f.Name, s.noteDead(s.shareFailure(err)))
	}
	if got.FileID == "" {
		return drivers.Entry{}, fmt.Errorf("aliyun %s: %w: no file_id in the answer", op, drivers.ErrUpstream)
	}
	s.log.Debug().Str("name", f.Name).Msg("saved a temporary copy of a shared file")
	return drivers.Entry{ID: got.FileID, ParentID: folder, Name: f.Name, Size: f.Size, SHA1: f.SHA1, ModTime: f.ModTime}, nil
}

// copyLink plays f through its temporary copy, made at most once while
// it lives. The link expires no later than the copy could be deleted, so
// that a cached link never outlives its copy.
func (s *Share) copyLink(ctx context.Context, acct *Drive, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	key := s.copyKey(f)
	pool := acct.copies()
	for try := 0; ; try++ {
		if refusal := s.pv.recentRefusal(); refusal != nil {
			return drivers.Link{}, s.unavailable(f, refusal)
		}
		c, deadline, err := pool.get(ctx, key, time.Duration(s.o.TempCopyLinger), time.Duration(s.o.TempCopyMaxAge),
			func(ctx context.Context) (drivers.Entry, error) {
				e, err := s.saveShared(ctx, acct, f)
				switch {
				case err == nil:
					s.noteCopied()
				case isCopyRefusal(err):
					s.noteRefused(err)
				}
				return e, err
			})
		if isCopyRefusal(err) {
			return drivers.Link{}, s.unavailable(f, err)
		}
		if err != nil {
			return drivers.Link{}, err
		}
		l, err := acct.Link(ctx, c, req)
		if errors.Is(err, drivers.ErrNotFound) && try == 0 {
			// Someone removed the copy; make another.
			pool.forget(key, c.ID)
			continue
		}
		if err != nil {
			return drivers.Link{}, err
		}
		if l.Expires.IsZero() || deadline.Before(l.Expires) {
			l.Expires = deadline
		}
		return l, nil
	}
}
