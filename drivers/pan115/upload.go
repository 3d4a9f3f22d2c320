package pan115

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
)

// preIDSize is how much of the head `preid` hashes.
const preIDSize = 128 << 10

// maxSignRounds bounds the possession proofs one init may ask for.
const maxSignRounds = 4

// UploadNeeds: 115's init takes the whole file's SHA1 before any byte
// goes, and asks for hashes of ranges of its choosing.
func (d *Drive) UploadNeeds() drivers.UploadNeeds {
	return drivers.UploadNeeds{SHA1: true, RandomAccess: true}
}

// Upload creates name in parent from src. Content 115 already holds is
// not sent at all (rapid upload); the rest goes to OSS, and the callback's
// answer describes the new file, so no listing is needed to return it. A
// namesake in parent is left alone: 115 allows duplicates.
func (d *Drive) Upload(ctx context.Context, parent drivers.Entry, name string, src drivers.UploadSource) (drivers.Entry, error) {
	op := fmt.Sprintf("pan115 upload %q", name)
	if err := checkName(op, name); err != nil {
		return drivers.Entry{}, err
	}
	if !parent.IsDir {
		return drivers.Entry{}, fmt.Errorf("%s: parent %s is not a folder", op, parent.ID)
	}
	ra, ok := src.(io.ReaderAt)
	if !ok {
		return drivers.Entry{}, fmt.Errorf("%s: %w: the source must be random-access (spooled to disk): 115 asks for hashes of ranges of it", op, drivers.ErrUnsupported)
	}
	size := src.Size()
	if size > d.o.MaxFileSize {
		return drivers.Entry{}, fmt.Errorf("%s: %w: %d bytes, and 115 takes at most %d", op, drivers.ErrTooLarge, size, d.o.MaxFileSize)
	}
	sum := strings.ToUpper(src.SHA1())
	if sum == "" {
		var err error
		if sum, err = hashRange(ra, 0, size); err != nil {
			return drivers.Entry{}, fmt.Errorf("%s: hashing the source: %w", op, err)
		}
	}
	in, err := d.initUpload(ctx, op, parent.ID, name, size, sum, ra)
	if err != nil {
		return drivers.Entry{}, err
	}
	if in.Status == initDone {
		return d.uploaded(op, string(in.FileID), parent.ID, name, size, sum, string(in.PickCode))
	}
	cb, err := d.ossUpload(ctx, op, &in, ra, size)
	if err != nil {
		return drivers.Entry{}, err
	}
	v := cb.Data.V
	if v.FileName != "" {
		name = v.FileName
	}
	if v.FileSize > 0 {
		size = int64(v.FileSize)
	}
	if v.SHA1 != "" {
		sum = strings.ToUpper(string(v.SHA1))
	}
	return d.uploaded(op, string(v.FileID), parent.ID, name, size, sum, string(v.PickCode))
}

// uploaded is the entry an upload created, from 115's answer rather than a
// listing, which would not show it yet.
func (d *Drive) uploaded(op, id, parent, name string, size int64, sum, pickCode string) (drivers.Entry, error) {
	if id == "" {
		return drivers.Entry{}, fmt.Errorf("%s: %w: 115 named no new file", op, drivers.ErrUpstream)
	}
	e := drivers.Entry{
		ID: id, ParentID: parent, Name: name, Size: size, SHA1: sum,
		ModTime: time.Now().UTC().Truncate(time.Second), Extra: pickCode,
	}
	d.recent.placed(e)
	return e, nil
}

// initUpload runs /open/upload/init until it says "done" (status 2) or
// "send it" (status 1), answering its possession proofs (status 7, or 6
// and 8 after a wrong one) with hashes of the ranges it names, read from
// src.
func (d *Drive) initUpload(ctx context.Context, op, parentID, name string, size int64, sum string, src io.ReaderAt) (initData, error) {
	preid, err := hashRange(src, 0, min(size, preIDSize))
	if err != nil {
		return initData{}, fmt.Errorf("%s: hashing the head: %w", op, err)
	}
	form := url.Values{
		"file_name": {name},
		"file_size": {strconv.FormatInt(size, 10)},
		"target":    {"U_1_" + parentID},
		"fileid":    {sum},
		"preid":     {preid},
		"topupload": {"0"},
	}
	for round := 0; round < maxSignRounds; round++ {
		var r initResp
		if err := d.call(ctx, op, request{method: http.MethodPost, path: "/open/upload/init", form: form}, &r); err != nil {
			return initData{}, err
		}
		in := r.Data.V
		switch in.Status {
		case initDone, initUpload:
			return in, nil
		case initSign, initSignAgain, initSignFail:
			start, end, ok := signRange(string(in.SignCheck), size)
			if !ok || in.SignKey == "" {
				return initData{}, fmt.Errorf("%s: %w: unreadable sign_check %q", op, drivers.ErrUpstream, in.SignCheck)
			}
			val, err := hashRange(src, start, end-start+1)
			if err != nil {
				return initData{}, fmt.Errorf("%s: hashing bytes %d-%d: %w", op, start, end, err)
			}
			form.Set("sign_key", string(in.SignKey))
			form.Set("sign_val", val)
		default:
			return initData{}, fmt.Errorf("%s: %w: upload init status %d (code %d)", op, drivers.ErrUpstream, in.Status, in.Code)
		}
	}
	return initData{}, fmt.Errorf("%s: %w: 115 kept refusing the proof of content", op, drivers.ErrUpstream)
}

// signRange parses sign_check, "start-end" with both ends included.
func signRange(s string, size int64) (start, end int64, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	end, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start || end >= size {
		return 0, 0, false
	}
	return start, end, true
}

// hashRange is the uppercase hex SHA1 of n bytes of src at off.
func hashRange(src io.ReaderAt, off, n int64) (string, error) {
	h := sha1.New()
	// One read per MiB: over a download link each read is a request.
	buf := make([]byte, max(1, min(n, 1<<20)))
	got, err := io.CopyBuffer(h, io.NewSectionReader(src, off, n), buf)
	if err != nil {
		return "", err
	}
	if got != n {
		return "", fmt.Errorf("source ended after %d of %d bytes", got, n)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), nil
}
