package webdav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
)

// remoteFile is an open cloud file. Open, Stat and Seek only move an
// offset; the first Read opens an upstream range at the current offset.
// When the CDN drops the connection or the link expires, Read fetches a
// fresh link if needed and carries on from the same offset, so the client
// never sees the break.
type remoteFile struct {
	ctx  context.Context
	fs   *FileSystem
	n    node
	req  drivers.LinkRequest
	size int64
	off  int64

	body    io.ReadCloser
	bodyOff int64 // offset of the body's next byte
}

// Limits on how hard a Read tries before it gives the error to the client.
const (
	maxResumes  = 8 // consecutive failed opens or broken bodies
	maxRelinks  = 3 // consecutive refused links
	resumeDelay = 100 * time.Millisecond
)

func newRemoteFile(ctx context.Context, fs *FileSystem, n node, req drivers.LinkRequest) *remoteFile {
	return &remoteFile{ctx: ctx, fs: fs, n: n, req: req, size: n.entry.Size}
}

func (f *remoteFile) Stat() (os.FileInfo, error) { return f.fs.info(f.n), nil }

func (f *remoteFile) Write(p []byte) (int, error) { return 0, errReadOnly }

func (f *remoteFile) Readdir(int) ([]os.FileInfo, error) {
	return nil, &os.PathError{Op: "readdir", Path: f.n.name, Err: errors.New("not a folder")}
}

func (f *remoteFile) Close() error {
	f.closeBody()
	return nil
}

func (f *remoteFile) closeBody() {
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
}

// Seek moves the offset without any network work.
func (f *remoteFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.size
	default:
		return 0, os.ErrInvalid
	}
	if offset < 0 {
		return 0, os.ErrInvalid
	}
	f.off = offset
	return offset, nil
}

func (f *remoteFile) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	if rest := f.size - f.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	for failures := 0; ; failures++ {
		if f.body != nil && f.bodyOff != f.off {
			f.closeBody()
		}
		var err error
		if f.body == nil {
			err = f.open()
		}
		if err == nil {
			var n int
			n, err = f.body.Read(p)
			f.off += int64(n)
			f.bodyOff += int64(n)
			if n > 0 || err == nil {
				if err != nil {
					f.closeBody()
				}
				return n, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the CDN ended before the size we know
			}
			f.closeBody()
		}
		if f.ctx.Err() != nil {
			return 0, f.ctx.Err()
		}
		var fatal *fatalReadError
		if errors.As(err, &fatal) || failures+1 >= maxResumes {
			f.fs.o.Log.Warn().Str("path", f.n.name).Int64("offset", f.off).Err(err).Msg("upstream read failed")
			return 0, err
		}
		f.fs.o.Log.Debug().Str("path", f.n.name).Int64("offset", f.off).Err(err).Msg("resuming upstream read")
		if !sleepCtx(f.ctx, resumeDelay<<min(failures, 5)) {
			return 0, f.ctx.Err()
		}
	}
}

// fatalReadError is a failure that another try cannot mend.
type fatalReadError struct{ err error }

func (e *fatalReadError) Error() string { return e.err.Error() }
func (e *fatalReadError) Unwrap() error { return e.err }

// open starts an open-ended range at f.off. A link the CDN refuses (403,
// 410: expired or over its connection limit) is dropped and fetched anew.
func (f *remoteFile) open() error {
	for relinks := 0; ; relinks++ {
		l, err := f.n.m.link(f.ctx, f.n.entry, f.req)
		if err != nil {
			if errors.Is(err, drivers.ErrNotFound) || errors.Is(err, drivers.ErrAuth) {
				return &fatalReadError{err}
			}
			return err
		}
		resp, err := f.get(l)
		if err != nil {
			return fmt.Errorf("%w: %v", drivers.ErrUpstream, redactURL(err))
		}
		switch {
		case resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusOK && f.off == 0:
			if resp.StatusCode == http.StatusPartialContent && !rangeStartsAt(resp.Header.Get("Content-Range"), f.off) {
				resp.Body.Close()
				return fmt.Errorf("%w: CDN answered another range (%s)", drivers.ErrUpstream, resp.Header.Get("Content-Range"))
			}
			f.body, f.bodyOff = resp.Body, f.off
			return nil
		case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusUnauthorized:
			drain(resp)
			f.n.m.dropLink(f.n.entry, f.req)
			if relinks+1 >= maxRelinks {
				return fmt.Errorf("%w: CDN refused %d fresh links (HTTP %d)", drivers.ErrUpstream, maxRelinks, resp.StatusCode)
			}
			f.fs.o.Log.Debug().Str("path", f.n.name).Int("status", resp.StatusCode).Msg("link refused, fetching a new one")
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			drain(resp)
			return &fatalReadError{io.EOF}
		default:
			drain(resp)
			return fmt.Errorf("%w: CDN answered HTTP %d", drivers.ErrUpstream, resp.StatusCode)
		}
	}
}

func (f *remoteFile) get(l drivers.Link) (*http.Response, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range l.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "pandav")
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(f.off, 10)+"-")
	return f.fs.o.CDNClient.Do(req)
}

func rangeStartsAt(contentRange string, off int64) bool {
	rest, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return false
	}
	start, _, _ := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(start, 10, 64)
	return err == nil && n == off
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// redactURL strips the signed URL from a transport error: *url.Error
// prints it, query and all.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
