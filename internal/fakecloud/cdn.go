package fakecloud

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// ServeBlob answers a CDN GET or HEAD for blob with Range support (206,
// suffix ranges, 416), honouring the latency and reset knobs in faults.
// The caller has already checked the URL's signature, expiry and headers.
func ServeBlob(w http.ResponseWriter, r *http.Request, blob Blob, faults *Faults) {
	if faults != nil {
		if d := faults.Latency(); d > 0 {
			time.Sleep(d)
		}
	}
	var rs io.ReadSeeker = io.NewSectionReader(blob, 0, blob.Size())
	if faults != nil && faults.ResetEvery() > 0 {
		rs = &cuttingReader{ReadSeeker: rs, f: faults}
	}
	if faults != nil && faults.StallEvery() > 0 {
		flush := func() {}
		if fl, ok := w.(http.Flusher); ok {
			flush = fl.Flush
		}
		rs = &stallingReader{ReadSeeker: rs, f: faults, gone: r.Context().Done(), flush: flush}
	}
	if faults != nil && faults.ConnRate() > 0 {
		rs = &pacedReader{ReadSeeker: rs, rate: faults.ConnRate(), start: time.Now()}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Accept-Ranges", "bytes")
	http.ServeContent(w, r, "", time.Time{}, rs)
}

// cuttingReader aborts the response when the Faults' reset boundary is
// reached, so the client sees the connection drop mid-body.
type cuttingReader struct {
	io.ReadSeeker
	f   *Faults
	cut bool
}

func (c *cuttingReader) Read(p []byte) (int, error) {
	if c.cut {
		panic(http.ErrAbortHandler)
	}
	if left, ok := c.f.untilNext(&c.f.reset); ok && int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.ReadSeeker.Read(p)
	if c.f.served(&c.f.reset, int64(n)) {
		c.cut = true // what was read still goes out; the next read drops
	}
	return n, err
}

// stallingReader goes silent when the Faults' stall boundary is reached:
// what was read still goes out, then the response hangs, connection open,
// until the client leaves (or two minutes pass), and is dropped.
type stallingReader struct {
	io.ReadSeeker
	f     *Faults
	gone  <-chan struct{}
	flush func() // sends what was read before the silence
	stall bool
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.stall {
		s.flush()
		select {
		case <-s.gone:
		case <-time.After(2 * time.Minute):
		}
		panic(http.ErrAbortHandler)
	}
	if left, ok := s.f.untilNext(&s.f.stall); ok && int64(len(p)) > left {
		p = p[:left]
	}
	n, err := s.ReadSeeker.Read(p)
	s.stall = s.f.served(&s.f.stall, int64(n))
	return n, err
}

// pacedReader serves at most rate bytes per second.
type pacedReader struct {
	io.ReadSeeker
	rate  int64
	start time.Time
	sent  int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if max := p.rate / 20; int64(len(b)) > max && max > 0 {
		b = b[:max] // small steps keep the pace smooth
	}
	n, err := p.ReadSeeker.Read(b)
	p.sent += int64(n)
	if due := time.Duration(float64(p.sent) / float64(p.rate) * float64(time.Second)); due > time.Since(p.start) {
		time.Sleep(due - time.Since(p.start))
	}
	return n, err
}

// ConnLimiter counts concurrent fetches per key (a link), for clouds that
// refuse more than a few simultaneous opens of one link.
type ConnLimiter struct {
	mu   sync.Mutex
	open map[string]int
}

// Acquire reserves a slot for key unless max are in use (max <= 0: no
// limit). The returned release must be called when the fetch ends.
func (l *ConnLimiter) Acquire(key string, max int) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]int{}
	}
	if max > 0 && l.open[key] >= max {
		return nil, false
	}
	l.open[key]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.open[key]--
	}, true
}
