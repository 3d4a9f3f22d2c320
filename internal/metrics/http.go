package metrics

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Instrument counts next's requests by method and status, and the bytes
// of their bodies both ways. Bytes are counted as they pass, so a film
// streamed for hours shows in the counters while it plays.
func Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingBody{ReadCloser: r.Body}
		}
		next.ServeHTTP(cw, r)
		code := cw.code
		if code == 0 {
			code = http.StatusOK
		}
		requests.WithLabelValues(methodLabel(r.Method), strconv.Itoa(code)).Inc()
	})
}

// knownMethods are the methods counted under their own names; any other
// is "other", so a client cannot grow the metrics with made-up methods.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "PUT": true, "POST": true, "DELETE": true, "OPTIONS": true, "PATCH": true,
	"PROPFIND": true, "PROPPATCH": true, "MKCOL": true, "COPY": true, "MOVE": true, "LOCK": true, "UNLOCK": true,
}

func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}

// countingWriter notes the status and counts the body's bytes.
type countingWriter struct {
	http.ResponseWriter
	code int
}

func (w *countingWriter) WriteHeader(code int) {
	// An informational answer (100, 103) comes before the real one.
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	bytesServed.Add(float64(n))
	return n, err
}

// ReadFrom keeps the writer's own ReadFrom (sendfile for a file on disk)
// in use.
func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	bytesServed.Add(float64(n))
	return n, err
}

// Flush lets a handler that flushes (a long PROPFIND) do so.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type countingBody struct {
	io.ReadCloser
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	bytesReceived.Add(float64(n))
	return n, err
}

// Endpoint is a cloud API's URL path as the endpoint label shows it: a
// segment that looks like an id (three digits or more, or 24 characters
// or more) becomes ":id", so that one endpoint is one series.
func Endpoint(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if looksLikeID(s) {
			segs[i] = ":id"
		}
	}
	return strings.Join(segs, "/")
}

func looksLikeID(s string) bool {
	if len(s) >= 24 {
		return true
	}
	digits := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	return digits >= 3
}
