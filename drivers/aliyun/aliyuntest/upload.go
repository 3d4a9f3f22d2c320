package aliyuntest

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"pandav/internal/fakecloud"
)

const maxParts = 10000

// upload is one multipart upload session. Its file is in the tree from
// openFile/create on, but pending (hidden) until openFile/complete.
type upload struct {
	id, driveID, fileID string
	tree                *fakecloud.Tree
	size                int64
	nParts              int
	blob                *uploadBlob
	inMemory            bool

	mu       sync.Mutex
	done     bool
	parts    map[int]storedPart
	spool    *FileBlob // staging file when !inMemory
	spoolEnd int64
}

type storedPart struct {
	data   []byte // in memory, or
	off, n int64  // a range of the staging file
	etag   string
}

// uploadBlob is a file's content once its upload completes; until then
// the file is pending and no endpoint shows it.
type uploadBlob struct {
	mu    sync.RWMutex
	inner fakecloud.Blob
}

func (b *uploadBlob) get() fakecloud.Blob {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.inner
}

func (b *uploadBlob) set(x fakecloud.Blob) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inner = x
}

func (b *uploadBlob) Size() int64 {
	if in := b.get(); in != nil {
		return in.Size()
	}
	return 0
}

func (b *uploadBlob) ReadAt(p []byte, off int64) (int, error) {
	if in := b.get(); in != nil {
		return in.ReadAt(p, off)
	}
	return 0, io.EOF
}

func (b *uploadBlob) SHA1() string {
	if in := b.get(); in != nil {
		return in.SHA1()
	}
	return ""
}

// pending says n is a file whose upload has not completed.
func pending(n fakecloud.Node) bool {
	b, ok := n.Blob.(*uploadBlob)
	return ok && b.get() == nil
}

// ProofCode is the rapid-upload proof for content b sent with accessToken:
// MD5(token)'s first 16 hex digits as a uint64, modulo the size, give the
// offset of 8 bytes, sent in base64.
func ProofCode(accessToken string, b io.ReaderAt, size int64) string {
	if size <= 0 {
		return ""
	}
	sum := md5.Sum([]byte(accessToken))
	v, _ := strconv.ParseUint(hex.EncodeToString(sum[:])[:16], 16, 64)
	off := int64(v % uint64(size))
	buf := make([]byte, min(8, size-off))
	n, _ := b.ReadAt(buf, off)
	return base64.StdEncoding.EncodeToString(buf[:n])
}

// PreHash is the SHA1 hex of content's first 1024 bytes.
func PreHash(b io.ReaderAt, size int64) string {
	buf := make([]byte, min(1024, size))
	n, _ := b.ReadAt(buf, 0)
	sum := sha1.Sum(buf[:n])
	return hex.EncodeToString(sum[:])
}

// eachFile calls fn on every visible file of both drives until fn says
// stop.
func (s *Server) eachFile(fn func(fakecloud.Node) bool) {
	var walk func(t *fakecloud.Tree, id string) bool
	walk = func(t *fakecloud.Tree, id string) bool {
		for _, k := range visibleChildren(t, id) {
			if k.IsDir {
				if !walk(t, k.ID) {
					return false
				}
			} else if !fn(k) {
				return false
			}
		}
		return true
	}
	if walk(s.tree, s.tree.RootID()) {
		walk(s.backup, s.backup.RootID())
	}
}

func (s *Server) findPreHash(size int64, preHash string) bool {
	found := false
	s.eachFile(func(n fakecloud.Node) bool {
		found = n.Size() == size && strings.EqualFold(PreHash(n.Blob, size), preHash)
		return !found
	})
	return found
}

func (s *Server) findContent(size int64, sum string) (fakecloud.Node, bool) {
	var out fakecloud.Node
	found := false
	s.eachFile(func(n fakecloud.Node) bool {
		if n.Size() == size && strings.EqualFold(n.Blob.SHA1(), sum) {
			out, found = n, true
		}
		return !found
	})
	return out, found
}

func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

func (s *Server) createFile(w http.ResponseWriter, r *http.Request, req createRequest) {
	t, ok := s.drive(w, req.DriveID)
	if !ok || !validName(w, req.Name) {
		return
	}
	mode, ok := nameMode(w, req.CheckNameMode)
	if !ok {
		return
	}
	parent, ok := folder(w, t, req.ParentFileID)
	if !ok {
		return
	}
	if req.Size < 0 {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Size", "The input parameter size is not valid.")
		return
	}
	if !s.fits(w, req.Size) {
		return
	}
	nParts := len(req.PartInfoList)
	if nParts > maxParts {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.PartInfoList", "part_info_list is not valid. part count can not over 10000")
		return
	}
	seen := map[int]bool{}
	for _, p := range req.PartInfoList {
		if p.PartNumber < 1 || p.PartNumber > nParts || seen[p.PartNumber] {
			writeErr(w, http.StatusBadRequest, "InvalidParameter.PartInfoList", "part_info_list is not valid. part numbers must run from 1 to the part count")
			return
		}
		seen[p.PartNumber] = true
	}
	if nParts == 0 && req.Size > 0 {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.PartInfoList", "part_info_list is not valid. it is empty")
		return
	}
	if _, ok := clientTime(req.LocalModifiedAt); !ok {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.LocalModifiedAt", "The input parameter local_modified_at is not valid.")
		return
	}
	name := req.Name
	if old, taken := sibling(t, parent.ID, name, ""); taken {
		switch mode {
		case "refuse":
			writeJSON(w, http.StatusOK, created(req.DriveID, old, true))
			return
		case "auto_rename":
			name = freeName(t, parent.ID, name)
		}
	}
	switch {
	case req.PreHash != "":
		if s.findPreHash(req.Size, req.PreHash) {
			writeErr(w, http.StatusConflict, "PreHashMatched", "Pre hash matched.")
			return
		}
	case req.ContentHash != "" && strings.EqualFold(req.ContentHashName, "sha1"):
		src, found := s.findContent(req.Size, req.ContentHash)
		if !found {
			break
		}
		if req.ProofCode != ProofCode(bearer(r), src.Blob, req.Size) {
			writeErr(w, http.StatusBadRequest, "InvalidRapidProof", "The input parameter proof_code is not valid.")
			return
		}
		n, err := t.Put(parent.ID, name, src.Blob, time.Time{})
		if err != nil {
			notFoundFileID(w, parent.ID)
			return
		}
		t.SetModified(n.ID, s.stamp())
		t.SetClientModified(n.ID, mustClientTime(req.LocalModifiedAt))
		u := &upload{id: randHex(16), driveID: req.DriveID, fileID: n.ID, tree: t, size: req.Size, done: true}
		s.mu.Lock()
		s.uploads[u.id] = u
		s.mu.Unlock()
		out := created(req.DriveID, n, false)
		out.RapidUpload, out.UploadID = true, u.id
		writeJSON(w, http.StatusOK, out)
		return
	}
	blob := &uploadBlob{}
	n, err := t.Put(parent.ID, name, blob, time.Time{})
	if err != nil {
		notFoundFileID(w, parent.ID)
		return
	}
	t.SetClientModified(n.ID, mustClientTime(req.LocalModifiedAt))
	u := &upload{
		id: strings.ToUpper(randHex(16)), driveID: req.DriveID, fileID: n.ID, tree: t, size: req.Size,
		nParts: nParts, blob: blob, parts: map[int]storedPart{},
		inMemory: req.Size <= s.options().MemoryUploadMax,
	}
	s.mu.Lock()
	s.uploads[u.id] = u
	s.mu.Unlock()
	out := created(req.DriveID, n, false)
	out.UploadID = u.id
	out.PartInfoList = s.partURLs(u, req.PartInfoList)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) partURLs(u *upload, asked []partInfo) []partInfo {
	out := make([]partInfo, 0, len(asked))
	for _, p := range asked {
		url := s.partURL(u, p.PartNumber)
		out = append(out, partInfo{PartNumber: p.PartNumber, PartSize: p.PartSize, UploadURL: url, InternalUploadURL: url})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartNumber < out[j].PartNumber })
	return out
}

// session finds the upload named by req, answering when there is none.
func (s *Server) session(w http.ResponseWriter, req uploadRequest) (*upload, bool) {
	if _, ok := s.drive(w, req.DriveID); !ok {
		return nil, false
	}
	s.mu.Lock()
	u := s.uploads[req.UploadID]
	s.mu.Unlock()
	if u == nil || u.fileID != req.FileID || u.driveID != req.DriveID {
		writeErr(w, http.StatusBadRequest, "NotFound.UploadId", "The resource upload_id cannot be found. upload_id "+req.UploadID)
		return nil, false
	}
	return u, true
}

func (s *Server) getUploadURL(w http.ResponseWriter, req uploadRequest) {
	u, ok := s.session(w, req)
	if !ok {
		return
	}
	u.mu.Lock()
	done := u.done
	u.mu.Unlock()
	if done {
		writeErr(w, http.StatusBadRequest, "NotFound.UploadId", "The resource upload_id cannot be found. upload_id "+req.UploadID)
		return
	}
	for _, p := range req.PartInfoList {
		if p.PartNumber < 1 || p.PartNumber > u.nParts {
			writeErr(w, http.StatusBadRequest, "InvalidParameter.PartNumber", "The input parameter part_number is not valid.")
			return
		}
	}
	writeJSON(w, http.StatusOK, uploadURLResponse{
		DriveID: u.driveID, FileID: u.fileID, UploadID: u.id,
		CreatedAt: time.Now().UTC().Format(timeFormat), PartInfoList: s.partURLs(u, req.PartInfoList),
	})
}

func (s *Server) listUploadedParts(w http.ResponseWriter, req uploadRequest) {
	u, ok := s.session(w, req)
	if !ok {
		return
	}
	out := uploadedPartsResponse{DriveID: u.driveID, FileID: u.fileID, UploadID: u.id, UploadedParts: []partInfo{}}
	u.mu.Lock()
	for num, p := range u.parts {
		out.UploadedParts = append(out.UploadedParts, partInfo{PartNumber: num, PartSize: p.size(), Etag: p.etag})
	}
	u.mu.Unlock()
	sort.Slice(out.UploadedParts, func(i, j int) bool { return out.UploadedParts[i].PartNumber < out.UploadedParts[j].PartNumber })
	writeJSON(w, http.StatusOK, out)
}

func (p storedPart) size() int64 {
	if p.data != nil {
		return int64(len(p.data))
	}
	return p.n
}

func (s *Server) complete(w http.ResponseWriter, req uploadRequest) {
	u, ok := s.session(w, req)
	if !ok {
		return
	}
	u.mu.Lock()
	if !u.done {
		var total int64
		for i := 1; i <= u.nParts; i++ {
			p, ok := u.parts[i]
			if !ok {
				u.mu.Unlock()
				writeErr(w, http.StatusBadRequest, "InvalidParameter.PartInfoList", "part "+itoa(int64(i))+" has not been uploaded")
				return
			}
			total += p.size()
		}
		if total != u.size {
			u.mu.Unlock()
			writeErr(w, http.StatusBadRequest, "InvalidParameter.Size", "the parts add up to "+itoa(total)+" bytes, not the size "+itoa(u.size)+" given at create")
			return
		}
		blob, err := s.assemble(u)
		if err != nil {
			u.mu.Unlock()
			writeErr(w, http.StatusInternalServerError, "InternalError", "assembling the parts failed")
			return
		}
		u.blob.set(blob)
		u.tree.SetModified(u.fileID, s.stamp())
		u.done, u.parts, u.spool = true, nil, nil
	}
	u.mu.Unlock()
	n, err := u.tree.Get(u.fileID)
	if err != nil {
		notFoundFileID(w, u.fileID)
		return
	}
	writeJSON(w, http.StatusOK, item(u.driveID, u.tree, n))
}

// assemble joins the parts in order; u.mu is held.
func (s *Server) assemble(u *upload) (fakecloud.Blob, error) {
	if u.inMemory {
		buf := make([]byte, 0, u.size)
		for i := 1; i <= u.nParts; i++ {
			buf = append(buf, u.parts[i].data...)
		}
		return fakecloud.BytesBlob(buf), nil
	}
	if u.spool == nil { // no bytes at all
		return fakecloud.BytesBlob(nil), nil
	}
	inOrder := true
	var off int64
	for i := 1; i <= u.nParts; i++ {
		p := u.parts[i]
		inOrder = inOrder && p.off == off
		off += p.n
	}
	if inOrder {
		return u.spool, u.spool.seal(u.size)
	}
	fb, err := s.newFileBlob()
	if err != nil {
		return nil, err
	}
	var pos int64
	for i := 1; i <= u.nParts; i++ {
		p := u.parts[i]
		n, err := io.Copy(io.NewOffsetWriter(fb.f, pos), io.NewSectionReader(u.spool.f, p.off, p.n))
		if err != nil {
			fb.Close()
			return nil, err
		}
		pos += n
	}
	u.spool.Close()
	return fb, fb.seal(u.size)
}

// partETag is the part's ETag, as OSS gives it: the quoted MD5.
func partETag(sum []byte) string { return `"` + strings.ToUpper(hex.EncodeToString(sum)) + `"` }

// mustClientTime is clientTime of a value the create call already checked.
func mustClientTime(s string) time.Time {
	t, _ := clientTime(s)
	return t
}

// clientTimeLayout is the one form the Open API takes local_modified_at
// in (docs/protocols/aliyun.md §5, upload step 1): UTC, milliseconds, a Z.
const clientTimeLayout = "2006-01-02T15:04:05.000Z"

// clientTime reads the local_modified_at a client sent; "" is none (the
// zero time, so now). ok is false for any other form, which the service
// refuses.
func clientTime(s string) (t time.Time, ok bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(clientTimeLayout, s)
	return t.UTC(), err == nil
}
