package pan115test

import (
	"net/http"
	"time"
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
	return mux
}

func (s *Server) issueRefreshLocked() string {
	tok := randHex(24)
	s.refresh[tok] = false
	s.latestRefresh = tok
	return tok
}

// handleRefresh trades a refresh token for a new pair. Refresh tokens are
// single-use: the old one dies the moment the new one is issued, and a
// second use is counted, because on the real service it forces the user to
// authorize again. Its envelope differs from proapi's: state is a number.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	s.Counters.Inc(EndpointRefresh)
	if !s.Faults.Arrive(r) {
		return
	}
	if d := s.Faults.Latency(); d > 0 {
		time.Sleep(d)
	}
	if s.renderFault(w, r, s.Faults.Next(EndpointRefresh), true) {
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rt := r.PostFormValue("refresh_token")
	code, access, refresh, ttl := s.rotate(rt)
	if code != 0 {
		msg := refreshErrors[code]
		writeJSON(w, http.StatusOK, map[string]any{"state": 0, "code": code, "message": msg, "data": map[string]any{}, "error": msg, "errno": code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"state":   1,
		"code":    0,
		"message": "",
		"data":    map[string]any{"access_token": access, "refresh_token": refresh, "expires_in": int64(ttl / time.Second)},
		"error":   "",
		"errno":   0,
	})
}

func (s *Server) rotate(rt string) (code int, access, refresh string, ttl time.Duration) {
	if rt == "" {
		return 40100000, "", "", 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.o.RefreshMinInterval > 0 && !s.lastRefresh.IsZero() && now.Sub(s.lastRefresh) < s.o.RefreshMinInterval {
		return 40140117, "", "", 0
	}
	spent, known := s.refresh[rt]
	if !known {
		return 40140116, "", "", 0
	}
	if spent {
		s.reuses++
		return 40140120, "", "", 0
	}
	s.refresh[rt] = true
	s.lastRefresh = now
	access = randHex(24)
	ttl = s.accessTTL
	s.access[access] = now.Add(ttl)
	return 0, access, s.issueRefreshLocked(), ttl
}
