package webdav

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"pandav/drivers"
)

// Conditional writes. x/net/webdav evaluates only the lock tokens of an If
// header and none of RFC 7232's headers on a write, so a client that says
// "only if it is still the version I read" (davfs2 sends If-Match on every
// save; sync clients send If-None-Match: * to create without clobbering)
// would overwrite someone else's change. writePreconditionFailed evaluates
// what x/net/webdav leaves out, before anything is written; lock tokens
// stay x/net/webdav's.

// errPreconditionFailed is a conditional write whose condition is false:
// 412, and nothing written.
var errPreconditionFailed = errors.New("the resource is not in the state the request's conditions require")

// hasWriteConditions says whether r asks for anything evaluated here, so
// that an unconditional write costs no lookup.
func hasWriteConditions(r *http.Request) bool {
	return r.Header.Get("If-Match") != "" || r.Header.Get("If-None-Match") != "" ||
		r.Header.Get("If-Unmodified-Since") != "" || strings.Contains(r.Header.Get("If"), "[")
}

// writePreconditionFailed reports whether a write to r's resource must be
// refused with 412. etag is the resource's current ETag and mod its time;
// exists is false for a resource that does not exist yet. An If header
// that holds without submitting a lock token is dropped from r (see
// ifHeaderETags).
func writePreconditionFailed(r *http.Request, exists bool, etag string, mod time.Time) bool {
	// RFC 7232 §6: If-Match, else If-Unmodified-Since; then If-None-Match.
	if im := r.Header.Get("If-Match"); im != "" {
		if !exists || (im != "*" && !etagListHas(im, etag, false)) {
			return true
		}
	} else if t, err := http.ParseTime(r.Header.Get("If-Unmodified-Since")); err == nil && exists && !mod.IsZero() {
		if mod.Truncate(time.Second).After(t) {
			return true
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && exists {
		if inm == "*" || etagListHas(inm, etag, true) {
			return true
		}
	}
	fails, tokenless := ifHeaderETags(r.Header.Get("If"), r.URL.Path, exists, etag)
	if tokenless {
		r.Header.Del("If")
	}
	return fails
}

// etagListHas says whether the comma-separated entity tags in list hold
// etag: compared strongly (RFC 7232 §2.3.2), or weakly, ignoring W/.
func etagListHas(list, etag string, weak bool) bool {
	if etag == "" {
		return false
	}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if weak {
			t = strings.TrimPrefix(t, "W/")
		} else if strings.HasPrefix(t, "W/") {
			continue
		}
		if t == etag {
			return true
		}
	}
	return false
}

// ifCondition is one condition of an If header list (RFC 4918 §10.4).
type ifCondition struct {
	not   bool
	token string // a state token, or
	etag  string // an entity tag, with its quotes
}

// ifList is one parenthesized list, with the resource it is tagged with
// ("" for the request's own).
type ifList struct {
	resource string
	conds    []ifCondition
}

// parseIfHeader reads an If header into its lists; ok is false when it is
// malformed, which x/net/webdav then answers. Tokens and entity tags are
// read whole, so a ")" inside one does not end its list.
func parseIfHeader(h string) (lists []ifList, ok bool) {
	s := strings.TrimSpace(h)
	resource := ""
	for s != "" {
		switch s[0] {
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, false
			}
			resource, s = s[1:end], strings.TrimSpace(s[end+1:])
		case '(':
			var l ifList
			l.resource, s = resource, strings.TrimSpace(s[1:])
			for {
				if s == "" {
					return nil, false
				}
				if s[0] == ')' {
					s = strings.TrimSpace(s[1:])
					break
				}
				var c ifCondition
				if rest, found := strings.CutPrefix(s, "Not"); found {
					c.not, s = true, strings.TrimSpace(rest)
				}
				var item string
				if item, s, ok = cutBracketed(s); !ok {
					return nil, false
				}
				if item[0] == '[' {
					c.etag = item[1 : len(item)-1]
				} else {
					c.token = item[1 : len(item)-1]
				}
				l.conds = append(l.conds, c)
				s = strings.TrimSpace(s)
			}
			if len(l.conds) == 0 {
				return nil, false
			}
			lists = append(lists, l)
		default:
			return nil, false
		}
	}
	return lists, len(lists) > 0
}

// cutBracketed splits "<token>rest" or "[etag]rest" after the bracket
// that closes the first; an entity tag's quotes may hold a "]".
func cutBracketed(s string) (item, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	switch s[0] {
	case '<':
		// A Coded-URL holds a URI, which has no "<" (RFC 4918 §10.4).
		if end := strings.IndexByte(s, '>'); end > 0 && !strings.Contains(s[1:end], "<") {
			return s[:end+1], s[end+1:], true
		}
	case '[':
		inQuote := false
		for i := 1; i < len(s); i++ {
			switch {
			case s[i] == '"':
				inQuote = !inQuote
			case s[i] == ']' && !inQuote:
				return s[:i+1], s[i+1:], true
			}
		}
	}
	return "", "", false
}

// ifHeaderETags judges an If header by its entity tags only. fails: no
// list can hold for the resource at path, whatever its lock tokens say. A
// list tagged with another resource is left to x/net/webdav. tokenless: a
// list holds, and the header submits no lock token at all; x/net/webdav
// would refuse it (it counts only lists that name a held token), so the
// caller drops the header and the request is judged as one without
// tokens: fine on an unlocked resource, 423 on a locked one.
func ifHeaderETags(h, path string, exists bool, etag string) (fails, tokenless bool) {
	if !strings.Contains(h, "[") {
		return false, false
	}
	lists, ok := parseIfHeader(h)
	if !ok {
		return false, false
	}
	submits := false
	for _, l := range lists {
		for _, c := range l.conds {
			submits = submits || c.token != "" && !c.not
		}
	}
	for _, l := range lists {
		if l.resource != "" && !sameResource(l.resource, path) {
			return false, false
		}
		holds := true
		for _, c := range l.conds {
			if c.etag != "" && (exists && c.etag == etag) == c.not {
				holds = false
				break
			}
		}
		if holds {
			return false, !submits
		}
	}
	return true, false
}

// sameResource says whether an If header's resource tag names path.
func sameResource(tag, path string) bool {
	p, ok := resourcePath(tag)
	return ok && p == cleanPath(path)
}

// resourcePath is the path an If header's resource tag (an absolute URL
// or a path) names. Only the path counts, as for Destination, so that a
// reverse proxy that rewrites Host does not break the header.
func resourcePath(tag string) (string, bool) {
	u, err := url.Parse(tag)
	if err != nil {
		return "", false
	}
	return cleanPath(u.Path), true
}

// writePreconditionsFail looks the resource of r up, only when r is
// conditional, and reports whether it must be refused with 412. A lookup
// that fails for another reason than absence is returned as err. A PUT is
// checked twice: here, before its body is read, and again by create under
// the path's lock, so that two PUTs with the same If-Match cannot both
// pass.
func (fs *FileSystem) writePreconditionsFail(ctx context.Context, r *http.Request) (failed bool, err error) {
	if r == nil || !hasWriteConditions(r) {
		return false, nil
	}
	n, err := fs.resolve(ctx, cleanPath(r.URL.Path))
	if errors.Is(err, drivers.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return writePreconditionFailed(r, false, "", time.Time{}), nil
	}
	if err != nil {
		return false, err
	}
	fi := fs.info(n)
	etag, _ := fi.ETag(ctx)
	return writePreconditionFailed(r, true, etag, fi.ModTime()), nil
}
