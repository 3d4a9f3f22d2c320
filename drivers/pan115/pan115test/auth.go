package pan115test

import (
	"errors"
	"net/http"
	"time"

	"pandav/internal/fakecloud"
)

var refreshErrors = map[int]string{
	40100000: "参数缺失",
	40140116: "refresh_token 无效（已解除授权）",
	40140117: "access_token 刷新太频繁",
	40140120: "refresh_token 检验失败（防篡改）",
}

func (s *Server) passportHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/open/refreshToken", s.handleRefresh)
	s.loginRoutes(mux)
	return mux
}

// Login is the open platform's token family: the login a mount made with
// MountOptions refreshes.
func (s *Server) Login() *fakecloud.Logins { return s.login }

// handleRefresh trades a refresh token for a new pair. Refresh tokens are
// single-use: the old one dies the moment the new one is issued, and a
// second use is counted, because on the real service it forces the user to
// authorize again. Its envelope differs from proapi's: state is a number.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	s.counters.Inc(EndpointRefresh)
	if !s.faults.Arrive(r) {
		return
	}
	if d := s.faults.Latency(); d > 0 {
		time.Sleep(d)
	}
	if s.renderFault(w, r, s.faults.Next(EndpointRefresh), true) {
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rt := r.PostFormValue("refresh_token")
	g, code := s.rotate(rt)
	if code != 0 {
		msg := refreshErrors[code]
		writeJSON(w, http.StatusOK, map[string]any{"state": 0, "code": code, "message": msg, "data": map[string]any{}, "error": msg, "errno": code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"state":   1,
		"code":    0,
		"message": "",
		"data":    map[string]any{"access_token": g.Access, "refresh_token": g.Refresh, "expires_in": int64(g.TTL / time.Second)},
		"error":   "",
		"errno":   0,
	})
}

// rotate trades rt; code is 0 on success, else the passport's error code.
func (s *Server) rotate(rt string) (fakecloud.Grant, int) {
	if rt == "" {
		return fakecloud.Grant{}, 40100000
	}
	// The interval check and the trade are one step, so that two refreshes
	// at once cannot both pass the check.
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.o.RefreshMinInterval > 0 && !s.lastRefresh.IsZero() && now.Sub(s.lastRefresh) < s.o.RefreshMinInterval {
		return fakecloud.Grant{}, 40140117
	}
	g, err := s.login.Rotate(rt)
	switch {
	case errors.Is(err, fakecloud.ErrSpentToken):
		return g, 40140120
	case err != nil:
		// Never issued, or the app's authorization was withdrawn.
		return g, 40140116
	}
	s.lastRefresh = now
	return g, 0
}
