package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// cdn serves one blob at signed, expiring URLs, with fakecloud's faults,
// and counts what it was asked.
type cdn struct {
	srv      *httptest.Server
	blob     fakecloud.Blob
	faults   fakecloud.Faults
	counters fakecloud.Counters
	conns    fakecloud.ConnLimiter
	maxConns int // concurrent fetches of one link it serves; 0: any
	// busyText, when set, makes a fetch past maxConns a 403 whose body
	// holds it, as Aliyun's CDN answers; else it is a 503.
	busyText string

	mu      sync.Mutex
	refused map[string]bool // tokens it answers 403
	ranges  []string
}

func newCDN(t testing.TB, blob fakecloud.Blob) *cdn {
	c := &cdn{blob: blob, refused: map[string]bool{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cdn) serve(w http.ResponseWriter, r *http.Request) {
	c.counters.Inc("get")
	tok := r.URL.Query().Get("tok")
	exp, _ := strconv.ParseInt(r.URL.Query().Get("exp"), 10, 64)
	c.mu.Lock()
	c.ranges = append(c.ranges, r.Header.Get("Range"))
	dead := c.refused[tok]
	c.mu.Unlock()
	if dead || time.Now().Unix() > exp {
		c.counters.Inc("403")
		http.Error(w, "expired", http.StatusForbidden)
		return
	}
	release, ok := c.conns.Acquire(tok, c.maxConns)
	if !ok {
		c.counters.Inc("too-many")
		if c.busyText != "" {
			http.Error(w, `{"code":"`+c.busyText+`"}`, http.StatusForbidden)
			return
		}
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	defer release()
	fakecloud.ServeBlob(w, r, c.blob, &c.faults)
}

// refuseAll makes every link issued so far a dead one.
func (c *cdn) refuseAll(upTo int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i <= upTo; i++ {
		c.refused[strconv.Itoa(i)] = true
	}
}

func (c *cdn) requestedRanges() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ranges...)
}

// source hands out links to the cdn's blob and keeps the current one, as
// a link cache does, until it is refused.
type source struct {
	cdn      *cdn
	maxConns int
	busy     string // the link's Busy
	linkErr  error
	// expiredFirst is how many links are handed out already expired.
	expiredFirst int

	mu       sync.Mutex
	current  string
	links    int
	refusals int
}

func (s *source) Link(ctx context.Context) (drivers.Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.linkErr != nil {
		s.links++
		return drivers.Link{}, s.linkErr
	}
	if s.current == "" {
		s.links++
		exp := time.Now().Add(time.Hour)
		if s.links <= s.expiredFirst {
			exp = time.Now().Add(-time.Hour)
		}
		s.current = fmt.Sprintf("%s/f?tok=%d&exp=%d", s.cdn.srv.URL, s.links, exp.Unix())
	}
	return drivers.Link{URL: s.current, Expires: time.Now().Add(time.Hour), MaxConns: s.maxConns, Busy: s.busy}, nil
}

func (s *source) Refused(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals++
	if url == s.current {
		s.current = ""
	}
}

func (s *source) Key() string { return "the file" }

func (s *source) linkCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links
}

func newPool(o Options) *Pool { return NewPool(o, http.DefaultClient, zerolog.Nop()) }

func content(blob fakecloud.Blob, off, n int64) []byte {
	b := make([]byte, n)
	blob.ReadAt(b, off)
	return b
}

// readAt seeks r to off and reads n bytes, which must be the blob's.
func readAt(t *testing.T, r *Reader, blob fakecloud.Blob, off, n int64) {
	t.Helper()
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading %d bytes at %d: %v", n, off, err)
	}
	if !bytes.Equal(got, content(blob, off, n)) {
		t.Fatalf("the %d bytes at %d differ", n, off)
	}
}

// waitBudgetReturned waits for every chunk's memory to come back.
func waitBudgetReturned(t *testing.T, p *Pool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.BudgetInUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of the memory budget never returned", p.BudgetInUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExactBytesAcrossResets(t *testing.T) {
	blob := fakecloud.NewSeededBlob(3, 5<<20, "")
	c := newCDN(t, blob)
	c.faults.SetResetEvery(700 << 10)
	p := newPool(Options{})
	r := p.Open(t.Context(), &source{cdn: c}, blob.Size(), "big.bin")
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content(blob, 0, blob.Size())) {
		t.Fatalf("got %d bytes, want %d, or content differs", len(got), blob.Size())
	}
	if n := c.counters.Get("get"); n < 7 {
		t.Fatalf("only %d CDN requests; resets not exercised", n)
	}
}

func TestStallIsCutAndResumed(t *testing.T) {
	blob := fakecloud.NewSeededBlob(5, 3<<20, "")
	c := newCDN(t, blob)
	c.faults.SetStallEvery(700 << 10) // within chunks, not at their ends
	p := newPool(Options{ChunkSize: 1 << 20, StallTimeout: 300 * time.Millisecond})
	r := p.Open(t.Context(), &source{cdn: c}, blob.Size(), "stall.bin")
	defer r.Close()
	start := time.Now()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content(blob, 0, blob.Size())) {
		t.Fatalf("got %d bytes, or content differs", len(got))
	}
	// The CDN stalls for two minutes unless the reader gives up on it.
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %v: stalls were waited out, not cut", d)
	}
	if n := c.counters.Get("get"); n < 7 {
		t.Fatalf("%d CDN requests for 3 chunks and 4 stalls", n)
	}
}

func TestRefusedLinkIsRenewed(t *testing.T) {
	blob := fakecloud.NewSeededBlob(2, 300000, "")
	c := newCDN(t, blob)
	src := &source{cdn: c}
	p := newPool(Options{ChunkSize: 64 << 10, ReadAhead: -1})
	r := p.Open(t.Context(), src, blob.Size(), "a.bin")
	defer r.Close()
	readAt(t, r, blob, 10, 11)
	c.refuseAll(src.linkCalls())
	readAt(t, r, blob, 200000, 100000)
	if n := src.linkCalls(); n != 2 {
		t.Fatalf("%d links, want 2 (one renewal)", n)
	}
	if c.counters.Get("403") == 0 {
		t.Fatal("the refused link was never tried")
	}
}

func TestExpiredLinkIsRenewed(t *testing.T) {
	blob := fakecloud.NewSeededBlob(6, 100000, "")
	c := newCDN(t, blob)
	src := &source{cdn: c, expiredFirst: 1}
	r := newPool(Options{}).Open(t.Context(), src, blob.Size(), "e.bin")
	defer r.Close()
	readAt(t, r, blob, 0, blob.Size())
	if n, refused := src.linkCalls(), src.refusals; n != 2 || refused != 1 {
		t.Fatalf("%d links and %d refusals, want 2 and 1", n, refused)
	}
}

func TestLinksRefusedForEverFail(t *testing.T) {
	blob := fakecloud.NewSeededBlob(7, 100000, "")
	c := newCDN(t, blob)
	src := &source{cdn: c, expiredFirst: 1000}
	r := newPool(Options{}).Open(t.Context(), src, blob.Size(), "dead.bin")
	defer r.Close()
	_, err := r.Read(make([]byte, 10))
	if !errors.Is(err, drivers.ErrUpstream) {
		t.Fatalf("Read: %v, want ErrUpstream", err)
	}
	if n := src.linkCalls(); n != maxRelinks {
		t.Fatalf("%d links, want %d", n, maxRelinks)
	}
}

// A link the drive cannot give (the file is gone, the login is refused)
// fails the read at once: another try cannot mend it.
func TestLinkErrorsThatLastAreNotRetried(t *testing.T) {
	c := newCDN(t, fakecloud.BytesBlob([]byte("x")))
	for _, sentinel := range []error{drivers.ErrNotFound, drivers.ErrAuth} {
		src := &source{cdn: c, linkErr: fmt.Errorf("link: %w", sentinel)}
		r := newPool(Options{}).Open(t.Context(), src, 1, "gone")
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, sentinel) {
			t.Fatalf("Read: %v, want %v", err, sentinel)
		}
		if n := src.linkCalls(); n != 1 {
			t.Fatalf("%d link calls for %v, want 1", n, sentinel)
		}
		r.Close()
	}
}

// The budget bounds read-ahead only: a reader whose first chunk finds it
// spent still gets its bytes.
func TestSpentBudgetStillServesTheChunkBeingRead(t *testing.T) {
	blob := fakecloud.NewSeededBlob(8, 3<<20, "")
	c := newCDN(t, blob)
	p := newPool(Options{ChunkSize: 1 << 20, MemoryBudget: 1 << 20, ReadAhead: 3})
	paused := p.Open(t.Context(), &source{cdn: c}, blob.Size(), "paused")
	readAt(t, paused, blob, 0, 1)
	if n := p.BudgetInUse(); n != 1<<20 {
		t.Fatalf("a paused reader holds %d bytes of the budget, want all of it", n)
	}
	before := c.counters.Get("get")
	r := p.Open(t.Context(), &source{cdn: c}, blob.Size(), "playing")
	readAt(t, r, blob, 0, 1000)
	if n := c.counters.Get("get") - before; n != 1 {
		t.Fatalf("%d CDN requests for the first chunk; read-ahead went past the budget", n)
	}
	readAt(t, r, blob, 1000, blob.Size()-1000)
	r.Close()
	paused.Close()
	waitBudgetReturned(t, p)
}

// Fetches of one link wait for a connection beyond the link's MaxConns
// instead of being refused by the CDN.
func TestConnectionLimitQueues(t *testing.T) {
	// Long enough for read-ahead to start once the slow CDN shows (after
	// gaugeWindow bytes) and overlap fetches after it.
	blob := fakecloud.NewSeededBlob(9, 32<<20, "")
	strictCDN := func() *cdn {
		c := newCDN(t, blob)
		c.maxConns = 1
		c.faults.SetLatency(50 * time.Millisecond) // fetches overlap
		return c
	}
	// Without MaxConns, read-ahead overlaps fetches and the CDN refuses
	// some: the case below would otherwise prove nothing.
	c := strictCDN()
	p := newPool(Options{ChunkSize: 256 << 10, ReadAhead: 3})
	ctx, cancel := context.WithCancel(t.Context())
	r := p.Open(ctx, &source{cdn: c}, blob.Size(), "unlimited")
	go io.Copy(io.Discard, r)
	for deadline := time.Now().Add(5 * time.Second); c.counters.Get("too-many") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("without MaxConns the CDN refused nothing")
		}
	}
	cancel() // the read would retry the refusals for seconds
	r.Close()

	c = strictCDN()
	src := &source{cdn: c, maxConns: 1}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.Open(t.Context(), src, blob.Size(), "limited")
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, content(blob, 0, blob.Size())) {
				t.Errorf("%d bytes, %v", len(got), err)
			}
		}()
	}
	wg.Wait()
	if refused := c.counters.Get("too-many"); refused != 0 {
		t.Fatalf("with MaxConns 1 the CDN refused %d fetches", refused)
	}
}

// TestSeekInsideWindowReusesChunks: a seek into bytes already fetched
// costs no new request for them. (Read-ahead topping the window up past
// its end may, and is not counted.)
func TestSeekInsideWindowReusesChunks(t *testing.T) {
	blob := fakecloud.NewSeededBlob(9, 20<<20, "")
	c := newCDN(t, blob)
	c.faults.SetConnRate(8 << 20) // the reader waits on one connection: read-ahead starts
	r := newPool(Options{}).Open(t.Context(), &source{cdn: c}, blob.Size(), "s.bin")
	defer r.Close()
	shown := int64(1+heldWindows) * gaugeWindow // and the first Read is not weighed
	readAt(t, r, blob, 0, shown+1000)
	readAt(t, r, blob, shown+1000, 1000)
	// let read-ahead finish, then seek within the window: no new fetch
	for _, c := range r.window {
		if c.off > 6<<20 {
			break // not needed below, and may wait for its reader
		}
		select {
		case <-c.finished:
		case <-time.After(10 * time.Second):
			t.Fatal("read-ahead never finished")
		}
	}
	before := len(c.requestedRanges())
	refetched := func(off int64) bool {
		for _, rng := range c.requestedRanges()[before:] {
			var a, b int64
			if _, err := fmt.Sscanf(rng, "bytes=%d-%d", &a, &b); err == nil && a <= off && off <= b {
				return true
			}
		}
		return false
	}
	readAt(t, r, blob, 6<<20, 1000) // fetched ahead already
	if refetched(6 << 20) {
		t.Fatalf("a seek into read-ahead fetched again")
	}
	readAt(t, r, blob, 1<<20, 1000) // behind the window's start now: outside it
	if !refetched(1 << 20) {
		t.Fatalf("a seek back outside the window fetched nothing")
	}
	before = len(c.requestedRanges())
	readAt(t, r, blob, 1<<20+5000, 1000)
	if refetched(1<<20 + 5000) {
		t.Fatalf("a seek inside the window fetched again")
	}
}

// LimitTo keeps a player's small probe from fetching a whole chunk, and
// from reading ahead; reading on past it streams as usual.
func TestLimitToBoundsTheFirstChunk(t *testing.T) {
	blob := fakecloud.NewSeededBlob(10, 10<<20, "")
	c := newCDN(t, blob)
	r := newPool(Options{}).Open(t.Context(), &source{cdn: c}, blob.Size(), "probe.mkv")
	defer r.Close()
	r.LimitTo(200)
	readAt(t, r, blob, 100, 100)
	if got := fmt.Sprint(c.requestedRanges()); got != "[bytes=100-199]" {
		t.Fatalf("a probe of bytes 100-199 asked the CDN for %s", got)
	}
	readAt(t, r, blob, 200, 5<<20)
	if n := len(c.requestedRanges()); n < 3 {
		t.Fatalf("%d CDN requests after reading past the hint; read-ahead did not resume", n)
	}
}

func TestCloseStopsFetching(t *testing.T) {
	blob := fakecloud.NewSeededBlob(11, 8<<20, "")
	c := newCDN(t, blob)
	c.faults.SetConnRate(256 << 10) // slow: the fetches are still running
	p := newPool(Options{ChunkSize: 1 << 20})
	r := p.Open(t.Context(), &source{cdn: c}, blob.Size(), "slow.bin")
	readAt(t, r, blob, 0, 1)
	if p.BudgetInUse() == 0 {
		t.Fatal("no chunk holds memory while fetching")
	}
	r.Close()
	waitBudgetReturned(t, p) // each fetch stopped writing into its chunk
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

func TestContextEndsTheRead(t *testing.T) {
	blob := fakecloud.NewSeededBlob(12, 4<<20, "")
	c := newCDN(t, blob)
	c.faults.SetConnRate(64 << 10)
	ctx, cancel := context.WithCancel(t.Context())
	p := newPool(Options{ChunkSize: 1 << 20})
	r := p.Open(ctx, &source{cdn: c}, blob.Size(), "gone.bin")
	defer r.Close()
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := io.ReadAll(r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAll after the client left: %v", err)
	}
}

// http.ServeContent may Read from its own goroutine while the handler
// closes the file; neither may break the other (run with -race).
func TestReadWhileClosing(t *testing.T) {
	blob := fakecloud.NewSeededBlob(13, 4<<20, "")
	c := newCDN(t, blob)
	p := newPool(Options{ChunkSize: 256 << 10})
	for i := 0; i < 20; i++ {
		r := p.Open(t.Context(), &source{cdn: c}, blob.Size(), "racy.bin")
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, r)
			done <- err
		}()
		time.Sleep(time.Duration(i) * time.Millisecond)
		r.Close()
		if err := <-done; err != nil && !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read racing Close: %v", err)
		}
	}
	waitBudgetReturned(t, p)
}

func TestSeek(t *testing.T) {
	p := newPool(Options{})
	r := p.Open(t.Context(), &source{}, 1000, "f")
	defer r.Close()
	for _, tc := range []struct {
		off    int64
		whence int
		want   int64
		err    bool
	}{
		{0, io.SeekEnd, 1000, false},
		{-10, io.SeekCurrent, 990, false},
		{5, io.SeekStart, 5, false},
		{-6, io.SeekCurrent, 0, true},
		{0, 42, 0, true},
	} {
		got, err := r.Seek(tc.off, tc.whence)
		if (err != nil) != tc.err || err == nil && got != tc.want {
			t.Errorf("Seek(%d, %d): %d, %v", tc.off, tc.whence, got, err)
		}
	}
	r.Seek(0, io.SeekEnd)
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read at the end: %v", err)
	}
}

// A CDN that ends the body short of the range it promised, or answers a
// range the file does not have, fails the read instead of serving short.
func TestShortFileFails(t *testing.T) {
	blob := fakecloud.NewSeededBlob(14, 1000, "")
	c := newCDN(t, blob)
	r := newPool(Options{}).Open(t.Context(), &source{cdn: c}, 2000, "short")
	defer r.Close()
	readAt(t, r, blob, 0, 1000)
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read past what the CDN has: %v", err)
	}
}

// A CDN that counts one connection more than the reader holds (it has not
// yet seen one closed, or another client holds it) refuses with a 403: the
// link is good, and is tried again instead of being replaced, whether the
// refusal says why or not.
func TestBusyLinkIsTriedAgain(t *testing.T) {
	for _, busy := range []string{"ExceedMaxConcurrency", ""} {
		t.Run(fmt.Sprintf("busy=%q", busy), func(t *testing.T) {
			blob := fakecloud.NewSeededBlob(11, 6<<20, "")
			c := newCDN(t, blob)
			c.maxConns, c.busyText = 1, "ExceedMaxConcurrency"
			c.faults.SetConnRate(16 << 20) // one connection holds the reader back: read-ahead
			src := &source{cdn: c, maxConns: 2, busy: busy}
			p := newPool(Options{ChunkSize: 512 << 10})
			r := p.Open(t.Context(), src, blob.Size(), "busy.bin")
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, content(blob, 0, blob.Size())) {
				t.Fatalf("%d bytes, %v", len(got), err)
			}
			if c.counters.Get("too-many") == 0 {
				t.Fatal("the CDN refused nothing: the case proves nothing")
			}
			refusals := c.counters.Get("too-many")
			if busy != "" && src.linkCalls() != 1 {
				t.Fatalf("%d links fetched for %d busy refusals; want 1", src.linkCalls(), refusals)
			}
			// Without the text, a refusal beside another fetch is first
			// taken for busy: fewer new links than refusals.
			if busy == "" && int64(src.linkCalls()) > refusals {
				t.Fatalf("%d links fetched for %d refusals beside another fetch; each was taken for a dead link", src.linkCalls(), refusals)
			}
		})
	}
}
