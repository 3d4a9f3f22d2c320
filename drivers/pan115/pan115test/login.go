package pan115test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// The open platform's device-code login with PKCE (docs/protocols/
// accounts-offline-shares.md §1.1–§1.4, §1.7): passportapi hands out a
// QR code for an app, qrcodeapi long-polls its status, and passportapi
// trades the confirmed code and its verifier for a new login of the
// account (Login().Issue()).

// Endpoint names of the login.
const (
	EndpointAuthDeviceCode = "open/authDeviceCode"
	EndpointQRStatus       = "get/status"
	EndpointDeviceToken    = "open/deviceCodeToToken"
)

// passport error messages of §1.7 that the login answers.
var loginErrors = map[int]string{
	40100000: "参数缺失",
	40101017: "用户验证失败",
	40140100: "client_id 错误",
	40140101: "code_challenge 必填",
	40140102: "code_challenge_method 必须是 sha256、sha1、md5 之一",
	40140103: "sign 必填",
	40140104: "sign 签名失败",
	40140106: "APP ID 无效",
	40140112: "code_verifier 长度要求43~128位",
	40140113: "code_verifier 验证失败",
}

// deviceCode is what authDeviceCode was asked, kept with the pending
// login.
type deviceCode struct {
	challenge, method string
	time              int64
	sign              string
}

// AppID is the emulated open-platform app's AppID: the client_id the
// login must name (the driver's app_id).
func (s *Server) AppID() string { return s.appID }

// QRCodeURL is the qrcodeapi base URL (the driver's qrcode_url).
func (s *Server) QRCodeURL() string { return s.qrcodeapi.URL }

// QRCodes are the pending device-code logins, and the control that plays
// the 115 app: scan, confirm, cancel, expire.
func (s *Server) QRCodes() *fakecloud.QRCodes { return s.qr }

// loginRoutes adds the login's passport endpoints to mux. qrcodeapi
// takes them too, as p115client sends them there (docs/protocols/
// pan115.md §1).
func (s *Server) loginRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/open/authDeviceCode", s.handleAuthDeviceCode)
	mux.HandleFunc("/open/deviceCodeToToken", s.handleDeviceCodeToToken)
}

func (s *Server) qrcodeHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/get/status/", s.handleQRStatus)
	s.loginRoutes(mux)
	mux.HandleFunc("/open/refreshToken", s.handleRefresh)
	return mux
}

// passportFail is §1.1's failure: every field both styles of client read.
func passportFail(w http.ResponseWriter, code int) {
	msg := loginErrors[code]
	writeJSON(w, http.StatusOK, map[string]any{"state": 0, "code": code, "message": msg, "data": map[string]any{}, "error": msg, "errno": code})
}

func passportOK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, map[string]any{"state": 1, "code": 0, "message": "", "data": data, "error": "", "errno": 0})
}

// loginEndpoint is what every login endpoint goes through first: the
// counter, latency, injected faults and the method.
func (s *Server) loginEndpoint(w http.ResponseWriter, r *http.Request, name, method string) bool {
	s.counters.Inc(name)
	if d := s.faults.Latency(); d > 0 {
		time.Sleep(d)
	}
	if s.renderFault(w, r, s.faults.Next(name), true) {
		return false
	}
	if r.Method != method {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// handleAuthDeviceCode is step 1: a QR code for the app client_id.
func (s *Server) handleAuthDeviceCode(w http.ResponseWriter, r *http.Request) {
	if !s.loginEndpoint(w, r, EndpointAuthDeviceCode, http.MethodPost) {
		return
	}
	appID, challenge, method := r.PostFormValue("client_id"), r.PostFormValue("code_challenge"), r.PostFormValue("code_challenge_method")
	switch {
	case appID == "":
		passportFail(w, 40100000)
		return
	case !isDigits(appID):
		passportFail(w, 40140100)
		return
	case appID != s.appID:
		passportFail(w, 40140106)
		return
	case challenge == "":
		passportFail(w, 40140101)
		return
	case method != "sha256" && method != "sha1" && method != "md5":
		passportFail(w, 40140102)
		return
	}
	uid := randHex(16)
	dc := &deviceCode{challenge: challenge, method: method, time: time.Now().Unix(), sign: randHex(20)}
	// The QR text's real form is unknown (§1.2); any string the app
	// takes will do.
	p := s.qr.Add(uid, "https://115.com/scan/dg-"+uid, "device-code", dc)
	passportOK(w, map[string]any{"uid": uid, "time": dc.time, "qrcode": p.QR, "sign": dc.sign})
}

// handleQRStatus is step 2, a long poll: it answers when the code's
// state differs from what this code's last poll was told, or after
// Options.LongPoll. The first poll to see an expired or cancelled code
// says -1 or -2; later ones say state 0, the QR code is void.
func (s *Server) handleQRStatus(w http.ResponseWriter, r *http.Request) {
	if !s.loginEndpoint(w, r, EndpointQRStatus, http.MethodGet) {
		return
	}
	q := r.URL.Query()
	uid, sign := q.Get("uid"), q.Get("sign")
	switch {
	case uid == "" || q.Get("time") == "":
		passportFail(w, 40100000)
		return
	case sign == "":
		passportFail(w, 40140103)
		return
	}
	p, ok := s.qr.Get(uid)
	dc, _ := p.Extra.(*deviceCode)
	if !ok || dc.sign != sign || strconv.FormatInt(dc.time, 10) != q.Get("time") {
		passportFail(w, 40140104)
		return
	}
	if s.toldEnded(uid) {
		writeJSON(w, http.StatusOK, map[string]any{"state": 0, "code": 0, "message": "二维码已失效", "data": map[string]any{}})
		return
	}
	p, _ = s.qr.Poll(r.Context(), uid, s.o.LongPoll)
	var status int
	var msg string
	switch p.State {
	case fakecloud.QRWaiting:
		// §1.3: data is only filled once the app has scanned; before
		// that it comes empty, or not at all.
		s.mu.Lock()
		s.statusPolls++
		bare := s.statusPolls%2 == 1
		s.mu.Unlock()
		if bare {
			writeJSON(w, http.StatusOK, map[string]any{"state": 1, "code": 0, "message": ""})
		} else {
			writeJSON(w, http.StatusOK, map[string]any{"state": 1, "code": 0, "message": "", "data": map[string]any{}})
		}
		return
	case fakecloud.QRScanned:
		status, msg = 1, "扫码成功，等待确认"
	case fakecloud.QRConfirmed:
		status, msg = 2, "登录成功"
	case fakecloud.QRExpired:
		status, msg = -1, "二维码已过期"
		s.markEnded(uid)
	case fakecloud.QRCancelled:
		status, msg = -2, "已取消登录"
		s.markEnded(uid)
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": 1, "code": 0, "message": "", "data": map[string]any{"msg": msg, "status": status, "version": ""}})
}

// toldEnded says whether a poll has told that uid's code ended.
func (s *Server) toldEnded(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endedTold[uid]
}

func (s *Server) markEnded(uid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endedTold[uid] = true
}

// handleDeviceCodeToToken is step 3: the confirmed code and the verifier
// whose digest was the challenge become a new login. A code not (yet)
// confirmed, or traded already, answers 40101017: the real code is not
// known (§1.7).
func (s *Server) handleDeviceCodeToToken(w http.ResponseWriter, r *http.Request) {
	if !s.loginEndpoint(w, r, EndpointDeviceToken, http.MethodPost) {
		return
	}
	uid, verifier := r.PostFormValue("uid"), r.PostFormValue("code_verifier")
	if uid == "" || verifier == "" {
		passportFail(w, 40100000)
		return
	}
	if n := len(verifier); n < 43 || n > 128 {
		passportFail(w, 40140112)
		return
	}
	s.mu.Lock()
	s.verifiers = append(s.verifiers, verifier)
	s.mu.Unlock()
	p, ok := s.qr.Get(uid)
	if !ok {
		passportFail(w, 40101017)
		return
	}
	if dc := p.Extra.(*deviceCode); !challengeMatches(dc.method, verifier, dc.challenge) {
		passportFail(w, 40140113)
		return
	}
	if _, err := s.qr.Redeem(uid); err != nil {
		passportFail(w, 40101017)
		return
	}
	g := s.login.Issue()
	passportOK(w, map[string]any{"access_token": g.Access, "refresh_token": g.Refresh, "expires_in": int64(g.TTL / time.Second)})
}

// challengeMatches checks the verifier against the challenge: base64 of
// the binary digest, standard or url-safe, padded or not (§1.2).
func challengeMatches(method, verifier, challenge string) bool {
	var sum []byte
	switch method {
	case "sha256":
		b := sha256.Sum256([]byte(verifier))
		sum = b[:]
	case "sha1":
		b := sha1.Sum([]byte(verifier))
		sum = b[:]
	case "md5":
		b := md5.Sum([]byte(verifier))
		sum = b[:]
	}
	challenge = strings.TrimRight(challenge, "=")
	return challenge == base64.RawStdEncoding.EncodeToString(sum) || challenge == base64.RawURLEncoding.EncodeToString(sum)
}
