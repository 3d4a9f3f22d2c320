package webdav

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// guard refuses hostile or malformed requests before anything looks up a
// path: traversal, backslashes, NUL, invalid UTF-8, and Destinations that
// are no plain path. Such a request gets 400 and costs no cloud call.
func guardRequest(r *http.Request) (int, string) {
	if reason := badPath(r.URL.Path, r.URL.RawPath); reason != "" {
		return http.StatusBadRequest, reason
	}
	if d := r.Header.Get("Destination"); d != "" {
		u, err := url.Parse(d)
		if err != nil || u.Path == "" {
			return http.StatusBadRequest, "bad Destination header"
		}
		if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
			return http.StatusBadRequest, "bad Destination header"
		}
		if reason := badPath(u.Path, u.RawPath); reason != "" {
			return http.StatusBadRequest, "Destination: " + reason
		}
	}
	if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/") {
		return http.StatusBadRequest, "a file name cannot end with /"
	}
	return 0, ""
}

func badPath(p, raw string) string {
	if !strings.HasPrefix(p, "/") {
		return "the path must be absolute"
	}
	if !utf8.ValidString(p) {
		return "the path is not valid UTF-8"
	}
	if strings.ContainsAny(p, "\\\x00") || strings.Contains(strings.ToLower(raw), "%5c") {
		return "the path holds a backslash or NUL"
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return "the path holds . or .. segments"
		}
	}
	return ""
}
