package aliyun

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/drivertest"
	"pandav/internal/fakecloud"
)

const (
	testShareID  = "ShAre1Demo"
	testSharePwd = "ab12"
)

// shareRig is an emulator with a share, an account mount and a share
// mount that plays through it.
type shareRig struct {
	srv    *aliyuntest.Server
	folder fakecloud.Node // the shared folder, in srv.Sharer()
	acct   *Drive
	share  *Share
	env    drivers.Env
	logs   *syncBuf
}

type rigOptions struct {
	acct  func(o *Options)      // edits the account's options
	share func(o *ShareOptions) // edits the share's options
	tn    tuning
}

// put adds name to the shared folder and resolves it through the share.
func (r *shareRig) put(t *testing.T, name string, blob fakecloud.Blob) drivers.Entry {
	t.Helper()
	r.srv.Sharer().PutPath("/分享 films/"+name, blob)
	f, err := drivertest.Resolve(ctxT(t), r.share, name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newShareRig(t *testing.T, ro rigOptions) *shareRig {
	t.Helper()
	eo := aliyuntest.Options{}
	if ro.tn.policy.Attempts == 0 {
		// fast paces nothing, so the emulator must not either.
		ro.tn = fast
		eo = aliyuntest.Options{RateList: -1, RateLink: -1, RateOther: -1}
	}
	srv := newEmulator(t, eo)
	folder, err := srv.Sharer().MkdirAll("/分享 films")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddShare(testShareID, testSharePwd, folder.ID); err != nil {
		t.Fatal(err)
	}
	r := &shareRig{srv: srv, folder: folder, logs: &syncBuf{}}
	base := testEnv(t)
	log := zerolog.New(zerolog.MultiLevelWriter(r.logs, zerolog.NewTestWriter(t)))
	ao := openOptions(srv)
	ao.WebRefreshToken = srv.WebLogin().Issue().Refresh
	ao.WebAPIURL, ao.AuthURL = srv.URL(), srv.AuthURL()
	if ro.acct != nil {
		ro.acct(&ao)
	}
	aenv := base
	aenv.Log = log
	r.acct = mustDrive(t, aenv, ao, ro.tn)
	r.env = base
	r.env.MountPath, r.env.Log = "/share/demo", log
	r.env.Mount = func(p string) (drivers.Drive, bool) {
		if p == "/aliyun" {
			return r.acct, true
		}
		return nil, false
	}
	so := ShareOptions{ShareID: testShareID, SharePwd: testSharePwd, Account: "/aliyun", WebAPIURL: srv.URL(), PageSize: testPageSize}
	if ro.share != nil {
		ro.share(&so)
	}
	r.share, err = newShare(r.env, so, ro.tn)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tempCopies lists what the account's temp folder holds.
func (r *shareRig) tempCopies(t *testing.T) []fakecloud.Node {
	t.Helper()
	dir, err := r.srv.Tree().Lookup("/" + tempFolderName)
	if err != nil {
		return nil
	}
	kids, _ := r.srv.Tree().Children(dir.ID)
	return kids
}

func (r *shareRig) waitNoCopies(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(r.tempCopies(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("temporary copies still there: %v", r.tempCopies(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shareCloud is the emulator as a share mount sees it: the sharer's
// tree, listed through the share's endpoint; with the share's own
// download dead, links come from the account's copy.
type shareCloud struct{ *aliyuntest.Server }

func (c shareCloud) Tree() *fakecloud.Tree { return c.Sharer() }

func (c shareCloud) Endpoints() fakecloud.Endpoints {
	ep := c.Server.Endpoints()
	ep.List = "adrive/v3/file/list"
	return ep
}

func (shareCloud) PageSize() int { return testPageSize }

// ExpireAccessTokens expires the share's token with the account's.
func (c shareCloud) ExpireAccessTokens() {
	c.ExpireShareTokens()
	c.Server.ExpireAccessTokens()
}

func TestShareConformanceRead(t *testing.T) {
	t.Parallel()
	drivertest.RunRead(t, func(t *testing.T) *drivertest.Fixture {
		r := newShareRig(t, rigOptions{})
		return &drivertest.Fixture{Drive: r.share, Cloud: shareCloud{r.srv}, RootID: r.folder.ID}
	})
}

func TestShareURLParsing(t *testing.T) {
	cases := []struct {
		in, id, code string
	}{
		{"https://www.alipan.com/s/9Q00000000L", "9Q00000000L", ""},
		{"https://www.aliyundrive.com/s/AbC123xyz/folder/61e0", "AbC123xyz", ""},
		{"https://www.alipan.com/s/AbC123xyz?pwd=x9y8", "AbC123xyz", "x9y8"},
		{"「The.Battle.at.L...获取更多免费资源.mkv」https://www.aliyundrive.com/s/9Q00000000L 提取码: f259\n点击链接保存，或者复制本段内容，打开「阿里云盘」APP ，无需下载极速在线查看，视频原画倍速播放。", "9Q00000000L", "f259"},
		{"相簿分享「fff」https://www.alipan.com/s/XXXX 提取码：ab12\n点击链接保存", "XXXX", "ab12"},
		{"提取码: zz99 「电影」https://www.alipan.com/s/XXXX", "XXXX", "zz99"},
	}
	for _, tc := range cases {
		o := ShareOptions{ShareURL: tc.in, Account: "/aliyun"}
		if err := o.normalize(); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if o.ShareID != tc.id || o.SharePwd != tc.code {
			t.Errorf("%q: id %q code %q, want %q %q", tc.in, o.ShareID, o.SharePwd, tc.id, tc.code)
		}
	}
	for _, tc := range []struct {
		o    ShareOptions
		want string
	}{
		{ShareOptions{Account: "/aliyun"}, "share_id"},
		{ShareOptions{ShareURL: "no link here", Account: "/aliyun"}, "share_url"},
		{ShareOptions{ShareID: "a/b", Account: "/aliyun"}, "share_id"},
		{ShareOptions{ShareID: "abc"}, "account"},
		{ShareOptions{ShareID: "abc", ShareURL: "https://www.alipan.com/s/xyz", Account: "/aliyun"}, "differs"},
		{ShareOptions{ShareID: "abc", Account: "/aliyun", TempCopyLinger: -1}, "temp_copy_linger"},
	} {
		o := tc.o
		if err := o.normalize(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %q", tc.o, err, tc.want)
		}
	}
	// A code given on its own wins over one in the message.
	o := ShareOptions{ShareURL: "https://www.alipan.com/s/XXXX 提取码: ab12", SharePwd: "cd34", Account: "/aliyun"}
	if err := o.normalize(); err != nil || o.SharePwd != "cd34" {
		t.Errorf("share_pwd with share_url: %q %v", o.SharePwd, err)
	}
}

func TestShareDeadShares(t *testing.T) {
	cases := []struct {
		name string
		kill func(r *shareRig)
		edit func(o *ShareOptions)
		kind error
		says string
	}{
		{"wrong code", nil, func(o *ShareOptions) { o.SharePwd = "zzzz" }, fs.ErrPermission, "提取码"},
		{"no code", nil, func(o *ShareOptions) { o.SharePwd = "" }, fs.ErrPermission, "is needed"},
		{"cancelled", func(r *shareRig) { r.srv.CancelShare(testShareID) }, nil, drivers.ErrNotFound, "cancelled"},
		{"expired", func(r *shareRig) { r.srv.ExpireShare(testShareID) }, nil, drivers.ErrNotFound, "expired"},
		{"forbidden", func(r *shareRig) { r.srv.ForbidShare(testShareID) }, nil, fs.ErrPermission, "forbid"},
		{"unknown", nil, func(o *ShareOptions) { o.ShareID = "NoSuchShare" }, drivers.ErrNotFound, "no such share"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newShareRig(t, rigOptions{share: tc.edit})
			if tc.kill != nil {
				tc.kill(r)
			}
			ctx := ctxT(t)
			_, err := r.share.Root(ctx)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Root: %v, want %v saying %q", err, tc.kind, tc.says)
			}
			if _, err := r.share.Root(ctx); !errors.Is(err, tc.kind) {
				t.Fatalf("Root again: %v", err)
			}
			if n := linesWith(r.logs.String(), tc.says); n != 1 {
				t.Fatalf("logged %d times, want once:\n%s", n, r.logs.String())
			}
			if strings.Contains(r.logs.String(), testSharePwd) || strings.Contains(err.Error(), testSharePwd) {
				t.Fatalf("the share's code leaked")
			}
			// pandav check says the same, with the cloud's own code.
			if st, err := r.share.ShareState(ctx); err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "Share") {
				t.Fatalf("ShareState: %q, %v; want an error saying %q and the cloud's code", st, err, tc.says)
			}
		})
	}
	// A share that dies while mounted fails its listings and links too.
	r := newShareRig(t, rigOptions{})
	ctx := ctxT(t)
	f := r.put(t, "a.mkv", fakecloud.BytesBlob([]byte("a")))
	r.srv.CancelShare(testShareID)
	r.srv.ExpireShareTokens()
	root, _ := r.share.Root(ctx)
	if _, err := r.share.List(ctx, root); !errors.Is(err, drivers.ErrNotFound) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("list of a cancelled share: %v", err)
	}
	if _, err := r.share.Link(ctx, f, drivers.LinkRequest{}); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("link in a cancelled share: %v", err)
	}
}

// linesWith counts the lines of text that hold s.
func linesWith(text, s string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// TestShareState: a share that plays says so; one that dies while
// mounted, or whose account loses its web login, says why, though the
// share mount has its root and token already.
func TestShareState(t *testing.T) {
	r := newShareRig(t, rigOptions{})
	ctx := ctxT(t)
	if _, err := r.share.Root(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := r.share.ShareState(ctx)
	if err != nil || !strings.HasPrefix(st, "ok") {
		t.Fatalf("ShareState of a live share: %q, %v", st, err)
	}
	r.srv.CancelShare(testShareID)
	if _, err := r.share.ShareState(ctx); err == nil || !strings.Contains(err.Error(), "cancelled by its creator (ShareLink.Cancelled") {
		t.Fatalf("ShareState of a share cancelled while mounted: %v", err)
	}

	r = newShareRig(t, rigOptions{acct: func(o *Options) { o.WebRefreshToken = "" }})
	if _, err := r.share.ShareState(ctx); err == nil || !strings.Contains(err.Error(), "no web login") {
		t.Fatalf("ShareState through an account without a web login: %v", err)
	}
}

func TestShareStartCheckLogs(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	folder, _ := srv.Sharer().MkdirAll("/x")
	srv.AddShare(testShareID, testSharePwd, folder.ID)
	env := testEnv(t)
	var logs syncBuf
	env.Log = zerolog.New(&logs)
	env.MountPath = "/share/x"
	if _, err := NewShare(context.Background(), env, ShareOptions{ShareID: testShareID, SharePwd: "zzzz", Account: "/aliyun", WebAPIURL: srv.URL()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "提取码") {
		if time.Now().After(deadline) {
			t.Fatalf("no message about the code at start:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShareTokenRenewedWhenRefused(t *testing.T) {
	r := newShareRig(t, rigOptions{})
	r.srv.SetShareTokenTTL(time.Hour)
	r.srv.Sharer().PutPath("/分享 films/a.mkv", fakecloud.BytesBlob([]byte("a")))
	ctx := ctxT(t)
	root, err := r.share.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		if kids, err := r.share.List(ctx, root); err != nil || len(kids) != 1 {
			t.Fatalf("round %d: %v %v", round, kids, err)
		}
		if n := r.srv.Counters().Get("v2/share_link/get_share_token"); n != int64(round) {
			t.Fatalf("round %d: %d share tokens fetched", round, n)
		}
		// The service drops tokens long before their stated expiry.
		r.srv.ExpireShareTokens()
	}
}

func TestShareCopyOncePerFile(t *testing.T) {
	r := newShareRig(t, rigOptions{share: func(o *ShareOptions) { o.TempCopyLinger = Duration(50 * time.Millisecond) }})
	blob := fakecloud.NewSeededBlob(3, 200000, "")
	r.srv.Sharer().PutPath("/分享 films/film.mkv", blob)
	r.srv.Sharer().PutPath("/分享 films/other.mkv", fakecloud.BytesBlob([]byte("other")))
	// A copy left by an earlier run is swept at first use.
	r.srv.Tree().PutPath("/"+tempFolderName+"/left over.mkv", fakecloud.BytesBlob([]byte("old")))
	ctx := ctxT(t)
	f, err := drivertest.Resolve(ctx, r.share, "film.mkv")
	if err != nil {
		t.Fatal(err)
	}
	fix := &drivertest.Fixture{Drive: r.share}
	// Two readers, many seeks, some at once: one copy.
	r.share.StreamOpened(f)
	r.share.StreamOpened(f)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(i) * 30000
			got, err := drivertest.Fetch(ctx, fix, f, off, 1000)
			want := make([]byte, 1000)
			blob.ReadAt(want, off)
			if err != nil || string(got) != string(want) {
				t.Errorf("seek to %d: %v", off, err)
			}
		}()
	}
	wg.Wait()
	if n := r.srv.Counters().Get("file/copy"); n != 1 {
		t.Fatalf("%d copies for one file, want 1", n)
	}
	if n := r.srv.Counters().Get("v2/file/get_share_link_download_url"); n != 1 {
		t.Fatalf("the dead share download was asked %d times, want once", n)
	}
	if c := r.tempCopies(t); len(c) != 1 || c[0].Name != "film.mkv" {
		t.Fatalf("temp folder holds %v, want the one copy", c)
	}
	if kids, err := r.acct.List(ctx, rootEntry(t, r.acct)); err != nil || len(kids) != 0 {
		t.Fatalf("the account's root lists %v (%v); the temp folder must not show", kids, err)
	}
	r.share.StreamClosed(f)
	time.Sleep(100 * time.Millisecond) // longer than the linger: one reader is still open
	if len(r.tempCopies(t)) != 1 {
		t.Fatalf("the copy went while a reader was open")
	}
	r.share.StreamClosed(f)
	r.waitNoCopies(t)
	if n := r.srv.Counters().Get("openFile/delete"); n != 2 { // the leftover and the copy
		t.Fatalf("%d deletes, want 2", n)
	}
	if r.srv.Tree().Usage() != 0 {
		t.Fatalf("copies are in the recycle bin, not deleted: usage %d", r.srv.Tree().Usage())
	}
	// Played again after the linger: a new copy.
	r.share.StreamOpened(f)
	if _, err := drivertest.Fetch(ctx, fix, f, 0, 10); err != nil {
		t.Fatal(err)
	}
	r.share.StreamClosed(f)
	if n := r.srv.Counters().Get("file/copy"); n != 2 {
		t.Fatalf("%d copies after the linger, want 2", n)
	}
	r.waitNoCopies(t)
}

func TestShareCopyMaxAge(t *testing.T) {
	r := newShareRig(t, rigOptions{share: func(o *ShareOptions) { o.TempCopyMaxAge = Duration(50 * time.Millisecond) }})
	ctx := ctxT(t)
	f := r.put(t, "a.mkv", fakecloud.BytesBlob([]byte("a")))
	// Linked without a reader (as for a redirect), the copy lives its
	// max age, and the link no longer than that.
	l, err := r.share.Link(ctx, f, drivers.LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(l.Expires) > time.Second {
		t.Fatalf("the link outlives its copy: expires in %v", time.Until(l.Expires))
	}
	r.waitNoCopies(t)
}

func TestShareDirectDownloadWhenAlive(t *testing.T) {
	r := newShareRig(t, rigOptions{})
	r.srv.SetShareDownloadDead(false)
	ctx := ctxT(t)
	f := r.put(t, "a.mkv", fakecloud.BytesBlob([]byte("direct")))
	l, err := r.share.Link(ctx, f, drivers.LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Header.Get("Referer") == "" {
		t.Fatalf("a share link without its Referer")
	}
	got, err := drivertest.FetchLink(ctx, l, 0, -1)
	if err != nil || string(got) != "direct" {
		t.Fatalf("fetch: %q %v", got, err)
	}
	if n := r.srv.Counters().Get("file/copy"); n != 0 {
		t.Fatalf("%d copies made with the direct download working", n)
	}
}

func TestShareNeedsWebLogin(t *testing.T) {
	r := newShareRig(t, rigOptions{acct: func(o *Options) { o.WebRefreshToken = "" }})
	r.srv.Sharer().PutPath("/分享 films/a.mkv", fakecloud.BytesBlob([]byte("a")))
	ctx := ctxT(t)
	f, err := drivertest.Resolve(ctx, r.share, "a.mkv") // listing needs no login
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.share.Link(ctx, f, drivers.LinkRequest{})
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "web_refresh_token") {
		t.Fatalf("link without a web login: %v", err)
	}
	if _, err := drivertest.Resolve(ctx, r.share, "a.mkv"); err != nil {
		t.Fatalf("listing after a link failed for the account's sake: %v", err)
	}
	if !strings.Contains(r.logs.String(), "web_refresh_token") {
		t.Fatalf("the missing web login is not in the log")
	}
	bad := r.env
	bad.Mount = func(string) (drivers.Drive, bool) { return nil, false }
	s2, _ := newShare(bad, ShareOptions{ShareID: testShareID, SharePwd: testSharePwd, Account: "/nope", WebAPIURL: r.srv.URL()}, fast)
	if _, err := s2.Link(ctx, f, drivers.LinkRequest{}); !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "/nope") {
		t.Fatalf("link through a missing account: %v", err)
	}
}

func TestShareThroughWebAccount(t *testing.T) {
	r := newShareRig(t, rigOptions{acct: func(o *Options) {
		*o = Options{API: "web", RefreshToken: o.WebRefreshToken, WebAPIURL: o.WebAPIURL, AuthURL: o.AuthURL}
	}})
	ctx := ctxT(t)
	f := r.put(t, "a.mkv", fakecloud.BytesBlob([]byte("via web")))
	r.share.StreamOpened(f)
	l, err := r.share.Link(ctx, f, drivers.LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := drivertest.FetchLink(ctx, l, 0, -1)
	if err != nil || string(got) != "via web" || l.Header.Get("Referer") == "" {
		t.Fatalf("fetch: %q %v %+v", got, err, l.Header)
	}
	r.share.StreamClosed(f)
	if r.srv.Counters().Get("file/copy") != 1 || r.srv.Counters().Get("openFile/getDownloadUrl") != 0 {
		t.Fatalf("copies %d, Open API links %d", r.srv.Counters().Get("file/copy"), r.srv.Counters().Get("openFile/getDownloadUrl"))
	}
}

func TestShareRegistered(t *testing.T) {
	factory, err := drivers.Lookup("aliyun-share")
	if err != nil {
		t.Fatal(err)
	}
	_, err = factory(context.Background(), testEnv(t), func(v any) error {
		*(v.(*ShareOptions)) = ShareOptions{ShareURL: "x"}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "share_url") {
		t.Fatalf("bad options: %v", err)
	}
}

// TestShareLinkAfterLoginExpiryKeepsShareToken: AccessTokenExpired on the
// share download call names the account's login, never the share token,
// so only the login is refreshed.
func TestShareLinkAfterLoginExpiryKeepsShareToken(t *testing.T) {
	r := newShareRig(t, rigOptions{})
	r.srv.SetShareTokenTTL(time.Hour)
	r.srv.SetShareDownloadDead(false)
	ctx := ctxT(t)
	f := r.put(t, "a.mkv", fakecloud.BytesBlob([]byte("a")))
	if _, err := r.share.Link(ctx, f, drivers.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	tokens := r.srv.Counters().Get("v2/share_link/get_share_token")
	r.srv.ExpireAccessTokens()
	if _, err := r.share.Link(ctx, f, drivers.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := r.srv.Counters().Get("v2/share_link/get_share_token") - tokens; n != 0 {
		t.Fatalf("an expired login cost %d share token fetches", n)
	}
}
