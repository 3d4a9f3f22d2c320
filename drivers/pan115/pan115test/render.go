package pan115test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"pandav/internal/fakecloud"
)

// Messages the real API sends with its codes.
const (
	msgTokenInvalid = "access_token 无效（已过期或者已解除授权）"
	msgTooFast      = "访问频率过高"
	msgDailyQuota   = "已达到当前访问上限，购买更高等级 VIP 可获更多额度"
	msgBusy         = "操作尚未执行完成，请稍后再试"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// fail writes 115's error envelope with HTTP 200, as the open API does for
// every business error, throttling included.
func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, http.StatusOK, map[string]any{"state": false, "code": code, "message": msg, "data": []any{}})
}

// ok writes a success envelope around data.
func ok(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, map[string]any{"state": true, "code": 0, "message": "", "data": data})
}

// endpoint wraps an API handler with what every call goes through: the
// counter, latency, injected faults, Bearer auth and the per-token rate.
func (s *Server) endpoint(name string, h http.HandlerFunc) http.HandlerFunc {
	return s.busyEndpoint(name, 0, h)
}

// busyEndpoint is endpoint for the batch operations (move, copy, delete),
// whose "try again" is busyCode ("操作尚未执行完成") rather than code 0.
func (s *Server) busyEndpoint(name string, busyCode int, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.counters.Inc(name)
		if d := s.faults.Latency(); d > 0 {
			time.Sleep(d)
		}
		kind := s.faults.Next(name)
		if kind == fakecloud.Transient && busyCode != 0 {
			fail(w, busyCode, msgBusy)
			return
		}
		if s.renderFault(w, r, kind, false) {
			return
		}
		if kind == fakecloud.Truncated {
			r = r.WithContext(context.WithValue(r.Context(), truncatedKey{}, true))
		}
		tok, valid := s.checkAccess(r)
		if !valid {
			s.writeTokenInvalid(w)
			return
		}
		if !s.allow(tok) {
			s.writeThrottle(w, false)
			return
		}
		h(w, r)
	}
}

func (s *Server) checkAccess(r *http.Request) (string, bool) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || tok == "" {
		return "", false
	}
	return tok, s.login.Check(tok) == nil
}

// writeTokenInvalid answers an expired or unknown token the way proapi
// does: HTTP 200, code 40140125, and on every other reply errno as well.
func (s *Server) writeTokenInvalid(w http.ResponseWriter) {
	s.mu.Lock()
	s.authReplies++
	withErrno := s.authReplies%2 == 0
	s.mu.Unlock()
	body := map[string]any{"state": false, "code": 40140125, "message": msgTokenInvalid, "data": []any{}}
	if withErrno {
		body["errno"] = 40140125
		body["error"] = msgTokenInvalid
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) allow(tok string) bool {
	if s.o.QPS < 0 {
		return true
	}
	s.mu.Lock()
	lim, found := s.limiters[tok]
	if !found {
		burst := int(s.o.QPS)
		if burst < 1 {
			burst = 1
		}
		lim = rate.NewLimiter(rate.Limit(s.o.QPS), burst)
		s.limiters[tok] = lim
	}
	s.mu.Unlock()
	return lim.Allow()
}

// writeThrottle answers a rate or quota limit: HTTP 200 with code 770004,
// and every third time the daily-quota code 406, since drivers meet both.
func (s *Server) writeThrottle(w http.ResponseWriter, numState bool) {
	s.mu.Lock()
	s.throttles++
	quota := s.throttles%3 == 0
	s.mu.Unlock()
	code, msg := 770004, msgTooFast
	if quota {
		code, msg = 406, msgDailyQuota
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": state(false, numState), "code": code, "message": msg, "errno": code, "error": msg, "data": []any{}})
}

func state(v, numeric bool) any {
	if !numeric {
		return v
	}
	if v {
		return 1
	}
	return 0
}

// renderFault produces kind the way 115 and its front proxies do, and
// says whether it answered.
func (s *Server) renderFault(w http.ResponseWriter, r *http.Request, kind fakecloud.FaultKind, numState bool) bool {
	switch kind {
	case fakecloud.NoFault:
		return false
	case fakecloud.Throttle:
		s.writeThrottle(w, numState)
	case fakecloud.Transient:
		writeJSON(w, http.StatusOK, map[string]any{"state": state(false, numState), "code": 0, "message": ""})
	case fakecloud.Garbage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.Write([]byte("<html>\r\n<head><title>405</title></head>\r\n<body>\r\n<center><h1>405</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"))
	case fakecloud.ServerError:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"state": state(false, numState), "code": 500, "message": "服务器内部错误"})
	case fakecloud.BadGateway:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("502 Bad Gateway\n"))
	case fakecloud.Reset:
		hijackClose(w)
	default:
		return false
	}
	return true
}

func hijackClose(w http.ResponseWriter) {
	if hj, isHJ := w.(http.Hijacker); isHJ {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// truncatedKey marks a request that fakecloud.Truncated struck: the
// listing answers it as 115 under load does, with success, the folder's
// count, and no entries. Other endpoints answer it normally.
type truncatedKey struct{}

func truncated(r *http.Request) bool {
	t, _ := r.Context().Value(truncatedKey{}).(bool)
	return t
}
