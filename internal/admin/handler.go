package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"maps"
	"slices"

	"github.com/rs/zerolog"

	"pandav/internal/auth"
)

// Root is where the admin API lives; everything under it is the API's,
// version 1 under Prefix. The config keeps mounts off /.pandav.
const (
	Root   = "/.pandav/api/"
	Prefix = Root + "v1/"
)

// IsAPIPath says whether the path p belongs to the admin API.
func IsAPIPath(p string) bool { return strings.HasPrefix(p, Root) }

// CSRFHeader must be sent, with the value "1", on every request that
// changes anything. A browser sends a custom header to another origin
// only after a CORS preflight, which pandav never grants, so a page
// elsewhere cannot make an admin's browser change anything here.
const CSRFHeader = "X-Pandav-CSRF"

// Authenticator checks a request's credentials (*auth.Gate).
type Authenticator interface {
	Authenticate(r *http.Request) (*auth.User, *auth.Refusal)
}

// Handler serves an API as JSON. With an Authenticator, only users with
// Admin get in; without one (no users are configured), only clients on
// this machine do.
type Handler struct {
	api  API
	gate Authenticator
	log  zerolog.Logger
}

// NewHandler serves api. gate is nil when pandav has no users.
func NewHandler(api API, gate Authenticator, log zerolog.Logger) *Handler {
	return &Handler{api: api, gate: gate, log: log}
}

// maxBody bounds a request body: the API's bodies are a few fields.
const maxBody = 64 << 10

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Answers carry login state and QR codes: never to be cached, by a
	// browser or a proxy.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if h.gate != nil {
		u, refused := h.gate.Authenticate(r)
		if refused != nil {
			refused.Header(w.Header())
			writeJSON(w, refused.Status, errorBody{refused.Msg})
			return
		}
		if !u.Admin {
			h.log.Warn().Str("user", u.Name).Str("path", r.URL.Path).Msg("admin API refused to a user who is not an admin")
			writeJSON(w, http.StatusForbidden, errorBody{fmt.Sprintf("user %s is not an admin; admin: true in the config's users lets them use the admin API", u.Name)})
			return
		}
		r = r.WithContext(auth.WithUser(r.Context(), u))
	} else if why := notLocal(r); why != "" {
		writeJSON(w, http.StatusForbidden, errorBody{"with no users configured, the admin API answers only this machine's own clients (" + why + "); add a user with admin: true to use it from elsewhere"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if r.Header.Get(CSRFHeader) != "1" {
			writeJSON(w, http.StatusForbidden, errorBody{fmt.Sprintf("a request that changes anything needs the header %s: 1 (a plain form post is refused)", CSRFHeader)})
			return
		}
		if r.ContentLength != 0 {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, errorBody{"the request body must be JSON, sent as Content-Type: application/json"})
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, bodyLimit(r.URL.Path))
	}
	h.route(w, r)
}

// notLocal says why r does not come from this machine, or "" when it
// does: a loopback address, no proxy's forwarding headers (a proxy on
// this machine would make every client look local), and a loopback
// Host, which a page elsewhere cannot send through DNS rebinding.
func notLocal(r *http.Request) string {
	if ip := net.ParseIP(auth.RemoteHost(r)); ip == nil || !ip.IsLoopback() {
		return "this request came from " + auth.RemoteHost(r)
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return "this request came through a proxy"
		}
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "this request names the host " + host + "; use 127.0.0.1 or localhost"
	}
	return ""
}

type methods map[string]http.HandlerFunc

func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	var ms methods
	switch {
	case !ok:
		ms = nil
	case rest == "mounts":
		ms = methods{http.MethodGet: h.mounts}
	case rest == "logins":
		ms = methods{http.MethodPost: h.startLogin}
	case rest == "check":
		ms = methods{http.MethodGet: h.check}
	case rest == "downloads" || strings.HasPrefix(rest, "downloads/"):
		ms = h.downloadRoutes(rest)
	case rest == "shares" || strings.HasPrefix(rest, "shares/"):
		ms = h.shareRoutes(r, rest)
	case strings.HasPrefix(rest, "logins/") && !strings.Contains(rest[len("logins/"):], "/"):
		r.SetPathValue("id", rest[len("logins/"):])
		ms = methods{http.MethodGet: h.login, http.MethodDelete: h.cancelLogin}
	}
	if ms == nil {
		writeJSON(w, http.StatusNotFound, errorBody{fmt.Sprintf("the admin API has no %s (see docs/admin-api.md)", r.URL.Path)})
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	f := ms[method]
	if f == nil {
		allow := slices.Sorted(maps.Keys(ms))
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, " or "), r.Method)})
		return
	}
	f(w, r)
}

func (h *Handler) mounts(w http.ResponseWriter, r *http.Request) {
	ms, err := h.api.Mounts(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, MountsBody{Mounts: ms})
}

// MountsBody is the answer to GET mounts.
type MountsBody struct {
	Mounts []MountInfo `json:"mounts"`
}

// StartLoginBody is the body of POST logins.
type StartLoginBody struct {
	Mount string `json:"mount"`
	Kind  string `json:"kind,omitempty"`
}

func (h *Handler) startLogin(w http.ResponseWriter, r *http.Request) {
	var body StartLoginBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{fmt.Sprintf("the body must be a JSON object such as {\"mount\": \"/115\"}: %v", err)})
		return
	}
	if body.Mount == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{"the body names no mount: {\"mount\": \"/115\"}"})
		return
	}
	l, err := h.api.StartLogin(r.Context(), body.Mount, body.Kind)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", Prefix+"logins/"+l.ID)
	writeJSON(w, http.StatusCreated, l)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{"wait: want a duration such as 30s"})
			return
		}
		wait = d
	}
	l, err := h.api.Login(r.Context(), r.PathValue("id"), r.URL.Query().Get("last"), wait)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (h *Handler) cancelLogin(w http.ResponseWriter, r *http.Request) {
	if err := h.api.CancelLogin(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) check(w http.ResponseWriter, r *http.Request) {
	rep, err := h.api.Check(r.Context(), r.URL.Query()["mount"]...)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) {
		writeJSON(w, e.Status, errorBody{e.Msg})
		return
	}
	writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"the answer could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
