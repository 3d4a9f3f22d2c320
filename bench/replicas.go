package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// (k) A replica whose state is in Redis against one with the embedded
// store, side by side: the warm PROPFIND of the big folder (each request
// of a replica asks Redis once, whether another replica changed
// anything) and a GET of up to 1 GiB (no state on the way).
func (b *bench) stateBackends() error {
	redisAddr, stop, err := b.startRedis()
	if err != nil {
		return err
	}
	defer stop()
	embedded, err := b.newServer("state-embedded")
	if err != nil {
		return err
	}
	defer embedded.stop()
	cfg, err := b.cl.writeConfig(b.dir, "state-redis", b.o.stream)
	if err != nil {
		return err
	}
	if err := appendFile(cfg, fmt.Sprintf("state: {redis: %q}\n", "redis://"+redisAddr+"/0")); err != nil {
		return err
	}
	onRedis, err := startServer(b.ctx, b.bin, "state-redis", cfg, b.dir, b.o.profile, b.kids)
	if err != nil {
		return err
	}
	defer onRedis.stop()

	mc := b.cl.main()
	f := b.cl.seq
	n := min(f.blob.N, 1<<30)
	want := expectCRC(f.blob, 0, n)
	servers := map[string]*server{"embedded": embedded, "redis": onRedis}
	for side, s := range servers {
		// Cold listing and link, outside the clock.
		if st, cnt, _, err := propfind(b.ctx, b.pc, s.url(mc.mount, bigDir), "1"); err != nil || expectListing(st, cnt, b.sz.entries) != nil {
			return fmt.Errorf("%s: first PROPFIND: HTTP %d, %d entries, %v", side, st, cnt, err)
		}
		if err := b.warm(s, mc, f); err != nil {
			return fmt.Errorf("%s: %w", side, err)
		}
	}
	lat := map[string][]time.Duration{}
	best := map[string]time.Duration{}
	for i := range b.sz.propfindRuns {
		for _, side := range alternate(i, "embedded", "redis") {
			st, cnt, took, err := propfind(b.ctx, b.pc, servers[side].url(mc.mount, bigDir), "1")
			if err == nil {
				err = expectListing(st, cnt, b.sz.entries)
			}
			if err != nil {
				return fmt.Errorf("%s warm PROPFIND: %w", side, err)
			}
			lat[side] = append(lat[side], took)
		}
	}
	for round := range b.sz.rounds {
		for _, side := range alternate(round, "embedded", "redis") {
			r, err := get(b.ctx, b.pc, servers[side].url(mc.mount, f.path), nil, 0, n)
			if err == nil {
				err = r.check(http.StatusPartialContent, n, want)
			}
			if err != nil {
				return fmt.Errorf("%s GET: %w", side, err)
			}
			if best[side] == 0 || r.total < best[side] {
				best[side] = r.total
			}
		}
	}
	pr, pe := ms(percentile(lat["redis"], 50)), ms(percentile(lat["embedded"], 50))
	gr, ge := mibps(n, best["redis"]), mibps(n, best["embedded"])
	// The row's ratio is the worse of the two: PROPFIND as speed (the
	// embedded latency over Redis's), GET as throughput.
	ratio := min(pe/pr, gr/ge)
	x := row{ID: "k.state", Unit: "ratio",
		Scenario: fmt.Sprintf("(k) a replica on Redis against the embedded store, %s: warm PROPFIND Depth 1 of %d entries (p50) and a %s GET", mc.mount, b.sz.entries, fmtMiB(n)),
		Pandav:   fmt.Sprintf("Redis: %s, %.0f MiB/s", fmtMS(pr), gr), PandavV: ratio,
		Direct: fmt.Sprintf("embedded: %s, %.0f MiB/s", fmtMS(pe), ge), DirectV: 1,
		Ratio: fmt.Sprintf("%.2f", ratio), Target: "≥ 0.95", Met: boolp(ratio >= 0.95),
		Note: fmt.Sprintf("PROPFIND %.2f, GET %.2f", pe/pr, gr/ge)}
	b.rep.add(x)
	b.rep.raw("k.state", map[string]any{"propfind_redis_ms": msList(lat["redis"]), "propfind_embedded_ms": msList(lat["embedded"]),
		"get_redis_mibps": gr, "get_embedded_mibps": ge})
	return nil
}

// alternate gives the two sides in turn order i, so neither always goes
// first.
func alternate(i int, a, b string) []string {
	if i%2 == 1 {
		return []string{b, a}
	}
	return []string{a, b}
}

func appendFile(name, s string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// startRedis runs a redis-server in the work folder (append-only, as a
// deployment has it) on a free port.
func (b *bench) startRedis() (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server is not installed (Debian: redis-server): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(b.dir, "redis")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.CommandContext(b.ctx, bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--save", "", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		fmt.Fprint(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "+PONG") {
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("redis-server did not answer on %s", addr)
}
