// Package stream reads a file from a cloud's CDN: in bounded ranges
// ("chunks"), a few ahead of the reader, within one memory budget shared
// by every stream, resuming a broken connection at the exact byte and
// renewing a link the CDN refuses (docs/DESIGN.md, decision 2 and
// "Streaming").
//
// It knows a file only as a Source of links; which drive, mount or
// protocol the bytes are for is the caller's business.
package stream

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"

	"pandav/drivers"
	"pandav/internal/metrics"
)

// Source is the file a Reader streams.
type Source interface {
	// Link returns a link to the file's bytes; a cached one is fine while
	// the CDN has not refused it.
	Link(ctx context.Context) (drivers.Link, error)
	// Refused is told a link URL the CDN refused (HTTP 403, 410 or 401),
	// so the next Link asks for a new one instead of returning it again.
	Refused(url string)
	// Key names the link: fetches of sources with the same Key share the
	// link's connection limit (drivers.Link.MaxConns).
	Key() string
}

// Options tune how file bytes are fetched from the CDN.
type Options struct {
	// ChunkSize is the length of the first two ranged upstream requests
	// after an open or a seek; while the client reads on, each next one is
	// twice as long, up to MaxChunkSize. 0 means 1 MiB.
	ChunkSize int64
	// MaxChunkSize is the longest chunk that doubling makes; the one after
	// it runs to the end of what the client asked for. 0 means 32 MiB.
	MaxChunkSize int64
	// ReadAhead is how many chunks past the one being read are fetched in
	// the background, so a CDN hiccup does not reach the player. 0 means
	// the default (3); a negative value turns read-ahead off.
	ReadAhead int
	// MemoryBudget caps the bytes held in chunk buffers by all streams
	// together. Read-ahead is skipped, never waited for, when it is spent,
	// and a stream whose chunk finds it spent passes its bytes through a
	// small buffer instead. 0 means 192 MiB; it is never less than one
	// chunk's buffer.
	MemoryBudget int64
	// StallTimeout is how long a CDN body may send nothing before the
	// connection is dropped and the chunk resumed on a new one.
	// Players give up after 15 to 30 s of no data, and read-ahead holds a
	// few seconds of a film, so it must be well under that. 0 means 10 s.
	StallTimeout time.Duration
}

func (o *Options) defaults() {
	if o.StallTimeout <= 0 {
		o.StallTimeout = 10 * time.Second
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1 << 20
	}
	if o.MaxChunkSize <= 0 {
		o.MaxChunkSize = 32 << 20
	}
	o.MaxChunkSize = max(o.MaxChunkSize, o.ChunkSize)
	switch {
	case o.ReadAhead < 0:
		o.ReadAhead = 0
	case o.ReadAhead == 0:
		o.ReadAhead = 3
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = 192 << 20
	}
	if o.MemoryBudget < min(o.ChunkSize, chunkBuffer) {
		o.MemoryBudget = min(o.ChunkSize, chunkBuffer)
	}
}

// Pool is the machinery shared by every stream: the memory budget, the
// chunk buffers, the per-link connection limits and the CDN client.
type Pool struct {
	o        Options
	budget   *semaphore.Weighted
	budgeted atomic.Int64 // bytes of the budget chunks hold now
	conns    connLimits
	client   *http.Client
	log      zerolog.Logger

	// free holds piece buffers for reuse. Unlike a sync.Pool, which the
	// garbage collector empties, it turns a stream's steady state into no
	// allocation at all, so the heap, and a NAS's RSS, stay at what the
	// streams really hold. The memory budget bounds it; Trim gives it back
	// once streaming stops.
	mu        sync.Mutex
	free      [][]byte // of pieceSize
	freeSmall [][]byte // of smallPiece
	lastTake  time.Time
}

// NewPool returns a Pool that fetches with client and logs retries and
// failures to log.
func NewPool(o Options, client *http.Client, log zerolog.Logger) *Pool {
	o.defaults()
	return &Pool{o: o, budget: semaphore.NewWeighted(o.MemoryBudget), client: client, log: log}
}

// Open returns a Reader of the size bytes of src. Nothing is fetched
// before its first Read; ctx ends every fetch it makes. name is what its
// log lines call the file.
func (p *Pool) Open(ctx context.Context, src Source, size int64, name string) *Reader {
	metrics.StreamOpened()
	return &Reader{ctx: ctx, pool: p, src: src, name: name, size: size, hintEnd: size}
}

// Trim drops the spare buffers when no stream has taken one for idle.
func (p *Pool) Trim(idle time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.lastTake) > idle {
		clear(p.free)
		p.free = p.free[:0]
		clear(p.freeSmall)
		p.freeSmall = p.freeSmall[:0]
	}
}

// streamClosed counts a Reader closed (Open counted it opened).
func (p *Pool) streamClosed() { metrics.StreamClosed() }

// BudgetInUse is the part of the memory budget that chunks hold now.
func (p *Pool) BudgetInUse() int64 { return p.budgeted.Load() }

// reserve takes n bytes of the memory budget if they are free.
func (p *Pool) reserve(n int64) bool {
	if !p.budget.TryAcquire(n) {
		return false
	}
	p.budgeted.Add(n)
	metrics.StreamMemory(n)
	return true
}

func (p *Pool) unreserve(n int64) {
	p.budgeted.Add(-n)
	metrics.StreamMemory(-n)
	p.budget.Release(n)
}

// piece returns a piece of n bytes on a spare buffer: a small one when n
// fits, else a full-size one. Spare buffers make a stream's steady state
// allocate nothing, so that garbage does not add to the heap past the
// budget.
func (p *Pool) piece(n int64) *piece {
	size, free := int64(pieceSize), &p.free
	if n <= smallPiece {
		size, free = smallPiece, &p.freeSmall
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastTake = time.Now()
	if k := len(*free); k > 0 {
		b := (*free)[k-1]
		*free = (*free)[:k-1]
		return &piece{buf: b[:n]}
	}
	return &piece{buf: make([]byte, n, size)}
}

// recycle keeps pc's buffer for another piece.
func (p *Pool) recycle(pc *piece) {
	if pc == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch cap(pc.buf) {
	case pieceSize:
		p.free = append(p.free, pc.buf[:pieceSize])
	case smallPiece:
		p.freeSmall = append(p.freeSmall, pc.buf[:smallPiece])
	}
}

// connLimits queues fetches of one link beyond the connections the cloud
// allows for it, instead of letting the CDN refuse them.
type connLimits struct {
	mu   sync.Mutex
	sems map[string]*connSem
}

type connSem struct {
	sem     *semaphore.Weighted
	users   int
	waiting atomic.Int32 // fetches waiting for a connection
	open    atomic.Int32 // fetches holding one
}

// connSlot is one connection of a link, held by one fetch.
type connSlot struct {
	release func()
	cs      *connSem // nil: the link states no limit
}

// crowded reports whether other fetches wait for the link's connections.
func (s *connSlot) crowded() bool { return s.cs != nil && s.cs.waiting.Load() > 0 }

// shared reports whether other fetches of the link hold connections: a
// refusal then may mean the CDN counts one more than it allows.
func (s *connSlot) shared() bool { return s.cs != nil && s.cs.open.Load() > 1 }

var unlimitedSlot = &connSlot{release: func() {}}

// acquire takes one of key's max connections, waiting for it.
func (l *connLimits) acquire(ctx context.Context, key string, max int) (*connSlot, error) {
	if max <= 0 {
		return unlimitedSlot, nil
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
	cs.waiting.Add(1)
	err := cs.sem.Acquire(ctx, 1)
	cs.waiting.Add(-1)
	if err != nil {
		done()
		return nil, err
	}
	cs.open.Add(1)
	return &connSlot{cs: cs, release: func() { cs.open.Add(-1); cs.sem.Release(1); done() }}, nil
}
