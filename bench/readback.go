package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The read-after-write load (g): 32 clients at once against one cloud
// at its documented rates. Writers PUT a 5 KB file, GET it back and
// DELETE it, over and over; readers read ranges of a big file and list
// folders, as players and file managers do meanwhile.
const (
	rawWriters  = 24
	rawReaders  = 8
	rawFileSize = 5000
)

// readAfterWrite runs the load on cl and reports the GETs' p99 and the
// link calls they cost: none, since pandav serves what it just uploaded
// from state_dir. The readers' links are fetched before the clock starts,
// so any link call counted is a read-back's.
func (b *bench) readAfterWrite(s *server, cl *cloud) error {
	ep := cl.Endpoints()
	if _, err := cl.Tree().MkdirAll(uploadDir); err != nil { // pandav has not listed it yet
		return err
	}
	seq := s.url(cl.mount, b.cl.seq.path)
	if _, err := get(b.ctx, b.pc, seq, nil, 0, 1); err != nil {
		return fmt.Errorf("warming the readers' link: %w", err)
	}
	b.settle()
	d := 20 * time.Second
	if b.o.quick {
		d = 3 * time.Second
	}
	// ctx ends the run: no new round starts after it, but a round under
	// way finishes, so that a cloud paced to a few calls a second still
	// gives every writer one.
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	op := b.ctx
	before := cl.Counters().Snapshot()
	var (
		mu       sync.Mutex
		getMS    []float64
		pairs    atomic.Int64
		readOps  atomic.Int64
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	var wg sync.WaitGroup
	for w := range rawWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte('a' + w%26)}, rawFileSize)
			for i := 0; ctx.Err() == nil; i++ {
				u := s.url(cl.mount, fmt.Sprintf("%s/raw-%02d-%04d.txt", uploadDir, w, i))
				if err := send(op, b.pc, http.MethodPut, u, body); err != nil {
					fail(err)
					return
				}
				f, err := get(op, b.pc, u, nil, 0, 0)
				if err != nil || f.status != http.StatusOK || f.n != rawFileSize {
					fail(fmt.Errorf("GET after PUT: HTTP %d, %d bytes, %v", f.status, f.n, err))
					return
				}
				mu.Lock()
				getMS = append(getMS, ms(f.total))
				mu.Unlock()
				pairs.Add(1)
				if err := send(op, b.pc, http.MethodDelete, u, nil); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	for r := range rawReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for ctx.Err() == nil {
				var err error
				if r%2 == 0 {
					_, err = get(ctx, b.pc, seq, nil, rng.Int64N(b.cl.seq.blob.Size()-64<<10), 64<<10)
				} else {
					_, _, _, err = propfind(ctx, b.pc, s.url(cl.mount, "/"), "1")
				}
				if err != nil {
					if ctx.Err() == nil { // not the end of the run cutting it
						fail(err)
					}
					return
				}
				readOps.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if len(getMS) == 0 {
		return errors.New("no PUT and GET finished in the time")
	}
	calls := delta(before, cl.Counters().Snapshot())
	sort.Float64s(getMS)
	p50, p99 := getMS[len(getMS)/2], getMS[min(len(getMS)-1, len(getMS)*99/100)]
	scenario := fmt.Sprintf("(j) %d clients (%d PUT 5 KB, GET it, DELETE; %d range GET or PROPFIND), %s: the GET after the PUT, p99", rawWriters+rawReaders, rawWriters, rawReaders, cl.mount)
	b.rep.add(row{ID: b.rowID("j.readback.p99", cl), Scenario: scenario, Pandav: fmtMS(p99), PandavV: p99, Unit: "ms",
		Target: "< 50 ms", Met: boolp(p99 < 50),
		Note: fmt.Sprintf("%d PUT+GET pairs, %d reader requests, p50 %s", pairs.Load(), readOps.Load(), fmtMS(p50))})
	b.rep.add(row{ID: b.rowID("j.readback.links", cl), Scenario: fmt.Sprintf("(j) the same load, %s: link calls", cl.mount),
		Pandav: cl.callsText(calls), PandavV: float64(calls[ep.Link]), Unit: "link calls",
		Target: "= 0 link", Met: boolp(calls[ep.Link] == 0)})
	b.rep.raw(b.rowID("j.readback", cl), map[string]any{"get_ms": getMS, "calls": calls, "pairs": pairs.Load(), "reader_ops": readOps.Load()})
	return nil
}

// send makes a PUT or DELETE and wants a 2xx.
func send(ctx context.Context, hc *http.Client, method, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", benchUA)
	resp, err := hc.Do(req)
	if err != nil {
		return redact(err)
	}
	discard(resp)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d", method, resp.StatusCode)
	}
	return nil
}
