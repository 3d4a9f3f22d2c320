package aliyuntest

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The object store side of uploads: parts are PUT to presigned URLs in
// OSS's V1 style (Expires, OSSAccessKeyId, Signature). The signature
// covers the Content-Type header, so a client that sends one gets 403
// SignatureDoesNotMatch, as the real OSS answers.

// SetUploadURLTTL sets the lifetime of part upload URLs issued from now on.
func (s *Server) SetUploadURLTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.UploadURLTTL = d
}

// ExpireUploadURLs makes every part upload URL issued so far answer 403
// AccessDenied "Request has expired.".
func (s *Server) ExpireUploadURLs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urlsBefore = s.urlSeq
}

// UploadedBytes is how many content bytes part PUTs have delivered so far.
func (s *Server) UploadedBytes() int64 { return s.uploadBytes.Load() }

func ossResource(drive, file, uploadID string, part int, seq int64) string {
	return "/" + drive + "/" + file + "?partNumber=" + strconv.Itoa(part) + "&seq=" + itoa(seq) + "&uploadId=" + uploadID
}

// ossSignature is V1's HMAC over the verb, Content-MD5, Content-Type,
// Expires and the resource.
func (s *Server) ossSignature(contentType string, expires int64, resource string) string {
	m := hmac.New(sha1.New, s.signKey)
	m.Write([]byte("PUT\n\n" + contentType + "\n" + itoa(expires) + "\n" + resource))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) partURL(u *upload, part int) string {
	s.mu.Lock()
	s.urlSeq++
	seq := s.urlSeq
	ttl := s.opts.UploadURLTTL
	s.mu.Unlock()
	exp := time.Now().Add(ttl)
	expUnix := (exp.UnixNano() + int64(time.Second) - 1) / int64(time.Second)
	q := url.Values{}
	q.Set("partNumber", strconv.Itoa(part))
	q.Set("uploadId", u.id)
	q.Set("seq", itoa(seq))
	q.Set("Expires", itoa(expUnix))
	q.Set("OSSAccessKeyId", accessKeyID)
	q.Set("Signature", s.ossSignature("", expUnix, ossResource(u.driveID, u.fileID, u.id, part, seq)))
	return s.hs.URL + "/oss/" + u.driveID + "/" + u.fileID + "?" + q.Encode()
}

// countingReader adds what it reads to the server's upload byte count.
type countingReader struct {
	r io.Reader
	s *Server
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.uploadBytes.Add(int64(n))
	return n, err
}

func (s *Server) handleOSSPut(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, "oss/put") {
		return
	}
	drive, file := r.PathValue("drive"), r.PathValue("file")
	q := r.URL.Query()
	part, err1 := strconv.Atoi(q.Get("partNumber"))
	seq, err2 := strconv.ParseInt(q.Get("seq"), 10, 64)
	expires, err3 := strconv.ParseInt(q.Get("Expires"), 10, 64)
	uploadID := q.Get("uploadId")
	want := s.ossSignature(r.Header.Get("Content-Type"), expires, ossResource(drive, file, uploadID, part, seq))
	if err1 != nil || err2 != nil || err3 != nil || q.Get("OSSAccessKeyId") != accessKeyID ||
		!hmac.Equal([]byte(q.Get("Signature")), []byte(want)) {
		writeOSSErr(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", "")
		return
	}
	s.mu.Lock()
	revoked := seq <= s.urlsBefore
	u := s.uploads[uploadID]
	s.mu.Unlock()
	exp := time.Unix(expires, 0)
	if revoked || !time.Now().Before(exp) {
		writeOSSErr(w, http.StatusForbidden, "AccessDenied", "Request has expired.", expiredXML(exp))
		return
	}
	if u == nil || u.fileID != file || u.driveID != drive {
		writeOSSErr(w, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", "")
		return
	}
	// One part at a time per upload, which is all the real service
	// promises (listUploadedParts says parallelUpload:false).
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.done:
		writeOSSErr(w, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", "")
		return
	case part < 1 || part > u.nParts:
		writeOSSErr(w, http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.", "")
		return
	}
	if _, ok := u.parts[part]; ok {
		writeOSSErr(w, http.StatusConflict, "PartAlreadyExist", "Part already exist.", "")
		return
	}
	body := io.LimitReader(countingReader{r.Body, s}, u.size+1)
	h := md5.New()
	var p storedPart
	if u.inMemory {
		data, err := io.ReadAll(io.TeeReader(body, h))
		if err != nil {
			return // the client went away; nothing is stored
		}
		p.data = data
		if p.data == nil {
			p.data = []byte{}
		}
	} else {
		if u.spool == nil {
			fb, err := s.newFileBlob()
			if err != nil {
				writeOSSErr(w, http.StatusInternalServerError, "InternalError", "cannot stage the part", "")
				return
			}
			u.spool = fb
		}
		n, err := io.Copy(io.MultiWriter(io.NewOffsetWriter(u.spool.f, u.spoolEnd), h), body)
		if err != nil {
			return // the partial bytes past spoolEnd are overwritten by the next part
		}
		p.off, p.n = u.spoolEnd, n
		u.spoolEnd += n
	}
	if p.size() > u.size {
		writeOSSErr(w, http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.", "")
		return
	}
	p.etag = partETag(h.Sum(nil))
	u.parts[part] = p
	w.Header().Set("ETag", p.etag)
	w.WriteHeader(http.StatusOK)
}

// FileBlob is content held in a temp file, for uploads too big for
// memory. Close removes the file; the server closes its own on Close.
type FileBlob struct {
	f    *os.File
	n    int64
	sum  string
	once sync.Once
}

func (s *Server) newFileBlob() (*FileBlob, error) {
	f, err := os.CreateTemp("", "aliyuntest-upload-*")
	if err != nil {
		return nil, err
	}
	fb := &FileBlob{f: f}
	s.mu.Lock()
	s.spools = append(s.spools, fb)
	s.mu.Unlock()
	return fb, nil
}

// seal fixes the size at n and hashes the content.
func (b *FileBlob) seal(n int64) error {
	b.n = n
	h := sha1.New()
	if _, err := io.Copy(h, io.NewSectionReader(b.f, 0, n)); err != nil {
		return err
	}
	b.sum = strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	return nil
}

func (b *FileBlob) Size() int64  { return b.n }
func (b *FileBlob) SHA1() string { return b.sum }

func (b *FileBlob) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.n {
		return 0, io.EOF
	}
	want := p
	if rest := b.n - off; int64(len(p)) > rest {
		want = p[:rest]
	}
	n, err := b.f.ReadAt(want, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	if errors.Is(err, os.ErrClosed) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close removes the temp file.
func (b *FileBlob) Close() error {
	var err error
	b.once.Do(func() {
		b.f.Close()
		err = os.Remove(b.f.Name())
	})
	return err
}
