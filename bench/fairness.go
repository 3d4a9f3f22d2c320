package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"pandav/internal/fakecloud"
)

// The fair-turns scenario (g): each cloud's account paces its link calls
// (Aliyun allows about one a second), and before fair turns a library
// scanner with many connections queued every other client's click behind
// all of its own. Here a scanner with fairScanners connections GETs
// files it has not read, each needing a link call, as fast as it can,
// while a viewer from another address opens files nobody has read, one
// at a time, as a person does: each a link interval or two after the
// last, at a different point of the pace each time. The viewer's wait is
// measured in link intervals, the time the account's pace leaves between
// two link calls as the emulator sees them. With fair turns it waits for
// the next slot, and for one call of the scanner at most.
const fairScanners = 16

// fairSizes are the viewer's GETs and the files the scanner may read.
func (b *bench) fairSizes() (views, scans int) {
	if b.o.quick {
		return 3, 60
	}
	return 20, 400
}

// clientFrom is an HTTP client whose connections come from the loopback
// address local, so that pandav, which takes clients in turns by user and
// address, sees it as a client of its own.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

func (b *bench) fairness(s *server, cl *cloud) error {
	views, scans := b.fairSizes()
	dir := benchDir + "/fair"
	tree := cl.Tree()
	scanDir, err := tree.MkdirAll(dir + "/scan")
	if err != nil {
		return err
	}
	viewDir, err := tree.MkdirAll(dir + "/view")
	if err != nil {
		return err
	}
	content := []byte("pandav fair turns\n")
	body, wantCRC := fakecloud.BytesBlob(content), crc32.Checksum(content, castagnoli)
	for i := range scans {
		if _, err := tree.Put(scanDir.ID, fmt.Sprintf("scan %04d.bin", i), body, time.Time{}); err != nil {
			return err
		}
	}
	for i := range views {
		if _, err := tree.Put(viewDir.ID, fmt.Sprintf("view %04d.bin", i), body, time.Time{}); err != nil {
			return err
		}
	}
	scanner, viewer := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	// Both folders are listed first, so that only link calls queue.
	for _, sub := range []string{"/scan", "/view"} {
		req, _ := http.NewRequestWithContext(b.ctx, "PROPFIND", s.url(cl.mount, dir+sub+"/"), nil)
		req.Header.Set("Depth", "1")
		resp, err := scanner.Do(req)
		if err != nil {
			return err
		}
		discard(resp)
		if resp.StatusCode != http.StatusMultiStatus {
			return fmt.Errorf("PROPFIND %s: %s", sub, resp.Status)
		}
	}

	ctx, stop := context.WithCancel(b.ctx)
	defer stop()
	var next atomic.Int64
	var scanned atomic.Int64
	var scanMu sync.Mutex
	var scanWaits []time.Duration
	var scanErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range fairScanners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(scans) {
					errOnce.Do(func() { scanErr = fmt.Errorf("the scanner ran out of its %d files; raise them", scans) })
					return
				}
				f, err := get(ctx, scanner, s.url(cl.mount, fmt.Sprintf("%s/scan/scan %04d.bin", dir, i)), nil, 0, 0)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					err = f.check(http.StatusOK, body.Size(), wantCRC)
				}
				if err != nil {
					errOnce.Do(func() { scanErr = fmt.Errorf("scanner GET: %v", err) })
					return
				}
				scanned.Add(1)
				scanMu.Lock()
				scanWaits = append(scanWaits, f.ttfb)
				scanMu.Unlock()
			}
		}()
	}
	// Let the scanner fill the queue, and see the pace, before the viewer
	// comes.
	ep := cl.Endpoints()
	for scanned.Load() < 2 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	links0, start := cl.Counters().Get(ep.Link), time.Now()
	for cl.Counters().Get(ep.Link)-links0 < 3 && ctx.Err() == nil && time.Since(start) < 20*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	pace := time.Since(start) / time.Duration(max(1, cl.Counters().Get(ep.Link)-links0))
	links0, start = cl.Counters().Get(ep.Link), time.Now()
	var waits []time.Duration
	for i := range views {
		// A person's pause: one to two intervals, so that the scanner has
		// a turn in between, and the click falls on a different point of
		// the pace each time.
		time.Sleep(pace + pace*time.Duration(i%7)/7)
		f, err := get(ctx, viewer, s.url(cl.mount, fmt.Sprintf("%s/view/view %04d.bin", dir, i)), nil, 0, 0)
		if err != nil {
			stop()
			wg.Wait()
			return fmt.Errorf("viewer GET: %v", err)
		}
		if err := f.check(http.StatusOK, body.Size(), wantCRC); err != nil {
			stop()
			wg.Wait()
			return fmt.Errorf("viewer GET: %v", err)
		}
		waits = append(waits, f.ttfb)
	}
	elapsed, links := time.Since(start), cl.Counters().Get(ep.Link)-links0
	stop()
	wg.Wait()
	if scanErr != nil {
		return scanErr
	}
	if links == 0 {
		return fmt.Errorf("no link calls while measuring")
	}
	interval := elapsed / time.Duration(links)
	p99, p50 := percentile(waits, 99), percentile(waits, 50)
	ratio := float64(p99) / float64(interval)
	x := row{
		ID:       b.rowID("i.fair", cl),
		Scenario: fmt.Sprintf("(i) GET of an uncached file by a second client while a %d-connection scanner fetches links, %s: wait p99 (direct = one link interval)", fairScanners, cl.mount),
		Pandav:   fmtMS(ms(p99)), Direct: fmtMS(ms(interval)), Ratio: fmt.Sprintf("%.2f", ratio),
		PandavV: ms(p99), DirectV: ms(interval), Unit: "ms", Target: "≤ 2 link intervals",
		Note: fmt.Sprintf("%d viewer GETs, p50 %s; %d link calls in %s (the account's pace); the scanner read %d files meanwhile, each waiting p50 %s behind its own %d connections",
			len(waits), fmtMS(ms(p50)), links, elapsed.Round(time.Millisecond), scanned.Load(), fmtMS(ms(percentile(scanWaits, 50))), fairScanners),
	}
	if !b.o.quick {
		x.Met = boolp(ratio <= 2)
	}
	b.rep.add(x)
	b.rep.raw(x.ID, map[string]any{"waits_ms": msList(waits), "interval_ms": ms(interval), "links": links, "scanned": scanned.Load()})
	return nil
}
