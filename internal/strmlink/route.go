package strmlink

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
)

// Server is what the signed routes need of the WebDAV layer: a file
// served, and a folder listed, by WebDAV path with no user to check, and
// otherwise exactly as for a logged-in client (ranges, the link cache,
// the mount's redirect rules, errors as status codes).
type Server interface {
	// ServeSigned answers GET or HEAD r with the file at name.
	ServeSigned(w http.ResponseWriter, r *http.Request, name string)
	// ListSigned lists the folder at name for r; fresh asks the cloud
	// again instead of a cached listing.
	ListSigned(r *http.Request, name string, fresh bool) ([]drivers.Entry, error)
	// WriteError answers err as the WebDAV layer answers it.
	WriteError(w http.ResponseWriter, err error)
}

// Listing is the answer to a listing link: the folder's entries as the
// WebDAV layer has them.
type Listing struct {
	Entries []ListedEntry `json:"entries"`
}

// ListedEntry is one entry of a Listing.
type ListedEntry struct {
	Name    string    `json:"name"`
	IsDir   bool      `json:"dir,omitempty"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modified"`
	SHA1    string    `json:"sha1,omitempty"`
}

// Route answers the signed links and passes every other request to next
// (authentication, then WebDAV). A link whose signature does not match
// its path under the current key is refused with 403 before anything is
// resolved, so it costs no cloud call. Signatures never reach the log:
// a request is logged under the path it names.
func Route(next http.Handler, s *Signer, srv Server, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, FilePrefix):
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				http.Error(w, "a .strm link is read with GET or HEAD", http.StatusMethodNotAllowed)
				return
			}
			if p, ok := check(w, r, s, FilePrefix, kindFile, log); ok {
				srv.ServeSigned(w, r, p)
			}
		case strings.HasPrefix(r.URL.Path, ListPrefix):
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", "GET")
				http.Error(w, "a listing link is read with GET", http.StatusMethodNotAllowed)
				return
			}
			if p, ok := check(w, r, s, ListPrefix, kindList, log); ok {
				serveListing(w, r, srv, p, log)
			}
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// check answers 403 unless r's path is a link signed for what it names,
// and returns that path.
func check(w http.ResponseWriter, r *http.Request, s *Signer, prefix, kind string, log zerolog.Logger) (string, bool) {
	sig, p, ok := split(r.URL.Path, prefix)
	if ok {
		valid, err := s.valid(kind, p, sig)
		if err != nil {
			log.Error().Err(err).Msg("strm link: no signing key")
			http.Error(w, "pandav cannot read its signing key; see its log", http.StatusInternalServerError)
			return "", false
		}
		ok = valid
	}
	if !ok {
		log.Info().Str("method", r.Method).Str("path", prefix+"…"+p).Str("remote", r.RemoteAddr).Int("status", http.StatusForbidden).
			Msg("refused a link that is not signed for what it names (changed, for another file, or made before `pandav strm rotate-key`)")
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "this link is not signed for this file, or its key was rotated", http.StatusForbidden)
		return "", false
	}
	return p, true
}

// serveListing answers a listing link with the folder's entries as JSON.
func serveListing(w http.ResponseWriter, r *http.Request, srv Server, p string, log zerolog.Logger) {
	start := time.Now()
	kids, err := srv.ListSigned(r, p, r.URL.Query().Get("fresh") == "1")
	ev := log.Info()
	if err != nil {
		ev = log.Warn().Err(err)
		srv.WriteError(w, err)
	} else {
		out := Listing{Entries: make([]ListedEntry, 0, len(kids))}
		for _, k := range kids {
			out.Entries = append(out.Entries, ListedEntry{Name: k.Name, IsDir: k.IsDir, Size: k.Size, ModTime: k.ModTime, SHA1: k.SHA1})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(out)
	}
	ev.Str("method", r.Method).Str("path", ListPrefix+"…"+p).Dur("duration", time.Since(start)).
		Str("remote", r.RemoteAddr).Msg("request")
}
