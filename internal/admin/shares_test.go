package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/admin"
	"pandav/internal/admin/admintest"
)

// shareStore is one account's files and share links, which every
// sharingDrive of it sees.
type shareStore struct {
	mu     sync.Mutex
	links  map[string]*drivers.ShareLink
	next   int
	unsupp bool // the mount lacks the login listing needs
}

// sharingDrive is a drive of Root/Films/{a.mkv,bad.qrc} that makes
// share links by the rules of a cloud with 4-character codes.
type sharingDrive struct{ st *shareStore }

var tree = map[string][]drivers.Entry{
	"root": {{ID: "films", Name: "Films", IsDir: true}},
	"films": {
		{ID: "a", ParentID: "films", Name: "a.mkv", Size: 3},
		{ID: "qrc", ParentID: "films", Name: "bad.qrc", Size: 3},
	},
}

func (d sharingDrive) Root(context.Context) (drivers.Entry, error) {
	return drivers.Entry{ID: "root", IsDir: true}, nil
}

func (d sharingDrive) List(_ context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	return tree[dir.ID], nil
}

func (d sharingDrive) Link(context.Context, drivers.Entry, drivers.LinkRequest) (drivers.Link, error) {
	return drivers.Link{}, drivers.ErrUnsupported
}

func (d sharingDrive) CheckShareable(_ context.Context, files []drivers.Entry) ([]drivers.Unshareable, error) {
	var bad []drivers.Unshareable
	for _, f := range files {
		if strings.HasSuffix(f.Name, ".qrc") {
			bad = append(bad, drivers.Unshareable{Entry: f, Reason: "the cloud does not share .qrc files"})
		}
	}
	return bad, nil
}

func (d sharingDrive) CreateShare(_ context.Context, req drivers.ShareRequest) (drivers.ShareLink, error) {
	if req.Password != "" && len(req.Password) != 4 {
		return drivers.ShareLink{}, fmt.Errorf("%w: codes are 4 characters", drivers.ErrInvalidShare)
	}
	if !req.Expires.IsZero() && req.Expires.Before(time.Now()) {
		return drivers.ShareLink{}, fmt.Errorf("%w: the expiry is in the past", drivers.ErrInvalidShare)
	}
	if req.RandomPassword {
		req.Password = "rand"
	}
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	d.st.next++
	id := fmt.Sprintf("S%d", d.st.next)
	l := &drivers.ShareLink{ID: id, Name: req.Files[0].Name, URL: "https://share.example/s/" + id, Password: req.Password,
		Expires: req.Expires, Description: req.Description, State: drivers.ShareEnabled, Views: 2, Saves: -1, Downloads: -1,
		Created: time.Now()}
	l.Text = "「" + l.Name + "」" + l.URL + " code: " + l.Password
	d.st.links[id] = l
	return *l, nil
}

func (d sharingDrive) ListShares(context.Context) ([]drivers.ShareLink, error) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if d.st.unsupp {
		return nil, fmt.Errorf("%w: listing needs another login", drivers.ErrUnsupported)
	}
	var out []drivers.ShareLink
	for i := 1; i <= d.st.next; i++ {
		if l := d.st.links[fmt.Sprintf("S%d", i)]; l != nil && l.State != drivers.ShareCancelled {
			out = append(out, *l)
		}
	}
	return out, nil
}

func (d sharingDrive) GetShare(_ context.Context, id string) (drivers.ShareLink, error) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	l := d.st.links[id]
	if l == nil {
		return drivers.ShareLink{}, fmt.Errorf("share %s: %w", id, drivers.ErrNotFound)
	}
	return *l, nil
}

func (d sharingDrive) UpdateShare(ctx context.Context, id string, u drivers.ShareUpdate) (drivers.ShareLink, error) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	l := d.st.links[id]
	if u.Password != nil {
		l.Password = *u.Password
	}
	if u.Expires != nil {
		l.Expires = *u.Expires
	}
	if u.Description != nil {
		l.Description = *u.Description
	}
	return *l, nil
}

func (d sharingDrive) CancelShares(_ context.Context, ids []string) ([]error, error) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	errs := make([]error, len(ids))
	for i, id := range ids {
		if l := d.st.links[id]; l != nil {
			l.State = drivers.ShareCancelled
		} else {
			errs[i] = fmt.Errorf("share %s: %w", id, drivers.ErrNotFound)
		}
	}
	return errs, nil
}

// shareRig serves two mounts of one sharing account, a mount of another
// that cannot list, and an admintest mount that cannot share.
type shareRig struct {
	svc   *admin.Service
	srv   *httptest.Server
	store *shareStore
}

func newShareRig(t *testing.T) *shareRig {
	st := &shareStore{links: map[string]*drivers.ShareLink{}}
	other := &shareStore{links: map[string]*drivers.ShareLink{}, unsupp: true}
	plain, err := admintest.Open(context.Background(), drivers.Env{MountPath: "/plain", StateDir: t.TempDir()},
		admintest.Options{Account: newAccount(t, "plain").Key(), RefreshToken: "r"})
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	svc := admin.NewService([]admin.Mount{
		{Path: "/acct", Driver: "sharing", Drive: sharingDrive{st}},
		{Path: "/acct2", Driver: "sharing", Drive: sharingDrive{st}},
		{Path: "/openonly", Driver: "sharing", Drive: sharingDrive{other}},
		{Path: "/plain", Driver: admintest.Driver, Drive: plain},
	}, log)
	srv := httptest.NewServer(admin.NewHandler(svc, nil, log))
	t.Cleanup(func() {
		srv.Close()
		svc.Close()
	})
	return &shareRig{svc: svc, srv: srv, store: st}
}

// TestShares runs every step through the Service and through the
// Handler and Client.
func TestShares(t *testing.T) {
	for _, via := range []string{"service", "http"} {
		t.Run(via, func(t *testing.T) {
			r := newShareRig(t)
			var api admin.ShareAPI = r.svc
			if via == "http" {
				api = &admin.Client{BaseURL: r.srv.URL}
			}
			ctx := context.Background()
			sh, err := api.CreateShare(ctx, admin.ShareCreate{Paths: []string{"/acct/Films/"}, Password: "ab12", Expire: "7d", Description: "films"})
			if err != nil {
				t.Fatal(err)
			}
			if sh.ID != "S1" || sh.Mount != "/acct" || sh.Text == "" || sh.Password != "ab12" || sh.Expires == nil ||
				sh.Expires.Sub(time.Now().AddDate(0, 0, 7)).Abs() > time.Minute || len(sh.Paths) != 1 || sh.Paths[0] != "/acct/Films" ||
				*sh.Views != 2 || sh.Saves != nil || sh.State != "enabled" {
				t.Fatalf("created %+v", sh)
			}
			sh2, err := api.CreateShare(ctx, admin.ShareCreate{Paths: []string{"/acct2/Films/a.mkv"}, RandomPassword: true})
			if err != nil || sh2.Password != "rand" || sh2.Expires != nil {
				t.Fatalf("a second link: %+v, %v", sh2, err)
			}
			list, err := api.Shares(ctx)
			if err != nil || len(list) != 2 || list[0].Mount != "/acct" || list[1].Mount != "/acct" {
				t.Fatalf("the links of every mount: %+v, %v", list, err)
			}
			if _, err := api.Shares(ctx, "/openonly"); !isStatus(err, 400) {
				t.Errorf("the links of a mount that cannot list: %v", err)
			}
			if _, err := api.Shares(ctx, "/plain"); !isStatus(err, 400) {
				t.Errorf("the links of a mount that cannot share: %v", err)
			}
			if got, err := api.Share(ctx, "S2", ""); err != nil || got.Mount != "/acct" || got.Name != "a.mkv" {
				t.Errorf("Share: %+v, %v", got, err)
			}
			if _, err := api.Share(ctx, "S9", ""); !isStatus(err, 404) {
				t.Errorf("an unknown link: %v", err)
			}

			code, never := "cd34", "never"
			got, err := api.UpdateShare(ctx, "S1", admin.ShareChange{Password: &code, Expire: &never})
			if err != nil || got.Password != "cd34" || got.Expires != nil || got.Description != "films" {
				t.Errorf("UpdateShare: %+v, %v", got, err)
			}
			if _, err := api.UpdateShare(ctx, "S1", admin.ShareChange{}); !isStatus(err, 400) {
				t.Errorf("an update of nothing: %v", err)
			}
			if _, err := api.UpdateShare(ctx, "S9", admin.ShareChange{Password: &code}); !isStatus(err, 404) {
				t.Errorf("an update of an unknown link: %v", err)
			}

			if res, err := api.CancelShares(ctx, []string{"S1"}, ""); err != nil || len(res) != 1 || !res[0].Cancelled {
				t.Errorf("cancel one: %+v, %v", res, err)
			}
			if _, err := api.CancelShares(ctx, []string{"S9"}, ""); !isStatus(err, 404) {
				t.Errorf("cancel an unknown link: %v", err)
			}
			res, err := api.CancelShares(ctx, []string{"S2", "S9"}, "/acct")
			if err != nil || len(res) != 2 || !res[0].Cancelled || res[1].Cancelled || !strings.Contains(res[1].Error, "S9") {
				t.Errorf("cancel several: %+v, %v", res, err)
			}
			if list, _ := api.Shares(ctx); len(list) != 0 {
				t.Errorf("left %+v", list)
			}
		})
	}
}

func TestShareCreateRefusals(t *testing.T) {
	r := newShareRig(t)
	api := &admin.Client{BaseURL: r.srv.URL}
	for _, tc := range []struct {
		c      admin.ShareCreate
		status int
		says   string
	}{
		{admin.ShareCreate{}, 400, "name the files"},
		{admin.ShareCreate{Paths: []string{"/nowhere/x"}}, 400, "/nowhere/x is not on any mount"},
		{admin.ShareCreate{Paths: []string{"/plain/Films"}}, 400, "cannot make share links"},
		{admin.ShareCreate{Paths: []string{"/acct/Films", "/acct2/Films"}}, 400, "one mount"},
		{admin.ShareCreate{Paths: []string{"/acct/Films/nope.mkv"}}, 404, "there is no /acct/Films/nope.mkv"},
		{admin.ShareCreate{Paths: []string{"/acct/Films/a.mkv/x"}}, 404, "there is no"},
		{admin.ShareCreate{Paths: []string{"/acct/Films/bad.qrc"}}, 400, "the cloud refuses to share /acct/Films/bad.qrc: the cloud does not share .qrc files"},
		{admin.ShareCreate{Paths: []string{"/acct/Films"}, Password: "abc"}, 400, "codes are 4 characters"},
		{admin.ShareCreate{Paths: []string{"/acct/Films"}, Expire: "2001-01-01"}, 400, "in the past"},
		{admin.ShareCreate{Paths: []string{"/acct/Films"}, Expire: "soon"}, 400, `"soon" is not a duration`},
		{admin.ShareCreate{Paths: []string{"/acct/Films"}, Password: "ab12", RandomPassword: true}, 400, "not both"},
	} {
		_, err := api.CreateShare(context.Background(), tc.c)
		if !isStatus(err, tc.status) || !strings.Contains(err.Error(), tc.says) || strings.Count(err.Error(), ". ") > 0 {
			t.Errorf("%+v: %v, want %d saying %q", tc.c, err, tc.status, tc.says)
		}
	}
	if r.store.next != 0 {
		t.Errorf("refusals made %d links", r.store.next)
	}
	// A plain form post is refused, as every change without the header.
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+admin.Prefix+"shares", strings.NewReader(`{"paths":["/acct/Films"]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || r.store.next != 0 {
		t.Errorf("POST shares without %s: %d", admin.CSRFHeader, resp.StatusCode)
	}
}

func TestParseExpire(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"never", time.Time{}},
		{"Never", time.Time{}},
		{"7d", now.AddDate(0, 0, 7)},
		{"2w", now.AddDate(0, 0, 14)},
		{"12h", now.Add(12 * time.Hour)},
		{"90m", now.Add(90 * time.Minute)},
		{"2026-03-05", time.Date(2026, 3, 5, 23, 59, 59, 0, time.Local)},
		{"2026-03-05T08:00:00Z", time.Date(2026, 3, 5, 8, 0, 0, 0, time.UTC)},
	} {
		got, err := admin.ParseExpire(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"soon", "7x", "d7", "2026-13-01"} {
		if _, err := admin.ParseExpire(bad, now); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
