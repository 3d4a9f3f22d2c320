package webdav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"pandav/drivers"
	"pandav/internal/httpclient"
)

// StreamOptions tune how file bytes are fetched from the CDN.
type StreamOptions struct {
	// ChunkSize is the length of one ranged upstream request.
	ChunkSize int64
	// ReadAhead is how many chunks past the one being read are fetched in
	// the background, so a CDN hiccup does not reach the player. 0 means
	// the default (3); a negative value turns read-ahead off.
	ReadAhead int
	// MemoryBudget caps the bytes held in chunk buffers by all streams
	// together. Read-ahead is skipped, never waited for, when it is spent.
	MemoryBudget int64
	// StallTimeout is how long a CDN body may send nothing before the
	// connection is dropped and the chunk resumed on a new one.
	// Players give up after 15 to 30 s of no data, and read-ahead holds a
	// few seconds of a film, so it must be well under that. 0 means 10 s.
	StallTimeout time.Duration
}

func (o *StreamOptions) defaults() {
	if o.StallTimeout <= 0 {
		o.StallTimeout = 10 * time.Second
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 4 << 20
	}
	switch {
	case o.ReadAhead < 0:
		o.ReadAhead = 0
	case o.ReadAhead == 0:
		o.ReadAhead = 3
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = 192 << 20
	}
	if o.MemoryBudget < o.ChunkSize {
		o.MemoryBudget = o.ChunkSize
	}
}

// Limits on how hard one chunk tries before its error reaches the client.
const (
	maxResumes  = 8 // failed opens or broken bodies in a row
	maxRelinks  = 3 // links refused in a row
	resumeDelay = 100 * time.Millisecond
	readPiece   = 256 << 10 // bytes made visible to the reader at a time
)

// headerTimeout bounds the wait for a CDN's response headers.
const headerTimeout = 30 * time.Second

// streams is the machinery shared by every open file: the memory budget,
// the chunk buffer pool and the per-link connection limits.
type streams struct {
	o      StreamOptions
	budget *semaphore.Weighted
	conns  connLimits
	client *http.Client

	// free holds chunk buffers for reuse. Unlike a sync.Pool, which the
	// garbage collector empties, it turns a stream's steady state into no
	// allocation at all, so the heap, and a NAS's RSS, stay at what the
	// streams really hold. The memory budget bounds it; trim gives it back
	// once streaming stops.
	mu       sync.Mutex
	free     [][]byte
	lastTake time.Time
}

func newStreams(o StreamOptions, client *http.Client) *streams {
	o.defaults()
	return &streams{o: o, budget: semaphore.NewWeighted(o.MemoryBudget), client: client}
}

func (s *streams) buffer(n int64) []byte {
	if n != s.o.ChunkSize {
		return make([]byte, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTake = time.Now()
	if k := len(s.free); k > 0 {
		b := s.free[k-1]
		s.free = s.free[:k-1]
		return b
	}
	return make([]byte, n)
}

func (s *streams) recycle(b []byte) {
	if int64(cap(b)) != s.o.ChunkSize {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free = append(s.free, b[:cap(b)])
}

// trim drops the spare buffers when no stream has taken one for a while.
func (s *streams) trim(idle time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastTake) > idle {
		clear(s.free)
		s.free = s.free[:0]
	}
}

// remoteFile is an open cloud file. Open, Stat and Seek only move an
// offset; Read fetches bounded ranges ("chunks") at the offset, a few
// ahead of the reader. A chunk whose connection drops resumes from the
// exact byte, and a refused link is replaced, so the client never sees
// the break.
type remoteFile struct {
	ctx     context.Context
	fs      *FileSystem
	n       node
	req     drivers.LinkRequest
	size    int64
	off     int64
	hintEnd int64    // the client asked for bytes up to here; no read-ahead past it
	win     []*chunk // in offset order; win[0] holds off while reading
	opened  bool     // the driver was told a stream opened (StreamNotifier)

	// mu serialises Read and Close: http.ServeContent reads a multi-range
	// answer from a goroutine of its own, which may still be in Read when
	// the handler closes the file.
	mu     sync.Mutex
	closed bool
}

func newRemoteFile(ctx context.Context, fs *FileSystem, n node, req drivers.LinkRequest) *remoteFile {
	return &remoteFile{ctx: ctx, fs: fs, n: n, req: req, size: n.entry.Size, hintEnd: n.entry.Size}
}

// limitTo tells the file the client wants bytes up to end only, so the
// first chunk is no longer than the request and nothing is read ahead.
func (f *remoteFile) limitTo(end int64) {
	if end > 0 && end < f.size {
		f.hintEnd = end
	}
}

func (f *remoteFile) Stat() (os.FileInfo, error) { return f.fs.info(f.n), nil }

func (f *remoteFile) Write(p []byte) (int, error) { return 0, errReadOnly }

func (f *remoteFile) Readdir(int) ([]os.FileInfo, error) {
	return nil, &os.PathError{Op: "readdir", Path: f.n.name, Err: errors.New("not a folder")}
}

func (f *remoteFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.dropAll()
	if f.opened {
		f.opened = false
		f.n.m.drive.(drivers.StreamNotifier).StreamClosed(f.n.entry)
	}
	return nil
}

// Seek moves the offset without any network work. Chunks already fetched
// are kept until the next Read shows whether the offset is inside them.
func (f *remoteFile) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
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
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, os.ErrClosed
	}
	if f.off >= f.size {
		return 0, io.EOF
	}
	for len(f.win) > 0 && f.win[0].end <= f.off {
		f.drop(f.win[0])
		f.win = f.win[1:]
	}
	if len(f.win) > 0 && f.win[0].off > f.off {
		f.dropAll() // a seek back, outside the window
	}
	if !f.opened {
		if sn, ok := f.n.m.drive.(drivers.StreamNotifier); ok {
			sn.StreamOpened(f.n.entry)
			f.opened = true
		}
	}
	if len(f.win) == 0 {
		c, err := f.startChunk(f.off, true)
		if err != nil {
			return 0, err
		}
		f.win = append(f.win, c)
	}
	f.readAhead()
	c := f.win[0]
	need := int(f.off-c.off) + 1
	filled, err := c.wait(f.ctx, need)
	if filled >= need {
		n := copy(p, c.buf[f.off-c.off:filled])
		f.off += int64(n)
		return n, nil
	}
	f.fs.o.Log.Warn().Str("path", f.n.name).Int64("offset", f.off).Err(err).Msg("upstream read failed")
	f.dropAll()
	return 0, err
}

// readAhead starts chunks after the last one, while the memory budget
// allows, up to ReadAhead chunks and never past what the client asked for.
func (f *remoteFile) readAhead() {
	end := f.hintEnd
	if f.off >= end {
		end = f.size // the client read past what it asked for at first
	}
	for len(f.win) < 1+f.fs.streams.o.ReadAhead {
		next := f.win[len(f.win)-1].end
		if next >= end {
			return
		}
		c, err := f.startChunk(next, false)
		if err != nil {
			return
		}
		f.win = append(f.win, c)
	}
}

// startChunk reserves memory for the chunk at off and starts fetching it.
// The chunk being read waits for memory; read-ahead gives up at once.
func (f *remoteFile) startChunk(off int64, wait bool) (*chunk, error) {
	s := f.fs.streams
	end := min(off+s.o.ChunkSize, f.size)
	if off < f.hintEnd {
		end = min(end, f.hintEnd)
	}
	n := end - off
	budgeted := s.budget.TryAcquire(n)
	if !budgeted && !wait {
		return nil, errBudget
	}
	// The chunk a client is waiting for goes ahead even when paused
	// players hold the whole budget: the budget bounds read-ahead, and a
	// stream must never hang on another's memory.
	ctx, cancel := context.WithCancel(f.ctx)
	c := &chunk{off: off, end: end, buf: s.buffer(n), budgeted: budgeted, cancel: cancel, wake: make(chan struct{}), finished: make(chan struct{})}
	go f.fetch(ctx, c)
	return c, nil
}

var errBudget = errors.New("stream memory budget spent")

// drop cancels a chunk; its memory returns once its fetch has stopped
// writing into it.
func (f *remoteFile) drop(c *chunk) {
	c.cancel()
	s := f.fs.streams
	go func() {
		<-c.finished
		s.recycle(c.buf)
		if c.budgeted {
			s.budget.Release(c.end - c.off)
		}
	}()
}

func (f *remoteFile) dropAll() {
	for _, c := range f.win {
		f.drop(c)
	}
	f.win = nil
}

// chunk is one bounded range being fetched into memory. The reader may
// consume the bytes already fetched while the rest arrive.
type chunk struct {
	off, end int64
	buf      []byte
	budgeted bool // holds its bytes of the memory budget
	cancel   context.CancelFunc
	finished chan struct{} // closed when the fetch stops touching buf

	mu     sync.Mutex
	filled int
	err    error
	wake   chan struct{} // closed and replaced on every change
}

func (c *chunk) progress(filled int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filled = filled
	if err != nil && c.err == nil {
		c.err = err
	}
	close(c.wake)
	c.wake = make(chan struct{})
}

// wait blocks until need bytes are in, or the fetch failed.
func (c *chunk) wait(ctx context.Context, need int) (int, error) {
	for {
		c.mu.Lock()
		filled, err, wake := c.filled, c.err, c.wake
		c.mu.Unlock()
		if filled >= need || err != nil {
			return filled, err
		}
		select {
		case <-ctx.Done():
			return filled, ctx.Err()
		case <-wake:
		}
	}
}

// fetch fills c from the CDN, resuming after drops and renewing refused
// links, within bounded retries.
func (f *remoteFile) fetch(ctx context.Context, c *chunk) {
	defer close(c.finished)
	filled, failures, relinks := 0, 0, 0
	for filled < len(c.buf) {
		n, err := f.fetchOnce(ctx, c, filled)
		filled += n
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			c.progress(filled, ctx.Err())
			return
		}
		var refused *linkRefused
		var fatal *fatalReadError
		switch {
		case errors.As(err, &fatal):
			c.progress(filled, fatal.err)
			return
		case errors.As(err, &refused):
			f.n.m.dropLink(f.n.entry, f.req, refused.url)
			if relinks++; relinks >= maxRelinks {
				c.progress(filled, fmt.Errorf("%w: the CDN refused %d fresh links (HTTP %d)", drivers.ErrUpstream, maxRelinks, refused.status))
				return
			}
			f.fs.o.Log.Debug().Str("path", f.n.name).Int("status", refused.status).Msg("link refused, fetching a new one")
			continue
		}
		if n > 0 {
			failures = 0 // progress was made; this is a new break
		}
		if failures++; failures >= maxResumes {
			c.progress(filled, err)
			return
		}
		f.fs.o.Log.Debug().Str("path", f.n.name).Int64("offset", c.off+int64(filled)).Err(err).Msg("resuming upstream read")
		if !sleepCtx(ctx, resumeDelay<<min(failures-1, 5)) {
			c.progress(filled, ctx.Err())
			return
		}
	}
	c.progress(filled, nil)
}

type linkRefused struct {
	status int
	url    string
}

func (e *linkRefused) Error() string { return "link refused with HTTP " + strconv.Itoa(e.status) }

// fatalReadError is a failure that another try cannot mend.
type fatalReadError struct{ err error }

func (e *fatalReadError) Error() string { return e.err.Error() }
func (e *fatalReadError) Unwrap() error { return e.err }

// fetchOnce makes one ranged request for c's bytes from filled on, and
// returns how many more bytes it got.
func (f *remoteFile) fetchOnce(ctx context.Context, c *chunk, filled int) (int, error) {
	l, err := f.n.m.link(ctx, f.n.entry, f.req)
	if err != nil {
		if errors.Is(err, drivers.ErrNotFound) || errors.Is(err, drivers.ErrAuth) {
			return 0, &fatalReadError{err}
		}
		return 0, err
	}
	release, err := f.fs.streams.conns.acquire(ctx, f.n.m.linkKey(f.n.entry, f.req), l.MaxConns)
	if err != nil {
		return 0, err
	}
	defer release()
	start := c.off + int64(filled)
	ctx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return 0, &fatalReadError{err}
	}
	for k, vs := range l.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "pandav")
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, c.end-1))
	// A CDN that goes silent in the body is cut after StallTimeout, so the
	// chunk resumes on a fresh connection. Its headers get longer (dialing,
	// TLS and a slow first byte are not a stall), but not for ever.
	stallTimeout := f.fs.streams.o.StallTimeout
	stall := time.AfterFunc(max(stallTimeout, headerTimeout), cancelReq)
	defer stall.Stop()
	resp, err := f.fs.streams.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", drivers.ErrUpstream, httpclient.Redact(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if !rangeStartsAt(resp.Header.Get("Content-Range"), start) {
			return 0, fmt.Errorf("%w: the CDN answered another range", drivers.ErrUpstream)
		}
	case resp.StatusCode == http.StatusOK && start == 0:
		// a CDN may ignore Range for a whole-file request; read what we need
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusUnauthorized:
		drain(resp)
		return 0, &linkRefused{status: resp.StatusCode, url: l.URL}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return 0, &fatalReadError{io.ErrUnexpectedEOF}
	default:
		drain(resp)
		return 0, fmt.Errorf("%w: the CDN answered HTTP %d", drivers.ErrUpstream, resp.StatusCode)
	}
	stall.Reset(stallTimeout)
	got := 0
	for filled+got < len(c.buf) {
		end := min(filled+got+readPiece, len(c.buf))
		n, err := io.ReadAtLeast(resp.Body, c.buf[filled+got:end], 1)
		stall.Reset(stallTimeout)
		got += n
		c.progress(filled+got, nil)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // shorter than the range it promised
			}
			return got, fmt.Errorf("%w: %v", drivers.ErrUpstream, err)
		}
	}
	return got, nil
}

// connLimits queues fetches of one link beyond the connections the cloud
// allows for it, instead of letting the CDN refuse them.
type connLimits struct {
	mu   sync.Mutex
	sems map[string]*connSem
}

type connSem struct {
	sem   *semaphore.Weighted
	users int
}

func (l *connLimits) acquire(ctx context.Context, key string, max int) (func(), error) {
	if max <= 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	if l.sems == nil {
		l.sems = map[string]*connSem{}
	}
	cs, ok := l.sems[key]
	if !ok {
		cs = &connSem{sem: semaphore.NewWeighted(int64(max))}
		l.sems[key] = cs
	}
	cs.users++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if cs.users--; cs.users == 0 {
			delete(l.sems, key)
		}
	}
	if err := cs.sem.Acquire(ctx, 1); err != nil {
		done()
		return nil, err
	}
	return func() { cs.sem.Release(1); done() }, nil
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
