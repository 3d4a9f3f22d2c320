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
	r      *stream.Reader

	// mu orders the drive's StreamOpened and StreamClosed: a Read that
	// starts after Close must not announce a stream nobody will close.
	mu     sync.Mutex
	opened bool // the drive was told a stream opened
	closed bool
}

func newRemoteFile(ctx context.Context, fs *FileSystem, n node, req drivers.LinkRequest) *remoteFile {
	f := &remoteFile{ctx: ctx, fs: fs, n: n, source: linkSource{m: n.m, entry: n.entry, req: req}}
	f.r = fs.streams.Open(ctx, &f.source, n.entry.Size, n.name)
	return f
}

// limitTo tells the file the client wants bytes up to end only, so the
// first chunk is no longer than the request and nothing is read ahead.
func (f *remoteFile) limitTo(end int64) { f.r.LimitTo(end) }

func (f *remoteFile) Read(p []byte) (int, error) {
	f.announce()
	return f.r.Read(p)
}

func (f *remoteFile) Seek(offset int64, whence int) (int64, error) {
	return f.r.Seek(offset, whence)
}

// announce tells a drive that wants to know (drivers.StreamNotifier) that
// its file is being read, once per open file.
func (f *remoteFile) announce() {
	notifier := f.n.m.can.streamNotifier
	if notifier == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.opened && !f.closed {
		notifier.StreamOpened(f.n.entry)
		f.opened = true
	}
}

func (f *remoteFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.r.Close()
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
	return f.fs.deadProps(f.ctx, f.n), nil
}

// Patch implements webdav.DeadPropsHolder.
func (f *remoteFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	return f.fs.patchProps(f.n, patches)
}

// linkSource is a mount's file as a stream.Source: its links come from
// the mount's link cache, under the key of what binds them.
type linkSource struct {
	m     *mount
	entry drivers.Entry
	req   drivers.LinkRequest
}

func (s *linkSource) Link(ctx context.Context) (drivers.Link, error) {
	return s.m.link(ctx, s.entry, s.req)
}

func (s *linkSource) Refused(url string) { s.m.dropLink(s.entry, s.req, url) }

func (s *linkSource) Key() string { return s.m.linkKey(s.entry, s.req) }
