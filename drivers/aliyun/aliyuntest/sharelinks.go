package aliyuntest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// The user's own share links (docs/protocols/accounts-offline-shares.md
// §4): create, check_available, list, get, update, cancel (alone or in a
// batch) and get_share_msg on the signed web API, and the Open API's
// createShare. A link made here is a share like AddShare's: the
// anonymous share endpoints and share mounts open it, and it stops
// working when cancelled or past its expiration.

const (
	// shareURLBase is the service's link host.
	shareURLBase = "https://www.alipan.com/s/"
	// shareMsgTail is what the app's message says after the link.
	shareMsgTail = "点击链接保存，或者复制本段内容，打开「阿里云盘」APP ，无需下载极速在线查看，视频原画倍速播放。"
	// maxShareFiles is the most files one link shares: the Open API's
	// documented 1–100; the web API's limit is unknown.
	maxShareFiles = 100
	// maxShareListLimit is share_link/list's largest limit.
	maxShareListLimit = 100
)

// unshareableExt are file types the emulator refuses to share, as the
// service refuses some: its captured check_available names a .qrc.
var unshareableExt = map[string]bool{"qrc": true}

// sharePwdRe is a code the service takes: four letters or digits.
var sharePwdRe = regexp.MustCompile(`^[0-9A-Za-z]{4}$`)

func (s *Server) shareLinkRoutes(mux *http.ServeMux) {
	for p, h := range map[string]func(http.ResponseWriter, *http.Request, []byte){
		"/adrive/v2/share_link/create":          s.shareCreate,
		"/adrive/v2/share_link/check_available": s.shareCheckAvailable,
		"/adrive/v3/share_link/list":            s.shareLinkList,
		"/adrive/v2/share_link/get":             s.shareLinkGet,
		"/adrive/v2/share_link/update":          s.shareLinkUpdate,
		"/v2/share_link/update":                 s.shareLinkUpdate,
		"/adrive/v2/share_link/cancel":          s.shareLinkCancel,
		"/adrive/v2/share_link/get_share_msg":   s.shareLinkMsg,
	} {
		mux.HandleFunc("POST "+p, s.webHandler(h))
	}
}

// newShareID is an id in the service's shape: 11 letters and digits.
func newShareID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	h := randHex(11)
	b := make([]byte, 11)
	for i := range b {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		b[i] = alphabet[int(v)%len(alphabet)]
	}
	return string(b)
}

// shareRuleError checks a code and an expiration as create and update
// do; it returns the refusal's code and message, or "".
func shareRuleError(pwd, expiration string, now time.Time) (code, msg string, expires time.Time) {
	if pwd != "" && !sharePwdRe.MatchString(pwd) {
		return "InvalidParameter.SharePwd", "The input parameter share_pwd is not valid. share_pwd must be 4 letters or digits", time.Time{}
	}
	if expiration == "" {
		return "", "", time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, expiration)
	if err != nil {
		return "InvalidParameter.Expiration", "The input parameter expiration is not valid.", time.Time{}
	}
	if !t.After(now) {
		return "InvalidParameter.Expiration", "The input parameter expiration is not valid. expiration should be later than now", time.Time{}
	}
	return "", "", t
}

// ownFiles resolves a create's files in the user's drive driveID; on
// failure it writes the answer.
func (s *Server) ownFiles(w http.ResponseWriter, driveID string, ids []string) (*fakecloud.Tree, []fakecloud.Node, bool) {
	t := s.userTree(driveID)
	if t == nil {
		writeErr(w, http.StatusNotFound, "NotFound.Drive", "The resource drive cannot be found. drive_id "+driveID)
		return nil, nil, false
	}
	if len(ids) == 0 || len(ids) > maxShareFiles {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.FileIdList", "The input parameter file_id_list is not valid. size of file_id_list should be 1 to "+itoa(maxShareFiles))
		return nil, nil, false
	}
	var nodes []fakecloud.Node
	for _, id := range ids {
		if id == t.RootID() {
			writeErr(w, http.StatusBadRequest, "InvalidParameter.FileIdList", "The input parameter file_id_list is not valid. the root folder cannot be shared")
			return nil, nil, false
		}
		n, ok := live(t, id)
		if !ok {
			writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+id)
			return nil, nil, false
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if unshareable(n) {
			writeErr(w, http.StatusForbidden, "FileShareNotAllowed", "这个文件禁止分享")
			return nil, nil, false
		}
	}
	return t, nodes, true
}

func unshareable(n fakecloud.Node) bool {
	return !n.IsDir && unshareableExt[strings.ToLower(strings.TrimPrefix(path.Ext(n.Name), "."))]
}

// newOwnShare records a link of the user's nodes in t.
func (s *Server) newOwnShare(t *fakecloud.Tree, driveID string, nodes []fakecloud.Node, pwd string, expires time.Time, description string) *share {
	now := time.Now()
	sh := &share{id: newShareID(), pwd: pwd, owner: t, driveID: driveID, creator: s.userID, state: "enabled",
		expires: expires, own: true, description: description, created: now, updated: now}
	for _, n := range nodes {
		sh.fileIDs = append(sh.fileIDs, n.ID)
	}
	s.mu.Lock()
	s.web.shares[sh.id] = sh
	s.mu.Unlock()
	return sh
}

func (s *Server) shareCreate(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req shareCreateRequest
	if !decode(w, body, &req) {
		return
	}
	if sh, ok := s.createOwn(w, req.DriveID, req.FileIDList, req.SharePwd, req.Expiration, req.Description); ok {
		writeJSON(w, http.StatusOK, s.shareLinkOf(sh))
	}
}

// openCreateShare is the Open API's createShare: camelCase in, a short
// answer out.
func (s *Server) openCreateShare(w http.ResponseWriter, body []byte) {
	var req openCreateShareRequest
	if !decode(w, body, &req) {
		return
	}
	sh, ok := s.createOwn(w, req.DriveID, req.FileIDList, req.SharePwd, req.Expiration, "")
	if !ok {
		return
	}
	l := s.shareLinkOf(sh)
	writeJSON(w, http.StatusOK, openCreateShareResponse{ShareID: l.ShareID, Expiration: l.Expiration, Expired: l.Expired,
		SharePwd: l.SharePwd, ShareURL: l.ShareURL, Creator: l.Creator, Status: l.Status, CreatedAt: l.CreatedAt, UpdateAt: l.UpdatedAt})
}

// createOwn checks a create as both APIs do and records the link; on
// failure it writes the answer.
func (s *Server) createOwn(w http.ResponseWriter, driveID string, ids []string, pwd, expiration, description string) (*share, bool) {
	code, msg, expires := shareRuleError(pwd, expiration, time.Now())
	if code != "" {
		writeErr(w, http.StatusBadRequest, code, msg)
		return nil, false
	}
	t, nodes, ok := s.ownFiles(w, driveID, ids)
	if !ok {
		return nil, false
	}
	return s.newOwnShare(t, driveID, nodes, pwd, expires, description), true
}

// shareMessages are the share's short and full texts, as the app writes
// them: the code follows the link.
func shareMessages(name, url, pwd string) (short, full string) {
	code := ""
	if pwd != "" {
		code = " 提取码: " + pwd
	}
	return "「" + name + "」，" + shareMsgTail, "「" + name + "」" + url + code + "\n" + shareMsgTail
}

// shareLinkOf is sh as the management endpoints answer it.
func (s *Server) shareLinkOf(sh *share) shareLinkItem {
	s.mu.Lock()
	c := *sh
	s.mu.Unlock()
	now := time.Now()
	l := shareLinkItem{
		ShareID: c.id, SharePwd: c.pwd, ShareURL: shareURLBase + c.id, Description: c.description,
		Creator: c.creator, DriveID: c.driveID, FileIDList: append([]string{}, c.fileIDs...),
		PreviewCount: c.views, SaveCount: c.saves, DownloadCount: c.downloads,
		Status: "enabled", CreatedAt: c.created.UTC().Format(timeFormat), UpdatedAt: c.updated.UTC().Format(timeFormat),
		Popularity: c.views + c.saves,
	}
	l.PopularityStr = itoa(l.Popularity)
	switch st := c.stateAt(now); st {
	case "expired":
		l.Expired = true
	case "enabled":
	default:
		l.Status = st
	}
	if !c.expires.IsZero() {
		l.Expiration = c.expires.UTC().Format(timeFormat)
	}
	for _, id := range c.fileIDs {
		if n, ok := live(c.owner, id); ok {
			it := item(c.driveID, c.owner, n)
			l.FirstFile, l.FileID, l.ShareName = &it, n.ID, n.Name
			break
		}
	}
	l.DisplayName = l.ShareName
	l.ShareMsg, l.FullShareMsg = shareMessages(l.ShareName, l.ShareURL, c.pwd)
	return l
}

func (s *Server) shareCheckAvailable(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req checkAvailableRequest
	if !decode(w, body, &req) {
		return
	}
	out := checkAvailableResponse{InvalidItems: []fileItem{}}
	for _, f := range req.DriveFileList {
		t := s.userTree(f.DriveID)
		if t == nil {
			writeErr(w, http.StatusNotFound, "NotFound.Drive", "The resource drive cannot be found. drive_id "+f.DriveID)
			return
		}
		n, ok := live(t, f.FileID)
		if !ok {
			writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+f.FileID)
			return
		}
		if unshareable(n) {
			out.InvalidItems = append(out.InvalidItems, item(f.DriveID, t, n))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// ownShare finds the user's own link; on failure it writes the answer.
func (s *Server) ownShare(w http.ResponseWriter, id string) (*share, bool) {
	s.mu.Lock()
	sh := s.web.shares[id]
	s.mu.Unlock()
	if sh == nil || !sh.own {
		writeErr(w, http.StatusNotFound, "NotFound.ShareLink", "The resource share_link cannot be found.")
		return nil, false
	}
	return sh, true
}

func (s *Server) shareLinkGet(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req shareIDRequest
	if !decode(w, body, &req) {
		return
	}
	if sh, ok := s.ownShare(w, req.ShareID); ok {
		writeJSON(w, http.StatusOK, s.shareLinkOf(sh))
	}
}

func (s *Server) shareLinkMsg(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req shareIDRequest
	if !decode(w, body, &req) {
		return
	}
	if sh, ok := s.ownShare(w, req.ShareID); ok {
		l := s.shareLinkOf(sh)
		writeJSON(w, http.StatusOK, shareMsgResponse{FullShareMsg: l.FullShareMsg, ShareURL: l.ShareURL})
	}
}

// shareLinkUpdate changes what the body names. A new code ends every
// share token issued under the old one, so that whoever had only the
// old code must present the new one.
func (s *Server) shareLinkUpdate(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req shareUpdateRequest
	if !decode(w, body, &req) {
		return
	}
	sh, ok := s.ownShare(w, req.ShareID)
	if !ok {
		return
	}
	s.mu.Lock()
	state := sh.state
	s.mu.Unlock()
	if state == "cancelled" {
		writeErr(w, http.StatusBadRequest, "ShareLink.Cancelled", "share_link is cancelled by the creator")
		return
	}
	pwd, expiration := "", ""
	if req.SharePwd != nil {
		pwd = *req.SharePwd
	}
	if req.Expiration != nil {
		expiration = *req.Expiration
	}
	code, msg, expires := shareRuleError(pwd, expiration, time.Now())
	if code != "" {
		writeErr(w, http.StatusBadRequest, code, msg)
		return
	}
	s.mu.Lock()
	if req.SharePwd != nil && pwd != sh.pwd {
		sh.pwd = pwd
		for tok, st := range s.web.shareTokens {
			if st.shareID == sh.id {
				st.exp = time.Now().Add(-time.Second)
				s.web.shareTokens[tok] = st
			}
		}
	}
	if req.Expiration != nil {
		sh.expires = expires
	}
	if req.Description != nil {
		sh.description = *req.Description
	}
	sh.updated = time.Now()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.shareLinkOf(sh))
}

// cancelOwn cancels the user's link id; it returns the refusal, or "".
func (s *Server) cancelOwn(id string) (status int, code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.web.shares[id]
	if sh == nil || !sh.own {
		return http.StatusNotFound, "NotFound.ShareLink", "The resource share_link cannot be found."
	}
	sh.state, sh.updated = "cancelled", time.Now()
	return 0, "", ""
}

// shareLinkCancel answers 200 with an empty body.
func (s *Server) shareLinkCancel(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req shareIDRequest
	if !decode(w, body, &req) {
		return
	}
	if status, code, msg := s.cancelOwn(req.ShareID); status != 0 {
		writeErr(w, status, code, msg)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// batchCancelShare is a batch's /share_link/cancel: 204 when done.
func (s *Server) batchCancelShare(raw json.RawMessage, res *batchSubResponse, fail func(int, string, string)) {
	var req shareIDRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.ShareID == "" {
		fail(http.StatusBadRequest, "InvalidParameter.ShareId", "The input parameter share_id is not valid.")
		return
	}
	if status, code, msg := s.cancelOwn(req.ShareID); status != 0 {
		fail(status, code, msg)
		return
	}
	res.Status = http.StatusNoContent
}

type shareListMarker struct {
	Offset int `json:"o"`
}

// shareLinkList pages through the user's links, newest first; cancelled
// ones only when include_canceled asks.
func (s *Server) shareLinkList(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req shareListRequest
	if !decode(w, body, &req) {
		return
	}
	if req.Creator != "" && req.Creator != s.userID {
		writeErr(w, http.StatusForbidden, "PermissionDenied", "you can only list your own share links")
		return
	}
	limit := 20
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 1 || limit > maxShareListLimit {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Limit", "The input parameter limit is not valid. limit should be 1 to "+itoa(maxShareListLimit))
		return
	}
	off := 0
	if req.Marker != "" {
		var m shareListMarker
		b, err := base64.StdEncoding.DecodeString(req.Marker)
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil || m.Offset < 0 {
			writeErr(w, http.StatusBadRequest, "InvalidParameter.Marker", "The input parameter marker is not valid.")
			return
		}
		off = m.Offset
	}
	s.mu.Lock()
	var mine []*share
	for _, sh := range s.web.shares {
		if sh.own && (req.IncludeCanceled || sh.state != "cancelled") {
			mine = append(mine, sh)
		}
	}
	s.mu.Unlock()
	sort.Slice(mine, func(i, j int) bool {
		if !mine[i].created.Equal(mine[j].created) {
			return mine[i].created.After(mine[j].created)
		}
		return mine[i].id < mine[j].id
	})
	out := shareListResponse{Items: []shareLinkItem{}}
	end := min(off+limit, len(mine))
	for i := off; i < end; i++ {
		out.Items = append(out.Items, s.shareLinkOf(mine[i]))
	}
	if end < len(mine) {
		b, _ := json.Marshal(shareListMarker{Offset: end})
		out.NextMarker = base64.StdEncoding.EncodeToString(b)
	}
	writeJSON(w, http.StatusOK, out)
}
