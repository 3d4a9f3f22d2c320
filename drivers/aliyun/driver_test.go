package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// fast paces nothing and retries quickly: these tests count calls, and
// the real rates are exercised by TestConformanceRead.
var fast = tuning{
	rates:  map[string]float64{},
	policy: upstream.Policy{Attempts: 6, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond, GiveUpAfter: time.Second},
}

// syncBuf is a log sink tests can read back.
type syncBuf = drivertest.LogBuffer

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustDrive(t *testing.T, env drivers.Env, o Options, tn tuning) *Drive {
	t.Helper()
	d, err := newDrive(env, o, tn)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func rootEntry(t *testing.T, d *Drive) drivers.Entry {
	t.Helper()
	r, err := d.Root(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func storedRefresh(t *testing.T, env drivers.Env, seed string) string {
	t.Helper()
	tok, ok, err := upstream.NewTokenStore(env.StateDir, "aliyun", seed).Load()
	if err != nil || !ok {
		t.Fatalf("token store: ok=%v err=%v", ok, err)
	}
	return tok.Refresh
}

// storeChecker fails the test when an API call goes out while the token
// store does not yet hold the newest refresh token.
type storeChecker struct {
	t    *testing.T
	srv  *aliyuntest.Server
	env  drivers.Env
	seed string
}

func (c *storeChecker) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/adrive/") {
		tok, ok, _ := upstream.NewTokenStore(c.env.StateDir, "aliyun", c.seed).Load()
		if !ok || tok.Refresh != c.srv.Login().Latest() {
			c.t.Errorf("%s went out before the rotated refresh token was stored", r.URL.Path)
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestRotationPersistedBeforeUse(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	env := testEnv(t)
	o := openOptions(srv)
	env.HTTPClient = &http.Client{Transport: &storeChecker{t: t, srv: srv, env: env, seed: o.RefreshToken}}
	d := mustDrive(t, env, o, fast)
	if _, err := d.List(ctxT(t), rootEntry(t, d)); err != nil {
		t.Fatal(err)
	}
	if got := storedRefresh(t, env, o.RefreshToken); got != srv.Login().Latest() || got == o.RefreshToken {
		t.Fatalf("state holds %q, want the newest token", got)
	}
	// A restart on the same state dir, with the now spent token still in
	// the config, must use the stored one.
	srv.ExpireAccessTokens()
	// testEnv has no drivers.Shared, so d2 shares nothing with d, as a
	// new process would not.
	d2 := mustDrive(t, env, o, fast)
	kids, err := d2.List(ctxT(t), rootEntry(t, d2))
	if err != nil || len(kids) != 1 {
		t.Fatalf("after restart: %v %v", kids, err)
	}
	if n := srv.RefreshTokenReuses(); n != 0 {
		t.Fatalf("RefreshTokenReuses = %d, want 0", n)
	}
	if got := srv.Counters().Get("oauth/access_token"); got != 2 {
		t.Fatalf("%d refreshes, want 2", got)
	}
	if got := storedRefresh(t, env, o.RefreshToken); got != srv.Login().Latest() {
		t.Fatalf("state does not hold the newest token after the second refresh")
	}
}

// TestMountsOfOneLoginShareItsToken: two mounts of one login in one
// pandav (one drivers.Shared) refresh through one token source, so the
// single-use refresh token is spent once, not once per mount.
func TestMountsOfOneLoginShareItsToken(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{RateOther: -1})
	srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	env := testEnv(t)
	env.Shared = drivers.NewShared()
	o := openOptions(srv)
	a := mustDrive(t, env, o, fast)
	env.MountPath = "/aliyun2"
	b := mustDrive(t, env, o, fast)
	for _, d := range []*Drive{a, b} {
		if _, err := d.List(ctxT(t), rootEntry(t, d)); err != nil {
			t.Fatal(err)
		}
	}
	srv.ExpireAccessTokens()
	for _, d := range []*Drive{a, b} {
		if _, err := d.List(ctxT(t), rootEntry(t, d)); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Counters().Get("oauth/access_token"); n != 2 {
		t.Fatalf("%d refreshes for two mounts, one start and one expiry, want 2", n)
	}
	if n := srv.RefreshTokenReuses(); n != 0 {
		t.Fatalf("a refresh token was spent %d times more", n)
	}
}

func TestStaleTokenRefreshesOnce(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{RateOther: -1})
	f, _ := srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	d := mustDrive(t, testEnv(t), openOptions(srv), fast)
	ctx := ctxT(t)
	if _, err := d.Get(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	before := srv.Counters().Get("oauth/access_token")
	srv.ExpireAccessTokens()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Get(ctx, f.ID)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Counters().Get("oauth/access_token") - before; got != 1 {
		t.Fatalf("8 calls on an expired token made %d refreshes, want 1", got)
	}
	if srv.RefreshTokenReuses() != 0 {
		t.Fatalf("a refresh token was spent twice")
	}
}

func TestRenewURL(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	env := testEnv(t)
	var logs syncBuf
	env.Log = zerolog.New(&logs).Level(zerolog.DebugLevel)
	seed := srv.Login().Issue().Refresh
	o := Options{RefreshToken: seed, RenewURL: srv.RenewURL(), OpenAPIURL: srv.URL()}
	d := mustDrive(t, env, o, fast)
	if _, err := d.List(ctxT(t), rootEntry(t, d)); err != nil {
		t.Fatal(err)
	}
	if srv.Counters().Get("renew") != 1 || srv.Counters().Get("oauth/access_token") != 0 {
		t.Fatalf("renew %d, oauth %d", srv.Counters().Get("renew"), srv.Counters().Get("oauth/access_token"))
	}
	if storedRefresh(t, env, seed) != srv.Login().Latest() {
		t.Fatalf("renewed token not stored")
	}
	// Another install with the same, now spent, token and no state of
	// its own is refused, and told what to do.
	env2 := testEnv(t)
	env2.Log = env.Log
	d2 := mustDrive(t, env2, o, fast)
	_, err := d2.List(ctxT(t), rootEntry(t, d2))
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "authorize") {
		t.Fatalf("spent token: %v, want ErrAuth", err)
	}
	if srv.RefreshTokenReuses() != 1 {
		t.Fatalf("reuses %d", srv.RefreshTokenReuses())
	}
	// A dead login is not retried on every call.
	if _, err := d2.List(ctxT(t), rootEntry(t, d2)); !errors.Is(err, drivers.ErrAuth) || srv.Counters().Get("renew") != 2 {
		t.Fatalf("second call on a dead login: %v, renew calls %d", err, srv.Counters().Get("renew"))
	}
	for _, secret := range []string{seed, srv.Login().Latest(), "x-oss-signature", srv.ClientSecret()} {
		if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
			t.Fatalf("a secret leaked into logs or errors:\n%s\n%v", logs.String(), err)
		}
	}
}

func TestOAuthRejectedIsErrAuth(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	o := openOptions(srv)
	o.ClientSecret = "wrong"
	d := mustDrive(t, testEnv(t), o, fast)
	if _, err := d.List(ctxT(t), rootEntry(t, d)); !errors.Is(err, drivers.ErrAuth) {
		t.Fatalf("wrong client secret: %v", err)
	}
}

// TestDuplicateNamesLastUploadedFirst: among equal names the one the
// service stored last comes first, whatever modification times the
// uploading clients gave (here the last upload carries a middle one).
func TestDuplicateNamesLastUploadedFirst(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	root := srv.Tree().RootID()
	var ids []string
	for i, m := range []int{1, 3, 2} { // minutes after base
		n, _ := srv.Tree().Put(root, "dup.mkv", fakecloud.BytesBlob([]byte{byte(i)}), base.Add(time.Duration(m)*time.Minute))
		ids = append(ids, n.ID)
		time.Sleep(2 * time.Millisecond) // created_at has milliseconds
	}
	srv.Tree().Put(root, "b.txt", fakecloud.BytesBlob([]byte("b")), time.Time{})
	srv.Tree().Put(root, "a.txt", fakecloud.BytesBlob([]byte("a")), time.Time{})
	env := testEnv(t)
	var logs syncBuf
	env.Log = zerolog.New(&logs)
	d := mustDrive(t, env, openOptions(srv), fast)
	for round := 0; round < 2; round++ {
		kids, err := d.List(ctxT(t), rootEntry(t, d))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range kids {
			got = append(got, k.Name+"@"+k.ID)
		}
		want := []string{"a.txt", "b.txt", "dup.mkv@" + ids[2], "dup.mkv@" + ids[1], "dup.mkv@" + ids[0]}
		if len(got) != len(want) {
			t.Fatalf("listed %v", got)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Fatalf("order %v, want %v", got, want)
			}
		}
	}
	if n := strings.Count(logs.String(), "duplicate"); n != 1 {
		t.Fatalf("duplicate logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestThrottledEveryOtherListCall(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{RateList: -1})
	if err := sample.Fill(srv.Tree()); err != nil {
		t.Fatal(err)
	}
	many, err := srv.Tree().Lookup(sample.ManyDir)
	if err != nil {
		t.Fatal(err)
	}
	d := mustDrive(t, testEnv(t), openOptions(srv), fast) // page_size 200
	ctx := ctxT(t)
	if _, err := d.drive(ctx); err != nil {
		t.Fatal(err)
	}
	// Calls 2, 4, 6, ... are throttled: 13 pages succeed on calls 1, 3,
	// ..., 25, so the listing costs 25 calls, 12 of them refused.
	srv.Faults().Clear()
	srv.Faults().Inject("openFile/list", fakecloud.Throttle, 2, -1)
	before := srv.Counters().Get("openFile/list")
	kids, err := d.List(ctx, drivers.Entry{ID: many.ID, Name: many.Name, IsDir: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != sample.ManyCount {
		t.Fatalf("listed %d, want %d", len(kids), sample.ManyCount)
	}
	if calls := srv.Counters().Get("openFile/list") - before; calls != 25 {
		t.Fatalf("%d list calls, want 13 pages + 12 throttled = 25", calls)
	}
	for i, k := range kids {
		if k.Name != sample.ManyName(i) || k.Size != int64(len(sample.ManyContent(i))) || k.ParentID != many.ID {
			t.Fatalf("entry %d: %+v", i, k)
		}
	}
}

func TestRootOption(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	if err := sample.Fill(srv.Tree()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		root     string
		notFound bool
		wantErr  bool
	}{
		{root: "/Movies"},
		{root: "Documents/深层/"},
		{root: "/Movies/missing", notFound: true}, // 404
		{root: "/no/such/folder", notFound: true}, // 400: missing parent
		{root: sample.ReadmePath, wantErr: true},  // a file
	}
	for _, tc := range cases {
		o := openOptions(srv)
		o.Root = tc.root
		d := mustDrive(t, testEnv(t), o, fast)
		r, err := d.Root(ctxT(t))
		switch {
		case tc.notFound:
			if !errors.Is(err, drivers.ErrNotFound) {
				t.Errorf("root %q: %v, want ErrNotFound", tc.root, err)
			}
		case tc.wantErr:
			if err == nil || errors.Is(err, drivers.ErrNotFound) {
				t.Errorf("root %q: %v, want an error other than ErrNotFound", tc.root, err)
			}
		default:
			want, _ := srv.Tree().Lookup(tc.root)
			if err != nil || r.ID != want.ID || !r.IsDir {
				t.Errorf("root %q: %+v %v", tc.root, r, err)
			}
			before := srv.Counters().Get("openFile/get_by_path")
			if _, err := d.Root(ctxT(t)); err != nil || srv.Counters().Get("openFile/get_by_path") != before {
				t.Errorf("root %q resolved twice", tc.root)
			}
		}
	}
}

func TestDriveChoice(t *testing.T) {
	for _, tc := range []struct {
		drive      string
		noResource bool
		wantFiles  int
	}{
		{"", false, 1}, {"resource", false, 1}, {"backup", false, 0}, {"default", false, 0}, {"resource", true, 0},
	} {
		srv := newEmulator(t, aliyuntest.Options{NoResourceDrive: tc.noResource})
		srv.Tree().PutPath("/in-resource.txt", fakecloud.BytesBlob([]byte("r")))
		o := openOptions(srv)
		o.Drive = tc.drive
		d := mustDrive(t, testEnv(t), o, fast)
		kids, err := d.List(ctxT(t), rootEntry(t, d))
		if err != nil || len(kids) != tc.wantFiles {
			t.Errorf("drive %q (no resource drive: %v): %d entries, %v", tc.drive, tc.noResource, len(kids), err)
		}
		d.List(ctxT(t), rootEntry(t, d))
		if n := srv.Counters().Get("user/getDriveInfo"); n != 1 {
			t.Errorf("getDriveInfo called %d times, want 1", n)
		}
	}
}

func TestLink(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{LinkTTL: 90 * time.Second, RateLink: -1})
	f, _ := srv.Tree().PutPath("/v/a.mp4", fakecloud.BytesBlob([]byte("video")))
	d := mustDrive(t, testEnv(t), openOptions(srv), fast)
	ctx := ctxT(t)
	e, err := d.Get(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Link(ctx, e, drivers.LinkRequest{UserAgent: "x"})
	if err != nil {
		t.Fatal(err)
	}
	// link_expire_sec 14400 was asked for; the URL says 90 s.
	if left := time.Until(l.Expires); left <= 0 || left > 92*time.Second {
		t.Fatalf("Expires in %v, want the URL's ~90s", left)
	}
	if len(l.Header) != 0 || l.MaxConns != 3 {
		t.Fatalf("link %+v", l)
	}
	// Drivers never cache links: each call asks the cloud.
	if _, err := d.Link(ctx, e, drivers.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Counters().Get("openFile/getDownloadUrl"); n != 2 {
		t.Fatalf("%d getDownloadUrl calls, want 2", n)
	}
	dir, _ := srv.Tree().Lookup("/v")
	if _, err := d.Link(ctx, drivers.Entry{ID: dir.ID, Name: "v", IsDir: false}, drivers.LinkRequest{}); !errors.Is(err, drivers.ErrIsDir) {
		t.Fatalf("link of a folder: %v, want ErrIsDir", err)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{RateOther: -1})
	f, _ := srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	d := mustDrive(t, testEnv(t), openOptions(srv), fast)
	ctx := ctxT(t)
	for _, k := range []fakecloud.FaultKind{fakecloud.ServerError, fakecloud.BadGateway, fakecloud.Garbage, fakecloud.Reset, fakecloud.Throttle, fakecloud.Transient} {
		srv.Faults().Inject("openFile/get", k, 1, 2)
		e, err := d.Get(ctx, f.ID)
		if err != nil || e.Name != "a.txt" {
			t.Fatalf("after two %s faults: %+v %v", k, e, err)
		}
	}
	// Token endpoints fail too, and are retried as well.
	srv.ExpireAccessTokens()
	srv.Faults().Inject("oauth/access_token", fakecloud.Throttle, 1, 1)
	srv.Faults().Inject("oauth/access_token", fakecloud.BadGateway, 1, 1)
	if _, err := d.Get(ctx, f.ID); err != nil {
		t.Fatalf("through a throttled token endpoint: %v", err)
	}
	srv.Faults().Inject("openFile/get", fakecloud.BadGateway, 1, -1)
	_, err := d.Get(ctx, f.ID)
	if !errors.Is(err, drivers.ErrUpstream) || errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("endless 502: %v, want ErrUpstream", err)
	}
	srv.Faults().Clear()
	srv.Faults().Inject("openFile/list", fakecloud.Throttle, 1, -1)
	_, err = d.List(ctx, rootEntry(t, d))
	if d, ok := drivers.RetryAfter(err); !errors.Is(err, drivers.ErrRateLimited) || !ok || d != 20*time.Millisecond {
		t.Fatalf("endless 429: %v, want ErrRateLimited with the x-retry-after hint", err)
	}
}

func TestQuota(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	srv.Tree().PutPath("/a.bin", fakecloud.BytesBlob(make([]byte, 4096)))
	srv.SetSpace(5 << 40)
	d := mustDrive(t, testEnv(t), openOptions(srv), fast)
	q, err := d.Quota(ctxT(t))
	if err != nil || q.Used != 4096 || q.Total != 5<<40 {
		t.Fatalf("quota %+v, %v", q, err)
	}
}

func TestOptionsValidation(t *testing.T) {
	ok := Options{RefreshToken: "a.b.c", ClientID: "id", ClientSecret: "secret"}
	cases := []struct {
		name string
		edit func(o *Options)
		want string // "" means valid
	}{
		{"valid", func(o *Options) {}, ""},
		{"renew url instead of client", func(o *Options) { o.ClientID, o.ClientSecret, o.RenewURL = "", "", "https://renew.example/api" }, ""},
		{"no refresh token: a login waits for pandav login", func(o *Options) { o.RefreshToken = " " }, ""},
		{"no way to refresh", func(o *Options) { o.ClientID, o.ClientSecret = "", "" }, "renew_url"},
		{"id without secret", func(o *Options) { o.ClientSecret = "" }, "client_secret"},
		{"web api", func(o *Options) { o.API, o.ClientID, o.ClientSecret = "web", "", "" }, ""},
		{"web api with a second web login", func(o *Options) { o.API, o.WebRefreshToken = "web", "abc" }, "web_refresh_token"},
		{"web api without a token", func(o *Options) { o.API, o.RefreshToken = "web", "" }, ""},
		{"bad passport url", func(o *Options) { o.PassportURL = "passport" }, "passport_url"},
		{"bad api", func(o *Options) { o.API = "ftp" }, "options.api"},
		{"bad drive", func(o *Options) { o.Drive = "album" }, "options.drive"},
		{"page size", func(o *Options) { o.PageSize = 201 }, "page_size"},
		{"bad url", func(o *Options) { o.OpenAPIURL = "openapi.alipan.com" }, "open_api_url"},
		{"negative expiry", func(o *Options) { o.LinkExpiry = -1 }, "link_expire_sec"},
	}
	for _, tc := range cases {
		o := ok
		tc.edit(&o)
		_, err := New(context.Background(), testEnv(t), o)
		if tc.want == "" && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
	// New makes no network call: an unreachable cloud is fine at start.
	o := ok
	o.OpenAPIURL = "http://127.0.0.1:1"
	if _, err := New(context.Background(), testEnv(t), o); err != nil {
		t.Fatal(err)
	}
}

func TestRegistered(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	factory, err := drivers.Lookup("aliyun")
	if err != nil {
		t.Fatal(err)
	}
	o := openOptions(srv)
	d, err := factory(context.Background(), testEnv(t), func(v any) error { *(v.(*Options)) = o; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(drivers.Quotaer); !ok {
		t.Fatalf("%T is not a Quotaer", d)
	}
	_, err = factory(context.Background(), testEnv(t), func(v any) error { return fmt.Errorf("options.pagesize: unknown key") })
	if err == nil {
		t.Fatal("an options error was ignored")
	}
}
