package main

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"pandav/drivers"
)

// (g) a CDN as real ones are: far away (every request waits farLatency)
// and throttled per connection (farRate). Read-ahead over several
// connections is what beats one connection here; the memory it costs is
// measured with 4 streams at once.
func (b *bench) farCDN() error {
	for _, cl := range b.cl.all {
		cl.Faults().SetLatency(b.o.farLatency)
		cl.Faults().SetConnRate(b.o.farRate)
	}
	defer func() {
		for _, cl := range b.cl.all {
			cl.Faults().SetLatency(b.o.latency)
			cl.Faults().SetConnRate(b.o.connRate)
		}
	}()
	s, err := b.newServer("far")
	if err != nil {
		return err
	}
	defer s.stop()
	shape := fmt.Sprintf("%s latency, %.0f MiB/s per connection", b.o.farLatency, float64(b.o.farRate)/(1<<20))
	n := b.sz.farSize
	for _, cl := range b.cl.all {
		if b.o.quick && cl != b.cl.main() {
			break // the full run has every cloud
		}
		f := b.cl.streams[0]
		links, _, err := b.linksOf(s, cl, []*seeded{f})
		if err != nil {
			return err
		}
		want := expectCRC(f.blob, 0, n)
		runs, err := b.throughput(s, cl, 1, func(side string) (int64, error) {
			r, err := b.fetchSide(s, cl, side, f, links[0], 0, n)
			if err == nil {
				err = r.check(http.StatusPartialContent, n, want)
			}
			return r.n, err
		})
		if err != nil {
			return err
		}
		id := b.rowID("g.one", cl)
		x := b.farRow(id, fmt.Sprintf("(g) one stream of %s, %s, %s: throughput", fmtMiB(n), shape, cl.mount), runs, n)
		x.Target, x.Met = "≥ 2.50 × direct", boolp(x.PandavV >= 2.5*x.DirectV)
		if cl.Name() == "115" {
			x.Note = "115 allows 2 connections per link: 2 × direct is the most any reader can get"
		}
		b.rep.add(x)
	}
	mc := b.cl.main()
	files := b.cl.streams[:min(4, len(b.cl.streams))]
	links, _, err := b.linksOf(s, mc, files)
	if err != nil {
		return err
	}
	wants := make([]uint32, len(files))
	for i, f := range files {
		wants[i] = expectCRC(f.blob, 0, n)
	}
	note := peakFrom(s)
	runs, err := b.throughput(s, mc, 1, func(side string) (int64, error) {
		return b.parallelRanges(s, mc, side, files, links, wants, n)
	})
	if err != nil {
		return err
	}
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	b.rep.add(b.farRow("g.four", fmt.Sprintf("(g) %d streams of %s, %s, %s: aggregate throughput", len(files), fmtMiB(n), shape, mc.mount), runs, int64(len(files))*n))
	b.rep.add(peakRow("g.four.rss", fmt.Sprintf("(g) %d streams, %s: peak RSS of pandav", len(files), shape), hwm, 160,
		joinNotes(note, "RSS afterwards "+fmtMiB(rss))))
	return nil
}

// farRow is a (g) throughput row: the ratio is to direct, one connection.
func (b *bench) farRow(id, label string, runs map[string]*sideRun, perRound int64) row {
	rate := func(r *sideRun) float64 { return r.rate(perRound) }
	x := threeWayRow(id, label, rate(runs["direct"]), rate(runs["proxy"]), rate(runs["pandav"]),
		func(v float64) string { return fmt.Sprintf("%.1f MiB/s", v) }, "MiB/s", 0, 0)
	x.Ratio = fmt.Sprintf("%.2f × direct, %.2f × proxy", x.PandavV/x.DirectV, x.PandavV/x.ProxyV)
	x.Note = joinNotes(x.Note, fmt.Sprintf("CDN requests: direct %d, proxy %d, pandav %d", runs["direct"].cdn, runs["proxy"].cdn, runs["pandav"].cdn))
	raw := map[string]any{"bytes_per_round": perRound}
	for side, r := range runs {
		raw[side] = map[string]any{"mibps": r.rates, "cdn_requests": r.cdn}
	}
	b.rep.raw(id, raw)
	return x
}

// parallelRanges GETs the first n bytes of files from one side, all at
// once, and returns the bytes moved.
func (b *bench) parallelRanges(s *server, cl *cloud, side string, files []*seeded, links []drivers.Link, wants []uint32, n int64) (int64, error) {
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.fetchSide(s, cl, side, f, links[i], 0, n)
			if err == nil {
				err = r.check(http.StatusPartialContent, n, wants[i])
			}
			if err != nil {
				errs[i] = fmt.Errorf("GET %s: %w", f.path, err)
			}
		}()
	}
	wg.Wait()
	return int64(len(files)) * n, errors.Join(errs...)
}
