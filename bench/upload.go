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
// calls: throughput ratio, and pandav's peak memory. The upload is read
// back through pandav and checked. The two sides send different content:
// the same bytes a second time would be a rapid upload, which sends none.
// pandav's login and the folder's listing are warmed first, as the
// direct side's are, so the clock holds the upload alone.
func (b *bench) bigPut(cl *cloud) error {
	s, err := b.newServer("put-" + cl.Name())
	if err != nil {
		return err
	}
	defer s.stop()
	blob := fakecloud.NewSeededBlob(0x9a7, b.sz.putSize, "")
	want := expectCRC(blob, 0, blob.N)
	u := s.url(cl.mount, uploadDir+"/big.bin")
	if status, _, _, err := propfind(b.ctx, b.pc, s.url(cl.mount, uploadDir+"/"), "1"); err != nil || status != http.StatusMultiStatus {
		return fmt.Errorf("warming pandav's %s: HTTP %d, %v", uploadDir, status, err)
	}
	note := peakFrom(s)
	// Both sides write to disk (pandav's spool, the emulators' stores):
	// each starts with the other's writes flushed, not queued before its
	// own.
	syscall.Sync()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPut, u, io.NewSectionReader(blob, 0, blob.N))
	if err != nil {
		return err
	}
	req.ContentLength = blob.N
	req.Header.Set("User-Agent", benchUA)
	start := time.Now()
	resp, err := b.pc.Do(req)
	if err != nil {
		return err
	}
	discard(resp)
	took := time.Since(start)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("PUT %s: HTTP %d", fmtMiB(blob.N), resp.StatusCode)
	}
	hwm, rss, err := s.memory()
	if err != nil {
		return err
	}
	syscall.Sync()
	direct, err := b.directUpload(cl, fakecloud.NewSeededBlob(0x9a8, b.sz.putSize, ""))
	if err != nil {
		return err
	}
	back, err := get(b.ctx, b.pc, u, nil, 0, 0)
	if err == nil {
		err = back.check(http.StatusOK, blob.N, want)
	}
	if err != nil {
		return fmt.Errorf("reading the upload back: %w", err)
	}
	id := b.rowID("h", cl)
	x := ratioRow(id, fmt.Sprintf("(h) PUT of %s, %s: throughput (direct = the driver's own upload calls)", fmtMiB(blob.N), cl.mount),
		mibps(blob.N, took), mibps(blob.N, direct), "MiB/s", 0.90)
	x.Target = "≥ 0.90 × direct"
	b.rep.add(x)
	b.rep.add(peakRow(id+".rss", fmt.Sprintf("(h) PUT of %s, %s: peak RSS of pandav", fmtMiB(blob.N), cl.mount), hwm, 64,
		joinNotes(note, "RSS afterwards "+fmtMiB(rss))))
	b.rep.raw(id, map[string]any{"vmhwm_bytes": hwm, "vmrss_after_bytes": rss, "put_ms": ms(took), "direct_ms": ms(direct)})
	return nil
}

// directUpload uploads blob with the bench's own driver and returns how
// long it took. A driver that needs the content hash first gets it
// computed inside the clock, as pandav must too.
func (b *bench) directUpload(cl *cloud, blob *fakecloud.SeededBlob) (time.Duration, error) {
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
	if _, err := up.Upload(ctx, parent, "direct.bin", src); err != nil {
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
