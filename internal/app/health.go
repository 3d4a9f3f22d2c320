package app

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"pandav/internal/admin"
	"pandav/internal/auth"
	"pandav/internal/metrics"
)

// HealthPaths answer GET and HEAD with 200 while the process serves, for
// `pandav healthcheck` and container probes. /healthz is the name probes
// expect; /.pandav/healthz is the same answer under the prefix pandav keeps
// for its own pages. Neither can shadow a user's file: the root holds only
// mounts, and config refuses a mount at either path.
var HealthPaths = []string{"/healthz", "/.pandav/healthz"}

// withHealth answers the health paths before next, and so before
// authentication: a probe has no password, and the answer tells nothing
// but that the process is up. It never calls a cloud, so a slow or
// throttled cloud does not make a container restart. Other methods on
// these paths go on to WebDAV.
func withHealth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && isHealthPath(r.URL.Path) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				w.Write([]byte("ok\n"))
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isHealthPath(p string) bool {
	for _, h := range HealthPaths {
		if p == h {
			return true
		}
	}
	return false
}

// ReadyPaths answer GET and HEAD with 200 when every mount's login works,
// and with 503 naming each mount whose login does not, and why, for
// probes that route traffic (docs/DESIGN.md, "Metrics and health"). They
// read what the admin API reports of the logins, the outcome of the last
// refresh or login, so a hit costs no cloud call; a login revoked in the
// cloud shows at the first call that meets the refusal. The Docker
// healthcheck stays on /healthz: a revoked login is for `pandav login`,
// not for a restart.
var ReadyPaths = []string{"/readyz", "/.pandav/readyz"}

// mountLister is where readiness reads the mounts' logins: admin.API's
// Mounts, which makes no cloud call.
type mountLister interface {
	Mounts(ctx context.Context) ([]admin.MountInfo, error)
}

// withReady answers the ready paths from mounts before next, and so
// before authentication, as the health paths are. The answer names
// mounts and says why, never what the cloud said (which could carry an
// account's name).
func withReady(mounts mountLister, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !slices.Contains(ReadyPaths, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		infos, err := mounts.Mounts(r.Context())
		var problems []string
		if err != nil {
			problems = []string{"the mounts' state cannot be read: " + err.Error()}
		}
		for _, m := range infos {
			problems = append(problems, loginProblems(m)...)
		}
		body := "ready\n"
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			body = "not ready:\n" + strings.Join(problems, "\n") + "\n"
		}
		if r.Method == http.MethodGet {
			w.Write([]byte(body))
		}
	})
}

// loginProblems says what keeps m's logins from working: none yet, or
// one the cloud refused. A kind of login the mount takes but holds none
// of (a web login no share mount needed yet) is no problem.
func loginProblems(m admin.MountInfo) []string {
	var out []string
	if l := m.Login; l != nil {
		switch {
		case !l.LoggedIn:
			out = append(out, fmt.Sprintf("%s: no login yet; run `pandav login %s`", m.Path, m.Path))
		case l.Refused != "":
			out = append(out, fmt.Sprintf("%s: the cloud refused the login; run `pandav login %s`", m.Path, m.Path))
		}
	}
	// The first kind is Login, said above.
	for i, k := range m.Logins {
		if i > 0 && k.LoggedIn && k.Refused != "" {
			out = append(out, fmt.Sprintf("%s: the cloud refused the %s login; run `pandav login --kind %s %s`", m.Path, k.Kind, k.Kind, m.Path))
		}
	}
	return out
}

// MetricsPaths serve the Prometheus metrics (internal/metrics).
var MetricsPaths = []string{"/metrics", "/.pandav/metrics"}

// withMetrics serves the metrics on their paths before next: to anyone
// when public, else to whom admin.Admit lets in (users with admin; with
// no users, this machine's clients).
func withMetrics(public bool, gate admin.Authenticator, log zerolog.Logger, next http.Handler) http.Handler {
	serve := metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !slices.Contains(MetricsPaths, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if !public {
			var refused *auth.Refusal
			if r, refused = admin.Admit(gate, r, "/metrics", log); refused != nil {
				refused.Header(w.Header())
				http.Error(w, refused.Msg, refused.Status)
				return
			}
		}
		serve.ServeHTTP(w, r)
	})
}
