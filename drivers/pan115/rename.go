package pan115

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
	"pandav/internal/httpclient"
)

// renameByReupload gives cur (a file that 115's update named curName,
// with its old extension) exactly newName. No rename call can change a
// file's extension on 115, but an upload takes any name, and an upload of
// content 115 already holds is a rapid one that sends no content: init
// with the file's SHA1 creates newName at once. Its preid and its
// possession proofs are hashed from the file's own download link with
// Range requests. The old entry is then deleted for good, so that the
// rename leaves one file, as a rename should; the result has a new ID.
func (d *Drive) renameByReupload(ctx context.Context, op string, cur drivers.Entry, oldName, newName string) (drivers.Entry, error) {
	restore := func() { d.update(ctx, op, cur.ID, oldName) }
	if cur.ParentID == "" || cur.SHA1 == "" || cur.Extra == nil {
		g, err := d.Get(ctx, cur.ID)
		if err != nil {
			restore()
			return drivers.Entry{}, err
		}
		cur.ParentID, cur.SHA1, cur.Size, cur.Extra = g.ParentID, g.SHA1, g.Size, g.Extra
	}
	// An upload does not refuse a taken name; a rename must.
	kids, err := d.List(ctx, drivers.Entry{ID: cur.ParentID, IsDir: true})
	if err != nil {
		restore()
		return drivers.Entry{}, err
	}
	for _, k := range kids {
		if k.Name == newName && k.ID != cur.ID {
			restore()
			return drivers.Entry{}, fmt.Errorf("%s: %w: %q", op, drivers.ErrExist, newName)
		}
	}
	src := &linkReader{ctx: ctx, d: d, e: cur}
	in, err := d.initUpload(ctx, op, cur.ParentID, newName, cur.Size, cur.SHA1, src)
	if err != nil {
		restore()
		return drivers.Entry{}, err
	}
	if in.Status != initDone || in.FileID == "" {
		restore()
		return drivers.Entry{}, fmt.Errorf("%s: %w: 115 would not re-create content it holds under a new extension", op, drivers.ErrUpstream)
	}
	if err := d.remove(ctx, op, cur.ID, cur.ParentID, true); err != nil {
		// Leave things as they were rather than with two files.
		d.remove(ctx, op, string(in.FileID), cur.ParentID, true)
		restore()
		return drivers.Entry{}, err
	}
	return d.uploaded(op, string(in.FileID), cur.ParentID, newName, cur.Size, cur.SHA1, string(in.PickCode))
}

// linkReader reads a file of the drive at any offset through its download
// link, one Range request per ReadAt.
type linkReader struct {
	ctx context.Context
	d   *Drive
	e   drivers.Entry

	mu   sync.Mutex
	link *drivers.Link
}

func (r *linkReader) getLink(fresh bool) (drivers.Link, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.link == nil || fresh {
		l, err := r.d.Link(r.ctx, r.e, drivers.LinkRequest{})
		if err != nil {
			return drivers.Link{}, err
		}
		r.link = &l
	}
	return *r.link, nil
}

func (r *linkReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.e.Size {
		return 0, io.EOF
	}
	want := p
	if rest := r.e.Size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	if len(want) == 0 {
		return 0, nil
	}
	op := "pan115 read " + r.e.ID
	relink := false
	n := 0
	err := upstream.Do(r.ctx, r.d.policy, op, func(ctx context.Context) error {
		l, err := r.getLink(relink)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
		if err != nil {
			return fmt.Errorf("%s: %v", op, httpclient.Redact(err))
		}
		for k, vs := range l.Header {
			req.Header[k] = vs
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(want))-1))
		resp, err := r.d.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return upstream.Transient(fmt.Errorf("%s: %v", op, httpclient.Redact(err)))
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusForbidden:
			relink = true
			return upstream.Transient(fmt.Errorf("%s: CDN refused the link", op))
		case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests:
			return upstream.Transient(fmt.Errorf("%s: CDN HTTP %d", op, resp.StatusCode))
		case resp.StatusCode != http.StatusPartialContent:
			return fmt.Errorf("%s: %w: CDN answered a range with HTTP %d", op, drivers.ErrUpstream, resp.StatusCode)
		}
		n, err = io.ReadFull(resp.Body, want)
		if err != nil {
			return upstream.Transient(fmt.Errorf("%s: %v", op, httpclient.Redact(err)))
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
