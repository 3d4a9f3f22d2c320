package aliyun

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"pandav/drivers"
)

// Link asks for a download URL. Open API URLs need no headers; their
// expiry is what x-oss-expires says, whatever was asked for.
func (d *Drive) Link(ctx context.Context, f drivers.Entry, _ drivers.LinkRequest) (drivers.Link, error) {
	if f.IsDir {
		return drivers.Link{}, fmt.Errorf("link %q: %w", f.Name, drivers.ErrIsDir)
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Link{}, err
	}
	if d.o.API == "web" {
		return d.webLink(ctx, driveID, f)
	}
	var out downloadURLResponse
	req := downloadURLRequest{DriveID: driveID, FileID: f.ID, ExpireSec: d.o.LinkExpiry}
	if err := d.call(ctx, "link", "openFile/getDownloadUrl", req, &out); err != nil {
		return drivers.Link{}, fmt.Errorf("link %q: %w", f.Name, err)
	}
	if out.URL == "" {
		// .livp live photos come as separate streams, with no url.
		return drivers.Link{}, fmt.Errorf("link %q: %w: the service offers no single download URL", f.Name, drivers.ErrUnsupported)
	}
	return drivers.Link{URL: out.URL, Expires: linkExpiry(out), MaxConns: linkConns, Busy: linkBusy}, nil
}

func linkExpiry(out downloadURLResponse) time.Time {
	if u, err := url.Parse(out.URL); err == nil {
		if s, err := strconv.ParseInt(u.Query().Get("x-oss-expires"), 10, 64); err == nil && s > 0 {
			return time.Unix(s, 0)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, out.Expiration); err == nil {
		return t
	}
	return time.Time{}
}

// The CDN allows a user about three GETs of one file at once, and refuses
// one more with a 403 whose body names the reason (docs/protocols/aliyun.md §3).
const (
	linkConns = 3
	linkBusy  = "ExceedMaxConcurrency"
)
