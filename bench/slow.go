package main

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sync"
	"time"
)

// slowRate is what each slow player of (f) reads: a film over slow Wi-Fi.
const slowRate = 2e6 // bytes per second

// defaultBudget is pandav's stream memory budget when the config leaves it.
const defaultBudget = 192 << 20

// (f) many slow players at once: each reads a different part of the big
// file at slowRate, as a busy household or a scanner does, for a while.
// pandav's memory must stay within its stream budget and a margin, and
// every player must get its rate.
func (b *bench) slowStreams(s *server) error {
	mc := b.cl.main()
	f := b.cl.seq
	if err := b.warm(s, mc, f); err != nil {
		return err
	}
	note := peakFrom(s)
	n, dur := b.sz.slowStreams, b.sz.slowFor
	step := f.blob.N / int64(n)
	rates := make([]float64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rates[i], errs[i] = b.slowRead(s.url(mc.mount, f.path), f, int64(i)*step, dur)
		}()
	}
	wg.Wait()
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	failed := 0
	var first error
	slowest := rates[0]
	for i, e := range errs {
		if e != nil {
			failed++
			first = cmpErr(first, e)
		}
		slowest = min(slowest, rates[i])
	}
	limit := float64(defaultBudget)/(1<<20) + 64
	label := fmt.Sprintf("(f) peak RSS of pandav, %d slow streams (%.0f MB/s each) for %s, default budget", n, slowRate/1e6, dur)
	x := peakRow("f.slow", label, hwm, 0, joinNotes(note, fmt.Sprintf("%d errors; slowest stream %.2f MB/s; RSS afterwards %s", failed, slowest/1e6, fmtMiB(rss))))
	x.Target = fmt.Sprintf("≤ budget + 64 MiB (%.0f MiB), 0 errors, each ≥ 0.9 × %.0f MB/s", limit, slowRate/1e6)
	x.Met = boolp(float64(hwm)/(1<<20) <= limit && failed == 0 && slowest >= 0.9*slowRate)
	b.rep.add(x)
	b.rep.raw("f.slow", map[string]any{"vmhwm_bytes": hwm, "vmrss_after_bytes": rss, "rates_bps": rates, "errors": failed})
	if first != nil {
		return fmt.Errorf("%d of %d slow streams failed, e.g.: %w", failed, n, first)
	}
	return nil
}

func cmpErr(first, e error) error {
	if first != nil {
		return first
	}
	return e
}

// slowRead reads u from off on at slowRate for dur, as a player whose
// network is slow, checks the bytes and returns the rate it got.
func (b *bench) slowRead(u string, f *seeded, off int64, dur time.Duration) (float64, error) {
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", benchUA)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	start := time.Now()
	resp, err := b.pc.Do(req)
	if err != nil {
		return 0, redact(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	buf := make([]byte, 64<<10)
	var got int64
	var crc uint32
	for time.Since(start) < dur {
		k, err := resp.Body.Read(buf)
		crc = crc32.Update(crc, castagnoli, buf[:k])
		got += int64(k)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, redact(err)
		}
		if ahead := time.Duration(float64(got)/slowRate*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	rate := float64(got) / time.Since(start).Seconds()
	if want := expectCRC(f.blob, off, got); crc != want {
		return rate, fmt.Errorf("the %d bytes at %d differ from the seeded file", got, off)
	}
	return rate, nil
}
