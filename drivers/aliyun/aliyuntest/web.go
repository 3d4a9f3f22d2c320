package aliyuntest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// The web API (api.alipan.com and auth.alipan.com, docs/protocols/aliyun.md §1–§4):
// a token endpoint of its own, device-signed calls, listings, links that
// demand a Referer, and the share-link endpoints (share.go). Counters and
// faults are named by path without the leading slash, as
// "adrive/v3/file/list"; each sub-request of a batch counts under its own
// url, as "file/copy".

const sharerDriveID = "3000001"

// webState is the web side's state, guarded by Server.mu but for login,
// which guards itself.
type webState struct {
	// login is the web login's token family: its refresh tokens are 32
	// hex characters, not JWTs, and its access tokens JWTs of their own.
	login *fakecloud.Logins
	// devices maps a registered X-Device-Id to its public key.
	devices map[string][]byte
	// sessionChecksOff turns the device signature check off.
	sessionChecksOff bool

	shares       map[string]*share
	shareTokens  map[string]shareToken
	shareTTL     time.Duration
	shareAlive   bool // get_share_link_download_url works
	deadAnswers  int  // dead answers so far, to alternate 410 and 429
	sharerUserID string
	preview      previewState
}

func (ws *webState) init(s *Server) {
	ws.login = fakecloud.NewLogins(s.opts.AccessTTL, func(kind string, ttl time.Duration) string {
		if kind == "refresh" {
			return randHex(16)
		}
		return s.jwt("web-access", ttl)
	})
	ws.devices = map[string][]byte{}
	ws.shares = map[string]*share{}
	ws.shareTokens = map[string]shareToken{}
	ws.shareTTL = 7200 * time.Second
	ws.sharerUserID = randHex(16)
}

func (s *Server) webRoutes(mux *http.ServeMux) {
	for path, h := range map[string]http.HandlerFunc{
		"/v2/account/token":                            s.handleWebToken,
		"/users/v1/users/device/create_session":        s.handleCreateSession,
		"/v2/user/get":                                 s.webHandler(s.webUserGet),
		"/v2/databox/get_personal_info":                s.webHandler(s.webPersonalInfo),
		"/adrive/v3/file/list":                         s.handleFileList,
		"/v2/file/list":                                s.handleFileList,
		"/v2/file/get":                                 s.webHandler(s.webGet),
		"/v2/file/get_by_path":                         s.webHandler(s.webGetByPath),
		"/v2/file/get_download_url":                    s.webHandler(s.webDownloadURL),
		"/adrive/v2/file/createWithFolders":            s.webHandler(s.webCreateFolder),
		"/v2/file/delete":                              s.webHandler(s.webDelete),
		"/adrive/v2/batch":                             s.webHandler(s.batch),
		"/adrive/v4/batch":                             s.webHandler(s.batch),
		"/v3/batch":                                    s.webHandler(s.batch),
		"/v2/share_link/get_share_token":               s.handleShareToken,
		"/adrive/v3/share_link/get_share_by_anonymous": s.handleShareInfo,
		"/adrive/v2/share_link/get_share_by_anonymous": s.handleShareInfo,
		"/v2/file/get_share_link_download_url":         s.handleShareDownloadURL,
	} {
		mux.HandleFunc("POST "+path, h)
	}
	s.shareLinkRoutes(mux)
	s.previewRoutes(mux)
}

// endpointOf names a request's counter: its path without the slash.
func endpointOf(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, "/") }

// WebLogin is the web login's token family (as copying the refresh
// token from the browser's local storage after a web login gives).
func (s *Server) WebLogin() *fakecloud.Logins { return s.web.login }

// AuthURL is the web login service, used as the driver's auth_url; the
// web API itself (web_api_url) is URL.
func (s *Server) AuthURL() string { return s.hs.URL }

// handleWebToken is auth.alipan.com/v2/account/token: the same rotation
// as the Open API's, but a refused token is 400 InvalidParameter.RefreshToken.
func (s *Server) handleWebToken(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, endpointOf(r)) {
		return
	}
	if !s.faults.Arrive(r) {
		return
	}
	var req struct {
		RefreshToken string `json:"refresh_token"`
		GrantType    string `json:"grant_type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidParameter", "request body is not valid JSON")
		return
	}
	if !s.allow(s.userID, "auth") {
		s.throttle(w)
		return
	}
	if req.GrantType != "refresh_token" {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.GrantType", "The input parameter grant_type is not valid. ")
		return
	}
	g, err := s.web.login.Rotate(req.RefreshToken)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.RefreshToken", "The input parameter refresh_token is not valid. ")
		return
	}
	writeJSON(w, http.StatusOK, webTokenResponse{
		TokenType: "Bearer", AccessToken: g.Access, RefreshToken: g.Refresh, ExpiresIn: int64(g.TTL / time.Second),
		UserID: s.userID, UserName: "pandav", NickName: UserName,
		DefaultDriveID: backupDriveID, DefaultSboxDriveID: "4000001", Role: "user", Status: "enabled",
		ExpireTime: time.Now().Add(g.TTL).UTC().Format(time.RFC3339), DeviceID: randHex(16),
	})
}

// bearer reads the access token in the three forms clients send:
// "Bearer <t>", "Bearer\t<t>" (OpenList) and the bare token (aligo).
func webBearer(h string) string {
	h = strings.TrimSpace(h)
	if rest, ok := strings.CutPrefix(h, "Bearer"); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "\t")) {
		return strings.TrimSpace(rest)
	}
	return h
}

// webAuthorize checks a web access token; Open API tokens are refused.
func (s *Server) webAuthorize(w http.ResponseWriter, r *http.Request) bool {
	tok := webBearer(r.Header.Get("Authorization"))
	return checkAccess(w, s.web.login, tok)
}

// webHandler wraps a signed web API endpoint: count, faults, the token,
// the device signature, the rate limit and the JSON body.
func (s *Server) webHandler(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		endpoint := endpointOf(r)
		if !s.begin(w, endpoint) || !s.webAuthorize(w, r) || !s.checkDevice(w, r) {
			return
		}
		if !s.allow(s.userID, webClassOf(endpoint)) {
			s.throttle(w)
			return
		}
		body, ok := readBody(w, r)
		if ok {
			h(w, r, body)
		}
	}
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, false
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	return body, true
}

func webClassOf(endpoint string) string {
	switch endpoint {
	case "adrive/v3/file/list", "v2/file/list":
		return "list"
	case "v2/file/get_download_url":
		return "link"
	}
	return "other"
}

func (s *Server) webUserGet(w http.ResponseWriter, _ *http.Request, _ []byte) {
	u := webUser{
		DomainID: "bj29", UserID: s.userID, NickName: UserName, UserName: "151***111", Role: "user", Status: "enabled",
		DefaultDriveID: backupDriveID, ResourceDriveID: resourceDriveID, BackupDriveID: backupDriveID,
	}
	if s.options().NoResourceDrive {
		u.ResourceDriveID = ""
	}
	writeJSON(w, http.StatusOK, u)
}

// handleFileList is both the web listing (signed, with Authorization)
// and a share's listing (x-share-token, share_id, no Authorization).
func (s *Server) handleFileList(w http.ResponseWriter, r *http.Request) {
	endpoint := endpointOf(r)
	if !s.begin(w, endpoint) {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req listRequest
	if !decode(w, body, &req) {
		return
	}
	var probe struct {
		ShareID string `json:"share_id"`
	}
	json.Unmarshal(body, &probe)
	if probe.ShareID != "" || r.Header.Get("x-share-token") != "" {
		s.shareList(w, r, probe.ShareID, req)
		return
	}
	if !s.webAuthorize(w, r) || !s.checkDevice(w, r) {
		return
	}
	if !s.allow(s.userID, "list") {
		s.throttle(w)
		return
	}
	s.list(w, req)
}

func (s *Server) webGet(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req fileRequest
	if !decode(w, body, &req) {
		return
	}
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	n, ok := live(t, req.FileID)
	if !ok {
		writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.FileID)
		return
	}
	writeJSON(w, http.StatusOK, item(req.DriveID, t, n))
}

func (s *Server) webGetByPath(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req fileRequest
	if decode(w, body, &req) {
		s.getByPath(w, req)
	}
}

// webDownloadURL issues links that demand a Referer, as every web-API
// link does; 14400 s is honoured up to LinkTTL.
func (s *Server) webDownloadURL(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req fileRequest
	if !decode(w, body, &req) {
		return
	}
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	n, ok := live(t, req.FileID)
	if !ok {
		writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.FileID)
		return
	}
	if n.IsDir {
		writeErr(w, http.StatusBadRequest, "InvalidResource.FileTypeFolder", "The resource file_id is a folder, not a file.")
		return
	}
	u, exp := s.issueLink(req.DriveID, n, req.ExpireSec, "referer")
	writeJSON(w, http.StatusOK, webDownloadURLResponse{
		DomainID: "bj29", DriveID: req.DriveID, FileID: n.ID, Method: "GET", URL: u, InternalURL: u, CDNURL: u,
		Expiration: exp, Size: n.Size(), ContentHash: strings.ToUpper(n.Blob.SHA1()), ContentHashName: "sha1",
	})
}

// issueLink signs a CDN URL for n, clamped to LinkTTL, and returns it with
// its expiration in the service's format.
func (s *Server) issueLink(driveID string, n fakecloud.Node, expireSec int64, additional string) (string, string) {
	expUnix, seq := s.newLink(&s.linkSeq, expireSec)
	return s.signURLWith(driveID, n, s.userID, additional, expUnix, seq), time.Unix(expUnix, 0).UTC().Format(timeFormat)
}

// webCreateFolder is createWithFolders for a folder, as the Open API's
// create: refuse answers an existing name with exist:true.
func (s *Server) webCreateFolder(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req createRequest
	if !decode(w, body, &req) {
		return
	}
	if req.Type != "folder" {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Type", "The input parameter type is not valid.")
		return
	}
	s.createFolder(w, req)
}

// webDelete deletes for good and answers 204 No Content.
func (s *Server) webDelete(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req fileRequest
	if !decode(w, body, &req) {
		return
	}
	t, ok := s.drive(w, req.DriveID)
	if !ok {
		return
	}
	n, err := t.Get(req.FileID)
	if err != nil || n.ID == t.RootID() {
		writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.FileID)
		return
	}
	t.Delete(n.ID)
	w.WriteHeader(http.StatusNoContent)
}
