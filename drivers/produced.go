package drivers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Content a driver makes itself, rather than linking to the cloud's
// bytes: a playlist it writes (a share's transcoded preview), whose
// parts it serves at routes of its own. The WebDAV layer passes these
// through without knowing what they are (docs/DESIGN.md, "Content a
// driver produces").

// ContentProducer is a drive some of whose files it makes itself (the
// strm view's .strm files, whose content is a signed URL; a share's
// preview playlist). For
// such a file, ProducedContent returns its bytes and ok; for any other
// file it returns ok false at once, with no cloud call, since the WebDAV
// layer asks on every open. A produced file's Entry.Size, in listings,
// is len(content).
type ContentProducer interface {
	ProducedContent(ctx context.Context, f Entry) (content []byte, ok bool, err error)
}

// RoutePrefix is where drives' own routes live: a mount at /share/films
// answers below /.pandav/mount/share/films/. No mount may sit under
// /.pandav, so a route shadows no file.
const RoutePrefix = "/.pandav/mount"

// RouteURL is the absolute path, escaped for a URL, of rest (a
// slash-separated path) among the routes of the mount at mountPath: what
// a produced playlist names its parts by.
func RouteURL(mountPath, rest string) string {
	var b strings.Builder
	b.WriteString(RoutePrefix)
	for _, seg := range strings.Split(strings.Trim(mountPath, "/")+"/"+strings.TrimPrefix(rest, "/"), "/") {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	return b.String()
}

// RouteServer is a drive that answers requests at its own routes, below
// RouteURL(its mount, ""): the parts of what it produces. The WebDAV
// layer calls it for GET and HEAD after authenticating the client and
// checking that it may see the mount; rest is the unescaped path below
// the mount's prefix. ServeRoute writes the answer, or returns an error
// having written nothing, which the WebDAV layer maps to a status as it
// maps every driver error.
type RouteServer interface {
	ServeRoute(ctx context.Context, w http.ResponseWriter, r *http.Request, rest string) error
}

// ChangeNotifier is a drive whose listings can change without a write
// through pandav, in a way it knows of: a cloud download that finished
// in a folder, a share mount that starts or stops listing previews. The
// WebDAV layer, when it makes the mount, gives it a function to call
// then, with the ID of the folder that changed, or "" when any may have;
// it drops what it cached of that folder, or of the whole mount, so the
// change shows at once instead of when the cache expires. changed may
// be called from any goroutine and does not block.
type ChangeNotifier interface {
	NotifyChanges(changed func(folderID string))
}

// UnavailableError is a file that cannot be served now, for a reason the
// client should read: the WebDAV layer answers 503 with Msg as the plain
// text body, and RetryAfter, when set, as Retry-After.
type UnavailableError struct {
	Msg        string
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string { return e.Msg }
