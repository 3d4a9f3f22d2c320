package aliyuntest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"pandav/internal/fakecloud"
)

// jwt returns a JWT-shaped token (three dot-separated segments) for the
// user; the signature segment is random, as nothing here verifies it.
func (s *Server) jwt(kind string, ttl time.Duration) string {
	enc := base64.RawURLEncoding
	now := time.Now()
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	body, _ := json.Marshal(map[string]any{
		"sub": s.userID, "aud": s.clientID, "iss": "https://open.alipan.com",
		"typ": kind, "jti": randHex(16), "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	return enc.EncodeToString(head) + "." + enc.EncodeToString(body) + "." + randHex(32)
}

// Login is the Open API's token family: the login a mount made with
// MountOptions refreshes.
func (s *Server) Login() *fakecloud.Logins { return s.login }

// RefreshTokenReuses counts refresh attempts made with an already spent
// refresh token, by the Open API and the web login together: each one is
// a driver that lost a rotation.
func (s *Server) RefreshTokenReuses() int { return s.login.Reuses() + s.web.login.Reuses() }

// ExpireAccessTokens makes every access token issued so far, by the Open
// API and the web login, answer 401 AccessTokenExpired.
func (s *Server) ExpireAccessTokens() {
	s.login.ExpireAccess()
	s.web.login.ExpireAccess()
}

func (s *Server) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, "oauth/access_token") {
		return
	}
	if !s.faults.Arrive(r) {
		return
	}
	var req tokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "InvalidParameter", "request body is not valid JSON")
		return
	}
	if !s.allow(s.userID, "auth") {
		s.throttle(w)
		return
	}
	if req.ClientID != s.clientID || req.ClientSecret != s.clientSecret {
		writeErr(w, http.StatusUnauthorized, "InvalidClient", "client_id or client_secret is not valid")
		return
	}
	s.grant(w, req)
}

// handleRenew is a third-party renew service: it holds the app's secret
// and rotates tokens exactly as /oauth/access_token does. Failures come
// back as HTTP 200 with the reason in text, as such services answer.
func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, "renew") {
		return
	}
	if !s.faults.Arrive(r) {
		return
	}
	if !s.allow(s.userID, "auth") {
		s.throttle(w)
		return
	}
	q := r.URL.Query()
	rt := q.Get("refresh_ui")
	if rt == "" || q.Get("server_use") != "true" || q.Get("driver_txt") == "" {
		writeJSON(w, http.StatusOK, renewResponse{Text: "missing refresh_ui, server_use or driver_txt"})
		return
	}
	g, err := s.login.Rotate(rt)
	if err != nil {
		writeJSON(w, http.StatusOK, renewResponse{Text: "refresh token renewal failed: RefreshTokenInvalid, please log in again"})
		return
	}
	writeJSON(w, http.StatusOK, renewResponse{RefreshToken: g.Refresh, AccessToken: g.Access})
}
