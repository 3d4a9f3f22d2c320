package aliyuntest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
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

// issueLocked makes a new refresh token and access token; s.mu is held.
func (s *Server) issueLocked() (rt, at string, ttl time.Duration) {
	ttl = s.opts.AccessTTL
	rt = s.jwt("refresh", 90*24*time.Hour)
	at = s.jwt("access", ttl)
	s.refresh[rt] = true
	s.latestRT = rt
	s.access[at] = time.Now().Add(ttl)
	return rt, at, ttl
}

// NewRefreshToken authorizes a new login (as the QR flow does) and
// returns its refresh token.
func (s *Server) NewRefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, _, _ := s.issueLocked()
	return rt
}

// LatestRefreshToken is the newest refresh token issued.
func (s *Server) LatestRefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latestRT
}

// RefreshTokenReuses counts refresh attempts made with an already spent
// refresh token: each one is a driver that lost a rotation.
func (s *Server) RefreshTokenReuses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reuses
}

// ExpireAccessTokens makes every access token issued so far answer 401
// AccessTokenExpired.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for at := range s.access {
		s.access[at] = past
	}
	for at := range s.web.access {
		s.web.access[at] = past
	}
}

// rotate spends rt and issues its successor. code is "" on success, else
// the error code for the answer.
func (s *Server) rotate(rt string) (newRT, at string, ttl time.Duration, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live, known := s.refresh[rt]
	switch {
	case !known:
		return "", "", 0, "RefreshTokenInvalid"
	case !live:
		s.reuses++
		return "", "", 0, "RefreshTokenInvalid"
	}
	s.refresh[rt] = false
	newRT, at, ttl = s.issueLocked()
	return newRT, at, ttl, ""
}

func (s *Server) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, "oauth/access_token") {
		return
	}
	if !s.Faults.Arrive(r) {
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
	if req.GrantType != "refresh_token" {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.GrantType", "The input parameter grant_type is not valid.")
		return
	}
	if req.RefreshToken == "" {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.RefreshToken", "The input parameter refresh_token is not valid.")
		return
	}
	rt, at, ttl, code := s.rotate(req.RefreshToken)
	if code != "" {
		writeErr(w, http.StatusUnauthorized, code, "Refresh token is invalid or has been used")
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{TokenType: "Bearer", AccessToken: at, RefreshToken: rt, ExpiresIn: int64(ttl / time.Second)})
}

// handleRenew is a third-party renew service: it holds the app's secret
// and rotates tokens exactly as /oauth/access_token does. Failures come
// back as HTTP 200 with the reason in text, as such services answer.
func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, "renew") {
		return
	}
	if !s.Faults.Arrive(r) {
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
	newRT, at, _, code := s.rotate(rt)
	if code != "" {
		writeJSON(w, http.StatusOK, renewResponse{Text: "refresh token renewal failed: " + code + ", please log in again"})
		return
	}
	writeJSON(w, http.StatusOK, renewResponse{RefreshToken: newRT, AccessToken: at})
}
