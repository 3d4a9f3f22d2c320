package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// (h) a big PUT through pandav against as many bytes uploaded straight to
// the emulated cloud by the bench's own driver, with the driver's own
// calls: throughput ratio (best round of each side, the sides taking
// turns to go first), and pandav's peak memory. The last upload is read
// back through pandav and checked. Every upload sends new content: the
// same bytes a second time would be a rapid upload, which sends none.
// pandav's login and the folder's listing are warmed first, as the
// direct side's are, so the clock holds the upload alone.
func (b *bench) bigPut(cl *cloud) error {
	s, err := b.newServer("put-" + cl.Name())
	if err != nil {
		return err
	}
	defer s.stop()
	if status, _, _, err := propfind(b.ctx, b.pc, s.url(cl.mount, uploadDir+"/"), "1"); err != nil || status != http.StatusMultiStatus {
		return fmt.Errorf("warming pandav's %s: HTTP %d, %v", uploadDir, status, err)
	}
	note := peakFrom(s)
	rounds := min(b.sz.rounds, 3)
	var best [2]time.Duration // pandav's, direct's
	var last *fakecloud.SeededBlob
	var lastURL string
	for round := range rounds {
		blob := fakecloud.NewSeededBlob(0x9a7+2*uint64(round), b.sz.putSize, "")
		u := s.url(cl.mount, fmt.Sprintf("%s/big-%d.bin", uploadDir, round))
		sides := []func() (time.Duration, error){
			func() (time.Duration, error) { return b.putThrough(u, blob) },
			func() (time.Duration, error) {
				return b.directUpload(cl, fmt.Sprintf("direct-%d.bin", round), fakecloud.NewSeededBlob(0x9a8+2*uint64(round), b.sz.putSize, ""))
			},
		}
		for k := range sides {
			side := (round + k) % len(sides)
			// Both sides write to disk (pandav's spool, the emulators'
			// stores): each starts with the other's writes flushed, not
			// queued before its own.
			syscall.Sync()
			d, err := sides[side]()
			if err != nil {
				return err
			}
			if best[side] == 0 || d < best[side] {
				best[side] = d
			}
		}
		last, lastURL = blob, u
	}
	took, direct := best[0], best[1]
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	back, err := get(b.ctx, b.pc, lastURL, nil, 0, 0)
	if err == nil {
		err = back.check(http.StatusOK, last.N, expectCRC(last, 0, last.N))
	}
	if err != nil {
		return fmt.Errorf("reading the upload back: %w", err)
	}
	id := b.rowID("h", cl)
	x := ratioRow(id, fmt.Sprintf("(h) PUT of %s, %s: throughput (direct = the driver's own upload calls)", fmtMiB(last.N), cl.mount),
		mibps(last.N, took), mibps(last.N, direct), "MiB/s", 0.90)
	x.Target = "≥ 0.90 × direct"
	x.Note = fmt.Sprintf("best of %d rounds each", rounds)
	b.rep.add(x)
	b.rep.add(peakRow(id+".rss", fmt.Sprintf("(h) PUT of %s, %s: peak RSS of pandav", fmtMiB(last.N), cl.mount), hwm, 64,
		joinNotes(note, "RSS afterwards "+fmtMiB(rss))))
	b.rep.raw(id, map[string]any{"vmhwm_bytes": hwm, "vmrss_after_bytes": rss, "put_ms": ms(took), "direct_ms": ms(direct), "rounds": rounds})
	return nil
}

// putThrough PUTs blob to pandav at u and returns how long it took.
func (b *bench) putThrough(u string, blob *fakecloud.SeededBlob) (time.Duration, error) {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPut, u, io.NewSectionReader(blob, 0, blob.N))
	if err != nil {
		return 0, err
	}
	req.ContentLength = blob.N
	req.Header.Set("User-Agent", benchUA)
	start := time.Now()
	resp, err := b.pc.Do(req)
	if err != nil {
		return 0, err
	}
	discard(resp)
	took := time.Since(start)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		return 0, fmt.Errorf("PUT %s: HTTP %d", fmtMiB(blob.N), resp.StatusCode)
	}
	return took, nil
}

// directUpload uploads blob with the bench's own driver and returns how
// long it took. A driver that needs the content hash first gets it
// computed inside the clock, as pandav must too.
func (b *bench) directUpload(cl *cloud, name string, blob *fakecloud.SeededBlob) (time.Duration, error) {
	up, ok := cl.direct.(drivers.Uploader)
	if !ok {
		return 0, fmt.Errorf("the %s driver does not upload", cl.Name())
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Minute)
	defer cancel()
	parent, err := drivers.Walk(ctx, cl.direct, strings.TrimPrefix(uploadDir, "/"))
	if err != nil {
		return 0, fmt.Errorf("direct upload folder: %w", err)
	}
	start := time.Now()
	src := &uploadSource{SectionReader: io.NewSectionReader(blob, 0, blob.N)}
	if r, ok := up.(drivers.UploadRequirer); ok && r.UploadNeeds().SHA1 {
		h := sha1.New()
		if _, err := io.Copy(h, io.NewSectionReader(blob, 0, blob.N)); err != nil {
			return 0, err
		}
		src.sha1 = strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	}
	if _, err := up.Upload(ctx, parent, name, src); err != nil {
		return 0, fmt.Errorf("direct upload: %w", err)
	}
	return time.Since(start), nil
}

// uploadSource is a blob as a drivers.UploadSource, readable at offsets.
type uploadSource struct {
	*io.SectionReader
	sha1 string
}

func (u *uploadSource) SHA1() string       { return u.sha1 }
func (u *uploadSource) ModTime() time.Time { return time.Time{} }
func (u *uploadSource) Size() int64        { return u.SectionReader.Size() }
