package aliyuntest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// Share links (docs/protocols/aliyun.md §4): a folder of the Sharer's drive shared
// under an id and an optional password, share tokens that die before
// their stated expires_in, listings without Authorization, a direct
// download that is dead by default (410 Gone or 429 ParamFlowException,
// alternately), and the batch /file/copy that saves a shared file into
// the user's drive.

// share is one share link: of a folder of the Sharer's drive (AddShare),
// or of the user's own files, made with share_link/create (sharelinks.go).
type share struct {
	id, pwd string
	// owner is the drive the files are in, driveID its id and creator
	// its user.
	owner   *fakecloud.Tree
	driveID string
	creator string
	fileIDs []string
	state   string    // enabled | cancelled | expired | forbidden
	expires time.Time // zero: never; past it the share answers expired
	// own: made by the user through share_link/create, so listed by
	// share_link/list.
	own                     bool
	description             string
	created, updated        time.Time
	views, saves, downloads int64
}

// stateAt is the share's state, its expiration included.
func (sh *share) stateAt(now time.Time) string {
	if sh.state == "enabled" && !sh.expires.IsZero() && !now.Before(sh.expires) {
		return "expired"
	}
	return sh.state
}

type shareToken struct {
	shareID string
	exp     time.Time
}

// AddShare shares folderID, a folder of Sharer, as shareID with the
// password pwd ("" for none).
func (s *Server) AddShare(shareID, pwd, folderID string) error {
	n, err := s.sharer.Get(folderID)
	if err != nil || !n.IsDir || folderID == s.sharer.RootID() {
		return fmt.Errorf("aliyuntest: AddShare: %q is not a folder below the sharer's root", folderID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.web.shares[shareID] = &share{id: shareID, pwd: pwd, owner: s.sharer, driveID: sharerDriveID, creator: s.web.sharerUserID,
		fileIDs: []string{folderID}, state: "enabled", created: now, updated: now}
	return nil
}

func (s *Server) setShareState(shareID, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.web.shares[shareID]; ok {
		sh.state = state
	}
}

// CancelShare cancels a share, as its creator can.
func (s *Server) CancelShare(shareID string) { s.setShareState(shareID, "cancelled") }

// ExpireShare makes a share reach its expiration.
func (s *Server) ExpireShare(shareID string) { s.setShareState(shareID, "expired") }

// ForbidShare makes the service forbid a share (a copyright complaint).
func (s *Server) ForbidShare(shareID string) { s.setShareState(shareID, "forbidden") }

// SetShareTokenTTL sets how long share tokens issued from now on really
// live; the answer still says expires_in 7200, as the service's does.
func (s *Server) SetShareTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web.shareTTL = d
}

// ExpireShareTokens makes every share token issued so far answer 401
// ShareLinkTokenInvalid.
func (s *Server) ExpireShareTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for k, st := range s.web.shareTokens {
		st.exp = past
		s.web.shareTokens[k] = st
	}
}

// SetShareDownloadDead makes get_share_link_download_url dead (the
// default, as the service is since 2024) or working.
func (s *Server) SetShareDownloadDead(dead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web.shareAlive = !dead
}

// SharerDriveID is the drive id of the Sharer's drive.
func (s *Server) SharerDriveID() string { return sharerDriveID }

// shareErr writes the answer for a share that cannot be used; false
// means the share is usable.
func shareErr(w http.ResponseWriter, sh *share) bool {
	switch {
	case sh == nil:
		writeErr(w, http.StatusNotFound, "NotFound.ShareLink", "The resource share_link cannot be found.")
	case sh.stateAt(time.Now()) == "cancelled":
		writeErr(w, http.StatusBadRequest, "ShareLink.Cancelled", "share_link is cancelled by the creator")
	case sh.stateAt(time.Now()) == "expired":
		writeErr(w, http.StatusBadRequest, "ShareLink.Expired", "share_link is expired")
	case sh.stateAt(time.Now()) == "forbidden":
		writeErr(w, http.StatusForbidden, "ShareLink.Forbidden", "share_link is forbidden")
	default:
		return false
	}
	return true
}

// lookupShare returns a copy of the share, nil if unknown.
func (s *Server) lookupShare(id string) *share {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.web.shares[id]
	if !ok {
		return nil
	}
	c := *sh
	c.fileIDs = slices.Clone(sh.fileIDs)
	return &c
}

func (s *Server) handleShareInfo(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, endpointOf(r)) {
		return
	}
	body, ok := readBody(w, r)
	var req struct {
		ShareID string `json:"share_id"`
	}
	if !ok || !decode(w, body, &req) {
		return
	}
	if req.ShareID == "" {
		req.ShareID = r.URL.Query().Get("share_id")
	}
	sh := s.lookupShare(req.ShareID)
	if shareErr(w, sh) {
		return
	}
	info := shareInfo{CreatorID: sh.creator, CreatorName: "分***者", Vip: "non-vip", HasPwd: sh.pwd != "",
		UpdatedAt: sh.updated.UTC().Format(timeFormat), FileInfos: []shareFileInfo{}}
	if !sh.expires.IsZero() {
		info.Expiration = sh.expires.UTC().Format(timeFormat)
	}
	for _, id := range sh.fileIDs {
		if n, ok := live(sh.owner, id); ok {
			typ := "file"
			if n.IsDir {
				typ = "folder"
			}
			info.FileInfos = append(info.FileInfos, shareFileInfo{Type: typ, FileID: n.ID, FileName: n.Name})
		}
	}
	if len(info.FileInfos) == 0 {
		writeErr(w, http.StatusNotFound, "NotFound.ShareLink", "The resource share_link cannot be found.")
		return
	}
	info.ShareName, info.DisplayName, info.FileCount = info.FileInfos[0].FileName, info.FileInfos[0].FileName, len(info.FileInfos)
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleShareToken(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, endpointOf(r)) {
		return
	}
	body, ok := readBody(w, r)
	var req struct {
		ShareID  string `json:"share_id"`
		SharePwd string `json:"share_pwd"`
	}
	if !ok || !decode(w, body, &req) {
		return
	}
	sh := s.lookupShare(req.ShareID)
	if shareErr(w, sh) {
		return
	}
	if req.SharePwd != sh.pwd {
		writeErr(w, http.StatusBadRequest, "InvalidResource.SharePwd", "The resource share_pwd is not valid.")
		return
	}
	s.mu.Lock()
	ttl := s.web.shareTTL
	tok := s.jwt("share_link", ttl)
	s.web.shareTokens[tok] = shareToken{shareID: sh.id, exp: time.Now().Add(ttl)}
	if live := s.web.shares[sh.id]; live != nil {
		live.views++
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, shareTokenResponse{
		ShareToken: tok, ExpiresIn: 7200, ExpireTime: time.Now().Add(7200 * time.Second).UTC().Format(timeFormat),
	})
}

var errShareToken = errors.New("ShareLinkTokenInvalid")

// shareByToken checks the x-share-token for shareID; on failure it
// writes the service's answer through write.
func (s *Server) shareByToken(r *http.Request, shareID string, write func(status int, code, msg string)) (*share, bool) {
	tok := r.Header.Get("x-share-token")
	if tok == "" {
		write(http.StatusForbidden, "ForbiddenNoPermission.File", "User not authorized to operate on the specified APIs.")
		return nil, false
	}
	s.mu.Lock()
	st, known := s.web.shareTokens[tok]
	s.mu.Unlock()
	if !known || !time.Now().Before(st.exp) || (shareID != "" && st.shareID != shareID) {
		write(http.StatusUnauthorized, errShareToken.Error(), "ShareLinkToken is invalid. expired")
		return nil, false
	}
	sh := s.lookupShare(st.shareID)
	rec := &errRecorder{}
	if shareErr(rec, sh) {
		write(rec.status, rec.body.Code, rec.body.Message)
		return nil, false
	}
	return sh, true
}

// errRecorder catches the error shareErr writes, for sub-responses.
type errRecorder struct {
	status int
	hdr    http.Header
	body   apiError
	buf    []byte
}

func (e *errRecorder) Header() http.Header {
	if e.hdr == nil {
		e.hdr = http.Header{}
	}
	return e.hdr
}
func (e *errRecorder) WriteHeader(status int) { e.status = status }
func (e *errRecorder) Write(p []byte) (int, error) {
	e.buf = append(e.buf, p...)
	json.Unmarshal(e.buf, &e.body)
	return len(p), nil
}

// inShare finds id in the share: one of its files or folders, or below
// one of its folders.
func (s *Server) inShare(sh *share, id string) (fakecloud.Node, bool) {
	n, ok := live(sh.owner, id)
	if !ok {
		return fakecloud.Node{}, false
	}
	for _, top := range sh.fileIDs {
		if within(sh.owner, id, top) {
			return n, true
		}
	}
	return fakecloud.Node{}, false
}

func (s *Server) shareList(w http.ResponseWriter, r *http.Request, shareID string, req listRequest) {
	sh, ok := s.shareByToken(r, shareID, func(status int, code, msg string) { writeErr(w, status, code, msg) })
	if !ok {
		return
	}
	decorate := func(it *fileItem) { it.ShareID = sh.id }
	if req.ParentFileID == "root" {
		out := listResponse{Items: []fileItem{}}
		for _, id := range sh.fileIDs {
			if n, ok := live(sh.owner, id); ok {
				it := item(sh.driveID, sh.owner, n)
				it.ParentFileID = "root"
				decorate(&it)
				out.Items = append(out.Items, it)
			}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if n, ok := s.inShare(sh, req.ParentFileID); !ok || !n.IsDir {
		writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.ParentFileID)
		return
	}
	s.listIn(w, sh.owner, sh.driveID, req, decorate)
}

// handleShareDownloadURL is dead unless SetShareDownloadDead(false): then
// it wants the login, the share token, expire_sec up to 600, and issues a
// link that demands a Referer.
func (s *Server) handleShareDownloadURL(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, endpointOf(r)) || !s.webAuthorize(w, r) {
		return
	}
	body, ok := readBody(w, r)
	var req struct {
		DriveID   string `json:"drive_id"`
		FileID    string `json:"file_id"`
		ShareID   string `json:"share_id"`
		ExpireSec int64  `json:"expire_sec"`
	}
	if !ok || !decode(w, body, &req) {
		return
	}
	sh, ok := s.shareByToken(r, req.ShareID, func(status int, code, msg string) { writeErr(w, status, code, msg) })
	if !ok {
		return
	}
	s.mu.Lock()
	alive := s.web.shareAlive
	if !alive {
		s.web.deadAnswers++
	}
	n := s.web.deadAnswers
	s.mu.Unlock()
	if !alive {
		if n%2 == 1 {
			writeJSON(w, http.StatusGone, apiError{Code: "Gone", Message: "The requested API is no longer available."})
			return
		}
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"code": "ParamFlowException", "message": "127.0.0.1", "resultCode": "ParamFlowException"})
		return
	}
	if req.ExpireSec > 600 {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.ExpireSec", "expire_sec should be less or equal than 600")
		return
	}
	f, ok := s.inShare(sh, req.FileID)
	if !ok || f.IsDir {
		writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.FileID)
		return
	}
	s.countShare(sh.id, func(live *share) { live.downloads++ })
	u, exp := s.issueLink(sh.driveID, f, max(req.ExpireSec, 600), "referer")
	writeJSON(w, http.StatusOK, shareDownloadURLResponse{DownloadURL: u, URL: u, Expiration: exp})
}

// batch runs each sub-request; the share copy and the cancel of share
// links are emulated.
func (s *Server) batch(w http.ResponseWriter, r *http.Request, body []byte) {
	var req batchRequest
	if !decode(w, body, &req) {
		return
	}
	if req.Resource != "file" || len(req.Requests) == 0 || len(req.Requests) > 100 {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Requests", "The input parameter requests is not valid.")
		return
	}
	out := batchResponse{Responses: []batchSubResponse{}}
	for _, sub := range req.Requests {
		name := strings.TrimPrefix(sub.URL, "/")
		s.counters.Inc(name)
		res := batchSubResponse{ID: sub.ID}
		fail := func(status int, code, msg string) {
			res.Status = status
			res.Body = apiError{Code: code, Message: msg}
		}
		switch {
		case !strings.EqualFold(sub.Method, http.MethodPost):
			fail(http.StatusBadRequest, "InvalidParameter.Method", "The input parameter method is not valid.")
		case sub.URL == "/file/copy":
			s.shareCopy(r, sub.Body, &res, fail)
		case sub.URL == "/share_link/cancel":
			s.batchCancelShare(sub.Body, &res, fail)
		default:
			fail(http.StatusNotFound, "NotFound.Url", "The resource url cannot be found. "+sub.URL)
		}
		out.Responses = append(out.Responses, res)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) userTree(id string) *fakecloud.Tree {
	switch {
	case id == resourceDriveID && !s.options().NoResourceDrive:
		return s.tree
	case id == backupDriveID:
		return s.backup
	}
	return nil
}

// shareCopy saves a shared file or folder into the user's drive.
func (s *Server) shareCopy(r *http.Request, raw json.RawMessage, res *batchSubResponse, fail func(int, string, string)) {
	var req shareCopyRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.ShareID == "" || req.FileID == "" {
		fail(http.StatusBadRequest, "InvalidParameter", "The input parameter body is not valid.")
		return
	}
	sh, ok := s.shareByToken(r, req.ShareID, fail)
	if !ok {
		return
	}
	n, ok := s.inShare(sh, req.FileID)
	if !ok {
		fail(http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.FileID)
		return
	}
	dst := s.userTree(req.ToDriveID)
	if dst == nil {
		fail(http.StatusNotFound, "NotFound.Drive", "The resource drive cannot be found. drive_id "+req.ToDriveID)
		return
	}
	parent, ok := live(dst, req.ToParentFileID)
	if !ok || !parent.IsDir {
		fail(http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.ToParentFileID)
		return
	}
	s.mu.Lock()
	total := s.totalSpace
	s.mu.Unlock()
	if s.tree.Usage()+s.backup.Usage()+treeBytes(sh.owner, n) > total {
		fail(http.StatusBadRequest, "QuotaExhausted.Drive", "The drive has exceeded its quota.")
		return
	}
	name := n.Name
	if _, taken := sibling(dst, parent.ID, name, ""); taken && req.AutoRename {
		name = freeName(dst, parent.ID, name)
	}
	c, err := copyNode(sh.owner, n, dst, parent.ID, name)
	if err != nil {
		fail(http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.ToParentFileID)
		return
	}
	s.countShare(sh.id, func(live *share) { live.saves++ })
	res.Status = http.StatusCreated
	res.Body = taskResponse{DriveID: req.ToDriveID, FileID: c.ID, AsyncTaskID: s.task(n.IsDir)}
}

// treeBytes is the size of n and everything below it.
func treeBytes(t *fakecloud.Tree, n fakecloud.Node) int64 {
	if !n.IsDir {
		return n.Size()
	}
	var sum int64
	for _, k := range visibleChildren(t, n.ID) {
		sum += treeBytes(t, k)
	}
	return sum
}

// countShare updates the counts of the share id.
func (s *Server) countShare(id string, count func(*share)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh := s.web.shares[id]; sh != nil {
		count(sh)
	}
}
