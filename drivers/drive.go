// Package drivers defines what pandav needs from a cloud drive: an ID-based
// Drive, the Entry and Link it returns, optional capabilities discovered by
// type assertion, the sentinel errors the WebDAV layer maps to status codes,
// and the registry of drivers by name.
//
// A driver knows its cloud; it knows nothing of WebDAV or of other drivers.
package drivers

import (
	"context"
	"net/http"
	"time"
)

// Entry is one file or folder as a driver sees it.
type Entry struct {
	ID       string
	ParentID string
	Name     string
	IsDir    bool
	Size     int64 // 0 for folders
	ModTime  time.Time
	SHA1     string // uppercase hex, "" when the cloud does not say
	// Extra is private to the driver that made the Entry (a pick code, a
	// drive id). Other packages pass it back untouched.
	Extra any
}

// Link is where a file's bytes can be fetched, and on what terms.
type Link struct {
	URL string
	// Header holds what the CDN demands (Referer, User-Agent, Cookie); it
	// is sent on every fetch of URL, and a link with a non-empty Header can
	// never be handed to a client as a redirect.
	Header http.Header
	// Expires is when the cloud stops honouring URL, as read from the URL
	// itself; the zero time means unknown.
	Expires time.Time
	// MaxConns is how many simultaneous fetches the link allows; 0 means
	// the cloud states no limit.
	MaxConns int
	// Busy is what the body of the CDN's refusal (401, 403, 410) holds
	// when the link has too many connections open rather than being dead:
	// the fetch then waits and tries the same link again. "": the cloud
	// does not say, and a refusal met beside other fetches of the link is
	// taken for busy a few times first.
	Busy string
}

// LinkRequest says who will fetch a link. Some clouds bind links to the
// User-Agent that asked for them.
type LinkRequest struct {
	UserAgent string
}

// Drive is the minimum every driver implements: a read-only, ID-based view.
type Drive interface {
	// Root returns the entry that the mount's path maps to.
	Root(ctx context.Context) (Entry, error)
	// List returns every child of dir, across all pages. A cloud that
	// lets a folder hold several entries of one name lists the one it
	// stored last first among them: the WebDAV layer serves that one.
	List(ctx context.Context, dir Entry) ([]Entry, error)
	// Link returns a fetchable URL for the file f.
	Link(ctx context.Context, f Entry, req LinkRequest) (Link, error)
}

// Quota is a drive's space figures, in bytes.
type Quota struct {
	Used  int64
	Total int64
}

// Quotaer reports free and used space, for Finder and davfs2.
type Quotaer interface {
	Quota(ctx context.Context) (Quota, error)
}

// LinkKeyer says what a cached link may be shared by. A driver whose links
// are bound to the requesting User-Agent returns that User-Agent; the
// default (a driver without LinkKeyer) is that any requester may share it.
type LinkKeyer interface {
	LinkKey(req LinkRequest) string
}

// Closer is told that pandav is stopping. A driver waits there for work
// that must not be cut short, above all a token refresh in flight, whose
// answer holds the only copy of the next single-use refresh token, and
// starts no more of it.
type Closer interface {
	Close(ctx context.Context) error
}

// StreamNotifier is told when the WebDAV layer starts and stops reading a
// file, for drivers whose links cost something to keep (a share link's
// temporary copy) and can be released once nobody reads. Calls come in
// pairs; several readers of one file may overlap.
type StreamNotifier interface {
	StreamOpened(f Entry)
	StreamClosed(f Entry)
}
