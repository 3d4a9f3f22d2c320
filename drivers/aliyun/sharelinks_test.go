package aliyun

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/drivertest"
	"pandav/internal/fakecloud"
)

// ownRig is an account whose own Films folder gets shared, and a share
// mount of whatever it shares.
type ownRig struct {
	*shareRig
	films, video, qrc drivers.Entry
}

func newOwnRig(t *testing.T, ro rigOptions) *ownRig {
	r := &ownRig{shareRig: newShareRig(t, ro)}
	r.srv.Tree().PutPath("/Films/a.mkv", fakecloud.BytesBlob([]byte("a film")))
	r.srv.Tree().PutPath("/Films/lyrics.qrc", fakecloud.BytesBlob([]byte("[0,1]la")))
	var err error
	for p, e := range map[string]*drivers.Entry{"/Films": &r.films, "/Films/a.mkv": &r.video, "/Films/lyrics.qrc": &r.qrc} {
		if *e, err = drivertest.Resolve(ctxT(t), r.acct, p); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// mountShare mounts the link l as a share mount played by the account.
func (r *ownRig) mountShare(t *testing.T, l drivers.ShareLink) *Share {
	t.Helper()
	env := r.env
	env.MountPath = "/share/mine"
	sh, err := newShare(env, ShareOptions{ShareURL: l.Text, Account: "/aliyun", WebAPIURL: r.srv.URL()}, fast)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func TestCreateShareAndMountIt(t *testing.T) {
	r := newOwnRig(t, rigOptions{})
	ctx := ctxT(t)
	bad, err := r.acct.CheckShareable(ctx, []drivers.Entry{r.films, r.qrc})
	if err != nil || len(bad) != 1 || bad[0].Entry.ID != r.qrc.ID || bad[0].Reason == "" {
		t.Fatalf("CheckShareable: %v, %v", bad, err)
	}
	expires := time.Now().Add(7 * 24 * time.Hour)
	l, err := r.acct.CreateShare(ctx, drivers.ShareRequest{Files: []drivers.Entry{r.films}, Password: "ab12", Expires: expires, Description: "films"})
	if err != nil {
		t.Fatal(err)
	}
	if l.ID == "" || l.Name != "Films" || !strings.Contains(l.Text, l.URL+" 提取码: ab12") || l.Password != "ab12" ||
		l.Expires.Sub(expires).Abs() > time.Second || l.State != drivers.ShareEnabled || l.Views != 0 || l.Description != "films" {
		t.Fatalf("made %+v", l)
	}
	sh := r.mountShare(t, l)
	root, err := sh.Root(ctx)
	if err != nil || root.Name != "Films" {
		t.Fatalf("the share mount's root: %+v, %v", root, err)
	}
	if kids, err := sh.List(ctx, root); err != nil || len(kids) != 2 {
		t.Fatalf("the share mount lists %v, %v", kids, err)
	}
	if got, err := r.acct.GetShare(ctx, l.ID); err != nil || got.Views != 1 || got.Text != l.Text {
		t.Errorf("GetShare: %+v, %v", got, err)
	}

	// A new code: the mount, with the old one, is refused.
	never := time.Time{}
	code := "cd34"
	l2, err := r.acct.UpdateShare(ctx, l.ID, drivers.ShareUpdate{Password: &code, Expires: &never})
	if err != nil || l2.Password != "cd34" || !l2.Expires.IsZero() || l2.Description != "films" {
		t.Fatalf("UpdateShare: %+v, %v", l2, err)
	}
	sh2 := r.mountShare(t, l)
	if _, err := sh2.Root(ctx); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "提取码") {
		t.Errorf("a mount with the old code: %v", err)
	}
	l3, err := r.acct.UpdateShare(ctx, l.ID, drivers.ShareUpdate{RandomPassword: true})
	if err != nil || !shareCodeRe.MatchString(l3.Password) || l3.Password == "cd34" {
		t.Errorf("a drawn code: %+v, %v", l3, err)
	}

	// Cancelled: the mount is told so.
	errs, err := r.acct.CancelShares(ctx, []string{l.ID})
	if err != nil || len(errs) != 1 || errs[0] != nil {
		t.Fatalf("CancelShares: %v, %v", errs, err)
	}
	sh3 := r.mountShare(t, l3)
	if _, err := sh3.Root(ctx); !errors.Is(err, drivers.ErrNotFound) || !strings.Contains(err.Error(), "cancelled by its creator") {
		t.Errorf("a mount of a cancelled link: %v", err)
	}
	if ls, err := r.acct.ListShares(ctx); err != nil || len(ls) != 0 {
		t.Errorf("ListShares after the cancel: %v, %v", ls, err)
	}
	if _, err := r.acct.GetShare(ctx, "S0nobody"); !errors.Is(err, drivers.ErrNotFound) {
		t.Errorf("GetShare of an unknown link: %v", err)
	}
}

func TestCreateShareRefusals(t *testing.T) {
	r := newOwnRig(t, rigOptions{})
	ctx := ctxT(t)
	before := r.srv.Counters().Get("adrive/v2/share_link/create")
	for _, tc := range []struct {
		name string
		req  drivers.ShareRequest
		want error
		says string
	}{
		{"a code of 3", drivers.ShareRequest{Files: []drivers.Entry{r.films}, Password: "abc"}, drivers.ErrInvalidShare, "4 letters or digits"},
		{"a code of 5", drivers.ShareRequest{Files: []drivers.Entry{r.films}, Password: "abcde"}, drivers.ErrInvalidShare, "has 5 characters"},
		{"an expiry in the past", drivers.ShareRequest{Files: []drivers.Entry{r.films}, Expires: time.Now().Add(-time.Minute)}, drivers.ErrInvalidShare, "in the past"},
		{"the root", drivers.ShareRequest{Files: []drivers.Entry{{ID: "root", IsDir: true}}}, drivers.ErrInvalidShare, "root"},
		{"nothing", drivers.ShareRequest{}, drivers.ErrInvalidShare, "no file"},
	} {
		_, err := r.acct.CreateShare(ctx, tc.req)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if strings.Contains(tc.name, "code") && strings.Contains(err.Error(), tc.req.Password) {
			t.Errorf("%s: the error shows the code: %v", tc.name, err)
		}
	}
	if n := r.srv.Counters().Get("adrive/v2/share_link/create") - before; n != 0 {
		t.Errorf("bad requests were sent %d times", n)
	}
	// The cloud's own refusal.
	if _, err := r.acct.CreateShare(ctx, drivers.ShareRequest{Files: []drivers.Entry{r.qrc}}); !errors.Is(err, drivers.ErrShareRefused) || !strings.Contains(err.Error(), "FileShareNotAllowed") {
		t.Errorf("a .qrc: %v", err)
	}
	if ls, err := r.acct.ListShares(ctx); err != nil || len(ls) != 0 {
		t.Errorf("refusals made %v, %v", ls, err)
	}
}

func TestListSharesEveryPage(t *testing.T) {
	r := newOwnRig(t, rigOptions{})
	ctx := ctxT(t)
	var ids []string
	for range shareListPage + 3 {
		l, err := r.acct.CreateShare(ctx, drivers.ShareRequest{Files: []drivers.Entry{r.video}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	ls, err := r.acct.ListShares(ctx)
	if err != nil || len(ls) != len(ids) {
		t.Fatalf("ListShares: %d links, %v", len(ls), err)
	}
	if n := r.srv.Counters().Get("adrive/v3/share_link/list"); n != 2 {
		t.Errorf("%d pages asked for %d links", n, len(ids))
	}
	errs, err := r.acct.CancelShares(ctx, []string{ids[0], "S0nobody", ids[1]})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], drivers.ErrNotFound) || errs[2] != nil {
		t.Fatalf("CancelShares: %v, %v", errs, err)
	}
	if n := r.srv.Counters().Get("share_link/cancel"); n != 3 {
		t.Errorf("the batch held %d cancels", n)
	}
	if ls, _ := r.acct.ListShares(ctx); len(ls) != len(ids)-2 {
		t.Errorf("%d links left", len(ls))
	}
}

// TestOpenAPICreateShare: an Open API mount without a web login makes
// links through createShare, and says what the rest needs.
func TestOpenAPICreateShare(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{RateList: -1, RateLink: -1, RateOther: -1})
	d := mustDrive(t, testEnv(t), openOptions(srv), fast)
	srv.Tree().PutPath("/Films/a.mkv", fakecloud.BytesBlob([]byte("a film")))
	films, err := drivertest.Resolve(ctxT(t), d, "/Films")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := d.CheckShareable(ctxT(t), []drivers.Entry{films})
	if err != nil || len(bad) != 0 {
		t.Errorf("CheckShareable without a web login: %v, %v", bad, err)
	}
	l, err := d.CreateShare(ctxT(t), drivers.ShareRequest{Files: []drivers.Entry{films}, RandomPassword: true})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Counters().Get("openFile/createShare") != 1 || l.Text != "「Films」"+l.URL+" 提取码: "+l.Password || !shareCodeRe.MatchString(l.Password) {
		t.Errorf("made %+v", l)
	}
	if id, code, err := parseShareURL(l.Text); err != nil || id != l.ID || code != l.Password {
		t.Errorf("the text reads as %q %q %v", id, code, err)
	}
	if _, err := d.ListShares(ctxT(t)); !errors.Is(err, drivers.ErrUnsupported) || !strings.Contains(err.Error(), "web_refresh_token") {
		t.Errorf("ListShares without a web login: %v", err)
	}
	if _, err := d.CreateShare(ctxT(t), drivers.ShareRequest{Files: []drivers.Entry{films}, Description: "x"}); !errors.Is(err, drivers.ErrUnsupported) {
		t.Errorf("a description without a web login: %v", err)
	}
}
