package webdav

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/webdav"

	"pandav/drivers"
	"pandav/internal/state"
)

// putInfo is what the PUT request says about its body, handed to
// OpenFile in the request (see request) because x/net/webdav passes
// OpenFile nothing else. It is absent when x/net/webdav creates a file
// for LOCK.
type putInfo struct {
	size  int64 // -1 when unknown
	sha1  string
	mtime time.Time
	body  *bodyWatch
	// conditional is the request, checked again for its preconditions
	// under the path's lock (see writePreconditionsFail).
	conditional *http.Request
}

// bodyWatch remembers whether the request body ended cleanly, because
// x/net/webdav closes the file even after the body failed, and a file
// closed on a broken body must not be committed.
type bodyWatch struct {
	io.ReadCloser
	err error
	eof bool
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}

// writableMount finds the mount for a write and checks it may be written.
func (fs *FileSystem) writableMount(ctx context.Context, op, name string) (*mount, string, error) {
	if !requestOf(ctx).user.MaySee(cleanPath(name)) {
		return nil, "", &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
	}
	m, rel := fs.locate(cleanPath(name))
	if m == nil || rel == "/" {
		return nil, "", &os.PathError{Op: op, Path: name, Err: errNotInMount}
	}
	if m.readOnly {
		return nil, "", &os.PathError{Op: op, Path: name, Err: errReadOnly}
	}
	return m, rel, nil
}

var errNotInMount = fmt.Errorf("%w: the root and a mount's own folder cannot be changed", os.ErrPermission)

// checkName rejects names no cloud can hold; drivers add their own rules.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || len(name) > 1024 || strings.HasPrefix(name, tempPrefix) {
		return fmt.Errorf("%q: %w", name, drivers.ErrInvalidName)
	}
	return nil
}

// tempPrefix marks pandav's own in-flight names; listings hide them.
const tempPrefix = ".pandav-tmp-"

func (fs *FileSystem) parentDir(ctx context.Context, m *mount, rel string) (drivers.Entry, error) {
	parent, err := m.resolve(ctx, path.Dir(rel))
	if err != nil {
		return drivers.Entry{}, err
	}
	if !parent.IsDir {
		return drivers.Entry{}, fmt.Errorf("%s: parent is a file: %w", rel, drivers.ErrNotFound)
	}
	return parent, nil
}

// create opens a file for writing: a placeholder, a system file kept in
// memory, or a cloud upload.
func (fs *FileSystem) create(ctx context.Context, name string) (webdav.File, error) {
	name = cleanPath(name)
	m, rel, err := fs.writableMount(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	base := path.Base(rel)
	if err := checkName(base); err != nil {
		return nil, fs.fail(ctx, "open", name, err)
	}
	parent, err := fs.parentDir(ctx, m, rel)
	if err != nil {
		return nil, fs.fail(ctx, "open", name, err)
	}
	put := requestOf(ctx).put
	if isSystemFile(base) && !fs.o.UploadSystemFiles {
		return &heldWriter{fs: fs, name: name}, nil
	}
	// Two PUTs of one path (a client retrying a slow upload) take turns, so
	// the second sees the first's file as the one it replaces instead of
	// both creating one.
	unlock, err := fs.lockPath(ctx, name)
	if err != nil {
		return nil, fs.fail(ctx, "open", name, err)
	}
	var existing *drivers.Entry
	switch e, err := m.resolve(ctx, rel); {
	case err == nil && e.IsDir:
		unlock()
		return nil, fs.fail(ctx, "open", name, fmt.Errorf("%s is a folder: %w", name, drivers.ErrExist))
	case err == nil:
		existing = &e
	case !errors.Is(err, drivers.ErrNotFound):
		unlock()
		return nil, fs.fail(ctx, "open", name, err)
	}
	if put != nil {
		if failed, err := fs.writePreconditionsFail(ctx, put.conditional); failed || err != nil {
			unlock()
			if err == nil {
				err = errPreconditionFailed
			}
			return nil, fs.fail(ctx, "open", name, err)
		}
	}
	if m.can.upload == nil {
		unlock()
		return nil, fs.fail(ctx, "open", name, fmt.Errorf("uploads: %w", drivers.ErrUnsupported))
	}
	if existing == nil && (put == nil || put.size == 0) {
		unlock()
		return &heldWriter{fs: fs, name: name, placeholder: true}, nil
	}
	if put == nil {
		// LOCK on an existing file truncates nothing in the cloud.
		unlock()
		return &heldWriter{fs: fs, name: name, noop: true}, nil
	}
	u, err := fs.newUpload(ctx, m, rel, parent, existing, put)
	if err != nil {
		unlock()
		return nil, err
	}
	u.unlock = unlock
	return u, nil
}

// uploadLeaseTTL is how long a replica's upload lease on a path lasts
// unless renewed: how long the others wait after its holder died.
const uploadLeaseTTL = 30 * time.Second

// lockPath makes uploads of name take turns: in this process
// (pathLocks), and, on a shared store, across replicas, by the path's
// upload lease, renewed while the upload runs. A store that cannot be
// reached fails the upload before anything is written.
func (fs *FileSystem) lockPath(ctx context.Context, name string) (func(), error) {
	unlockHere := fs.pathLocks.lock(name)
	if !fs.o.State.Shared() {
		return unlockHere, nil
	}
	lease, owner := "upload:"+name, uuid.NewString()
	for {
		sctx, cancel := stateCtx()
		got, err := fs.o.State.TryLease(sctx, lease, owner, uploadLeaseTTL)
		cancel()
		if err != nil {
			unlockHere()
			return nil, err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			unlockHere()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	release := state.KeepLease(fs.o.State, lease, owner, uploadLeaseTTL)
	return func() {
		release()
		unlockHere()
	}, nil
}

// pathLocks serialises uploads per path.
type pathLocks struct {
	mu sync.Mutex
	m  map[string]*pathLock
}

type pathLock struct {
	sync.Mutex
	users int
}

func (p *pathLocks) lock(name string) (unlock func()) {
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]*pathLock{}
	}
	l, ok := p.m[name]
	if !ok {
		l = &pathLock{}
		p.m[name] = l
	}
	l.users++
	p.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		if l.users--; l.users == 0 {
			delete(p.m, name)
		}
	}
}

// fail records a cloud error for the status code and wraps it as
// x/net/webdav expects.
func (fs *FileSystem) fail(ctx context.Context, op, name string, err error) error {
	noteError(ctx, err)
	return asPathError(op, name, err)
}

// heldWriter takes a body that stays in memory (see heldFiles).
type heldWriter struct {
	fs          *FileSystem
	name        string
	placeholder bool
	noop        bool
	buf         []byte
	overflow    bool
}

func (w *heldWriter) Write(p []byte) (int, error) {
	if !w.overflow {
		if len(w.buf)+len(p) > maxSystemFile {
			w.buf, w.overflow = nil, true
		} else {
			w.buf = append(w.buf, p...)
		}
	}
	return len(p), nil
}

func (w *heldWriter) Close() error {
	if w.noop {
		return nil
	}
	now := time.Now().UTC()
	w.fs.held.put(w.name, &heldFile{data: w.buf, sum: drivers.SHA1Of(w.buf), mod: now, placeholder: w.placeholder, idleSince: now})
	w.fs.forgetMiss(w.name)
	return nil
}

func (w *heldWriter) Read([]byte) (int, error)           { return 0, os.ErrInvalid }
func (w *heldWriter) Seek(int64, int) (int64, error)     { return 0, nil }
func (w *heldWriter) Readdir(int) ([]os.FileInfo, error) { return nil, os.ErrInvalid }
func (w *heldWriter) Stat() (os.FileInfo, error) {
	return &FileInfo{name: path.Base(w.name), entry: drivers.Entry{Size: int64(len(w.buf)), ModTime: time.Now().UTC(), SHA1: drivers.SHA1Of(w.buf)}}, nil
}

// uploadFile streams or spools a PUT body into the cloud. Nothing is
// visible, and nothing replaced, until Close has seen the whole body and
// the cloud has the new file; only then is the old file removed.
type uploadFile struct {
	ctx      context.Context
	fs       *FileSystem
	m        *mount
	name     string // full WebDAV path
	rel      string
	parent   drivers.Entry
	existing *drivers.Entry
	put      *putInfo
	written  int64

	// streamed: the driver reads the body as it arrives, straight from
	// it (ReadFrom) or, when the body comes in Writes, through a pipe
	// started by the first
	streamed  bool
	ranDirect bool // ReadFrom ran the upload
	pw        *io.PipeWriter
	done      chan uploadResult

	// spooled: the body goes to disk first
	spool  *os.File
	hasher hash.Hash

	// copied: a streamed body small enough to be read back from disk
	// (see readBack) is copied there as it goes
	copied *os.File

	stored *drivers.Entry // the cloud's entry, once committed
	unlock func()         // lets the next upload of this path start
	closed chan struct{}  // closed when Close has returned
	begun  time.Time
}

type uploadResult struct {
	e   drivers.Entry
	err error
}

func (fs *FileSystem) newUpload(ctx context.Context, m *mount, rel string, parent drivers.Entry, existing *drivers.Entry, put *putInfo) (*uploadFile, error) {
	u := &uploadFile{ctx: ctx, fs: fs, m: m, name: m.fullPath(rel), rel: rel, parent: parent, existing: existing, put: put,
		closed: make(chan struct{}), begun: time.Now().UTC()}
	needs := m.can.needs()
	// A body of known size streams straight through. It is spooled when
	// its size is unknown (Finder's chunked PUT without a length), when
	// the driver must see the content first, or when a client-sent hash
	// makes a rapid upload possible, which may save the whole transfer.
	if put.size >= 0 && !needs.SHA1 && !needs.RandomAccess && put.sha1 == "" {
		u.streamed, u.done = true, make(chan uploadResult, 1)
		if fs.readBack.keeps(put.size) {
			if f, err := fs.readBack.create(); err == nil {
				u.copied, u.hasher = f, sha1.New()
			}
		}
		fs.uploads.Store(u, u.name)
		return u, nil
	}
	dir := filepath.Join(fs.o.StateDir, "spool")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "put-*")
	if err != nil {
		return nil, err
	}
	u.spool, u.hasher = f, sha1.New()
	fs.uploads.Store(u, u.name)
	return u, nil
}

var (
	errUploadEnded   = errors.New("upload ended")
	errUploadAborted = errors.New("the client's body ended early; upload abandoned")
)

func (u *uploadFile) Write(p []byte) (int, error) {
	if u.streamed {
		if u.written+int64(len(p)) > u.put.size {
			return 0, fmt.Errorf("%w: body longer than its declared length", drivers.ErrInvalidName)
		}
		if u.pw == nil {
			u.startPipe()
		}
		n, err := u.pw.Write(p)
		u.passed(p[:n])
		return n, err
	}
	n, err := u.spool.Write(p)
	u.hasher.Write(p[:n])
	u.written += int64(n)
	return n, err
}

// startPipe starts the driver's upload on a pipe that Write feeds.
func (u *uploadFile) startPipe() {
	pr, pw := io.Pipe()
	u.pw = pw
	src := &drivers.StreamSource{R: pr, N: u.put.size, MTime: u.put.mtime}
	go func() {
		e, err := u.m.can.upload.Upload(u.ctx, u.parent, path.Base(u.rel), src)
		pr.CloseWithError(errUploadEnded)
		u.done <- uploadResult{e, err}
	}()
}

// passed counts bytes of a streamed body the driver has taken, and copies
// them for read-back.
func (u *uploadFile) passed(p []byte) {
	if u.copied != nil && len(p) > 0 {
		u.hasher.Write(p)
		if _, err := u.copied.Write(p); err != nil {
			u.dropCopy()
		}
	}
	u.written += int64(len(p))
}

// copyBufSize is what a spooled body is copied in: large writes make a
// gigabyte cost thousands of system calls, not tens of thousands.
const copyBufSize = 1 << 20

// ReadFrom takes the whole body; x/net/webdav's PUT copies it with
// io.Copy, which finds this. A streamed body is read by the driver itself,
// in this goroutine, in reads as large as its parts: no pipe, and no
// hand-off between goroutines per 32 KiB. The upload's result waits for
// Close, as with Write.
func (u *uploadFile) ReadFrom(src io.Reader) (int64, error) {
	size := int64(copyBufSize)
	if u.put.size >= 0 {
		size = min(size, max(u.put.size, 4<<10))
	}
	if u.spool != nil {
		return u.spoolFrom(src, int(size))
	}
	if u.pw != nil {
		return io.CopyBuffer(struct{ io.Writer }{u}, src, make([]byte, size))
	}
	body := &uploadBody{u: u, r: src}
	e, err := u.m.can.upload.Upload(u.ctx, u.parent, path.Base(u.rel), &drivers.StreamSource{R: body, N: u.put.size, MTime: u.put.mtime})
	u.done <- uploadResult{e, err}
	u.ranDirect = true
	return u.written, body.err
}

// spoolFrom writes the body to the spool while another goroutine hashes
// what was written, so that a gigabyte's SHA1 costs no time of its own
// beside the spool's writes. Three buffers go round between the two.
func (u *uploadFile) spoolFrom(src io.Reader, size int) (int64, error) {
	const buffers = 3
	free := make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, size)
	}
	toHash := make(chan []byte, buffers)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range toHash {
			u.hasher.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var total int64
	var err error
	for {
		buf := <-free
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := u.spool.Write(buf[:n]); werr != nil {
				err = werr
				break
			}
			u.written += int64(n)
			total += int64(n)
			toHash <- buf[:n]
		} else {
			free <- buf
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	close(toHash)
	<-hashed
	return total, err
}

// uploadBody is a request body as the driver reads it: every byte passed
// is counted, and a body that ends before its length fails the driver's
// read with errUploadAborted, so that nothing short is committed.
type uploadBody struct {
	u   *uploadFile
	r   io.Reader
	err error // the body's own failure, for ReadFrom to report
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if left := b.u.put.size - b.u.written; int64(len(p)) > left {
		if left == 0 {
			return 0, io.EOF
		}
		p = p[:left]
	}
	n, err := b.r.Read(p)
	b.u.passed(p[:n])
	switch {
	case err == io.EOF && b.u.written < b.u.put.size:
		b.err = errUploadAborted
		return n, errUploadAborted
	case err != nil && err != io.EOF:
		b.err = err
		return n, fmt.Errorf("%w: %v", errUploadAborted, err)
	}
	return n, err
}

func (u *uploadFile) complete() bool {
	if u.ctx.Err() != nil || u.put.body != nil && (u.put.body.err != nil || !u.put.body.eof && u.put.size < 0) {
		return false
	}
	return u.put.size < 0 || u.written == u.put.size
}

func (u *uploadFile) Close() error {
	defer close(u.closed)
	defer u.fs.uploads.Delete(u)
	defer u.dropCopy() // unless adopted below
	if u.unlock != nil {
		defer u.unlock()
	}
	var res uploadResult
	if u.streamed {
		switch {
		case u.pw != nil && u.complete():
			u.pw.Close()
		case u.pw != nil:
			u.pw.CloseWithError(errUploadAborted)
		case !u.ranDirect:
			u.ReadFrom(strings.NewReader("")) // no body came: the driver sees it end
		}
		res = <-u.done
		if !u.complete() {
			if res.err != nil && !errors.Is(res.err, errUploadAborted) && u.ctx.Err() == nil {
				return u.abandon(res.err) // the cloud failed first
			}
			return u.abandon(errUploadAborted)
		}
	} else {
		defer func() {
			u.spool.Close()
			os.Remove(u.spool.Name())
		}()
		if !u.complete() {
			return u.abandon(errUploadAborted)
		}
		sum := strings.ToUpper(hex.EncodeToString(u.hasher.Sum(nil)))
		if u.put.sha1 != "" && !strings.EqualFold(u.put.sha1, sum) {
			return u.abandon(fmt.Errorf("%w: the body does not match its OC-Checksum", drivers.ErrInvalidName))
		}
		src := &spoolSource{SectionReader: io.NewSectionReader(u.spool, 0, u.written), sum: sum, mtime: u.put.mtime}
		e, err := u.m.can.upload.Upload(u.ctx, u.parent, path.Base(u.rel), src)
		res = uploadResult{e, err}
	}
	if res.err != nil {
		return u.abandon(res.err)
	}
	u.fs.committed(u.m, u.rel, res.e, u.existing)
	u.stored = &res.e
	u.keepCopy(res.e)
	return nil
}

// keepCopy hands the body, if small enough, to the read-back store as
// the content of e: the streamed copy, or the spool file itself.
func (u *uploadFile) keepCopy(e drivers.Entry) {
	rb := u.fs.readBack
	switch {
	case u.copied != nil:
		name := u.copied.Name()
		err := u.copied.Close()
		u.copied = nil
		if err != nil {
			os.Remove(name)
			return
		}
		rb.adopt(u.m.path, e, name, u.written, strings.ToUpper(hex.EncodeToString(u.hasher.Sum(nil))))
	case u.spool != nil && rb.keeps(u.written):
		// The spool's deferred removal then finds nothing to remove.
		rb.adopt(u.m.path, e, u.spool.Name(), u.written, strings.ToUpper(hex.EncodeToString(u.hasher.Sum(nil))))
	}
}

// dropCopy discards a streamed copy that will not be kept.
func (u *uploadFile) dropCopy() {
	if u.copied != nil {
		u.copied.Close()
		os.Remove(u.copied.Name())
		u.copied = nil
	}
}

func (u *uploadFile) abandon(err error) error {
	u.fs.o.Log.Warn().Str("path", u.name).Int64("bytes", u.written).Err(err).Msg("upload abandoned; the old file, if any, is untouched")
	return u.fs.fail(u.ctx, "close", u.name, err)
}

func (u *uploadFile) Stat() (os.FileInfo, error) {
	return &uploadInfo{FileInfo: &FileInfo{name: path.Base(u.rel), entry: drivers.Entry{Size: u.written, ModTime: time.Now().UTC()}}, u: u}, nil
}

// uploadInfo is what x/net/webdav stats before Close and asks the ETag of
// after: by then the cloud has the file, and the ETag is the one every
// later GET and PROPFIND will give.
type uploadInfo struct {
	*FileInfo
	u *uploadFile
}

func (i *uploadInfo) ETag(ctx context.Context) (string, error) {
	if i.u.stored != nil {
		return (&FileInfo{entry: *i.u.stored}).ETag(ctx)
	}
	return i.FileInfo.ETag(ctx)
}
func (u *uploadFile) Read([]byte) (int, error)           { return 0, os.ErrInvalid }
func (u *uploadFile) Seek(int64, int) (int64, error)     { return 0, os.ErrInvalid }
func (u *uploadFile) Readdir(int) ([]os.FileInfo, error) { return nil, os.ErrInvalid }

// spoolSource is a spooled body: random access, hash known.
type spoolSource struct {
	*io.SectionReader
	sum   string
	mtime time.Time
}

func (s *spoolSource) SHA1() string       { return s.sum }
func (s *spoolSource) ModTime() time.Time { return s.mtime }

// committed swaps a finished upload in: the old file goes only now, and
// the caches learn the new entry without another listing (clouds show new
// files late).
func (fs *FileSystem) committed(m *mount, rel string, e drivers.Entry, old *drivers.Entry) {
	if old != nil && old.ID != e.ID {
		fs.readBack.drop(m.path, old.ID)
		if m.can.remove != nil {
			if err := m.can.remove.Remove(context.Background(), *old, m.noTrash); err != nil && !errors.Is(err, drivers.ErrNotFound) {
				// The new file is shown (the newest of equal names wins),
				// but the old one must not resurface after a later
				// DELETE: its removal is retried until it succeeds.
				fs.o.Log.Warn().Str("path", m.fullPath(rel)).Err(err).Msg("new content stored, but the old file could not be removed yet; will retry")
				fs.pending.add(m.path, *old)
			}
		}
		fs.props.move(m.path, old.ID, e.ID)
	}
	fs.props.move(m.path, heldID(m.fullPath(rel)), e.ID)
	fs.held.remove(m.fullPath(rel))
	m.learn(rel, e)
}

// inflight returns the upload of a new file at name in progress, or nil.
// It is listed, and answers as a stored file does (see resolve); what
// needs its content waits for it (awaitUpload).
func (fs *FileSystem) inflight(name string) *uploadFile {
	var found *uploadFile
	fs.uploads.Range(func(k, v any) bool {
		if v.(string) == name {
			found = k.(*uploadFile)
		}
		return found == nil
	})
	return found
}

// inflightIn returns the uploads in progress directly inside dir.
func (fs *FileSystem) inflightIn(dir string) []*uploadFile {
	var out []*uploadFile
	fs.uploads.Range(func(k, v any) bool {
		if path.Dir(v.(string)) == dir {
			out = append(out, k.(*uploadFile))
		}
		return true
	})
	return out
}

// entry is what an upload in progress is listed as: the size its
// request declared (or what came so far), under the ID its dead
// properties wait in until it is stored.
func (u *uploadFile) entry() drivers.Entry {
	size := u.put.size
	if size < 0 {
		size = u.written
	}
	return drivers.Entry{ID: heldID(u.name), Name: path.Base(u.name), Size: size, ModTime: u.begun}
}

// awaitUpload waits until no upload of name is in progress, or ctx ends.
func (fs *FileSystem) awaitUpload(ctx context.Context, name string) error {
	for {
		u := fs.inflight(name)
		if u == nil {
			return nil
		}
		select {
		case <-u.closed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// InFlightUploads names the uploads not yet finished, for the shutdown log.
func (fs *FileSystem) InFlightUploads() []string {
	var names []string
	fs.uploads.Range(func(_, v any) bool {
		names = append(names, v.(string))
		return true
	})
	return names
}

// sweepSpool removes bodies left by a crash.
func sweepSpool(stateDir string) {
	matches, _ := filepath.Glob(filepath.Join(stateDir, "spool", "put-*"))
	for _, p := range matches {
		os.Remove(p)
	}
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
