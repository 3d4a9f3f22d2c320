package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"pandav/drivers"
)

// crcOf is the whole file's CRC, computed once per file.
func (b *bench) crcOf(f *seeded) uint32 {
	if c, ok := b.crcs[f]; ok {
		return c
	}
	c := expectCRC(f.blob, 0, f.blob.N)
	b.crcs[f] = c
	return c
}

// warm makes pandav fetch (and cache) the listing and the link of a file
// with a 1-byte read, so the timed figures compare streaming, not the
// cloud's 1 link/s limit, which the direct side also pays before its
// clock starts.
func (b *bench) warm(s *server, cl *cloud, f *seeded) error {
	r, err := get(b.ctx, b.pc, s.url(cl.mount, f.path), nil, 0, 1)
	if err != nil {
		return fmt.Errorf("warming %s: %w", f.path, err)
	}
	if r.status != http.StatusPartialContent {
		return fmt.Errorf("warming %s: HTTP %d", f.path, r.status)
	}
	return nil
}

// peakFrom resets pandav's VmHWM, for a figure that belongs to what
// follows; it returns a note when the kernel would not.
func peakFrom(s *server) string {
	if s.resetPeak() {
		return ""
	}
	return "clear_refs refused: the peak includes pandav's start"
}

// (a) one sequential GET of the whole file, through pandav and direct.
func (b *bench) sequential(s *server, cl *cloud) error {
	f := b.cl.seq
	want := b.crcOf(f)
	link, err := cl.directLink(b.ctx, f)
	if err != nil {
		return err
	}
	if err := b.warm(s, cl, f); err != nil {
		return err
	}
	note := peakFrom(s)
	var bestP, bestD time.Duration
	var rawP, rawD []float64
	var cpuP, cpuD cpuShare
	upstream := map[string]int64{}
	for round := range b.sz.rounds {
		sides := []string{"direct", "pandav"}
		if round%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			var r fetched
			if side == "direct" {
				err = cpuD.measure(s, func() (err error) {
					r, err = get(b.ctx, b.dc, link.URL, link.Header, 0, 0)
					return err
				})
			} else {
				before := cl.Counters().Snapshot()
				err = cpuP.measure(s, func() (err error) {
					r, err = get(b.ctx, b.pc, s.url(cl.mount, f.path), nil, 0, 0)
					return err
				})
				addCounts(upstream, delta(before, cl.Counters().Snapshot()))
			}
			if err == nil {
				err = r.check(http.StatusOK, f.blob.N, want)
			}
			if err != nil {
				return fmt.Errorf("%s GET: %w", side, err)
			}
			if side == "direct" {
				rawD = append(rawD, mibps(r.n, r.total))
				if bestD == 0 || r.total < bestD {
					bestD = r.total
				}
			} else {
				rawP = append(rawP, mibps(r.n, r.total))
				if bestP == 0 || r.total < bestP {
					bestP = r.total
				}
			}
		}
	}
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	id, label, target := b.rowID("a", cl), "(a) sequential GET "+fmtMiB(f.blob.N)+", "+cl.mount+": throughput", 0.90
	x := ratioRow(id, label, mibps(f.blob.N, bestP), mibps(f.blob.N, bestD), "MiB/s", target)
	x.Note = fmt.Sprintf("CPU while pandav served: %s; while the bench fetched direct: %s; upstream during pandav's GETs: %s",
		cpuP, cpuD, countsText(upstream))
	b.rep.add(x)
	b.rep.raw(id, map[string]any{"pandav_mibps": rawP, "direct_mibps": rawD, "bytes": f.blob.N,
		"cpu_pandav_side": cpuP.raw(), "cpu_direct_side": cpuD.raw(), "upstream_pandav_side": upstream})
	rssLabel := "(f) peak RSS of pandav during (a), " + cl.mount
	x = row{ID: "f.a." + cl.Name(), Scenario: rssLabel, Pandav: fmtMiB(hwm), PandavV: float64(hwm) / (1 << 20), Unit: "MiB", Target: "—",
		Note: joinNotes(note, fmt.Sprintf("VmHWM, reset before the timed GETs; RSS afterwards %s", fmtMiB(rss)))}
	b.rep.add(x)
	b.rep.raw("f.a."+cl.Name(), map[string]any{"vmhwm_bytes": hwm, "vmrss_after_bytes": rss})
	return nil
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// (b) random 1 MiB ranges, as a player seeking: the same offsets through
// pandav and direct, interleaved so that both see the same machine.
func (b *bench) seeks(s *server, cl *cloud) error {
	f := b.cl.seq
	link, err := cl.directLink(b.ctx, f)
	if err != nil {
		return err
	}
	if err := b.warm(s, cl, f); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(0x5eec, uint64(len(cl.Name()))))
	n := b.sz.seeks
	offs := make([]int64, n)
	wants := make([]uint32, n)
	for i := range offs {
		offs[i] = rng.Int64N(f.blob.N - b.sz.seekLen)
		wants[i] = expectCRC(f.blob, offs[i], b.sz.seekLen)
	}
	var pT, pA, dT, dA []time.Duration
	purl := s.url(cl.mount, f.path)
	for i, off := range offs {
		sides := []string{"direct", "pandav"}
		if i%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			var r fetched
			if side == "direct" {
				r, err = get(b.ctx, b.dc, link.URL, link.Header, off, b.sz.seekLen)
			} else {
				r, err = get(b.ctx, b.pc, purl, nil, off, b.sz.seekLen)
			}
			if err == nil {
				err = r.check(http.StatusPartialContent, b.sz.seekLen, wants[i])
			}
			if err != nil {
				return fmt.Errorf("%s range at %d: %w", side, off, err)
			}
			if side == "direct" {
				dT, dA = append(dT, r.ttfb), append(dA, r.total)
			} else {
				pT, pA = append(pT, r.ttfb), append(pA, r.total)
			}
		}
	}
	pre := b.rowID("b", cl)
	what := fmt.Sprintf("(b) %d random %s ranges, %s: ", n, fmtMiB(b.sz.seekLen), cl.mount)
	p50p, p50d := ms(percentile(pT, 50)), ms(percentile(dT, 50))
	x := latencyRow(pre+".ttfb.p50", what+"TTFB p50", p50p, p50d)
	x.Target, x.Met = "≤ direct + 2 ms", boolp(p50p <= p50d+2)
	b.rep.add(x)
	b.rep.add(latencyRow(pre+".ttfb.p99", what+"TTFB p99", ms(percentile(pT, 99)), ms(percentile(dT, 99))))
	b.rep.add(latencyRow(pre+".total.p50", what+"total p50", ms(percentile(pA, 50)), ms(percentile(dA, 50))))
	b.rep.add(latencyRow(pre+".total.p99", what+"total p99", ms(percentile(pA, 99)), ms(percentile(dA, 99))))
	b.rep.raw(pre, map[string]any{"offsets": offs, "length": b.sz.seekLen,
		"pandav_ttfb_ms": msList(pT), "pandav_total_ms": msList(pA),
		"direct_ttfb_ms": msList(dT), "direct_total_ms": msList(dA)})
	return nil
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// (c) many players at once: every stream file read whole, all together.
func (b *bench) concurrent(s *server) error {
	mc := b.cl.main()
	files := b.cl.streams
	links := make([]drivers.Link, len(files))
	wants := make([]uint32, len(files))
	for i, f := range files {
		wants[i] = b.crcOf(f)
		l, err := mc.directLink(b.ctx, f)
		if err != nil {
			return err
		}
		links[i] = l
		if err := b.warm(s, mc, f); err != nil {
			return err
		}
	}
	note := peakFrom(s)
	var total int64
	for _, f := range files {
		total += f.blob.N
	}
	var cpuP, cpuD cpuShare
	upstream := map[string]int64{}
	run := func(side string) (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make([]error, len(files))
		cpu := &cpuD
		if side == "pandav" {
			cpu = &cpuP
		}
		p0, s0 := s.cpu(), selfCPU()
		before := mc.Counters().Snapshot()
		start := time.Now()
		for i, f := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var r fetched
				var err error
				if side == "direct" {
					r, err = get(b.ctx, b.dc, links[i].URL, links[i].Header, 0, 0)
				} else {
					r, err = get(b.ctx, b.pc, s.url(mc.mount, f.path), nil, 0, 0)
				}
				if err == nil {
					err = r.check(http.StatusOK, f.blob.N, wants[i])
				}
				if err != nil {
					errs[i] = fmt.Errorf("%s GET %s: %w", side, f.path, err)
				}
			}()
		}
		wg.Wait()
		d := time.Since(start)
		cpu.pandav += s.cpu() - p0
		cpu.self += selfCPU() - s0
		cpu.wall += d
		if side == "pandav" {
			addCounts(upstream, delta(before, mc.Counters().Snapshot()))
		}
		for _, err := range errs {
			if err != nil {
				return 0, err
			}
		}
		return d, nil
	}
	var bestP, bestD time.Duration
	var rawP, rawD []float64
	for round := range b.sz.rounds {
		sides := []string{"direct", "pandav"}
		if round%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			d, err := run(side)
			if err != nil {
				return err
			}
			if side == "direct" {
				rawD = append(rawD, mibps(total, d))
				if bestD == 0 || d < bestD {
					bestD = d
				}
			} else {
				rawP = append(rawP, mibps(total, d))
				if bestP == 0 || d < bestP {
					bestP = d
				}
			}
		}
	}
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	label := fmt.Sprintf("(c) %d concurrent streams of %s, %s: aggregate throughput", len(files), fmtMiB(b.sz.streamSize), mc.mount)
	x := ratioRow("c", label, mibps(total, bestP), mibps(total, bestD), "MiB/s", 0.85)
	x.Note = fmt.Sprintf("CPU while pandav served: %s; while the bench fetched direct: %s; upstream during pandav's GETs: %s",
		cpuP, cpuD, countsText(upstream))
	b.rep.add(x)
	b.rep.raw("c", map[string]any{"pandav_mibps": rawP, "direct_mibps": rawD, "bytes": total,
		"cpu_pandav_side": cpuP.raw(), "cpu_direct_side": cpuD.raw(), "upstream_pandav_side": upstream})
	b.rep.add(row{ID: "f.c", Scenario: "(f) peak RSS of pandav during (c)", Pandav: fmtMiB(hwm), PandavV: float64(hwm) / (1 << 20),
		Unit: "MiB", Target: "—", Note: joinNotes(note, fmt.Sprintf("VmHWM, reset before the timed GETs; RSS afterwards %s", fmtMiB(rss)))})
	b.rep.raw("f.c", map[string]any{"vmhwm_bytes": hwm, "vmrss_after_bytes": rss})
	return nil
}

func addCounts(sum, d map[string]int64) {
	for k, v := range d {
		sum[k] += v
	}
}

// countsText lists counters by name, for the notes.
func countsText(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
