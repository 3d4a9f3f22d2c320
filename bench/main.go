// Command bench measures pandav against the clouds it fronts, side by side
// in one run: the same bytes fetched through pandav, through a minimal
// proxy (proxy.go: what any proxy pays, and nothing else) and straight
// from the emulated CDN, the same folder listed by pandav and by x/net/webdav over
// memory, and the upstream calls each client action costs. It prints a
// Markdown table of ratios and writes it, with the raw figures as JSON.
//
//	go run ./bench [--quick] [--out bench/RESULTS.md] [--json bench/results.json] [--latency 0s]
//
// pandav runs as a child process (built with go build), so its peak memory
// can be read from /proc; the emulators of every cloud (internal/demo's
// list) run inside the bench.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sizes are what a scenario moves; --quick shrinks them for CI.
type sizes struct {
	seqSize      int64
	seeks        int
	seekLen      int64
	streams      int
	streamSize   int64
	entries      int
	coldEntries  int
	probeFiles   int
	propfindRuns int
	rounds       int
	putSize      int64
	farSize      int64 // (g): what each stream reads
	slowStreams  int
	slowFor      time.Duration
}

var fullSizes = sizes{
	seqSize: 1 << 30, seeks: 200, seekLen: 1 << 20, streams: 16, streamSize: 256 << 20,
	entries: 10000, coldEntries: 2500, probeFiles: 200, propfindRuns: 20, rounds: 5, putSize: 1 << 30,
	slowStreams: 128, slowFor: 10 * time.Second, farSize: 128 << 20,
}

var quickSizes = sizes{
	seqSize: 64 << 20, seeks: 20, seekLen: 1 << 20, streams: 4, streamSize: 16 << 20,
	entries: 1000, coldEntries: 600, probeFiles: 200, propfindRuns: 5, rounds: 1, putSize: 64 << 20,
	slowStreams: 8, slowFor: 2 * time.Second, farSize: 8 << 20,
}

type options struct {
	quick    bool
	out      string
	jsonOut  string
	latency  time.Duration
	connRate int64
	stream   streamFlags
	keepLogs bool
	profile  bool   // each pandav writes a CPU profile into the kept work folder
	only     string // scenario letters to run, "" for all
	// farLatency and farRate are (g)'s CDN: far away, throttled per
	// connection.
	farLatency time.Duration
	farRate    int64
}

func (o options) wants(letter string) bool {
	return o.only == "" || strings.Contains(o.only, letter)
}

func main() {
	if addr := os.Getenv(proxyEnv); addr != "" {
		os.Exit(serveMinimalProxy(addr))
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "a small smoke run for CI (well under a minute); checks bytes, asserts no times")
	fs.StringVar(&o.out, "out", "bench/RESULTS.md", "Markdown results file (not written by --quick unless given)")
	fs.StringVar(&o.jsonOut, "json", "bench/results.json", "raw figures as JSON (not written by --quick unless given)")
	fs.DurationVar(&o.latency, "latency", 0, "delay the emulators add to every API call and CDN answer")
	fs.Int64Var(&o.connRate, "cdn-rate", 0, "cap each emulated CDN connection at this many bytes per second, as real CDNs do (0: no cap)")
	fs.StringVar(&o.stream.chunkSize, "chunk-size", "", "override pandav's stream.chunk_size (e.g. 8MiB)")
	fs.IntVar(&o.stream.readAhead, "read-ahead", -1, "override pandav's stream.read_ahead")
	fs.StringVar(&o.stream.memoryBudget, "memory-budget", "", "override pandav's stream.memory_budget (e.g. 256MiB)")
	fs.StringVar(&o.only, "only", "", "run only these scenarios, e.g. --only ab (for tuning; (f) rows come with (a), (c) and f)")
	fs.DurationVar(&o.farLatency, "far-latency", 30*time.Millisecond, "(g): delay the CDN adds to every request")
	fs.Int64Var(&o.farRate, "far-rate", 16<<20, "(g): bytes per second of each CDN connection")
	fs.BoolVar(&o.keepLogs, "keep", false, "keep the work folder (configs, pandav logs) and print where it is")
	fs.BoolVar(&o.profile, "profile", false, "each pandav child writes a CPU profile (NAME.pprof) into the work folder, which is kept")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.keepLogs = o.keepLogs || o.profile
	if o.quick {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["out"] {
			o.out = ""
		}
		if !given["json"] {
			o.jsonOut = ""
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := setup(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer b.close()
	b.runAll()
	return b.finish()
}

// bench is one run: the emulators, the pandav children, the clients and
// the report.
type bench struct {
	ctx   context.Context
	o     options
	sz    sizes
	repo  string
	dir   string
	bin   string
	cl    *clouds
	kids  *children
	rep   *report
	pc    *http.Client // to pandav
	dc    *http.Client // to the CDNs
	xc    *http.Client // to the minimal proxy
	proxy *server      // the minimal proxy
	start time.Time
	crcs  map[*seeded]uint32
	// commit is HEAD when pandav was built; the lead may commit during a
	// long run.
	commit string
}

func setup(ctx context.Context, o options) (*bench, error) {
	b := &bench{ctx: ctx, o: o, sz: fullSizes, kids: &children{}, rep: newReport(),
		pc: newClient(), dc: newClient(), xc: newClient(), start: time.Now(), crcs: map[*seeded]uint32{}}
	if o.quick {
		b.sz = quickSizes
	}
	var err error
	if b.repo, err = repoRoot(); err != nil {
		return nil, err
	}
	if b.dir, err = os.MkdirTemp("", "pandav-bench-"); err != nil {
		return nil, err
	}
	b.commit = "unknown"
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = b.repo
	if out, err := cmd.Output(); err == nil {
		b.commit = strings.TrimSpace(string(out))
	}
	step("building pandav")
	if b.bin, err = buildPandav(ctx, b.repo, b.dir); err != nil {
		os.RemoveAll(b.dir)
		return nil, err
	}
	step("starting the minimal proxy")
	if b.proxy, err = startProxy(ctx, b.dir, b.kids); err != nil {
		os.RemoveAll(b.dir)
		return nil, err
	}
	step("starting the emulators")
	if b.cl, err = startClouds(ctx, b.sz, o.latency, o.connRate, b.dir); err != nil {
		os.RemoveAll(b.dir)
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	b.kids.stopAll()
	b.cl.close()
	if b.o.keepLogs {
		fmt.Fprintln(os.Stderr, "bench: work folder kept at", b.dir)
		return
	}
	os.RemoveAll(b.dir)
}

func step(msg string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+msg+"\n", a...)
}

// newServer starts a fresh pandav (its own login, state and caches).
func (b *bench) newServer(name string) (*server, error) {
	cfg, err := b.cl.writeConfig(b.dir, name, b.o.stream)
	if err != nil {
		return nil, err
	}
	return startServer(b.ctx, b.bin, name, cfg, b.dir, b.o.profile, b.kids)
}

// scenario runs fn and records its error; a dead pandav is reported with
// its log.
func (b *bench) scenario(name string, s *server, fn func() error) {
	if b.ctx.Err() != nil {
		return
	}
	step("%s", name)
	if err := fn(); err != nil {
		if s != nil && !s.alive() {
			err = fmt.Errorf("%w (pandav died:\n%s)", err, s.logTail())
		}
		step("  FAILED: %v", err)
		b.rep.fail(name, err)
	}
}

func (b *bench) runAll() {
	if b.o.wants("a") || b.o.wants("b") {
		if s, err := b.newServer("sequential"); err != nil {
			b.rep.fail("start pandav", err)
		} else {
			for _, cl := range b.cl.all {
				if b.o.wants("a") {
					b.scenario("(a) sequential GET, "+cl.mount, s, func() error { return b.sequential(s, cl) })
				}
				if b.o.wants("b") {
					b.scenario("(b) random range reads, "+cl.mount, s, func() error { return b.seeks(s, cl) })
				}
			}
			s.stop()
		}
	}
	if b.o.wants("c") {
		if s, err := b.newServer("streams"); err != nil {
			b.rep.fail("start pandav", err)
		} else {
			b.scenario("(c) concurrent streams, "+b.cl.main().mount, s, func() error { return b.concurrent(s) })
			s.stop()
		}
	}
	if b.o.wants("f") {
		if s, err := b.newServer("slow"); err != nil {
			b.rep.fail("start pandav", err)
		} else {
			b.scenario("(f) slow streams, "+b.cl.main().mount, s, func() error { return b.slowStreams(s) })
			s.stop()
		}
	}
	if b.o.wants("i") {
		if s, err := b.newServer("fairness"); err != nil {
			b.rep.fail("start pandav", err)
		} else {
			for _, cl := range b.cl.all {
				b.scenario("(i) fair turns, "+cl.mount, s, func() error { return b.fairness(s, cl) })
			}
			s.stop()
		}
	}
	if b.o.wants("j") {
		if s, err := b.newServer("readback"); err != nil {
			b.rep.fail("start pandav", err)
		} else {
			for _, cl := range b.cl.all {
				if b.o.quick && cl != b.cl.main() {
					break // 115's few calls a second make it long; the full run has it
				}
				b.scenario("(j) read-after-write under load, "+cl.mount, s, func() error { return b.readAfterWrite(s, cl) })
			}
			s.stop()
		}
	}
	if b.o.wants("k") {
		if _, err := exec.LookPath("redis-server"); err != nil && os.Getenv("CI") == "" {
			step("(k) skipped: redis-server is not installed (CI installs it)")
		} else {
			b.scenario("(k) a replica on Redis against the embedded store", nil, b.stateBackends)
		}
	}
	if b.o.wants("g") {
		b.scenario("(g) far, throttled CDN", nil, b.farCDN)
	}
	if !b.o.wants("d") && !b.o.wants("e") && !b.o.wants("f") && !b.o.wants("h") {
		return
	}
	s, err := b.newServer("metadata")
	if err != nil {
		b.rep.fail("start pandav", err)
		return
	}
	at := ", " + b.cl.main().mount
	if b.o.wants("d") {
		b.scenario("(d) PROPFIND of a big folder"+at, s, func() error { return b.bigFolder(s) })
	}
	if b.o.wants("e") {
		b.scenario("(e) ffprobe"+at, s, func() error { return b.ffprobe(s) })
		b.scenario("(e) concurrent PROPFINDs"+at, s, func() error { return b.concurrentPropfind(s) })
		b.scenario("(e) Finder probe storm"+at, s, func() error { return b.probeStorm(s) })
	}
	var putOK bool
	if b.o.wants("f") || b.o.wants("h") {
		b.scenario("(f) PUT probe"+at, s, func() (err error) { putOK, err = b.putProbe(s); return err })
	}
	s.stop()
	if putOK && b.o.wants("h") {
		for _, cl := range b.cl.all {
			if b.o.quick && cl != b.cl.main() {
				break // the full run has every cloud
			}
			b.scenario("(h) "+fmtMiB(b.sz.putSize)+" PUT, "+cl.mount, nil, func() error { return b.bigPut(cl) })
		}
	}
}

func (b *bench) finish() int {
	header := b.header()
	md := b.rep.markdown(header)
	fmt.Print("\n" + md)
	b.rep.Meta["header"] = header
	code := 0
	if b.ctx.Err() != nil {
		b.rep.fail("run", errors.New("interrupted"))
		code = 1
	}
	if err := writeFile(b.o.out, []byte(md)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	js, err := b.rep.json()
	if err == nil {
		err = writeFile(b.o.jsonOut, append(js, '\n'))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	if len(b.rep.Errors) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d scenario(s) failed\n", len(b.rep.Errors))
		code = 1
	}
	return code
}

func (b *bench) header() []string {
	commit := b.commit
	mode := "full"
	if b.o.quick {
		mode = "quick (smoke sizes; figures are not meaningful)"
	}
	sz := b.sz
	h := []string{
		"date: " + b.start.Format(time.RFC3339),
		"commit: " + commit,
		fmt.Sprintf("machine: %d cores (runtime.NumCPU), %s RAM, %s/%s, %s", runtime.NumCPU(), memTotal(), runtime.GOOS, runtime.GOARCH, runtime.Version()),
		fmt.Sprintf("options: mode %s; --latency %v; --cdn-rate %d; --only %q; pandav stream settings: %s", mode, b.o.latency, b.o.connRate, b.o.only, strings.ReplaceAll(strings.TrimSpace(b.o.stream.String()), "\n", ";")),
		fmt.Sprintf("sizes: sequential %s; %d range reads of %s; %d streams of %s; %d-entry folder; %d warm PROPFIND runs; the median of %d round(s) per throughput figure",
			fmtMiB(sz.seqSize), sz.seeks, fmtMiB(sz.seekLen), sz.streams, fmtMiB(sz.streamSize), sz.entries, sz.propfindRuns, sz.rounds),
		"emulators: default per-account limits throughout (aliyun: list 4/s, getDownloadUrl 1/s, other 15/s, 3 CDN connections per file; 115: 5 calls/s per token, 2 connections per link); " +
			"for throughput and range figures each side fetches its links before the clock starts (pandav by a 1-byte GET), so the 1 link/s limit does not enter the figures",
		"direct = the same bytes fetched by the bench straight from the emulated CDN, on a link the bench got with its own in-process driver; every body is checked by CRC-32C against the seeded file",
		"minimal proxy = a child process of the bench that makes one upstream request per GET on the same link and copies the body with io.CopyBuffer through 256 KiB (bench/proxy.go); " +
			"CPU-seconds per GiB are of the serving process, from /proc/<pid>/stat: the proxy's, pandav's, and for direct the bench's own (the emulated CDN and the client)",
		fmt.Sprintf("run time: %s", time.Since(b.start).Round(time.Second)),
	}
	b.rep.Meta["date"] = b.start.Format(time.RFC3339)
	b.rep.Meta["commit"] = commit
	b.rep.Meta["cores"] = runtime.NumCPU()
	b.rep.Meta["mem_total"] = memTotal()
	b.rep.Meta["quick"] = b.o.quick
	b.rep.Meta["latency"] = b.o.latency.String()
	b.rep.Meta["stream"] = b.o.stream.String()
	return h
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}

// pandavURL is the WebDAV URL of a drive path under a mount.
func (s *server) url(mount, p string) string {
	return s.base + (&url.URL{Path: mount + p}).EscapedPath()
}

// rowID is a row's id for cl: the bare id for the main cloud, as the
// results of earlier runs name them, else the id and the cloud's name.
func (b *bench) rowID(id string, cl *cloud) string {
	if cl == b.cl.main() {
		return id
	}
	return id + "." + cl.Name()
}

// discard reads a body to the end, for requests whose bytes are not the
// point.
func discard(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
