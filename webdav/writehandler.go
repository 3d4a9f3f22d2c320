package webdav

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/internal/auth"
)

// replacesDavStatus says whether err's own status should replace
// x/net/webdav's.
// Not-found and exists keep x/net/webdav's per-method codes (409, 405...).
func replacesDavStatus(err error) bool {
	switch statusOf(err) {
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout,
		http.StatusBadRequest, http.StatusForbidden, http.StatusNotImplemented, http.StatusPreconditionFailed,
		http.StatusInsufficientStorage, http.StatusRequestEntityTooLarge:
		return true
	}
	return false
}

// statusWriter replaces x/net/webdav's error status with the cloud's:
// the request's cause, which the FileSystem noted (see request), so the
// client is told 503 with Retry-After when the cloud throttles, and 502
// when it fails.
type statusWriter struct {
	*logRecorder
	q        *request
	replaced bool
}

// ReadFrom keeps a replaced body out, as Write does (logRecorder's
// ReadFrom would write past it).
func (s *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{s}, src)
}

func (s *statusWriter) WriteHeader(code int) {
	if code >= 400 && s.q.cause != nil && replacesDavStatus(s.q.cause) {
		s.replaced = true
		writeError(s.logRecorder, s.q.cause)
		return
	}
	s.logRecorder.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.replaced {
		return len(p), nil
	}
	return s.logRecorder.Write(p)
}

var writeMethods = map[string]bool{
	http.MethodPut: true, http.MethodDelete: true, "MKCOL": true, "COPY": true,
	"MOVE": true, "PROPPATCH": true, "LOCK": true, "UNLOCK": true,
}

// IsWrite says whether an HTTP method changes anything.
func IsWrite(method string) bool { return writeMethods[method] }

func (h *Handler) write(w *logRecorder, r *http.Request) {
	q := requestOf(r.Context())
	if m, _ := h.fs.locate(cleanPath(r.URL.Path)); m != nil && m.readOnly && r.Method != "UNLOCK" {
		drainBody(r)
		writeError(w, fmt.Errorf("%s: %w", m.path, errReadOnly))
		return
	}
	if h.cloudDownloadWrite(w, r) {
		return
	}
	if r.Method != "UNLOCK" {
		failed, err := h.fs.writePreconditionsFail(r.Context(), r)
		if err != nil || failed {
			drainBody(r)
			if err == nil {
				err = errPreconditionFailed
			}
			writeError(w, err)
			return
		}
	}
	switch r.Method {
	case http.MethodDelete:
		if h.fs.isVirtualOrMount(cleanPath(r.URL.Path)) {
			drainBody(r)
			writeError(w, fmt.Errorf("%w: %s is a mount or the root", errNotInMount, cleanPath(r.URL.Path)))
			return
		}
	case "MOVE", "COPY":
		dst, err := h.destination(r)
		if err != nil {
			drainBody(r)
			writeError(w, err)
			return
		}
		if r.Header.Get("Overwrite") == "" {
			r.Header.Set("Overwrite", "T") // RFC 4918: absent means T
		}
		h.copyMove(w, r, dst)
		return
	case "LOCK":
		h.lock(w, r)
		return
	case "UNLOCK":
		h.unlock(w, r)
		return
	case http.MethodPut:
		if h.fs.isVirtualOrMount(cleanPath(r.URL.Path)) {
			drainBody(r)
			writeError(w, fmt.Errorf("%w: %s is a mount or the root", errNotInMount, cleanPath(r.URL.Path)))
			return
		}
		put, err := putInfoOf(r)
		if err != nil {
			drainBody(r)
			writeError(w, err)
			return
		}
		put.conditional = r
		q.put = put
		r.Body = put.body
		if m, _ := h.fs.locate(cleanPath(r.URL.Path)); !put.mtime.IsZero() && m != nil && m.can.keepsModTime() {
			// rclone and Nextcloud clients then skip a PROPPATCH of
			// getlastmodified after each upload.
			w.Header().Set("X-OC-Mtime", "accepted")
		}
	}
	p := cleanPath(r.URL.Path)
	release, code, err := h.confirmLocks(r, p, "", r.Method == http.MethodDelete)
	if err != nil {
		drainBody(r)
		writeError(w, err)
		return
	}
	if code != 0 {
		drainBody(r)
		http.Error(w, http.StatusText(code), code)
		return
	}
	defer release()
	if r.Method == "PROPPATCH" {
		h.proppatch(w, r, q)
		return
	}
	h.dav.ServeHTTP(&statusWriter{logRecorder: w, q: q}, withoutIf(r))
	if r.Method == http.MethodDelete && w.status == http.StatusNoContent {
		h.fs.locks.dropUnder(p)
	}
}

func lockOwner(r *http.Request) string {
	if u := requestOf(r.Context()).user; u != nil {
		return "user:" + u.Name
	}
	return "addr:" + auth.RemoteHost(r)
}

// destination checks a MOVE or COPY target and rewrites the header to a
// bare path: it is compared by path, so a reverse proxy that rewrites
// Host does not break MOVE.
func (h *Handler) destination(r *http.Request) (string, error) {
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil || u.Path == "" {
		return "", fmt.Errorf("%w: bad Destination header", drivers.ErrInvalidName)
	}
	src, dst := cleanPath(r.URL.Path), cleanPath(u.Path)
	if !requestOf(r.Context()).user.MaySee(dst) {
		return "", fmt.Errorf("%w: the destination is outside your mounts", os.ErrPermission)
	}
	if h.fs.isVirtualOrMount(src) {
		return "", fmt.Errorf("%w: %s is a mount or the root; it cannot be moved or copied", errNotInMount, src)
	}
	if h.fs.isVirtualOrMount(dst) {
		return "", fmt.Errorf("%w: %s is a mount or the root; it cannot be replaced", errNotInMount, dst)
	}
	ms, _ := h.fs.locate(src)
	md, _ := h.fs.locate(dst)
	if md == nil {
		return "", fmt.Errorf("%w: %s is outside every mount", errNotInMount, dst)
	}
	if ms != md {
		return "", errCrossMount
	}
	if md.readOnly {
		return "", fmt.Errorf("%s: %w", md.path, errReadOnly)
	}
	r.Header.Set("Destination", (&url.URL{Path: dst}).EscapedPath())
	return dst, nil
}

// putInfoOf reads what the headers say about a PUT body. Finder sends a
// chunked body with its length in X-Expected-Entity-Length; rclone and
// Nextcloud clients send OC-Checksum and X-OC-Mtime.
func putInfoOf(r *http.Request) (*putInfo, error) {
	pi := &putInfo{size: r.ContentLength, body: &bodyWatch{ReadCloser: r.Body}}
	if pi.size < 0 {
		if v := r.Header.Get("X-Expected-Entity-Length"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: bad X-Expected-Entity-Length", drivers.ErrInvalidName)
			}
			pi.size = n
		}
	}
	for _, sum := range strings.Fields(r.Header.Get("OC-Checksum")) {
		if v, ok := strings.CutPrefix(strings.ToUpper(sum), "SHA1:"); ok && len(v) == 40 {
			pi.sha1 = v
		}
	}
	if v := r.Header.Get("X-OC-Mtime"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
			pi.mtime = time.Unix(0, int64(secs*1e9)).UTC()
		}
	}
	return pi, nil
}

// clampTimeout turns a LOCK Timeout header into one no longer than max.
// x/net/webdav holds an Infinite lock forever and reports it as
// "Second-0"; here "Infinite" means max.
func clampTimeout(h string, max time.Duration) string {
	secs := int64(max / time.Second)
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "Second-"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				secs = min(n, secs)
				break
			}
		}
		if part == "Infinite" {
			break
		}
	}
	return "Second-" + strconv.FormatInt(secs, 10)
}

// copyMove answers COPY and MOVE with the cloud's server-side copy, move
// and rename. x/net/webdav's own would download and upload every file
// again for COPY, and for an overwriting MOVE would delete the
// destination before knowing the move can succeed.
func (h *Handler) copyMove(w *logRecorder, r *http.Request, dst string) {
	drainBody(r)
	ctx := r.Context()
	src := cleanPath(r.URL.Path)
	isCopy := r.Method == "COPY"
	if src == dst {
		http.Error(w, "the destination is the source", http.StatusForbidden)
		return
	}
	if err := checkName(path.Base(dst)); err != nil {
		writeError(w, err)
		return
	}
	depth0 := false
	switch d := strings.ToLower(r.Header.Get("Depth")); {
	case d == "" || d == "infinity":
	case d == "0" && isCopy:
		depth0 = true
	default:
		http.Error(w, r.Method+" takes Depth infinity"+map[bool]string{true: " or 0", false: ""}[isCopy], http.StatusBadRequest)
		return
	}
	// RFC 4918 §9.8.5: COPY needs only the destination's lock.
	lockSrc := src
	if isCopy {
		lockSrc = ""
	}
	release, code, err := h.confirmLocks(r, lockSrc, dst, true)
	if err != nil {
		writeError(w, err)
		return
	}
	if code != 0 {
		http.Error(w, http.StatusText(code), code)
		return
	}
	defer release()
	if _, err := h.fs.resolve(ctx, src); err != nil {
		writeError(w, err)
		return
	}
	existed := false
	switch _, err := h.fs.resolve(ctx, dst); {
	case err == nil:
		if r.Header.Get("Overwrite") == "F" {
			http.Error(w, "the destination exists and Overwrite is F", http.StatusPreconditionFailed)
			return
		}
		existed = true
	case !isNotFound(err):
		writeError(w, err)
		return
	}
	switch {
	case existed:
		err = h.fs.replace(ctx, src, dst, isCopy)
	case isCopy:
		_, err = h.fs.copyEntry(ctx, src, dst, depth0)
	default:
		err = h.fs.rename(ctx, src, dst)
	}
	if err != nil {
		if isNotFound(err) {
			http.Error(w, "the destination's parent folder does not exist", http.StatusConflict)
			return
		}
		writeError(w, err)
		return
	}
	if !isCopy {
		h.fs.locks.dropUnder(src)
	}
	if existed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func isNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

var lastModifiedElem = regexp.MustCompile(`(<\s*/?\s*(?:[A-Za-z_][\w.-]*:)?)getlastmodified\b`)

// proppatch lets clients "set" DAV:getlastmodified, as Windows and rclone
// do after an upload: x/net/webdav refuses any live property with 403 and
// fails the whole PROPPATCH. The property is renamed on the way in and
// back on the way out, and accepted without being stored.
func (h *Handler) proppatch(w *logRecorder, r *http.Request, q *request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxXMLBody+1))
	if err != nil {
		writeError(w, fmt.Errorf("%w: %v", drivers.ErrInvalidName, err))
		return
	}
	if len(body) > maxXMLBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	renamed := lastModifiedElem.Match(body)
	if renamed {
		body = lastModifiedElem.ReplaceAll(body, []byte("${1}"+lastModifiedAlias.Local))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if !renamed {
		h.dav.ServeHTTP(&statusWriter{logRecorder: w, q: q}, withoutIf(r))
		return
	}
	buf := &bufferedWriter{header: http.Header{}}
	inner := &logRecorder{ResponseWriter: buf}
	h.dav.ServeHTTP(&statusWriter{logRecorder: inner, q: q}, withoutIf(r))
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	out := bytes.ReplaceAll(buf.body.Bytes(), []byte(lastModifiedAlias.Local), []byte("getlastmodified"))
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(max(buf.status, http.StatusOK))
	w.Write(out)
}

// maxXMLBody caps request bodies that are parsed as XML.
const maxXMLBody = 1 << 20

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
