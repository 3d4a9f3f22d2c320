package app

import (
	"net/http"
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
