package webdav

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"time"

	"pandav/drivers"
	"pandav/internal/auth"
)

// The methods below serve requests whose right to a path was checked
// elsewhere, by a signature (internal/strmlink), so no user bounds what
// resolves. Everything else is what a logged-in client gets: the same
// resolution and caches, ranges, link cache and redirect rules.

// clientKey names who a request is for, so that an account's calls are
// paced in fair turns between clients (drivers.WithClient): the user,
// and the address, since one user on two devices is two clients.
func clientKey(r *http.Request, u *auth.User) string {
	name := ""
	if u != nil {
		name = u.Name
	}
	return name + "@" + auth.RemoteHost(r)
}

// signedRequest is r as the FileSystem should see a signed request for
// name: no user, its User-Agent, its client.
func signedRequest(r *http.Request, name string) *http.Request {
	ctx := withRequest(r.Context(), &request{userAgent: r.UserAgent()})
	r = r.WithContext(drivers.WithClient(ctx, clientKey(r, nil)))
	r.URL = &url.URL{Path: name, RawQuery: r.URL.RawQuery}
	return r
}

// ServeSigned answers GET or HEAD r with the file at name, as for a
// logged-in client. A folder is not served: a signed link names a file.
// The request is logged under name, never under the link that carries
// the signature.
func (h *Handler) ServeSigned(w http.ResponseWriter, r *http.Request, name string) {
	rec := &logRecorder{ResponseWriter: w}
	start := time.Now()
	r = signedRequest(r, path.Clean("/"+name))
	defer func() { h.logRequest(r, rec, time.Since(start)) }()
	n, err := h.fs.resolve(r.Context(), r.URL.Path)
	if err == nil && (n.virtual || n.entry.IsDir) {
		err = fmt.Errorf("%s: %w: a signed link names a file", r.URL.Path, drivers.ErrNotFound)
	}
	if err != nil {
		writeError(rec, err)
		return
	}
	h.serveFile(rec, r)
}

// ListSigned lists the folder at name for r. fresh drops a cached
// listing first, so the answer is the cloud's now (and is cached anew).
func (h *Handler) ListSigned(r *http.Request, name string, fresh bool) ([]drivers.Entry, error) {
	r = signedRequest(r, path.Clean("/"+name))
	ctx := r.Context()
	n, err := h.fs.resolve(ctx, r.URL.Path)
	if err != nil {
		return nil, err
	}
	if n.virtual || !n.entry.IsDir {
		return nil, fmt.Errorf("%s: %w: not a folder of a mount", r.URL.Path, drivers.ErrNotFound)
	}
	rel := n.name[len(n.m.path):]
	if rel == "" {
		rel = "/"
	}
	if fresh {
		n.m.caches.listings.Remove(n.m.fullPath(rel))
	}
	return n.m.list(ctx, n.entry, rel)
}

// WriteError answers err with the status the WebDAV layer gives it.
func (h *Handler) WriteError(w http.ResponseWriter, err error) { writeError(w, err) }
