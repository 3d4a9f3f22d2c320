package aliyun

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

const (
	// rapidMin is the size from which a rapid upload is tried, as
	// OpenList's Open driver does (100 KB).
	rapidMin = 100 << 10
	maxParts = 10000
	// partTimeout bounds one part PUT.
	partTimeout = 15 * time.Minute
	// urlMargin: a part URL this close to its expiry is renewed first.
	urlMargin = time.Minute
	// maxURLRenewals bounds the getUploadUrl calls one part may cause.
	maxURLRenewals = 3
)

// partSize is the size of each part for a file of size bytes: the
// configured size, grown in whole MiB so that no more than 10000 parts
// are needed.
func partSize(configured, size int64) int64 {
	ps := configured
	if ps <= 0 {
		ps = defaultPartSize
	}
	if size > ps*maxParts {
		ps = (size + maxParts - 1) / maxParts
		ps = (ps + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

// A one-pass stream is sent in parts of at most streamPartSize, of which
// run holds streamParts: one going, the next read meanwhile. An upload
// of any size then costs a NAS 16 MiB.
const (
	streamPartSize = 8 << 20
	streamParts    = 2
)

func partCount(size, ps int64) int {
	return int((size + ps - 1) / ps)
}

// proofCode is the rapid-upload proof for content r of size bytes, bound
// to the access token the request carries (docs/protocols/aliyun.md §5, upload step 3).
func proofCode(accessToken string, r io.ReaderAt, size int64) (string, error) {
	if size <= 0 {
		return "", nil
	}
	sum := md5.Sum([]byte(accessToken))
	v, err := strconv.ParseUint(hex.EncodeToString(sum[:])[:16], 16, 64)
	if err != nil {
		return "", err
	}
	off := int64(v % uint64(size))
	buf := make([]byte, min(8, size-off))
	if _, err := r.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("aliyun upload: reading the content for its proof: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

func preHash(r io.ReaderAt, size int64) (string, error) {
	buf := make([]byte, min(1024, size))
	if _, err := r.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("aliyun upload: reading the content for its pre-hash: %w", err)
	}
	sum := sha1.Sum(buf)
	return hex.EncodeToString(sum[:]), nil
}

func contentSHA1(src drivers.UploadSource, r io.ReaderAt) (string, error) {
	if s := src.SHA1(); len(s) == 40 {
		return strings.ToUpper(s), nil
	}
	h := sha1.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, src.Size())); err != nil {
		return "", fmt.Errorf("aliyun upload: hashing the content: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), nil
}

func apiCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// Upload creates name in parent from src. A second file of the same name
// may result (check_name_mode ignore): the layer above swaps files only
// once the new one is complete. Content the service already holds is
// not sent again when src allows random access (a rapid upload);
// otherwise parts go one at a time, the next read while one is sent (see
// run).
func (d *Drive) Upload(ctx context.Context, parent drivers.Entry, name string, src drivers.UploadSource) (drivers.Entry, error) {
	if err := d.writable(); err != nil {
		return drivers.Entry{}, err
	}
	if err := checkName("upload", name); err != nil {
		return drivers.Entry{}, err
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	size := src.Size()
	if size < 0 {
		return drivers.Entry{}, fmt.Errorf("aliyun upload %q: the size must be known", name)
	}
	ra, _ := src.(io.ReaderAt)
	configured := d.o.UploadPartSize
	if ra == nil {
		// A one-pass stream holds streamParts parts in memory (see run).
		configured = min(configured, streamPartSize)
	}
	ps := partSize(configured, size)
	n := partCount(size, ps)
	req := createRequest{
		DriveID: driveID, ParentFileID: parent.ID, Name: name, Type: "file",
		CheckNameMode: "ignore", Size: &size, PartInfoList: make([]partInfo, n),
	}
	for i := range req.PartInfoList {
		req.PartInfoList[i].PartNumber = i + 1
	}
	if mt := src.ModTime(); !mt.IsZero() {
		req.LocalModifiedAt = mt.UTC().Format("2006-01-02T15:04:05.000Z")
		req.LocalCreatedAt = req.LocalModifiedAt
	}
	var out createResponse
	if ra != nil && size >= rapidMin {
		out, err = d.createRapid(ctx, req, src, ra)
	} else {
		req.ContentHashName, req.ProofVersion = "none", "v1"
		err = d.call(ctx, "other", "openFile/create", req, &out)
	}
	if err != nil {
		return drivers.Entry{}, fmt.Errorf("upload %q: %w", name, err)
	}
	if out.Exist {
		return drivers.Entry{}, fmt.Errorf("aliyun upload %q: %w", name, drivers.ErrExist)
	}
	if out.FileID == "" {
		return drivers.Entry{}, fmt.Errorf("aliyun upload %q: %w: no file_id in the answer", name, drivers.ErrUpstream)
	}
	if !out.RapidUpload {
		if out.UploadID == "" {
			return drivers.Entry{}, fmt.Errorf("aliyun upload %q: %w: no upload_id in the answer", name, drivers.ErrUpstream)
		}
		pu := &partUploader{d: d, driveID: driveID, fileID: out.FileID, uploadID: out.UploadID, name: name, n: n, urls: map[int]string{}}
		for _, p := range out.PartInfoList {
			pu.urls[p.PartNumber] = p.UploadURL
		}
		if err := pu.run(ctx, src, ra, size, ps); err != nil {
			return drivers.Entry{}, err
		}
	}
	if out.UploadID == "" {
		// A rapid upload without a session is done already.
		return d.Get(ctx, out.FileID)
	}
	var it fileItem
	creq := uploadRequest{DriveID: driveID, FileID: out.FileID, UploadID: out.UploadID}
	if err := d.call(ctx, "other", "openFile/complete", creq, &it); err != nil {
		return drivers.Entry{}, fmt.Errorf("upload %q: %w", name, err)
	}
	e := toEntry(it)
	if e.ID == "" {
		return drivers.Entry{}, fmt.Errorf("aliyun upload %q: %w: complete gave no file", name, drivers.ErrUpstream)
	}
	if e.Name == "" {
		e.Name = name
	}
	if e.ParentID == "" {
		e.ParentID = parent.ID
	}
	return e, nil
}

// createRapid opens an upload with a pre-hash probe. When the service
// knows content with that pre-hash it answers 409 PreHashMatched, and the
// full hash with its proof is sent; the proof is computed anew for each
// try, with the token that try carries.
func (d *Drive) createRapid(ctx context.Context, req createRequest, src drivers.UploadSource, ra io.ReaderAt) (createResponse, error) {
	size := src.Size()
	var out createResponse
	ph, err := preHash(ra, size)
	if err != nil {
		return out, err
	}
	probe := req
	probe.PreHash = ph
	err = d.call(ctx, "other", "openFile/create", probe, &out)
	if apiCode(err) != "PreHashMatched" {
		return out, err
	}
	sum, err := contentSHA1(src, ra)
	if err != nil {
		return out, err
	}
	full := req
	full.ContentHash, full.ContentHashName, full.ProofVersion = sum, "sha1", "v1"
	build := func(at string) (any, error) {
		b := full
		var err error
		b.ProofCode, err = proofCode(at, ra, size)
		return b, err
	}
	// The token may change between building the proof and the service
	// checking it; aligo tries once more on a refused proof.
	for try := 0; ; try++ {
		out = createResponse{}
		err = d.callWith(ctx, "other", "openFile/create", build, &out)
		if apiCode(err) != "InvalidRapidProof" || try == 1 {
			break
		}
	}
	if apiCode(err) == "InvalidRapidProof" {
		d.log.Warn().Str("name", req.Name).Msg("the service refused the rapid-upload proof twice; sending the content")
		plain := req
		plain.ContentHashName, plain.ProofVersion = "none", "v1"
		out = createResponse{}
		err = d.call(ctx, "other", "openFile/create", plain, &out)
	}
	return out, err
}

// partUploader sends the parts of one upload session.
type partUploader struct {
	d                         *Drive
	driveID, fileID, uploadID string
	name                      string
	n                         int
	urls                      map[int]string
}

// run sends every part in order. With random access a part is re-read
// for a retry. A one-pass stream is read ahead: the next parts arrive
// while this one goes, so the client's upload and ours overlap, holding
// streamParts parts in memory at most.
func (pu *partUploader) run(ctx context.Context, src drivers.UploadSource, ra io.ReaderAt, size, ps int64) error {
	if ra != nil {
		for i := 1; i <= pu.n; i++ {
			off := int64(i-1) * ps
			ln := min(ps, size-off)
			if err := pu.part(ctx, i, ln, func() io.Reader { return io.NewSectionReader(ra, off, ln) }); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	parts := readAhead(ctx, src, size, ps, pu.n)
	defer func() {
		cancel()
		for range parts { // the reader stops within one read
		}
	}()
	for i := 1; i <= pu.n; i++ {
		p, ok := <-parts
		if !ok {
			return ctx.Err()
		}
		if p.err != nil {
			return fmt.Errorf("aliyun upload %q: the content ended before %d bytes: %w", pu.name, size, p.err)
		}
		if err := pu.part(ctx, i, int64(len(p.b)), func() io.Reader { return bytes.NewReader(p.b) }); err != nil {
			return err
		}
		p.free()
	}
	return nil
}

// readPart is one part of a one-pass stream, read whole (or the reason
// it could not be).
type readPart struct {
	b    []byte
	err  error
	free func() // gives b back for a later part
}

// readAhead reads n parts of ps bytes (the last one shorter) from src in
// its own goroutine, into streamParts buffers in turn, as far ahead of the
// part being sent as they allow. It reads in steps of a megabyte and
// stops between two once ctx ends, so a failed upload does not wait for a
// whole part of a slow client's body.
func readAhead(ctx context.Context, src io.Reader, size, ps int64, n int) <-chan readPart {
	const step = 1 << 20
	parts := make(chan readPart)
	free := make(chan []byte, streamParts)
	for range min(n, streamParts) {
		free <- make([]byte, min(ps, size))
	}
	go func() {
		defer close(parts)
		for i := 0; i < n; i++ {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			ln := min(ps, size-int64(i)*ps)
			var err error
			for got := int64(0); got < ln && err == nil; {
				if ctx.Err() != nil {
					return
				}
				k := min(step, ln-got)
				_, err = io.ReadFull(src, buf[got:got+k])
				got += k
			}
			b := buf[:ln]
			select {
			case parts <- readPart{b: b, err: err, free: func() { free <- b[:cap(b)] }}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return parts
}

// part sends part i with retries: transient failures are retried, and
// an expired URL (403) is renewed with getUploadUrl.
func (pu *partUploader) part(ctx context.Context, i int, ln int64, body func() io.Reader) error {
	op := fmt.Sprintf("aliyun upload %q part %d of %d", pu.name, i, pu.n)
	renewals := 0
	return upstream.Do(ctx, pu.d.t.policy, op, func(ctx context.Context) error {
		if u := pu.urls[i]; u == "" || expiresSoon(u) {
			if err := pu.renew(ctx, i); err != nil {
				return err
			}
		}
		err := pu.put(ctx, op, pu.urls[i], ln, body())
		var oe *ossError
		if !errors.As(err, &oe) || oe.Status != http.StatusForbidden {
			return err
		}
		if renewals >= maxURLRenewals {
			return err
		}
		renewals++
		if err := pu.renew(ctx, i); err != nil {
			return err
		}
		return &upstream.Retryable{Err: err, After: time.Millisecond}
	})
}

// renew fetches fresh URLs for part i and every part after it.
func (pu *partUploader) renew(ctx context.Context, from int) error {
	req := uploadRequest{DriveID: pu.driveID, FileID: pu.fileID, UploadID: pu.uploadID}
	for i := from; i <= pu.n; i++ {
		req.PartInfoList = append(req.PartInfoList, partInfo{PartNumber: i})
	}
	var out uploadURLResponse
	if err := pu.d.call(ctx, "other", "openFile/getUploadUrl", req, &out); err != nil {
		return fmt.Errorf("upload %q: %w", pu.name, err)
	}
	for _, p := range out.PartInfoList {
		if p.UploadURL != "" {
			pu.urls[p.PartNumber] = p.UploadURL
		}
	}
	if pu.urls[from] == "" {
		return fmt.Errorf("aliyun upload %q: %w: getUploadUrl gave no URL for part %d", pu.name, drivers.ErrUpstream, from)
	}
	return nil
}

// expiresSoon reads a presigned URL's expiry (Expires or x-oss-expires,
// Unix seconds) and says whether it is within urlMargin.
func expiresSoon(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	q := u.Query()
	for _, k := range []string{"x-oss-expires", "Expires"} {
		if s, err := strconv.ParseInt(q.Get(k), 10, 64); err == nil && s > 0 {
			return time.Until(time.Unix(s, 0)) < urlMargin
		}
	}
	return false
}

// put makes one PUT of a part. The URL is presigned without a
// Content-Type, so none may be sent.
func (pu *partUploader) put(ctx context.Context, op, rawURL string, ln int64, body io.Reader) error {
	if ln == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, rawURL, body)
	if err != nil {
		return fmt.Errorf("%s: bad upload URL", op)
	}
	req.ContentLength = ln
	delete(req.Header, "Content-Type")
	send := pu.d.send
	send.Timeout, send.MaxAnswer = partTimeout, 64<<10
	a, err := send.Send(req, op)
	if err != nil {
		return err
	}
	return classifyPart(op, a)
}
