package main

import (
	"errors"
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

// sides of a throughput comparison: the emulated CDN straight, the
// minimal proxy (proxy.go), and pandav.
var sides = []string{"direct", "proxy", "pandav"}

// sideRun is what one side did over the rounds of a scenario.
type sideRun struct {
	times []time.Duration // per round
	rates []float64       // MiB/s, per round
	cpu   time.Duration   // of the process that served the bytes
	cdn   int64           // CDN requests
	bytes int64
}

func (r *sideRun) perGiB(v float64) float64 { return v / (float64(r.bytes) / (1 << 30)) }

// servingCPU reads the CPU time of the process that serves a side's
// bytes: the bench itself for direct (the emulated CDN is in it; so is
// the client), the proxy child and the pandav child for the others.
func (b *bench) servingCPU(s *server, side string) func() time.Duration {
	switch side {
	case "proxy":
		return b.proxy.cpu
	case "pandav":
		return s.cpu
	}
	return selfCPU
}

// throughput runs fetch for every side, rounds times, starting each round
// with the next side so that none is always first; fetch returns the
// bytes it moved.
func (b *bench) throughput(s *server, cl *cloud, rounds int, fetch func(side string) (int64, error)) (map[string]*sideRun, error) {
	out := map[string]*sideRun{}
	for _, side := range sides {
		out[side] = &sideRun{}
	}
	cdn := cl.Endpoints().CDN
	for round := range rounds {
		for k := range sides {
			side := sides[(round+k)%len(sides)]
			cpuOf := b.servingCPU(s, side)
			c0, n0, t0 := cpuOf(), cl.Counters().Get(cdn), time.Now()
			n, err := fetch(side)
			d := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", side, err)
			}
			r := out[side]
			r.cpu += cpuOf() - c0
			r.cdn += cl.Counters().Get(cdn) - n0
			r.bytes += n
			r.rates = append(r.rates, mibps(n, d))
			r.times = append(r.times, d)
		}
	}
	return out, nil
}

// rate is the side's throughput in its median round.
func (r *sideRun) rate(perRound int64) float64 { return mibps(perRound, percentile(r.times, 50)) }

// throughputRows reports a three-way run: throughput (the median round:
// one lucky round of one side moved a best-of ratio by 0.1), CPU
// seconds per GiB of each serving process, and CDN requests per GiB.
func (b *bench) throughputRows(id, label string, runs map[string]*sideRun, perRound int64, minRatio float64) {
	d, x, p := runs["direct"], runs["proxy"], runs["pandav"]
	rate := func(r *sideRun) float64 { return r.rate(perRound) }
	cpu := func(r *sideRun) float64 { return r.perGiB(r.cpu.Seconds()) }
	reqs := func(r *sideRun) float64 { return r.perGiB(float64(r.cdn)) }
	b.rep.add(threeWayRow(id, label+": throughput", rate(d), rate(x), rate(p),
		func(v float64) string { return fmt.Sprintf("%.0f MiB/s", v) }, "MiB/s", minRatio, 0))
	c := threeWayRow(id+".cpu", label+": CPU-seconds per GiB of the serving process", cpu(d), cpu(x), cpu(p),
		func(v float64) string { return fmt.Sprintf("%.2f s", v) }, "s/GiB", 0, 1.15)
	b.rep.add(c)
	q := threeWayRow(id+".cdn", label+": CDN requests per GiB", reqs(d), reqs(x), reqs(p),
		func(v float64) string { return fmt.Sprintf("%.1f", v) }, "requests/GiB", 0, 0)
	q.Ratio = ""
	if id[0] == 'a' {
		q.Target, q.Met = "pandav ≤ 64", boolp(reqs(p) <= 64)
	}
	b.rep.add(q)
	raw := map[string]any{"bytes_per_round": perRound}
	for side, r := range runs {
		raw[side] = map[string]any{"mibps": r.rates, "cpu_s": r.cpu.Seconds(), "cdn_requests": r.cdn, "bytes": r.bytes}
	}
	b.rep.raw(id, raw)
}

// fetchSide GETs a file (a range when length > 0) from one side.
func (b *bench) fetchSide(s *server, cl *cloud, side string, f *seeded, link drivers.Link, off, length int64) (fetched, error) {
	switch side {
	case "direct":
		return get(b.ctx, b.dc, link.URL, link.Header, off, length)
	case "proxy":
		return get(b.ctx, b.xc, b.proxy.base+"/", viaProxy(link.URL, link.Header), off, length)
	}
	return get(b.ctx, b.pc, s.url(cl.mount, f.path), nil, off, length)
}

// (a) one sequential GET of the whole file from each side.
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
	runs, err := b.throughput(s, cl, b.sz.rounds, func(side string) (int64, error) {
		r, err := b.fetchSide(s, cl, side, f, link, 0, 0)
		if err == nil {
			err = r.check(http.StatusOK, f.blob.N, want)
		}
		return r.n, err
	})
	if err != nil {
		return err
	}
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	id := b.rowID("a", cl)
	b.throughputRows(id, "(a) sequential GET "+fmtMiB(f.blob.N)+", "+cl.mount, runs, f.blob.N, 0.95)
	b.rep.add(peakRow("f.a."+cl.Name(), "(f) peak RSS of pandav during (a), one stream, "+cl.mount, hwm, 64,
		joinNotes(note, fmt.Sprintf("VmHWM, reset before the timed GETs; RSS afterwards %s", fmtMiB(rss)))))
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

// (b) random 1 MiB ranges, as a player seeking: the same offsets from
// every side, interleaved so that all see the same machine.
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
	ttfb, total := map[string][]time.Duration{}, map[string][]time.Duration{}
	for i, off := range offs {
		for k := range sides {
			side := sides[(i+k)%len(sides)]
			r, err := b.fetchSide(s, cl, side, f, link, off, b.sz.seekLen)
			if err == nil {
				err = r.check(http.StatusPartialContent, b.sz.seekLen, wants[i])
			}
			if err != nil {
				return fmt.Errorf("%s range at %d: %w", side, off, err)
			}
			ttfb[side] = append(ttfb[side], r.ttfb)
			total[side] = append(total[side], r.total)
		}
	}
	pre := b.rowID("b", cl)
	what := fmt.Sprintf("(b) %d random %s ranges, %s: ", n, fmtMiB(b.sz.seekLen), cl.mount)
	for _, m := range []struct {
		id, label string
		of        map[string][]time.Duration
		p         float64
	}{
		{".ttfb.p50", "TTFB p50", ttfb, 50}, {".ttfb.p99", "TTFB p99", ttfb, 99},
		{".total.p50", "total p50", total, 50}, {".total.p99", "total p99", total, 99},
	} {
		d, x, p := ms(percentile(m.of["direct"], m.p)), ms(percentile(m.of["proxy"], m.p)), ms(percentile(m.of["pandav"], m.p))
		r := threeWayRow(pre+m.id, what+m.label, d, x, p, fmtMS, "ms", 0, 0)
		if m.id == ".ttfb.p50" {
			r.Target, r.Met = "≤ proxy + 1 ms", boolp(p <= x+1)
		}
		b.rep.add(r)
	}
	raw := map[string]any{"offsets": offs, "length": b.sz.seekLen}
	for _, side := range sides {
		raw[side+"_ttfb_ms"], raw[side+"_total_ms"] = msList(ttfb[side]), msList(total[side])
	}
	b.rep.raw(pre, raw)
	return nil
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// parallelFetch GETs files whole from one side, all at once, and returns
// the bytes moved.
func (b *bench) parallelFetch(s *server, cl *cloud, side string, files []*seeded, links []drivers.Link, wants []uint32) (int64, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	var total int64
	for i, f := range files {
		total += f.blob.N
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.fetchSide(s, cl, side, f, links[i], 0, 0)
			if err == nil {
				err = r.check(http.StatusOK, f.blob.N, wants[i])
			}
			if err != nil {
				errs[i] = fmt.Errorf("GET %s: %w", f.path, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// linksOf gets the direct links and checksums of files, and warms pandav
// for them.
func (b *bench) linksOf(s *server, cl *cloud, files []*seeded) ([]drivers.Link, []uint32, error) {
	links := make([]drivers.Link, len(files))
	wants := make([]uint32, len(files))
	for i, f := range files {
		wants[i] = b.crcOf(f)
		l, err := cl.directLink(b.ctx, f)
		if err != nil {
			return nil, nil, err
		}
		links[i] = l
		if err := b.warm(s, cl, f); err != nil {
			return nil, nil, err
		}
	}
	return links, wants, nil
}

// (c) many players at once: every stream file read whole, all together.
func (b *bench) concurrent(s *server) error {
	mc := b.cl.main()
	files := b.cl.streams
	links, wants, err := b.linksOf(s, mc, files)
	if err != nil {
		return err
	}
	note := peakFrom(s)
	runs, err := b.throughput(s, mc, b.sz.rounds, func(side string) (int64, error) {
		return b.parallelFetch(s, mc, side, files, links, wants)
	})
	if err != nil {
		return err
	}
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	label := fmt.Sprintf("(c) %d concurrent streams of %s, %s", len(files), fmtMiB(b.sz.streamSize), mc.mount)
	b.throughputRows("c", label, runs, int64(len(files))*b.sz.streamSize, 0.90)
	b.rep.add(peakRow("f.c", fmt.Sprintf("(f) peak RSS of pandav during (c), %d streams", len(files)), hwm, 256,
		joinNotes(note, fmt.Sprintf("VmHWM, reset before the timed GETs; RSS afterwards %s", fmtMiB(rss)))))
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
