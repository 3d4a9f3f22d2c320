package aliyuntest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"pandav/internal/fakecloud"
)

// The logins by QR code (docs/protocols/accounts-offline-shares.md §3):
//
//   - the Open API's: /oauth/authorize/qrcode with the app's client_id and
//     secret, or through a proxy that holds them (ProxyURL, in the style of
//     messense's aliyundrive-oauth); /oauth/qrcode/{sid}/status; and
//     /oauth/access_token with grant_type authorization_code, whose
//     authCode is good once. The login is a new one of Login().
//   - the passport's (PassportURL): generate.do and query.do, whose
//     CONFIRMED answer carries a web login of WebLogin() in bizExt.
//
// QRCodes plays the phone for both.

// The kinds of pending login, as PendingLogin.Kind names them.
const (
	KindOpen     = "open"
	KindPassport = "passport"
)

// The login's endpoints, as Counters and Faults name them.
const (
	EndpointAuthorizeQR   = "oauth/authorize/qrcode"
	EndpointQRStatus      = "oauth/qrcode/status"
	EndpointProxyQR       = "proxy/oauth/authorize/qrcode"
	EndpointProxyToken    = "proxy/oauth/access_token"
	EndpointPassportQR    = "newlogin/qrcode/generate.do"
	EndpointPassportQuery = "newlogin/qrcode/query.do"
)

// openQRPrefix is what the app scans for an Open API login: the sid in
// the authorize page's link, as deployed clients draw it (§3.1); the
// answer's qrCodeUrl is an image of it.
const openQRPrefix = "https://www.aliyundrive.com/o/oauth/authorize?sid="

// openQR is what the emulator keeps of an Open API code.
type openQR struct {
	authCode string // handed out by the first status poll that saw the confirmation
}

// passportQR is what the emulator keeps of a passport code.
type passportQR struct {
	t      int64
	bizExt string // the login, once confirmed
}

// QRCodes are the pending QR logins of every kind, and the control that
// plays the Aliyundrive app: scan, confirm, cancel, expire.
func (s *Server) QRCodes() *fakecloud.QRCodes { return s.qr }

// ProxyURL is a token proxy in the messense style, which holds the app's
// client_id and secret: POST /oauth/authorize/qrcode and
// /oauth/access_token (both grants), without them. As a driver's renew_url
// it logs in and refreshes without a secret.
func (s *Server) ProxyURL() string { return s.proxy.URL }

// PassportURL is the passport service of the web login (the driver's
// passport_url).
func (s *Server) PassportURL() string { return s.passport.URL }

func (s *Server) loginRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /oauth/authorize/qrcode", s.handleAuthorizeQR)
	mux.HandleFunc("GET /oauth/qrcode/{sid}/status", s.handleQRStatus)
}

func (s *Server) startLoginServers() {
	proxy := http.NewServeMux()
	proxy.HandleFunc("POST /oauth/authorize/qrcode", s.handleProxyQR)
	proxy.HandleFunc("POST /oauth/access_token", s.handleProxyToken)
	proxy.HandleFunc("/", s.handleUnknown)
	s.proxy = httptest.NewServer(proxy)
	passport := http.NewServeMux()
	passport.HandleFunc("GET /newlogin/qrcode/generate.do", s.handlePassportQR)
	passport.HandleFunc("POST /newlogin/qrcode/query.do", s.handlePassportQuery)
	s.passport = httptest.NewServer(passport)
}

type authorizeQRRequest struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	Width        int      `json:"width"`
	Height       int      `json:"height"`
}

// qrRequest counts a request for a code under endpoint and reads it.
func (s *Server) qrRequest(w http.ResponseWriter, r *http.Request, endpoint string) (authorizeQRRequest, bool) {
	var req authorizeQRRequest
	if !s.begin(w, endpoint) {
		return req, false
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidParameter", "request body is not valid JSON")
		return req, false
	}
	return req, true
}

func (s *Server) handleAuthorizeQR(w http.ResponseWriter, r *http.Request) {
	req, ok := s.qrRequest(w, r, EndpointAuthorizeQR)
	if !ok {
		return
	}
	if req.ClientID != s.clientID || req.ClientSecret != s.clientSecret {
		writeErr(w, http.StatusUnauthorized, "InvalidClient", "client_id or client_secret is not valid")
		return
	}
	s.newOpenQR(w, req.Scopes)
}

// handleProxyQR is the proxy's QR code: it adds the app's client to the
// caller's scopes.
func (s *Server) handleProxyQR(w http.ResponseWriter, r *http.Request) {
	if req, ok := s.qrRequest(w, r, EndpointProxyQR); ok {
		s.newOpenQR(w, req.Scopes)
	}
}

func (s *Server) newOpenQR(w http.ResponseWriter, scopes []string) {
	if len(scopes) == 0 {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Scopes", "The input parameter scopes is not valid.")
		return
	}
	sid := randHex(16)
	s.qr.Add(sid, openQRPrefix+sid, KindOpen, &openQR{})
	writeJSON(w, http.StatusOK, map[string]string{"qrCodeUrl": s.URL() + "/oauth/qrcode/" + sid, "sid": sid})
}

// handleQRStatus tells how an Open API code stands. No cancel status is
// known (§3.1; [MSW] reads any other status as expired), so a code
// refused in the app answers QRCodeExpired.
func (s *Server) handleQRStatus(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, EndpointQRStatus) {
		return
	}
	p, ok := s.qr.Get(r.PathValue("sid"))
	if !ok || p.Kind != KindOpen {
		writeJSON(w, http.StatusOK, map[string]string{"status": "QRCodeExpired"})
		return
	}
	switch p.State {
	case fakecloud.QRWaiting:
		writeJSON(w, http.StatusOK, map[string]string{"status": "WaitLogin"})
	case fakecloud.QRScanned:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ScanSuccess"})
	case fakecloud.QRConfirmed:
		s.mu.Lock()
		oq := p.Extra.(*openQR)
		if oq.authCode == "" {
			oq.authCode = randHex(16)
			s.authCodes[oq.authCode] = p.ID
		}
		code := oq.authCode
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"status": "LoginSuccess", "authCode": code})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "QRCodeExpired"})
	}
}

// redeemAuthCode answers grant_type authorization_code: a confirmed
// code's authCode, once, for a new login.
func (s *Server) redeemAuthCode(w http.ResponseWriter, code string) {
	s.mu.Lock()
	sid, ok := s.authCodes[code]
	s.mu.Unlock()
	if ok {
		_, err := s.qr.Redeem(sid)
		ok = err == nil
	}
	if !ok {
		// The real code is not known (§3.1).
		writeErr(w, http.StatusBadRequest, "InvalidParameter.Code", "The input parameter code is not valid or has been used.")
		return
	}
	g := s.login.Issue()
	writeJSON(w, http.StatusOK, tokenResponse{TokenType: "Bearer", AccessToken: g.Access, RefreshToken: g.Refresh, ExpiresIn: int64(g.TTL / time.Second)})
}

// handleProxyToken is the proxy's token endpoint: both grants, with the
// app's client added.
func (s *Server) handleProxyToken(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, EndpointProxyToken) || !s.faults.Arrive(r) {
		return
	}
	var req tokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidParameter", "request body is not valid JSON")
		return
	}
	req.ClientID, req.ClientSecret = s.clientID, s.clientSecret
	s.grant(w, req)
}

// grant answers a token request whose client is checked.
func (s *Server) grant(w http.ResponseWriter, req tokenRequest) {
	switch req.GrantType {
	case "authorization_code":
		s.redeemAuthCode(w, req.Code)
	case "refresh_token":
		if req.RefreshToken == "" {
			writeErr(w, http.StatusBadRequest, "InvalidParameter.RefreshToken", "The input parameter refresh_token is not valid.")
			return
		}
		g, err := s.login.Rotate(req.RefreshToken)
		if err != nil {
			writeErr(w, http.StatusUnauthorized, "RefreshTokenInvalid", "Refresh token is invalid or has been used")
			return
		}
		writeJSON(w, http.StatusOK, tokenResponse{TokenType: "Bearer", AccessToken: g.Access, RefreshToken: g.Refresh, ExpiresIn: int64(g.TTL / time.Second)})
	default:
		writeErr(w, http.StatusBadRequest, "InvalidParameter.GrantType", "The input parameter grant_type is not valid.")
	}
}

// passportAnswer is the passport's envelope around data.
func passportAnswer(w http.ResponseWriter, data map[string]any) {
	writeJSON(w, http.StatusOK, map[string]any{
		"content":  map[string]any{"data": data, "status": 0, "success": true},
		"hasError": false,
	})
}

// handlePassportQR is generate.do: a code for the app aliyun_drive.
func (s *Server) handlePassportQR(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, EndpointPassportQR) {
		return
	}
	if r.URL.Query().Get("appName") != "aliyun_drive" {
		writeJSON(w, http.StatusOK, map[string]any{"content": map[string]any{"success": false, "status": -1}, "hasError": true})
		return
	}
	ck := randHex(24)
	t := time.Now().UnixMilli()
	p := s.qr.Add(ck, "https://passport.aliyundrive.com/qrcodeCheck.htm?lgToken="+randHex(16)+"&lgTokenType=aliyun_drive", KindPassport, &passportQR{t: t})
	passportAnswer(w, map[string]any{"t": t, "codeContent": p.QR, "ck": ck, "resultCode": 100, "processFinished": false})
}

// handlePassportQuery is query.do, form t and ck. The spelling SCANED is
// the service's. Whether a refused code says CANCELED is uncertain
// (§3.2); this one does. A confirmed code carries the login in bizExt:
// base64 of JSON in GB18030, as aligo decodes it, with a name that is
// not ASCII.
func (s *Server) handlePassportQuery(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, EndpointPassportQuery) {
		return
	}
	p, ok := s.qr.Get(r.PostFormValue("ck"))
	if !ok || p.Kind != KindPassport || r.PostFormValue("t") != strconv.FormatInt(p.Extra.(*passportQR).t, 10) {
		passportAnswer(w, map[string]any{"qrCodeStatus": "EXPIRED", "resultCode": 100})
		return
	}
	status := map[fakecloud.QRState]string{
		fakecloud.QRWaiting: "NEW", fakecloud.QRScanned: "SCANED", fakecloud.QRConfirmed: "CONFIRMED",
		fakecloud.QRExpired: "EXPIRED", fakecloud.QRCancelled: "CANCELED",
	}[p.State]
	data := map[string]any{"qrCodeStatus": status, "resultCode": 100}
	if p.State == fakecloud.QRConfirmed {
		biz, err := s.passportLogin(p)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		data["bizExt"] = biz
	}
	passportAnswer(w, data)
}

// gbkName is "测试" in GB18030: bizExt is not UTF-8.
const gbkName = "\xb2\xe2\xca\xd4"

// passportLogin is the bizExt of a confirmed code: a new web login, made
// at the first query that sees the confirmation.
func (s *Server) passportLogin(p fakecloud.PendingLogin) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pq := p.Extra.(*passportQR)
	if pq.bizExt != "" {
		return pq.bizExt, nil
	}
	if _, err := s.qr.Redeem(p.ID); err != nil && !errors.Is(err, fakecloud.ErrRedeemed) {
		return "", err
	}
	g := s.web.login.Issue()
	b, err := json.Marshal(map[string]any{"pds_login_result": map[string]any{
		"role": "user", "isFirstLogin": false, "needLink": false, "loginType": "normal",
		"nickName": "NICK", "needRpVerify": false, "avatar": "", "accessToken": g.Access,
		"userName": "151***111", "userId": s.userID, "defaultDriveId": backupDriveID, "existLink": []any{},
		"expiresIn": int64(g.TTL / time.Second), "tokenType": "Bearer", "refreshToken": g.Refresh, "status": "enabled",
	}})
	if err != nil {
		return "", err
	}
	b = bytes.Replace(b, []byte(`"NICK"`), []byte(`"`+gbkName+`"`), 1)
	pq.bizExt = base64.StdEncoding.EncodeToString(b)
	return pq.bizExt, nil
}

// UserName is the account's name, as getDriveInfo and the web API's
// user/get state it.
const UserName = "pandav emulator"

// The account's membership, as /v1.0/user/getVipInfo and the web API's
// get_personal_info state it.
type membership struct {
	identity, level string // member | vip | svip; "20t", "8t"
	expires         time.Time
}

// SetVIP sets the account's membership: identity member (none), vip or
// svip, its level and when it ends.
func (s *Server) SetVIP(identity, level string, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vip = membership{identity: identity, level: level, expires: expires}
}

func (s *Server) membership() membership {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vip
}

// handleVIPInfo is POST /v1.0/user/getVipInfo, as the official SDKs call
// it.
func (s *Server) handleVIPInfo(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, "v1.0/user/getVipInfo") {
		return
	}
	if _, ok := s.authorize(w, r); !ok {
		return
	}
	m := s.membership()
	out := map[string]any{"identity": m.identity, "level": m.level, "thirdPartyVip": false, "thirdPartyVipExpire": 0}
	if !m.expires.IsZero() {
		out["expire"] = m.expires.Unix()
	}
	writeJSON(w, http.StatusOK, out)
}

// webPersonalInfo is the web API's /v2/databox/get_personal_info: the
// membership and the space. A member's spu_id and name are the captured
// ones; a VIP's are the emulator's guess.
func (s *Server) webPersonalInfo(w http.ResponseWriter, _ *http.Request, _ []byte) {
	m := s.membership()
	spu, name := "non-vip", "普通用户"
	switch m.identity {
	case "vip":
		spu, name = "vip", "会员"
	case "svip":
		spu, name = "svip", "超级会员"
	}
	s.mu.Lock()
	total := s.totalSpace
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"personal_rights_info": map[string]any{
			"spu_id": spu, "name": name, "is_expires": false,
			"privileges": []any{map[string]any{"feature_id": "drive", "feature_attr_id": "size_limit", "quota": total}},
		},
		"personal_space_info": map[string]any{"used_size": s.tree.Usage() + s.backup.Usage(), "total_size": total},
	})
}
