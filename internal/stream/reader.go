package stream

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

	"pandav/drivers"
	"pandav/internal/httpclient"
)

// Limits on how hard one chunk tries before its error reaches the reader.
const (
	maxResumes  = 8 // failed opens or broken bodies in a row
	maxRelinks  = 3 // links refused in a row
	resumeDelay = 100 * time.Millisecond
	readPiece   = 256 << 10 // bytes made visible to the reader at a time
)

// headerTimeout bounds the wait for a CDN's response headers.
const headerTimeout = 30 * time.Second

// Reader is an open stream of one file. Seek only moves an offset; Read
// fetches chunks at the offset, a few ahead of the reader. A chunk whose
// connection drops resumes from the exact byte, and a refused link is
// replaced, so the reader never sees the break.
//
// Read and Close may be called from different goroutines:
// http.ServeContent reads a multi-range answer from a goroutine of its
// own, which may still be in Read when the handler closes the file.
type Reader struct {
	ctx     context.Context
	pool    *Pool
	src     Source
	name    string
	size    int64
	off     int64
	hintEnd int64    // the client asked for bytes up to here; no read-ahead past it
	window  []*chunk // in offset order; window[0] holds off while reading

	mu     sync.Mutex // serialises Read, Seek and Close
	closed bool
}

// LimitTo tells the reader its client wants bytes up to end only, so the
// first chunk is no longer than that and nothing is read ahead past it.
func (r *Reader) LimitTo(end int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if end > 0 && end < r.size {
		r.hintEnd = end
	}
}

// Close stops every fetch; the chunks' memory returns once they have
// stopped writing into it.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.pool.streamClosed()
	r.dropAll()
	return nil
}

// Seek moves the offset without any network work. Chunks already fetched
// are kept until the next Read shows whether the offset is inside them.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, os.ErrInvalid
	}
	if offset < 0 {
		return 0, os.ErrInvalid
	}
	r.off = offset
	return offset, nil
}

func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, os.ErrClosed
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	for len(r.window) > 0 && r.window[0].end <= r.off {
		r.drop(r.window[0])
		r.window = r.window[1:]
	}
	if len(r.window) > 0 && r.window[0].off > r.off {
		r.dropAll() // a seek back, outside the window
	}
	if len(r.window) == 0 {
		c, err := r.startChunk(r.off, true)
		if err != nil {
			return 0, err
		}
		r.window = append(r.window, c)
	}
	r.readAhead()
	c := r.window[0]
	need := int(r.off-c.off) + 1
	filled, err := c.wait(r.ctx, need)
	if filled >= need {
		n := copy(p, c.buf[r.off-c.off:filled])
		r.off += int64(n)
		return n, nil
	}
	r.pool.log.Warn().Str("path", r.name).Int64("offset", r.off).Err(err).Msg("upstream read failed")
	r.dropAll()
	return 0, err
}

// readAhead starts chunks after the last one, while the memory budget
// allows, up to ReadAhead chunks and never past what the client asked for.
func (r *Reader) readAhead() {
	end := r.hintEnd
	if r.off >= end {
		end = r.size // the client read past what it asked for at first
	}
	for len(r.window) < 1+r.pool.o.ReadAhead {
		next := r.window[len(r.window)-1].end
		if next >= end {
			return
		}
		c, err := r.startChunk(next, false)
		if err != nil {
			return
		}
		r.window = append(r.window, c)
	}
}

// startChunk reserves memory for the chunk at off and starts fetching it.
// The chunk being read waits for memory; read-ahead gives up at once.
func (r *Reader) startChunk(off int64, wait bool) (*chunk, error) {
	p := r.pool
	end := min(off+p.o.ChunkSize, r.size)
	if off < r.hintEnd {
		end = min(end, r.hintEnd)
	}
	n := end - off
	budgeted := p.reserve(n)
	if !budgeted && !wait {
		return nil, errBudget
	}
	// The chunk a client is waiting for goes ahead even when paused
	// players hold the whole budget: the budget bounds read-ahead, and a
	// stream must never hang on another's memory.
	ctx, cancel := context.WithCancel(r.ctx)
	c := &chunk{off: off, end: end, buf: p.buffer(n), budgeted: budgeted, cancel: cancel, wake: make(chan struct{}), finished: make(chan struct{})}
	go r.fetch(ctx, c)
	return c, nil
}

var errBudget = errors.New("stream memory budget spent")

// drop cancels a chunk; its memory returns once its fetch has stopped
// writing into it.
func (r *Reader) drop(c *chunk) {
	c.cancel()
	p := r.pool
	go func() {
		<-c.finished
		p.recycle(c.buf)
		if c.budgeted {
			p.unreserve(c.end - c.off)
		}
	}()
}

func (r *Reader) dropAll() {
	for _, c := range r.window {
		r.drop(c)
	}
	r.window = nil
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
func (r *Reader) fetch(ctx context.Context, c *chunk) {
	defer close(c.finished)
	filled, failures, relinks := 0, 0, 0
	for filled < len(c.buf) {
		n, err := r.fetchOnce(ctx, c, filled)
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
			r.src.Refused(refused.url)
			if relinks++; relinks >= maxRelinks {
				c.progress(filled, fmt.Errorf("%w: the CDN refused %d fresh links (HTTP %d)", drivers.ErrUpstream, maxRelinks, refused.status))
				return
			}
			r.pool.log.Debug().Str("path", r.name).Int("status", refused.status).Msg("link refused, fetching a new one")
			continue
		}
		if n > 0 {
			failures = 0 // progress was made; this is a new break
		}
		if failures++; failures >= maxResumes {
			c.progress(filled, err)
			return
		}
		r.pool.log.Debug().Str("path", r.name).Int64("offset", c.off+int64(filled)).Err(err).Msg("resuming upstream read")
		if !sleepCtx(ctx, resumeDelay<<min(failures-1, 5)) {
			c.progress(filled, ctx.Err())
			return
		}
	}
	c.progress(filled, nil)
}

// linkRefused is a CDN's refusal of a link, which a new link may mend.
// Its url never reaches a message.
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
func (r *Reader) fetchOnce(ctx context.Context, c *chunk, filled int) (int, error) {
	l, err := r.src.Link(ctx)
	if err != nil {
		if errors.Is(err, drivers.ErrNotFound) || errors.Is(err, drivers.ErrAuth) {
			return 0, &fatalReadError{err}
		}
		return 0, err
	}
	release, err := r.pool.conns.acquire(ctx, r.src.Key(), l.MaxConns)
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
	stallTimeout := r.pool.o.StallTimeout
	stall := time.AfterFunc(max(stallTimeout, headerTimeout), cancelReq)
	defer stall.Stop()
	resp, err := r.pool.client.Do(req)
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
