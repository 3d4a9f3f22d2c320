package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"pandav/internal/sample"
)

// propfindBody asks what rclone, davfs2 and Finder ask for between them.
const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop>
<D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getetag/><D:getcontenttype/><D:displayname/>
</D:prop></D:propfind>`

// propfind sends one PROPFIND and counts the <response> elements.
func propfind(ctx context.Context, hc *http.Client, u, depth string) (status, responses int, d time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, "PROPFIND", u, strings.NewReader(propfindBody))
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Depth", depth)
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	req.Header.Set("User-Agent", benchUA)
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d = time.Since(start)
	if err != nil {
		return resp.StatusCode, 0, d, err
	}
	return resp.StatusCode, bytes.Count(body, []byte("<D:response>")), d, nil
}

// expectListing checks a Depth 1 PROPFIND answer: 207, the folder and
// every child.
func expectListing(status, responses, children int) error {
	if status != http.StatusMultiStatus {
		return fmt.Errorf("PROPFIND answered HTTP %d, want 207", status)
	}
	if responses != children+1 {
		return fmt.Errorf("PROPFIND listed %d entries, want %d", responses, children+1)
	}
	return nil
}

// settle lets the emulator's per-second rate buckets refill, so that calls
// the bench itself made cannot earn pandav a 429 (and a retry that would
// count as an extra upstream call).
func (b *bench) settle() {
	select {
	case <-b.ctx.Done():
	case <-time.After(1200 * time.Millisecond):
	}
}

// (d) PROPFIND Depth 1 of the big folder: upstream pages when cold, then
// warm latency against x/net/webdav serving the same names from memory.
func (b *bench) bigFolder(s *server) error {
	mc := b.cl.main()
	ep := mc.Endpoints()
	page := mc.PageSize()
	u := s.url(mc.mount, bigDir)
	// Resolve the folder itself (its parents' listings) first, so the
	// count below is the folder's own pages.
	if st, _, _, err := propfind(b.ctx, b.pc, u, "0"); err != nil || st != http.StatusMultiStatus {
		return fmt.Errorf("PROPFIND Depth 0 %s: HTTP %d %v", bigDir, st, err)
	}
	b.settle()
	before := mc.Counters().Snapshot()
	st, n, cold, err := propfind(b.ctx, b.pc, u, "1")
	if err != nil {
		return err
	}
	if err := expectListing(st, n, b.sz.entries); err != nil {
		return err
	}
	d := delta(before, mc.Counters().Snapshot())
	pages := int64((b.sz.entries + page - 1) / page)
	b.rep.add(row{ID: "d.cold", Scenario: fmt.Sprintf("(d) PROPFIND Depth 1, %d entries, cold: upstream list calls", b.sz.entries),
		Pandav: fmt.Sprintf("%d list", d[ep.List]), PandavV: float64(d[ep.List]), Unit: "calls",
		Target: fmt.Sprintf("= %d pages", pages), Met: boolp(d[ep.List] == pages),
		Note: fmt.Sprintf("cold PROPFIND took %s at the driver's 3.9 list calls/s; all API calls: %s", fmtMS(ms(cold)), mc.callsText(d))})
	b.rep.raw("d.cold", map[string]any{"calls": d, "pages": pages, "cold_ms": ms(cold)})

	mem, err := memFolder(b.sz.entries)
	if err != nil {
		return err
	}
	defer mem.Close()
	memURL := mem.URL + (&url.URL{Path: bigDir}).EscapedPath()
	var pd, md []time.Duration
	for i := range b.sz.propfindRuns {
		sides := []string{"memfs", "pandav"}
		if i%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			target := u
			if side == "memfs" {
				target = memURL
			}
			st, n, took, err := propfind(b.ctx, b.pc, target, "1")
			if err == nil {
				err = expectListing(st, n, b.sz.entries)
			}
			if err != nil {
				return fmt.Errorf("%s warm PROPFIND: %w", side, err)
			}
			if side == "memfs" {
				md = append(md, took)
			} else {
				pd = append(pd, took)
			}
		}
	}
	after := mc.Counters().Snapshot()
	p, m := ms(percentile(pd, 50)), ms(percentile(md, 50))
	x := latencyRow("d.warm", fmt.Sprintf("(d) PROPFIND Depth 1, %d entries, warm: p50 latency (direct = x/net/webdav over MemFS)", b.sz.entries), p, m)
	x.Target, x.Met = "≤ 1.5×", boolp(p <= 1.5*m)
	if extra := delta(before, after); mc.apiCalls(extra) != mc.apiCalls(d) {
		x.Note = fmt.Sprintf("warm runs cost upstream calls: %s", mc.callsText(delta(before, after)))
	}
	b.rep.add(x)
	b.rep.raw("d.warm", map[string]any{"pandav_ms": msList(pd), "memfs_ms": msList(md)})
	return nil
}

// memFolder serves the big folder's names from x/net/webdav's own
// in-memory file system, in this process: the floor for a PROPFIND.
func memFolder(n int) (*httptest.Server, error) {
	ctx := context.Background()
	fs := webdav.NewMemFS()
	dir := ""
	for _, part := range strings.Split(strings.Trim(bigDir, "/"), "/") {
		dir += "/" + part
		if err := fs.Mkdir(ctx, dir, 0o755); err != nil {
			return nil, err
		}
	}
	content := []byte("pandav bench entry\n")
	for i := range n {
		f, err := fs.OpenFile(ctx, path.Join(bigDir, bigName(i)), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		f.Write(content)
		f.Close()
	}
	return httptest.NewServer(&webdav.Handler{FileSystem: fs, LockSystem: webdav.NewMemLS()}), nil
}

// (e) ffprobe of the sample video: one link call cold, none while the
// link lives.
func (b *bench) ffprobe(s *server) error {
	mc := b.cl.main()
	ep := mc.Endpoints()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		if os.Getenv("CI") != "" {
			return errors.New("ffprobe is not installed (CI is set, so this is an error)")
		}
		b.rep.add(row{ID: "e.ffprobe", Scenario: "(e) ffprobe of the sample video", Pandav: "skipped: ffprobe not installed", Target: "= 1 link"})
		return nil
	}
	u := s.url(mc.mount, sample.VideoPath)
	for i, target := range []int64{1, 0} {
		b.settle()
		before := mc.Counters().Snapshot()
		ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
		start := time.Now()
		out, err := exec.CommandContext(ctx, bin, "-v", "error", "-user_agent", benchUA,
			"-show_entries", "format=duration:stream=codec_type", "-of", "default=nw=1", u).CombinedOutput()
		took := time.Since(start)
		cancel()
		if err != nil || !bytes.Contains(out, []byte("codec_type=video")) {
			return fmt.Errorf("ffprobe: %v\n%s", err, out)
		}
		d := delta(before, mc.Counters().Snapshot())
		label, id := "(e) ffprobe of the sample video, cold: upstream calls", "e.ffprobe"
		if i == 1 {
			label, id = "(e) ffprobe again, within the link's lifetime: upstream calls", "e.ffprobe2"
		}
		b.rep.add(row{ID: id, Scenario: label, Pandav: mc.callsText(d), PandavV: float64(d[ep.Link]), Unit: "link calls",
			Target: fmt.Sprintf("= %d link", target), Met: boolp(d[ep.Link] == target),
			Note: fmt.Sprintf("ffprobe took %s; CDN requests %d", fmtMS(ms(took)), d[ep.CDN])})
		b.rep.raw(id, map[string]any{"calls": d, "ms": ms(took)})
	}
	return nil
}

// (e) ten identical PROPFINDs at once on a folder never listed: one
// listing's pages upstream, whatever the number of clients.
func (b *bench) concurrentPropfind(s *server) error {
	mc := b.cl.main()
	ep := mc.Endpoints()
	page := mc.PageSize()
	u := s.url(mc.mount, coldDir)
	if st, _, _, err := propfind(b.ctx, b.pc, u, "0"); err != nil || st != http.StatusMultiStatus {
		return fmt.Errorf("PROPFIND Depth 0 %s: HTTP %d %v", coldDir, st, err)
	}
	b.settle()
	before := mc.Counters().Snapshot()
	const clients = 10
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, n, _, err := propfind(b.ctx, b.pc, u, "1")
			if err == nil {
				err = expectListing(st, n, b.sz.coldEntries)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d := delta(before, mc.Counters().Snapshot())
	pages := int64((b.sz.coldEntries + page - 1) / page)
	b.rep.add(row{ID: "e.propfind10", Scenario: fmt.Sprintf("(e) 10 concurrent identical PROPFIND Depth 1, cold %d-entry folder: upstream calls", b.sz.coldEntries),
		Pandav: mc.callsText(d), PandavV: float64(d[ep.List]), Unit: "list calls",
		Target: fmt.Sprintf("= %d list (one listing)", pages), Met: boolp(d[ep.List] == pages)})
	b.rep.raw("e.propfind10", map[string]any{"calls": d, "pages": pages})
	return nil
}

// (e) what Finder does on opening a folder: for every file, PROPFIND and
// GET of its AppleDouble "._" twin and of .DS_Store, twice over. All are
// misses and must not reach the cloud more than the one listing.
func (b *bench) probeStorm(s *server) error {
	mc := b.cl.main()
	ep := mc.Endpoints()
	if st, _, _, err := propfind(b.ctx, b.pc, s.url(mc.mount, probeDir), "0"); err != nil || st != http.StatusMultiStatus {
		return fmt.Errorf("PROPFIND Depth 0 %s: HTTP %d %v", probeDir, st, err)
	}
	b.settle()
	before := mc.Counters().Snapshot()
	type probe struct{ method, path string }
	var probes []probe
	for range 2 {
		for i := range b.sz.probeFiles {
			for _, name := range []string{"._" + probeName(i), ".DS_Store"} {
				p := path.Join(probeDir, name)
				probes = append(probes, probe{"PROPFIND", p}, probe{http.MethodGet, p})
			}
		}
	}
	work := make(chan probe)
	var mu sync.Mutex
	var errs []error
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 { // Finder keeps several requests in flight
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				var st int
				var err error
				if p.method == "PROPFIND" {
					st, _, _, err = propfind(b.ctx, b.pc, s.url(mc.mount, p.path), "0")
				} else {
					var r fetched
					r, err = get(b.ctx, b.pc, s.url(mc.mount, p.path), nil, 0, 0)
					st = r.status
				}
				mu.Lock()
				statuses[st]++
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w", p.method, p.path, err))
				} else if st != http.StatusNotFound {
					errs = append(errs, fmt.Errorf("%s %s: HTTP %d, want 404", p.method, p.path, st))
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range probes {
		work <- p
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return fmt.Errorf("%d of %d probes failed, e.g. %w", len(errs), len(probes), errs[0])
	}
	d := delta(before, mc.Counters().Snapshot())
	b.rep.add(row{ID: "e.finder", Scenario: fmt.Sprintf("(e) Finder probe storm: %d PROPFIND/GET of ._name and .DS_Store in a cold %d-file folder: upstream calls", len(probes), b.sz.probeFiles),
		Pandav: mc.callsText(d), PandavV: float64(d[ep.List]), Unit: "list calls", Target: "≤ 1 list", Met: boolp(d[ep.List] <= 1),
		Note: fmt.Sprintf("all %d answered 404 in %s", len(probes), fmtMS(ms(took)))})
	b.rep.raw("e.finder", map[string]any{"calls": d, "probes": len(probes), "ms": ms(took)})
	return nil
}

// putProbe finds out whether pandav takes writes yet.
func (b *bench) putProbe(s *server) (bool, error) {
	mc := b.cl.main()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPut, s.url(mc.mount, uploadDir+"/probe.txt"), strings.NewReader("pandav bench\n"))
	if err != nil {
		return false, err
	}
	req.Header.Set("User-Agent", benchUA)
	resp, err := b.pc.Do(req)
	if err != nil {
		return false, err
	}
	discard(resp)
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	b.rep.add(row{ID: "f.put", Scenario: "(f) peak RSS of pandav during a " + fmtMiB(b.sz.putSize) + " PUT",
		Pandav: fmt.Sprintf("writes not yet implemented (a small PUT answered HTTP %d)", resp.StatusCode), Target: "—"})
	return false, nil
}
