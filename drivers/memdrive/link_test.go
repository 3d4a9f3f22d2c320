package memdrive

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/drivertest"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
)

// TestExpiredLink: the expiry is the URL's; once it has passed the CDN
// refuses the link, and a new one works.
func TestExpiredLink(t *testing.T) {
	ctx := ctxT(t)
	c, d := mount(t, memdrivetest.Options{Rate: -1, LinkTTL: 10 * time.Minute})
	c.Tree().PutPath("/v.mkv", fakecloud.BytesBlob([]byte("video")))
	f, err := drivertest.Resolve(ctx, d, "v.mkv")
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Link(ctx, f, drivers.LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(l.URL)
	if exp, _ := strconv.ParseInt(u.Query().Get("expires"), 10, 64); l.Expires.Unix() != exp || time.Until(l.Expires) > 10*time.Minute || time.Until(l.Expires) < 9*time.Minute {
		t.Fatalf("Expires %v, the URL's expires %d", l.Expires, exp)
	}
	c.ExpireLinks()
	if _, err := drivertest.FetchLink(ctx, l, 0, -1); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("an expired link: %v, want a 403", err)
	}
	fresh, err := d.Link(ctx, f, drivers.LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := drivertest.FetchLink(ctx, fresh, 0, -1); err != nil || string(b) != "video" {
		t.Fatalf("a new link: %q, %v", b, err)
	}
}
