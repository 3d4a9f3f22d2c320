package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pandav/drivers"
	"pandav/internal/httpclient"
)

// Limits on how hard one chunk tries before its error reaches the reader.
const (
	maxResumes = 8 // failed opens or broken bodies in a row
	maxRelinks = 3 // links refused in a row
	// maxBusy is how many times in a row a link refused as busy (too many
	// connections open) is tried again before the chunk gives up; the
	// waits double from busyDelay, so the CDN has some seconds to count
	// the connections it has closed.
	maxBusy   = 10
	busyDelay = 25 * time.Millisecond
	// maxGuessedBusy is how many plain refusals, met while other fetches
	// of the link hold connections, are taken for busy ones before the
	// link is taken for dead: a CDN need not say why it refuses.
	maxGuessedBusy = 3
	resumeDelay    = 100 * time.Millisecond
)

// How a chunk's bytes travel from its fetch to the reader: in pieces, a
// few ahead, so that a chunk's range may be far longer than what it holds.
const (
	pieceSize = 256 << 10 // one piece of a chunk with memory of the budget
	// smallPiece is the piece of a chunk past the budget: the stream
	// passes its bytes through a small buffer instead of allocating.
	smallPiece = 32 << 10
	// chunkBuffer is the most of a chunk's bytes held ahead of its reader.
	chunkBuffer = 4 << 20
	// heldChunk is the length of a chunk of a throttled CDN, held whole:
	// long enough that a request's wait is a small part of it (30 ms of
	// 500 at 16 MiB/s), short enough that a few per stream fit the budget.
	heldChunk = 8 << 20
	// pauseGrace is how long a fetch waits, connection open, for its
	// reader to make room; past it the connection is let go (a paused
	// player must not hold the link's few connections) and the chunk
	// resumes at the exact byte when the reader comes back.
	pauseGrace = time.Second
	// leaseWait is how long a connection waits for a reader that has just
	// been sent bytes to come back and read from it directly.
	leaseWait = 20 * time.Millisecond
	// slowConn is the speed of one CDN connection under which a client
	// that waits on it gets read-ahead: real CDNs throttle each connection to
	// some 10 to 20 MiB/s, and several connections side by side then beat
	// one long one. A busy machine's loopback CDN is faster than this even
	// with 16 streams at once.
	slowConn = 24 << 20
)

// headerTimeout bounds the wait for a CDN's response headers.
const headerTimeout = 30 * time.Second

// Reader is an open stream of one file. Seek only moves an offset; Read
// fetches chunks at the offset, a few ahead of the reader. A chunk whose
// connection drops resumes from the exact byte, and a refused link is
// replaced, so the reader never sees the break.
//
// Chunks start at Options.ChunkSize after an open or a seek and, from the
// third, double up to Options.MaxChunkSize while the client reads on; the
// next one runs to the end of what the client asked for: a seek costs
// little, a long read few requests. A chunk holds at most chunkBuffer of
// its bytes ahead of the reader, so a long chunk costs no more memory
// than a short one.
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
	// lastEnd is the end of the last chunk started: a chunk starting there
	// continues a sequential read, the run-th of it; from the third on,
	// each is twice as long as the one before.
	lastEnd int64
	run     int
	// maxConns is the connections the link allows (0: not known yet, or
	// no limit): read-ahead keeps one chunk more than them, queued for the
	// first connection that frees, and no more, since more would only
	// queue.
	maxConns atomic.Int32
	// held says the client waits on one connection, which gives it less
	// than slowConn: only then does read-ahead add connections. On a fast
	// CDN, or for a client slower than one connection, read-ahead would
	// cost copies, requests and memory for nothing. The gauge weighs what
	// the client read since gaugeFrom against the time it spent in Read;
	// heldWindows counts the windows in a row that showed it held.
	held        bool
	gaugeFrom   time.Time
	gaugeBytes  int64
	waited      time.Duration
	heldWindows int

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

// Read fills p with as many bytes as have arrived, waiting only for the
// first: the client writes in large blocks.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, os.ErrClosed
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	var began time.Time
	if !r.held {
		began = time.Now() // for the gauge, which is done once held
	}
	for len(r.window) > 0 && r.window[0].end <= r.off {
		r.drop(r.window[0])
		r.window = r.window[1:]
	}
	if len(r.window) > 0 && (r.window[0].pos > r.off || r.off-r.window[0].pos > chunkBuffer) {
		// A seek back, to bytes already passed on or never fetched; or
		// far ahead in a long chunk, which a new chunk reaches sooner.
		r.dropAll()
	}
	if len(r.window) == 0 {
		r.window = append(r.window, r.startChunk(r.off, true))
	}
	if r.held {
		r.readAhead()
	}
	c := r.window[0]
	c.headed.Store(true)
	want := min(int64(len(p)), c.end-r.off)
	n := 0
	for int64(n) < want {
		if c.held != nil {
			if n > 0 {
				break
			}
			// A seek forward inside the chunk reads the bytes between
			// into p and drops them.
			skip, into := r.off-c.pos, p[:want]
			if skip > 0 {
				into = p[:min(want, skip)]
			}
			k, err := c.held.read(into)
			if err == errLeaseOver {
				c.held = nil
				continue
			}
			c.pos += int64(k)
			if skip > 0 {
				k = 0
			}
			r.off += int64(k)
			n += k
			if err != nil || c.pos == c.end {
				c.giveBack(err)
			}
			if k > 0 {
				break
			}
			continue
		}
		if c.cur == nil || c.cur.r == c.cur.n {
			r.pool.recycle(c.cur)
			c.cur = nil
			if !c.next(r.ctx, n == 0) {
				break
			}
			continue
		}
		if skip := r.off - c.pos; skip > 0 { // a seek forward inside the chunk
			k := int(min(skip, int64(c.cur.n-c.cur.r)))
			c.cur.r += k
			c.pos += int64(k)
			continue
		}
		k := copy(p[n:want], c.cur.buf[c.cur.r:c.cur.n])
		c.cur.r += k
		c.pos += int64(k)
		r.off += int64(k)
		n += k
	}
	if n > 0 {
		if !r.held {
			r.gauge(began, n)
		}
		return n, nil
	}
	err := c.failure(r.ctx)
	r.pool.log.Warn().Str("path", r.name).Int64("offset", r.off).Err(err).Msg("upstream read failed")
	r.dropAll()
	return 0, err
}

// gaugeWindow is how many bytes the client reads between two looks at
// whether one connection holds it back.
const gaugeWindow = 1 << 20

// The gauge starts after the stream's first Read, which waits for the
// link's call and the first answer (under load, or behind other streams'
// link calls, seconds), and wants heldWindows in a row: one busy moment
// of a loaded machine is not a throttled CDN.
const heldWindows = 2

// gauge counts a Read that began at began and gave n bytes.
func (r *Reader) gauge(began time.Time, n int) {
	now := time.Now()
	if r.gaugeFrom.IsZero() {
		r.gaugeFrom = now
		return
	}
	r.gaugeBytes += int64(n)
	r.waited += now.Sub(began)
	if r.gaugeBytes < gaugeWindow {
		return
	}
	elapsed := now.Sub(r.gaugeFrom)
	rate := float64(r.gaugeBytes) / elapsed.Seconds()
	if r.waited > elapsed/2 && rate < slowConn {
		r.heldWindows++
	} else {
		r.heldWindows = 0
	}
	r.held = r.heldWindows >= heldWindows
	r.gaugeFrom, r.gaugeBytes, r.waited = now, 0, 0
}

// readAhead starts chunks after the last one, while the memory budget
// allows, up to ReadAhead chunks and never past what the client asked for.
func (r *Reader) readAhead() {
	end := r.hintEnd
	if r.off >= end {
		end = r.size // the client read past what it asked for at first
	}
	ahead := r.pool.o.ReadAhead
	if conns := int(r.maxConns.Load()); conns > 0 {
		ahead = min(ahead, conns)
	}
	for len(r.window) < 1+ahead {
		next := r.window[len(r.window)-1].end
		if next >= end {
			return
		}
		c := r.startChunk(next, false)
		if c == nil {
			return
		}
		r.window = append(r.window, c)
	}
}

// startChunk reserves memory for the chunk at off and starts fetching it.
// Read-ahead gives up when the budget is spent (nil); the chunk a client
// is waiting for goes ahead through small pieces instead, so that a
// stream never hangs on another's memory and memory does not grow past
// the budget by a chunk per stream.
func (r *Reader) startChunk(off int64, reading bool) *chunk {
	p := r.pool
	if off != r.lastEnd || r.lastEnd == 0 {
		r.run = 0
	}
	n := p.o.ChunkSize
	for i := 1; i < r.run && n <= p.o.MaxChunkSize; i++ {
		n *= 2
	}
	if n > p.o.MaxChunkSize {
		// A read this long goes on to the end, on one request: the
		// client reads a whole film, and a chunk longer than its buffer
		// costs no memory.
		n = r.size - off
	}
	if r.held {
		// A CDN that throttles each connection, and a reader that wants
		// more than one gives: chunks held whole, so that read-ahead
		// fetches them side by side, on as many connections as the link
		// allows.
		n = min(n, heldChunk)
	}
	end := min(off+n, r.size)
	if off < r.hintEnd {
		end = min(end, r.hintEnd)
	}
	hold := min(end-off, chunkBuffer)
	if r.held {
		hold = end - off
	}
	budgeted := p.reserve(hold)
	if !budgeted && !reading {
		return nil
	}
	// A short chunk fits whole, with two slots more for pieces sent early
	// to a waiting reader; a long one keeps its buffer, less the pieces
	// its fetch and its reader hold.
	pieceLen, slots := min(int64(pieceSize), hold), int((hold+pieceSize-1)/pieceSize)+2
	if end-off > hold {
		slots = max(1, int(hold/pieceSize)-2)
	}
	if !budgeted {
		// Past the budget: no read-ahead, a short chunk, a small buffer.
		end = min(end, off+p.o.ChunkSize)
		hold, pieceLen, slots = 0, min(smallPiece, end-off), 1
	}
	r.lastEnd = end
	r.run++
	ctx, cancel := context.WithCancel(r.ctx)
	c := &chunk{off: off, end: end, pos: off, hold: hold, piece: int(pieceLen), cancel: cancel,
		finished: make(chan struct{}), pieces: make(chan *piece, slots), lease: make(chan *lease)}
	go r.fetch(ctx, c)
	return c
}

// drop cancels a chunk; its memory returns once its fetch has stopped
// writing into it.
func (r *Reader) drop(c *chunk) {
	if c.held != nil {
		c.giveBack(context.Canceled)
	}
	c.cancel()
	p := r.pool
	go func() {
		<-c.finished
		p.recycle(c.cur)
		for pc := range c.pieces {
			p.recycle(pc)
		}
		if c.hold > 0 {
			p.unreserve(c.hold)
		}
	}()
}

func (r *Reader) dropAll() {
	for _, c := range r.window {
		r.drop(c)
	}
	r.window = nil
}

// piece is a run of a chunk's bytes on its way to the reader.
type piece struct {
	buf  []byte
	n, r int // filled by the fetch, read by the reader
}

// chunk is one bounded range being fetched. Its fetch sends the bytes in
// pieces, at most slots of them ahead; the reader consumes them as they
// come.
type chunk struct {
	off, end int64
	hold     int64 // bytes of the memory budget it holds; 0 past the budget
	piece    int   // length of its pieces
	cancel   context.CancelFunc
	finished chan struct{} // closed when the fetch stops touching pieces
	pieces   chan *piece   // closed by the fetch after its last piece
	err      error         // why the fetch stopped short; set before pieces closes
	hungry   atomic.Bool   // the reader waits: send what there is
	headed   atomic.Bool   // the reader reads it: lend it the connection
	lease    chan *lease   // the fetch lends its connection to the waiting reader

	// the reader's own
	held *lease // the connection it reads straight from
	cur  *piece // being read
	pos  int64  // file offset of the next byte the reader gets
}

// next makes the next piece current: waiting for it when wait, else only
// if one is there already. It reports whether there is one.
func (c *chunk) next(ctx context.Context, wait bool) bool {
	var pc *piece
	var ok bool
	select {
	case pc, ok = <-c.pieces:
	default:
		if !wait {
			return false
		}
		c.hungry.Store(true)
		select {
		case pc, ok = <-c.pieces:
		case l := <-c.lease:
			c.hungry.Store(false)
			c.held = l
			return true
		case <-ctx.Done():
		}
		c.hungry.Store(false)
	}
	if !ok {
		return false
	}
	c.cur = pc
	return true
}

// lease lends a chunk's connection to its reader, which then reads the
// CDN's body straight into the client's buffer: no piece, no copy and no
// hand-off per read. The fetch waits until it is given back, with what
// the reader got and why it stopped, or takes it back from a reader that
// has read nothing for pauseGrace; the stall clock runs on meanwhile.
type lease struct {
	body    io.Reader
	stall   *time.Timer
	timeout time.Duration
	done    chan leaseEnd // buffered: the one end of the lease

	mu   sync.Mutex // held by the reader while it reads body
	n    int64      // bytes the reader got
	over bool
}

type leaseEnd struct {
	n   int64
	err error
}

var errLeaseOver = errors.New("the fetch took its connection back")

func (l *lease) read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.over {
		return 0, errLeaseOver
	}
	k, err := l.body.Read(p)
	if k > 0 {
		l.stall.Reset(l.timeout)
		l.n += int64(k)
	}
	return k, err
}

// end ends the lease once, from either side.
func (l *lease) end(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.over {
		l.over = true
		l.done <- leaseEnd{n: l.n, err: err}
	}
}

// wait is the fetch's side: it waits for the lease's end, and ends it
// itself when the reader has got nothing for pauseGrace, or at once when
// other fetches wait for the link's connections (crowded): a slow reader
// must not keep them from the few a link allows.
func (l *lease) wait(crowded func() bool) leaseEnd {
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	last, idle := int64(-1), time.Duration(0)
	for {
		select {
		case e := <-l.done:
			return e
		case <-t.C:
			l.mu.Lock()
			n := l.n
			l.mu.Unlock()
			if idle += tick; n != last {
				last, idle = n, 0
			}
			if idle >= pauseGrace || crowded() {
				l.end(nil)
				return <-l.done
			}
		}
	}
}

// giveBack returns the connection to the chunk's fetch; err is why the
// reader stopped (nil: it has the chunk's last byte, or moves on).
func (c *chunk) giveBack(err error) {
	c.held.end(err)
	c.held = nil
}

// failure is why the reader got no bytes from c.
func (c *chunk) failure(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	<-c.finished
	if c.err != nil {
		return c.err
	}
	return fmt.Errorf("%w: %v", drivers.ErrUpstream, io.ErrUnexpectedEOF)
}

// fetching is a chunk's fetch in progress: the piece being filled.
type fetching struct {
	c      *chunk
	cur    *piece
	filled int64 // bytes of the chunk fetched (sent and in cur)
	// ignored: the reader did not come for a connection offered to it
	ignored bool
	crowded func() bool // other fetches wait for the link's connections
	// guessedBusy counts the plain refusals in a row taken for busy ones.
	guessedBusy int
}

func notCrowded() bool { return false }

// fetch fills c from the CDN, resuming after drops and renewing refused
// links, within bounded retries.
func (r *Reader) fetch(ctx context.Context, c *chunk) {
	f := &fetching{c: c, crowded: notCrowded}
	err := r.fetchAll(ctx, f)
	if err == nil && f.cur != nil && f.cur.n > 0 {
		err = f.send(ctx)
	}
	r.pool.recycle(f.cur)
	c.err = err
	close(c.pieces)
	close(c.finished)
}

func (r *Reader) fetchAll(ctx context.Context, f *fetching) error {
	c := f.c
	failures, relinks, busy := 0, 0, 0
	for c.off+f.filled < c.end {
		before := f.filled
		err := r.fetchOnce(ctx, f)
		if f.filled > before {
			busy = 0
		}
		if err == nil || errors.Is(err, errPaused) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var refused *linkRefused
		var fatal *fatalReadError
		switch {
		case errors.As(err, &fatal):
			return fatal.err
		case errors.Is(err, errLinkBusy):
			// The CDN still counts a connection this process has closed,
			// or another client's: the link is good, only busy.
			if busy++; busy >= maxBusy {
				return fmt.Errorf("%w: the CDN refused %d connections in a row as too many", drivers.ErrUpstream, maxBusy)
			}
			if !sleepCtx(ctx, jitter(busyDelay<<min(busy-1, 5))) {
				return ctx.Err()
			}
			continue
		case errors.As(err, &refused):
			r.src.Refused(refused.url)
			if relinks++; relinks >= maxRelinks {
				return fmt.Errorf("%w: the CDN refused %d fresh links (HTTP %d)", drivers.ErrUpstream, maxRelinks, refused.status)
			}
			r.pool.log.Debug().Str("path", r.name).Int("status", refused.status).Msg("link refused, fetching a new one")
			continue
		}
		if f.filled > before {
			failures = 0 // progress was made; this is a new break
		}
		if failures++; failures >= maxResumes {
			return err
		}
		r.pool.log.Debug().Str("path", r.name).Int64("offset", c.off+f.filled).Err(err).Msg("resuming upstream read")
		if !sleepCtx(ctx, resumeDelay<<min(failures-1, 5)) {
			return ctx.Err()
		}
	}
	return nil
}

// offer hands l to a reader waiting on ch, or one that comes within wait.
func offer(ctx context.Context, ch chan<- *lease, l *lease, wait time.Duration) bool {
	select {
	case ch <- l:
		return true
	default:
		if wait <= 0 {
			return false
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ch <- l:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// errPaused ends a request whose reader made no room within pauseGrace.
var errPaused = errors.New("reader paused")

// room makes sure f has a piece with space to fill, sending the full one
// on. A piece of a chunk that holds budget is a pool buffer; past the
// budget, a small one. It waits at most pauseGrace for the reader.
func (f *fetching) room(ctx context.Context, p *Pool) error {
	if f.cur != nil && f.cur.n < len(f.cur.buf) {
		return nil
	}
	if f.cur != nil {
		if err := f.sendWithin(ctx, f.grace()); err != nil {
			return err
		}
	}
	n := min(int64(f.c.piece), f.c.end-f.c.off-f.filled)
	f.cur = p.piece(n)
	return nil
}

// send passes the current piece to the reader, waiting as long as it
// takes.
func (f *fetching) send(ctx context.Context) error { return f.sendWithin(ctx, -1) }

// grace is how long the fetch keeps its connection for a reader that
// makes no room: none while other fetches wait for the link's.
func (f *fetching) grace() time.Duration {
	if f.crowded() {
		return 0
	}
	return pauseGrace
}

func (f *fetching) sendWithin(ctx context.Context, grace time.Duration) error {
	select {
	case f.c.pieces <- f.cur:
		f.cur = nil
		return nil
	default:
	}
	if grace == 0 {
		return errPaused
	}
	var expired <-chan time.Time
	if grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		expired = t.C
	}
	select {
	case f.c.pieces <- f.cur:
		f.cur = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return errPaused
	}
}

// fetchOnce makes one ranged request for c's bytes from f.filled on.
func (r *Reader) fetchOnce(ctx context.Context, f *fetching) error {
	c := f.c
	// A full piece goes on before a connection is taken, so a paused
	// reader holds no connection.
	if err := f.room(ctx, r.pool); err == errPaused {
		if err := f.send(ctx); err != nil {
			return err
		}
		if err := f.room(ctx, r.pool); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	l, err := r.src.Link(ctx)
	if err != nil {
		if errors.Is(err, drivers.ErrNotFound) || errors.Is(err, drivers.ErrAuth) {
			return &fatalReadError{err}
		}
		return err
	}
	r.maxConns.Store(int32(l.MaxConns))
	slot, err := r.pool.conns.acquire(ctx, r.src.Key(), l.MaxConns)
	if err != nil {
		return err
	}
	f.crowded = slot.crowded
	defer func() { slot.release(); f.crowded = notCrowded }()
	start := c.off + f.filled
	ctx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return &fatalReadError{err}
	}
	for k, vs := range l.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "pandav")
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(c.end-1, 10))
	// A CDN that goes silent in the body is cut after StallTimeout, so the
	// chunk resumes on a fresh connection. Its headers get longer (dialing,
	// TLS and a slow first byte are not a stall), but not for ever.
	stallTimeout := r.pool.o.StallTimeout
	stall := time.AfterFunc(max(stallTimeout, headerTimeout), cancelReq)
	defer stall.Stop()
	resp, err := r.pool.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", drivers.ErrUpstream, httpclient.Redact(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if !rangeStartsAt(resp.Header.Get("Content-Range"), start) {
			return fmt.Errorf("%w: the CDN answered another range", drivers.ErrUpstream)
		}
	case resp.StatusCode == http.StatusOK && start == 0:
		// a CDN may ignore Range for a whole-file request; read what we need
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusUnauthorized:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if l.Busy != "" && bytes.Contains(body, []byte(l.Busy)) {
			return errLinkBusy
		}
		if slot.shared() && f.guessedBusy < maxGuessedBusy {
			f.guessedBusy++
			return errLinkBusy
		}
		f.guessedBusy = 0
		return &linkRefused{status: resp.StatusCode, url: l.URL}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return &fatalReadError{io.ErrUnexpectedEOF}
	default:
		drain(resp)
		return fmt.Errorf("%w: the CDN answered HTTP %d", drivers.ErrUpstream, resp.StatusCode)
	}
	f.guessedBusy = 0
	stall.Reset(stallTimeout)
	// lend lends the connection to the reader, once it has had every
	// piece: to one waiting for bytes, to one that reads this chunk if it
	// comes for them within wait.
	lend := func(wait time.Duration) (bool, error) {
		// Pieces still queued go first: a reader offered the connection
		// beside one would skip its bytes.
		patient := c.headed.Load() && !f.ignored
		if f.cur.n > 0 || len(c.pieces) > 0 || !patient && !c.hungry.Load() {
			return false, nil
		}
		if !patient {
			wait = 0
		}
		l := &lease{body: resp.Body, stall: stall, timeout: stallTimeout, done: make(chan leaseEnd, 1)}
		stall.Stop()
		if !offer(ctx, c.lease, l, wait) {
			stall.Reset(stallTimeout)
			// A reader that does not come is paused: fill its pieces,
			// and lend only when it waits for bytes again.
			f.ignored = f.ignored || wait >= pauseGrace
			return false, nil
		}
		f.ignored = false
		end := l.wait(f.crowded)
		f.filled += end.n
		stall.Reset(stallTimeout)
		if err := end.err; err != nil && c.off+f.filled < c.end {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // shorter than the range it promised
			}
			return true, fmt.Errorf("%w: %v", drivers.ErrUpstream, err)
		}
		return true, nil
	}
	for c.off+f.filled < c.end {
		if lent, err := lend(f.grace()); err != nil {
			return err
		} else if lent {
			continue
		}
		if f.cur.n == len(f.cur.buf) {
			// The stall clock stops while the reader makes room.
			stall.Stop()
			if err := f.room(ctx, r.pool); err != nil {
				return err
			}
			stall.Reset(stallTimeout)
			continue // the reader may take the connection now
		}
		n, err := resp.Body.Read(f.cur.buf[f.cur.n:])
		if n > 0 {
			stall.Reset(stallTimeout)
			f.cur.n += n
			f.filled += int64(n)
			if c.hungry.Load() && f.cur.n < len(f.cur.buf) && len(c.pieces) == 0 {
				stall.Stop()
				if err := f.send(ctx); err != nil {
					return err
				}
				if err := f.room(ctx, r.pool); err != nil {
					return err
				}
				// A reader that was waiting comes back for more at once:
				// the connection waits for it, briefly.
				if _, err := lend(leaseWait); err != nil {
					return err
				}
				stall.Reset(stallTimeout)
			}
		}
		if err != nil && c.off+f.filled < c.end {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // shorter than the range it promised
			}
			return fmt.Errorf("%w: %v", drivers.ErrUpstream, err)
		}
	}
	return nil
}

// errLinkBusy is a CDN's refusal of one connection too many of a link.
var errLinkBusy = errors.New("the CDN refused a connection as too many")

// jitter spreads d over [d/2, 3d/2), so that fetches refused together do
// not come back together.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
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
