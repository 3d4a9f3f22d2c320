package webdav

import (
	"context"
	"encoding/xml"
	"errors"
	"os"
	"sync"

	"golang.org/x/net/webdav"

	"pandav/drivers"
	"pandav/internal/stream"
)

// remoteFile is an open cloud file: a stream.Reader of its mount's links,
// plus what x/net/webdav asks of a File besides its bytes. Open, Stat and
// Seek cost no network work; the bytes are fetched from the first Read.
type remoteFile struct {
	ctx    context.Context
	fs     *FileSystem
	n      node
	source linkSource

	// mu guards the reader's opening and closing, and orders the drive's
	// StreamOpened and StreamClosed: a Read that starts after Close must
	// not announce a stream nobody will close.
	mu     sync.Mutex
	r      *stream.Reader // nil until the first Read, Seek or limitTo
	opened bool           // the drive was told a stream opened
	closed bool
}

func newRemoteFile(ctx context.Context, fs *FileSystem, n node, req drivers.LinkRequest) *remoteFile {
	f := &remoteFile{ctx: ctx, fs: fs, n: n}
	f.source = linkSource{m: n.m, entry: &f.n.entry, req: req}
	return f
}

// reader returns the file's stream, opened on first use: x/net/webdav
// opens every file of a PROPFIND, some twice, and reads none of them. It
// is nil once the file is closed without having been read. reading says
// the caller is about to Read, which a drive that wants to know
// (drivers.StreamNotifier) is told once per open file.
func (f *remoteFile) reader(reading bool) *stream.Reader {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.r
	}
	if f.r == nil {
		f.r = f.fs.streams.Open(f.ctx, &f.source, f.n.entry.Size, f.n.name)
	}
	if notifier := f.n.m.can.streamNotifier; reading && notifier != nil && !f.opened {
		notifier.StreamOpened(f.n.entry)
		f.opened = true
	}
	return f.r
}

// limitTo tells the file the client wants bytes up to end only, so the
// first chunk is no longer than the request and nothing is read ahead.
func (f *remoteFile) limitTo(end int64) {
	if r := f.reader(false); r != nil {
		r.LimitTo(end)
	}
}

func (f *remoteFile) Read(p []byte) (int, error) {
	r := f.reader(true)
	if r == nil {
		return 0, os.ErrClosed
	}
	return r.Read(p)
}

func (f *remoteFile) Seek(offset int64, whence int) (int64, error) {
	r := f.reader(false)
	if r == nil {
		return 0, os.ErrClosed
	}
	return r.Seek(offset, whence)
}

func (f *remoteFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.r != nil {
		f.r.Close()
	}
	if f.opened {
		f.opened = false
		f.n.m.can.streamNotifier.StreamClosed(f.n.entry)
	}
	return nil
}

func (f *remoteFile) Stat() (os.FileInfo, error) { return f.fs.info(f.n), nil }

func (f *remoteFile) Write(p []byte) (int, error) { return 0, errReadOnly }

func (f *remoteFile) Readdir(int) ([]os.FileInfo, error) {
	return nil, &os.PathError{Op: "readdir", Path: f.n.name, Err: errors.New("not a folder")}
}

// DeadProps implements webdav.DeadPropsHolder.
func (f *remoteFile) DeadProps() (map[xml.Name]webdav.Property, error) {
	return f.fs.deadProps(f.ctx, f.n)
}

// Patch implements webdav.DeadPropsHolder.
func (f *remoteFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	return f.fs.patchProps(f.n, patches)
}

// linkSource is a mount's file as a stream.Source: its links come from
// the mount's link cache, under the key of what binds them.
type linkSource struct {
	m     *mount
	entry *drivers.Entry
	req   drivers.LinkRequest
}

func (s *linkSource) Link(ctx context.Context) (drivers.Link, error) {
	return s.m.link(ctx, *s.entry, s.req)
}

func (s *linkSource) Refused(url string) { s.m.dropLink(*s.entry, s.req, url) }

func (s *linkSource) Key() string { return s.m.linkKey(*s.entry, s.req) }
