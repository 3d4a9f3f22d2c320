package memdrivetest

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// live returns the node with id unless it, or a folder above it, is in
// the trash: the cloud shows neither (docs/protocols/memdrive.md §2).
func (s *Server) live(id string) (fakecloud.Node, bool) {
	n, err := s.tree.Get(id)
	if err != nil || n.Trashed {
		return fakecloud.Node{}, false
	}
	for cur := n; cur.ID != rootID; {
		p, err := s.tree.Get(cur.ParentID)
		if err != nil || p.Trashed {
			return fakecloud.Node{}, false
		}
		cur = p
	}
	return n, true
}

func notFound(w http.ResponseWriter) {
	fail(w, http.StatusNotFound, "not_found", "no such file or folder")
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	n, ok := s.live(r.PathValue("id"))
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, fileOf(n))
}

// handleChildren answers one page, newest first, capped at PageCap
// whatever the limit asked (docs/protocols/memdrive.md §2). The cursor names the last
// entry served; the next page starts below it, so entries added
// meanwhile (which sort first) shift nothing.
func (s *Server) handleChildren(w http.ResponseWriter, r *http.Request) {
	dir, ok := s.live(r.PathValue("id"))
	switch {
	case !ok:
		notFound(w)
		return
	case !dir.IsDir:
		fail(w, http.StatusBadRequest, "not_a_folder", "only a folder has children")
		return
	}
	q := r.URL.Query()
	limit := s.o.PageCap
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(w, http.StatusBadRequest, "invalid_request", "limit must be a positive number")
			return
		}
		limit = min(n, s.o.PageCap)
	}
	kids, _ := s.tree.Children(dir.ID)
	// Newest first: IDs count up (Start).
	sort.Slice(kids, func(i, j int) bool { return kids[i].ID > kids[j].ID })
	from := 0
	if c := q.Get("cursor"); c != "" {
		last, ok := readCursor(c, dir.ID)
		if !ok {
			fail(w, http.StatusBadRequest, "bad_cursor", "the cursor is not one this folder's listing gave")
			return
		}
		from = sort.Search(len(kids), func(i int) bool { return kids[i].ID < last })
	}
	to := min(from+limit, len(kids))
	out := page{Items: make([]file, 0, to-from)}
	for _, k := range kids[from:to] {
		out.Items = append(out.Items, fileOf(k))
	}
	if to < len(kids) {
		out.NextCursor = makeCursor(dir.ID, kids[to-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// A cursor is opaque to clients; inside, it is the folder and the last
// ID served.
func makeCursor(dir, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(dir + "/" + last))
}

func readCursor(c, dir string) (last string, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", false
	}
	d, last, found := strings.Cut(string(b), "/")
	return last, found && d == dir && last != ""
}

// link is one issued download link.
type link struct {
	fileID  string
	expires int64 // unix seconds, as in the URL
	sig     string
	expired bool // ExpireLinks
}

// handleLink issues a CDN link whose `expires` is its only lifetime
// (docs/protocols/memdrive.md §3).
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	n, ok := s.live(r.PathValue("id"))
	switch {
	case !ok:
		notFound(w)
		return
	case n.IsDir:
		fail(w, http.StatusBadRequest, "is_folder", "a folder has no download link")
		return
	}
	token := fakecloud.RandomHex(16)
	l := &link{fileID: n.ID, expires: time.Now().Add(s.o.LinkTTL).Unix(), sig: fakecloud.RandomHex(20)}
	s.mu.Lock()
	s.links[token] = l
	s.mu.Unlock()
	q := url.Values{"expires": {strconv.FormatInt(l.expires, 10)}, "sig": {l.sig}}
	writeJSON(w, http.StatusOK, linkAnswer{URL: s.cdn.URL + "/" + token + "/" + url.PathEscape(n.Name) + "?" + q.Encode()})
}

// serveCDN serves /<token>/<name>?expires=..&sig=.. with ranges. It
// refuses a link whose expiry has passed, or whose query was altered.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.counters.Inc(EndpointCDN)
	if s.fault(w, s.faults.Next(EndpointCDN)) {
		return
	}
	token, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	s.mu.Lock()
	l, known := s.links[token]
	var lc link
	if known {
		lc = *l
	}
	s.mu.Unlock()
	switch {
	case !known || q.Get("sig") != lc.sig || q.Get("expires") != strconv.FormatInt(lc.expires, 10):
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	case lc.expired || time.Now().Unix() >= lc.expires:
		http.Error(w, "link expired", http.StatusForbidden)
		return
	}
	n, ok := s.live(lc.fileID)
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	fakecloud.ServeBlob(w, r, n.Blob, s.faults)
}

func (s *Server) handleQuota(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	total := s.total
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, quotaAnswer{Used: s.tree.Usage(), Total: total})
}
