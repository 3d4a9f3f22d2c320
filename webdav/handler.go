package webdav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/webdav"

	"pandav/drivers"
	"pandav/internal/auth"
	"pandav/internal/state"
)

// Handler serves the FileSystem over WebDAV. It answers GET, HEAD and the
// PROPFIND preliminaries itself and hands the rest to x/net/webdav.
type Handler struct {
	fs   *FileSystem
	dav  *webdav.Handler
	log  zerolog.Logger
	page FolderPage
	// throttled is told of each mount whose cloud throttled a request
	// beyond the driver's retries; nil: nobody asks.
	throttled func(mount string, until time.Time)
}

// FolderPage draws a folder as a page for a person's browser. The
// handler hands it a folder's GET only when the request asks for
// text/html; every other client gets the plain listing as before.
type FolderPage interface {
	// ServeFolder answers r with the folder (a cleaned path ending in
	// "/") and its entries, which the request's user may see.
	ServeFolder(w http.ResponseWriter, r *http.Request, folder string, entries []os.FileInfo)
}

// SetFolderPage makes p draw folders for browsers. Call it before the
// handler serves.
func (h *Handler) SetFolderPage(p FolderPage) { h.page = p }

// OnThrottled makes the handler tell f the mount whose cloud kept
// throttling a request after the driver's retries (answered 503), and
// until when the cloud asked it to wait. Call it before the handler
// serves.
func (h *Handler) OnThrottled(f func(mount string, until time.Time)) { h.throttled = f }

// noteThrottled tells whoever asked (OnThrottled) that r's mount is
// being throttled, when rec's failure was that.
func (h *Handler) noteThrottled(r *http.Request, rec *logRecorder) {
	var limited *drivers.RateLimitedError
	if h.throttled == nil || !errors.As(rec.err, &limited) {
		return
	}
	if m, _ := h.fs.locate(cleanPath(r.URL.Path)); m != nil {
		h.throttled(m.path, time.Now().Add(limited.RetryAfter))
	}
}

// NewHandler returns the WebDAV handler for fs.
func NewHandler(fs *FileSystem) *Handler {
	return &Handler{
		fs:  fs,
		log: fs.o.Log,
		dav: &webdav.Handler{FileSystem: fs, LockSystem: passLocks{}},
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &logRecorder{ResponseWriter: w}
	start := time.Now()
	defer func() {
		h.logRequest(r, rec, time.Since(start))
		h.noteThrottled(r, rec)
	}()
	user := auth.FromContext(r.Context())
	r = r.WithContext(drivers.WithClient(withRequest(r.Context(), &request{userAgent: r.UserAgent(), user: user}), clientKey(r, user)))
	if code, reason := guardRequest(r); code != 0 {
		drainBody(r)
		http.Error(rec, reason, code)
		return
	}
	if h.serveRoute(rec, r) {
		return
	}
	if r.Method != http.MethodOptions {
		h.fs.syncState(r.Context())
	}
	if r.Method != http.MethodPut {
		// Only PUT carries a file; every other body is XML of a few KiB.
		r.Body = http.MaxBytesReader(rec, r.Body, maxXMLBody)
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		// A body may take long but may not stall. Only requests with a
		// body get a read deadline: on a bodyless GET, net/http is already
		// reading the connection in the background, and a deadline there
		// would cancel a film an hour in.
		r.Body = &idleReader{ReadCloser: r.Body, rc: http.NewResponseController(rec)}
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.serveFile(rec, r)
	case "PROPFIND":
		h.propfind(rec, r)
	case http.MethodOptions:
		h.dav.ServeHTTP(rec, r)
	default:
		if IsWrite(r.Method) {
			h.write(rec, r)
			return
		}
		http.Error(rec, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// AnonymousOptions answers an OPTIONS request that carries no
// credentials (see auth.Options): Windows sends one before it will
// authenticate. The answer is the same for every path, so it tells nobody
// what exists, and it costs no cloud call.
func AnonymousOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("DAV", "1, 2")
	w.Header().Set("MS-Author-Via", "DAV")
	w.Header().Set("Allow", "OPTIONS, GET, HEAD, POST, DELETE, PUT, MKCOL, COPY, MOVE, LOCK, UNLOCK, PROPFIND, PROPPATCH")
	w.WriteHeader(http.StatusOK)
}

// drainBody reads what is left of a refused request's body, so that the
// connection can serve the next request; not when the client waits for
// "100 Continue" before sending it, since reading would ask for it.
func drainBody(r *http.Request) {
	if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return
	}
	io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	n, err := h.fs.resolve(ctx, r.URL.Path)
	if err == nil && n.uploading && r.Method == http.MethodGet {
		// Its bytes are on their way to the cloud: served once there.
		if err = h.fs.awaitUpload(ctx, n.name); err == nil {
			n, err = h.fs.resolve(ctx, r.URL.Path)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	fi := h.fs.info(n)
	if fi.IsDir() {
		h.serveIndex(w, r, n)
		return
	}
	if n.held != nil || n.uploading {
		var data []byte
		if n.held != nil {
			data = n.held.data
		}
		w.Header().Set("Content-Type", contentType(fi.Name()))
		if etag, err := fi.ETag(ctx); err == nil {
			w.Header().Set("ETag", etag)
		}
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), bytes.NewReader(data))
		return
	}
	if b, ok, err := h.fs.produced(ctx, n); err != nil {
		writeError(w, err)
		return
	} else if ok {
		serveProduced(w, r, fi, b)
		return
	}
	etag, _ := fi.ETag(ctx)
	w.Header().Set("Content-Type", contentType(fi.Name()))
	w.Header().Set("ETag", etag)
	w.Header().Set("Accept-Ranges", "bytes")
	if f, ok := h.fs.readBack.open(n.m.path, n.entry); ok {
		// pandav uploaded it a moment ago: no link needed.
		defer f.Close()
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
		return
	}
	// Fetch the link before any header is written, so that a throttled or
	// failing cloud is answered with 503 or 502 and not with a cut body.
	// HEAD, an empty file and a 304 need no link at all.
	if r.Method == http.MethodGet && fi.Size() > 0 && !notModified(r, etag, fi.ModTime()) {
		req := drivers.LinkRequest{UserAgent: r.UserAgent()}
		l, err := n.m.link(ctx, n.entry, req)
		if err != nil {
			writeError(w, err)
			return
		}
		if n.m.redirect && redirectable(l, r) {
			w.Header().Del("Content-Type")
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, l.URL, http.StatusFound)
			return
		}
	}
	f := newRemoteFile(ctx, h.fs, n, drivers.LinkRequest{UserAgent: r.UserAgent()})
	defer f.Close()
	if end, ok := boundedRangeEnd(r.Header.Get("Range")); ok {
		f.limitTo(end)
	}
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// redirectable says whether the client can fetch l itself: only when the
// link demands no header the client would not send on its own. An Aliyun
// web link needs a Referer and is always proxied; a 115 link is bound to
// the User-Agent it was asked with, which is the client's own here.
func redirectable(l drivers.Link, r *http.Request) bool {
	for k, vs := range l.Header {
		if http.CanonicalHeaderKey(k) != "User-Agent" || len(vs) != 1 || vs[0] != r.UserAgent() {
			return false
		}
	}
	return true
}

// boundedRangeEnd returns the end (exclusive) of a single "bytes=a-b"
// range. ServeContent tells the File only where to start; knowing where
// to stop keeps a player's small probe from fetching a whole chunk.
func boundedRangeEnd(h string) (int64, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok || a == "" || b == "" {
		return 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || last < start {
		return 0, false
	}
	return last + 1, true
}

// notModified says whether ServeContent will answer 304, so that no link
// is fetched for it.
func notModified(r *http.Request, etag string, mod time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		return inm == "*" || etagListHas(inm, etag, true)
	}
	if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !mod.IsZero() {
		return !mod.Truncate(time.Second).After(ims)
	}
	return false
}

// serveIndex answers GET on a folder with a plain HTML listing, which is
// what a person who opens the URL in a browser expects.
func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request, n node) {
	kids, err := h.fs.readdir(r.Context(), n)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	base := strings.TrimSuffix(n.name, "/") + "/"
	if h.page != nil && auth.WantsPage(r) {
		h.page.ServeFolder(w, r, base, kids)
		return
	}
	fmt.Fprintf(w, "<!doctype html>\n<meta charset=utf-8><title>%s</title>\n<h1>%s</h1>\n<ul>\n", html.EscapeString(base), html.EscapeString(base))
	if n.name != "/" {
		fmt.Fprintf(w, "<li><a href=\"../\">../</a>\n")
	}
	for _, k := range kids {
		name := k.Name()
		if k.IsDir() {
			name += "/"
		}
		href := (&url.URL{Path: path.Join(base, k.Name())}).EscapedPath()
		if k.IsDir() {
			href += "/"
		}
		fmt.Fprintf(w, "<li><a href=\"%s\">%s</a> %d\n", html.EscapeString(href), html.EscapeString(name), k.Size())
	}
	fmt.Fprintf(w, "</ul>\n")
}

const finiteDepthBody = `<?xml version="1.0" encoding="utf-8"?>
<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>
`

// propfind refuses Depth: infinity (RFC 4918 §9.1), which would list a
// whole cloud drive, and resolves the target (and its children) before
// x/net/webdav starts writing, so that a cloud error becomes a status code
// instead of a 207 cut short. The walk that follows is served from cache.
func (h *Handler) propfind(w http.ResponseWriter, r *http.Request) {
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Depth"))) {
	case "":
		// RFC 4918 says a missing Depth means infinity; every client we
		// serve sends one, and treating its absence as 1 is safer than a
		// walk of the whole drive.
		r.Header.Set("Depth", "1")
	case "0", "1":
	case "infinity":
		drainBody(r)
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, finiteDepthBody)
		return
	default:
		http.Error(w, "bad Depth header", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxXMLBody+1))
	if err != nil {
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	if len(body) > maxXMLBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !namespacesValid(body) {
		http.Error(w, "invalid XML namespace declaration", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx := r.Context()
	q := requestOf(ctx)
	q.askedProps = askedPropsIn(body)
	q.listMemo = newListMemo()
	n, err := h.fs.resolve(ctx, r.URL.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	var kids []os.FileInfo
	if r.Header.Get("Depth") == "1" && (n.virtual || n.entry.IsDir) {
		if kids, err = h.fs.readdir(ctx, n); err != nil {
			writeError(w, err)
			return
		}
	}
	if err := h.fs.preloadProps(n, kids); err != nil {
		writeError(w, err)
		return
	}
	h.dav.ServeHTTP(w, r)
}

// bodyTimeout is the longest silence of a request body. A variable, so a
// test can shorten it.
var bodyTimeout = time.Minute

// idleReader extends the connection's read deadline before every read,
// so a body that keeps coming is never cut, and one that stalls is.
type idleReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	r.rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	n, err := r.ReadCloser.Read(p)
	if err != nil {
		// The body is over: lift the deadline before the response, which
		// may stream for long, is written.
		r.rc.SetReadDeadline(time.Time{})
		r.done = err == io.EOF
	}
	return n, err
}

// namespacesValid rejects a prefix bound to the empty namespace
// (xmlns:p=""), which XML Namespaces 1.0 forbids and encoding/xml lets
// through.
func namespacesValid(body []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return true // malformed XML is x/net/webdav's to refuse
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return false
				}
			}
		}
	}
}

// logRecorder notes what was answered, for the request's log line.
type logRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    error // why the request failed, for the log line
}

func (r *logRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *logRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// copyBufs holds the buffers ReadFrom copies file bodies through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// ReadFrom copies a body (http.ServeContent's, above all) through one
// large buffer instead of io.Copy's 32 KiB: a stream then costs one write
// system call per 256 KiB instead of eight, and on a busy server the
// system calls, not the copying, are what a stream costs.
func (r *logRecorder) ReadFrom(src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{r}, src, *bp)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *logRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes through for streaming.
func (r *logRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *Handler) logRequest(r *http.Request, rec *logRecorder, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	ev := h.log.Info()
	if status >= 500 {
		ev = h.log.Warn()
	}
	ev = ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).
		Int64("bytes", rec.bytes).Dur("duration", d)
	if v := r.Header.Get("Range"); v != "" {
		ev = ev.Str("range", v)
	}
	if v := r.Header.Get("Depth"); v != "" && r.Method == "PROPFIND" {
		ev = ev.Str("depth", v)
	}
	if rec.err != nil {
		ev = ev.AnErr("error", rec.err)
	}
	if err := r.Context().Err(); err != nil && status < 400 {
		ev = ev.Bool("client_gone", true)
	}
	msg := "request"
	if errors.Is(rec.err, state.ErrUnavailable) {
		msg = "request refused with 503: the shared state store (Redis) cannot be reached; nothing was changed"
	}
	ev.Str("remote", r.RemoteAddr).Msg(msg)
}
