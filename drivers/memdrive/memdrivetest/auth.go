package memdrivetest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"pandav/internal/fakecloud"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// fail writes the cloud's error envelope (docs/protocols/memdrive.md §5).
func fail(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorAnswer{Error: errorBody{Code: code, Message: message}})
}

// handleToken trades a refresh token (docs/protocols/memdrive.md §1). Logins spends it
// the moment it issues the successor, and counts a second use: on the
// real service that locks the user out.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.counters.Inc(EndpointToken)
	if !s.faults.Arrive(r) {
		return
	}
	if d := s.faults.Latency(); d > 0 {
		time.Sleep(d)
	}
	if s.fault(w, s.faults.Next(EndpointToken)) {
		return
	}
	if r.PostFormValue("grant_type") != "refresh_token" {
		fail(w, http.StatusBadRequest, "invalid_request", "grant_type must be refresh_token")
		return
	}
	g, err := s.logins.Rotate(r.PostFormValue("refresh_token"))
	switch {
	case errors.Is(err, fakecloud.ErrSpentToken):
		fail(w, http.StatusBadRequest, "invalid_grant", "the refresh token was already used")
		return
	case err != nil:
		fail(w, http.StatusBadRequest, "invalid_grant", "the refresh token is unknown or revoked")
		return
	}
	writeJSON(w, http.StatusOK, tokenAnswer{AccessToken: g.Access, RefreshToken: g.Refresh, ExpiresIn: int64(g.TTL / time.Second)})
}

// endpoint wraps an API handler in what every call goes through, in the
// cloud's order: the count, latency, injected faults, the access token,
// then the per-token rate. All of it comes before the body is read, so
// that a refused upload costs its client no bytes (docs/protocols/memdrive.md §4).
func (s *Server) endpoint(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.counters.Inc(name)
		if d := s.faults.Latency(); d > 0 {
			time.Sleep(d)
		}
		if s.fault(w, s.faults.Next(name)) {
			return
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.logins.Check(token) != nil {
			fail(w, http.StatusUnauthorized, "token_expired", "the access token has expired or was never issued")
			return
		}
		if !s.allow(token) {
			s.throttle(w)
			return
		}
		h(w, r)
	}
}

func (s *Server) allow(token string) bool {
	if s.o.Rate < 0 {
		return true
	}
	s.mu.Lock()
	lim, ok := s.limiters[token]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(s.o.Rate), max(1, int(s.o.Rate)))
		s.limiters[token] = lim
	}
	s.mu.Unlock()
	return lim.Allow()
}

func (s *Server) throttle(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.FormatInt(int64((s.o.RetryAfter+time.Second-1)/time.Second), 10))
	fail(w, http.StatusTooManyRequests, "rate_limited", "too many requests; slow down")
}

// fault produces kind as the cloud and the proxy in front of it do
// (docs/protocols/memdrive.md §5), and says whether it answered.
func (s *Server) fault(w http.ResponseWriter, kind fakecloud.FaultKind) bool {
	switch kind {
	case fakecloud.NoFault:
		return false
	case fakecloud.Throttle:
		s.throttle(w)
	case fakecloud.ServerError:
		fail(w, http.StatusInternalServerError, "internal", "internal error")
	case fakecloud.Transient:
		fail(w, http.StatusServiceUnavailable, "unavailable", "try again")
	case fakecloud.BadGateway:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("502 Bad Gateway\n"))
	case fakecloud.Garbage:
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body><h1>Service temporarily unavailable</h1></body></html>\n"))
	case fakecloud.Truncated:
		// A page without its items (docs/protocols/memdrive.md §5).
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}\n"))
	case fakecloud.Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	default:
		return false
	}
	return true
}
