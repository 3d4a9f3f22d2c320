package memdrive

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"pandav/drivers"
)

// Link asks for a download link of f (docs/protocols/memdrive.md §3). The link needs no
// header and allows any number of connections, so Header and MaxConns
// stay empty; its expiry is read from the URL, never assumed
// (docs/DESIGN.md, decision 3).
func (d *Drive) Link(ctx context.Context, f drivers.Entry, _ drivers.LinkRequest) (drivers.Link, error) {
	op := "memdrive link " + f.ID
	if f.IsDir {
		return drivers.Link{}, fmt.Errorf("%s: %w", op, drivers.ErrIsDir)
	}
	var l linkAnswer
	if err := d.call(ctx, op, request{method: http.MethodPost, path: "/v1/files/" + url.PathEscape(f.ID) + "/link"}, &l); err != nil {
		return drivers.Link{}, err
	}
	u, err := url.Parse(l.URL)
	if err != nil || u.Host == "" {
		// The URL itself is a secret: it is not quoted.
		return drivers.Link{}, fmt.Errorf("%s: %w: the cloud sent a malformed link", op, drivers.ErrUpstream)
	}
	return drivers.Link{URL: l.URL, Expires: linkExpiry(u)}, nil
}

// linkExpiry reads `expires`, in unix seconds. A link without one has an
// unknown expiry (the zero time), which the WebDAV layer treats as such.
func linkExpiry(u *url.URL) time.Time {
	s, err := strconv.ParseInt(u.Query().Get("expires"), 10, 64)
	if err != nil || s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
