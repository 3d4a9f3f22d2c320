package webdav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/webdav"
)

// lockInfo is a LOCK request's body (RFC 4918 §14.11).
type lockInfo struct {
	XMLName xml.Name `xml:"DAV: lockinfo"`
	Scope   struct {
		Exclusive *struct{} `xml:"DAV: exclusive"`
		Shared    *struct{} `xml:"DAV: shared"`
	} `xml:"DAV: lockscope"`
	Type struct {
		Write *struct{} `xml:"DAV: write"`
	} `xml:"DAV: locktype"`
	Owner *struct {
		InnerXML string `xml:",innerxml"`
	} `xml:"DAV: owner"`
}

// lock answers LOCK (RFC 4918 §9.10): a new exclusive or shared lock, or
// with an empty body, the refresh of the lock the If header names. A
// lock on an unmapped URL makes an empty file (a placeholder, see
// heldFiles), answered 201.
func (h *Handler) lock(w *logRecorder, r *http.Request) {
	now := time.Now()
	p := cleanPath(r.URL.Path)
	timeout := lockTimeout(r.Header.Get("Timeout"), h.fs.o.MaxLockTimeout)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxXMLBody+1))
	switch {
	case err != nil:
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	case len(body) > maxXMLBody:
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	case len(bytes.TrimSpace(body)) == 0:
		h.refreshLock(w, r, p, timeout, now)
		return
	}
	var li lockInfo
	if err := xml.Unmarshal(body, &li); err != nil {
		http.Error(w, "the body is not a DAV:lockinfo", http.StatusBadRequest)
		return
	}
	if (li.Scope.Exclusive == nil) == (li.Scope.Shared == nil) || li.Type.Write == nil {
		http.Error(w, "a lock is a write lock, exclusive or shared", http.StatusBadRequest)
		return
	}
	zeroDepth := false
	switch d := strings.ToLower(strings.TrimSpace(r.Header.Get("Depth"))); d {
	case "", "infinity":
	case "0":
		zeroDepth = true
	default:
		http.Error(w, "LOCK takes Depth 0 or infinity", http.StatusBadRequest)
		return
	}
	principal := lockOwner(r)
	if h.fs.locks.ownedBy(now, principal) >= h.fs.o.MaxLocksPerUser {
		http.Error(w, "too many locks held; unlock some first", http.StatusForbidden)
		return
	}
	lk := Lock{Root: p, ZeroDepth: zeroDepth, Shared: li.Scope.Shared != nil, Principal: principal, Timeout: timeout}
	if li.Owner != nil {
		lk.OwnerXML = li.Owner.InnerXML
	}
	ctx := r.Context()
	for {
		var got Lock
		if got, err = h.fs.locks.create(now, lk); !errors.Is(err, errBeingWritten) {
			lk = got
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
			now = time.Now()
		}
	}
	switch {
	case errors.Is(err, errLockConflict):
		http.Error(w, "the resource is locked", webdav.StatusLocked)
		return
	case err != nil:
		writeError(w, err)
		return
	}
	created := false
	if _, err := h.fs.resolve(ctx, p); err != nil {
		if !isNotFound(err) {
			h.fs.locks.unlock(now, lk.Token)
			writeError(w, err)
			return
		}
		if err := h.fs.createEmpty(ctx, p); err != nil {
			h.fs.locks.unlock(now, lk.Token)
			if isNotFound(err) {
				http.Error(w, "the parent folder does not exist", http.StatusConflict)
				return
			}
			writeError(w, cause(ctx, err))
			return
		}
		created = true
	}
	w.Header().Set("Lock-Token", "<"+lk.Token+">")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeLockAnswer(w, status, lk, now)
}

// refreshLock restarts the timeout of the lock the If header submits.
func (h *Handler) refreshLock(w *logRecorder, r *http.Request, p string, timeout time.Duration, now time.Time) {
	lists, ok := parseIfHeader(r.Header.Get("If"))
	if !ok {
		http.Error(w, "a lock refresh names its lock in an If header", http.StatusBadRequest)
		return
	}
	for _, c := range submittedTokens(lists) {
		if lk, err := h.fs.locks.refresh(now, c.Token, p, timeout); err == nil {
			writeLockAnswer(w, http.StatusOK, lk, now)
			return
		}
	}
	http.Error(w, "no lock of the If header covers this resource", http.StatusPreconditionFailed)
}

// unlock answers UNLOCK (RFC 4918 §9.11).
func (h *Handler) unlock(w *logRecorder, r *http.Request) {
	drainBody(r)
	t := strings.TrimSpace(r.Header.Get("Lock-Token"))
	if len(t) < 3 || t[0] != '<' || t[len(t)-1] != '>' {
		http.Error(w, "UNLOCK needs a Lock-Token header", http.StatusBadRequest)
		return
	}
	if err := h.fs.locks.unlock(time.Now(), t[1:len(t)-1]); err != nil {
		if errors.Is(err, errNoSuchLock) {
			http.Error(w, "no such lock", http.StatusConflict)
			return
		}
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// lockTimeout is the LOCK Timeout header as a duration, at most max
// (see clampTimeout).
func lockTimeout(h string, max time.Duration) time.Duration {
	secs, _ := strconv.ParseInt(strings.TrimPrefix(clampTimeout(h, max), "Second-"), 10, 64)
	return time.Duration(secs) * time.Second
}

func writeLockAnswer(w http.ResponseWriter, status int, lk Lock, now time.Time) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery>%s</D:lockdiscovery></D:prop>", activeLockXML(lk, now))
}

// activeLockXML is one DAV:activelock (RFC 4918 §14.1).
func activeLockXML(lk Lock, now time.Time) string {
	scope, depth, owner := "<D:exclusive/>", "infinity", ""
	if lk.Shared {
		scope = "<D:shared/>"
	}
	if lk.ZeroDepth {
		depth = "0"
	}
	if lk.OwnerXML != "" {
		owner = "<D:owner>" + lk.OwnerXML + "</D:owner>"
	}
	left := max(int64(math.Ceil(lk.Expires.Sub(now).Seconds())), 1)
	root := html.EscapeString((&url.URL{Path: lk.Root}).EscapedPath())
	return fmt.Sprintf("<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope>%s</D:lockscope><D:depth>%s</D:depth>%s<D:timeout>Second-%d</D:timeout><D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot></D:activelock>",
		scope, depth, owner, left, html.EscapeString(lk.Token), root)
}

// supportedLockXML is DAV:supportedlock: exclusive and shared write
// locks (x/net/webdav's own lists the exclusive one only).
const supportedLockXML = `<D:lockentry xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>` +
	`<D:lockentry xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`

// lockDiscoveryXML is DAV:lockdiscovery of p: every lock that covers it.
func (fs *FileSystem) lockDiscoveryXML(p string) string {
	now := time.Now()
	var b strings.Builder
	for _, lk := range fs.locks.on(now, p) {
		b.WriteString(strings.Replace(activeLockXML(lk, now), "<D:activelock>", `<D:activelock xmlns:D="DAV:">`, 1))
	}
	return b.String()
}

// confirmLocks checks the locks on what a write changes, since pandav
// checks every write's locks itself (see lockSystem): src (the request's
// resource, or "" for COPY, which changes only its destination, RFC 4918
// §9.8.5) and dst ("" when there is none). It holds them for the
// request, or returns the status to refuse it with. subtree counts the
// locks below them too (DELETE, and a MOVE or COPY that may replace a
// folder).
//
// Without an If header, both must be unlocked. With one, the header must
// hold first (RFC 4918 §10.4): its lists are alternatives, each about the
// resource its tag names, or, untagged, about the request's own resource
// or its destination. Then every locked path must be covered by a lock
// whose token the header submits, in any of its lists: so a stale token
// beside a valid one costs nothing, and a MOVE between two locked
// resources may name each one's token in a list of its own; a header
// that holds without a token of the lock is 423.
//
// err is a state store that cannot be read (503): nothing is decided
// on locks that may be stale.
func (h *Handler) confirmLocks(r *http.Request, src, dst string, subtree bool) (release func(), status int, err error) {
	now := time.Now()
	submitted := map[string]bool{}
	if hdr := r.Header.Get("If"); hdr != "" {
		lists, ok := parseIfHeader(hdr)
		if !ok {
			return nil, http.StatusBadRequest, nil
		}
		for _, c := range submittedTokens(lists) {
			submitted[c.Token] = true
		}
		untagged := []string{cleanPath(r.URL.Path)}
		if dst != "" {
			untagged = append(untagged, dst)
		}
		holds := false
		for _, l := range lists {
			resources := untagged
			if l.resource != "" {
				p, ok := resourcePath(l.resource)
				if !ok {
					continue
				}
				resources = []string{p}
			}
			for _, res := range resources {
				if !holds {
					if holds, err = h.fs.locks.tokensHold(now, l.conds, res); err != nil {
						return nil, 0, err
					}
				}
			}
		}
		if !holds {
			// RFC 4918 §10.4.1: all lists failed.
			return nil, http.StatusPreconditionFailed, nil
		}
	}
	release, locked, err := h.fs.locks.hold(now, submitted, subtree, src, dst)
	if err != nil {
		return nil, 0, err
	}
	if locked != "" {
		return nil, webdav.StatusLocked, nil
	}
	return release, 0, nil
}

// submittedTokens are the lock tokens an If header names, in any list
// and whether or not under Not: each unlocks, for the request, the locks
// it is the token of.
func submittedTokens(lists []ifList) []webdav.Condition {
	var out []webdav.Condition
	for _, l := range lists {
		for _, c := range l.conds {
			if c.token != "" {
				out = append(out, webdav.Condition{Token: c.token})
			}
		}
	}
	return out
}

// withoutIf is r for x/net/webdav once the Handler has checked its locks:
// without the If header, which x/net/webdav would judge again, by host
// and with its own lock rules.
func withoutIf(r *http.Request) *http.Request {
	if r.Header.Get("If") == "" {
		return r
	}
	c := *r
	c.Header = r.Header.Clone()
	c.Header.Del("If")
	return &c
}

// cause is the cloud error a failed FileSystem call noted, if any, else
// err (see request.cause).
func cause(ctx interface{ Value(any) any }, err error) error {
	if q, ok := ctx.Value(requestKey{}).(*request); ok && q.cause != nil {
		return q.cause
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
