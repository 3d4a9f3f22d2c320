package pan115

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"pandav/drivers"
)

// LinkKey is the User-Agent the link will be bound to.
func (d *Drive) LinkKey(req drivers.LinkRequest) string { return d.userAgent(req) }

func (d *Drive) userAgent(req drivers.LinkRequest) string {
	if req.UserAgent != "" {
		return req.UserAgent
	}
	return d.o.UserAgent
}

// Link asks downurl for f's CDN URL with the User-Agent that will fetch
// it: 115 binds the link to that UA and refuses any Referer.
func (d *Drive) Link(ctx context.Context, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	op := "pan115 link " + f.ID
	if f.IsDir {
		return drivers.Link{}, fmt.Errorf("%s: %w", op, drivers.ErrIsDir)
	}
	pc, _ := f.Extra.(string)
	if pc == "" {
		e, err := d.Get(ctx, f.ID)
		if err != nil {
			return drivers.Link{}, err
		}
		if pc, _ = e.Extra.(string); pc == "" {
			return drivers.Link{}, fmt.Errorf("%s: %w: no pick code", op, drivers.ErrUpstream)
		}
	}
	ua := d.userAgent(req)
	var r downResp
	if err := d.call(ctx, op, request{method: http.MethodPost, path: "/open/ufile/downurl", form: url.Values{"pick_code": {pc}}, ua: ua}, &r); err != nil {
		return drivers.Link{}, err
	}
	it, found := r.Data[f.ID]
	if !found && len(r.Data) == 1 {
		for _, only := range r.Data {
			it, found = only, true
		}
	}
	if !found {
		return drivers.Link{}, fmt.Errorf("%s: %w", op, drivers.ErrNotFound)
	}
	if it.URL.URL == "" {
		return drivers.Link{}, fmt.Errorf("%s: %w", op, drivers.ErrIsDir)
	}
	u, err := url.Parse(it.URL.URL)
	if err != nil {
		return drivers.Link{}, fmt.Errorf("%s: %w: malformed download URL", op, drivers.ErrUpstream)
	}
	return drivers.Link{
		URL:      it.URL.URL,
		Header:   http.Header{"User-Agent": {ua}},
		Expires:  linkExpiry(u, time.Now()),
		MaxConns: linkConns(u),
	}, nil
}

// linkExpiry reads `t=`, trusting it for at most maxLinkLife.
func linkExpiry(u *url.URL, now time.Time) time.Time {
	limit := now.Add(maxLinkLife)
	var t Int64
	if err := t.UnmarshalJSON([]byte(u.Query().Get("t"))); err != nil || t <= 0 {
		return limit
	}
	if exp := time.Unix(int64(t), 0); exp.Before(limit) {
		return exp
	}
	return limit
}

// linkConns reads `c=`, the simultaneous opens the CDN allows (0: any).
func linkConns(u *url.URL) int {
	var c Int64
	if err := c.UnmarshalJSON([]byte(u.Query().Get("c"))); err != nil || c < 0 {
		return 0
	}
	return int(c)
}
