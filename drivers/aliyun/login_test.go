package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/internal/fakecloud"
)

// fastLogin is fast with QR logins polled every few milliseconds.
var fastLogin = func() tuning { t := fast; t.loginPoll = 5 * time.Millisecond; return t }()

// loginRig is an emulator and a mount with no login, whose log the test
// reads back.
type loginRig struct {
	srv  *aliyuntest.Server
	d    *Drive
	env  drivers.Env
	logs *syncBuf
}

func newLoginRig(t *testing.T, eo aliyuntest.Options, edit func(srv *aliyuntest.Server, o *Options)) *loginRig {
	t.Helper()
	eo.RateList, eo.RateLink, eo.RateOther = -1, -1, -1
	srv := newEmulator(t, eo)
	srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	r := &loginRig{srv: srv, logs: &syncBuf{}}
	r.env = testEnv(t)
	r.env.Log = zerolog.New(zerolog.MultiLevelWriter(r.logs, zerolog.NewTestWriter(t))).Level(zerolog.DebugLevel)
	o := Options{ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(), OpenAPIURL: srv.URL(),
		WebAPIURL: srv.URL(), AuthURL: srv.AuthURL(), PassportURL: srv.PassportURL()}
	if edit != nil {
		edit(srv, &o)
	}
	r.d = mustDrive(t, r.env, o, fastLogin)
	return r
}

// start starts a login of kind and finds its code in the emulator.
func (r *loginRig) start(t *testing.T, kind string) (drivers.LoginFlow, fakecloud.PendingLogin) {
	t.Helper()
	flow, err := r.d.StartLogin(ctxT(t), kind)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := r.srv.QRCodes().FindLogin(flow.QR())
	if !ok {
		t.Fatalf("the emulator handed out no code showing the flow's QR")
	}
	return flow, p
}

// confirm scans and confirms the code, and waits the flow through both.
func (r *loginRig) confirm(t *testing.T, flow drivers.LoginFlow, p fakecloud.PendingLogin) {
	t.Helper()
	if err := r.srv.QRCodes().ScanLogin(p.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flow, drivers.LoginWaiting, drivers.LoginScanned)
	if err := r.srv.QRCodes().ConfirmLogin(p.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, flow, drivers.LoginScanned, drivers.LoginConfirmed)
}

func waitFor(t *testing.T, flow drivers.LoginFlow, last, want drivers.LoginState) {
	t.Helper()
	got, err := flow.Wait(ctxT(t), last)
	if err != nil || got != want {
		t.Fatalf("Wait(%s) = %s, %v; want %s", last, got, err, want)
	}
}

// noSecrets fails when a secret the emulator handed out (tokens, the
// app secret, QR codes, sids, authCodes) reached the log or err.
func (r *loginRig) noSecrets(t *testing.T, err error) {
	t.Helper()
	text := r.logs.String()
	if err != nil {
		text += "\n" + err.Error()
	}
	for _, s := range r.srv.IssuedSecrets() {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("a secret (%.6s…) reached the log or an error:\n%s", s, text)
		}
	}
}

// listRoot lists the mount's root through the running drive.
func (r *loginRig) listRoot(t *testing.T) []drivers.Entry {
	t.Helper()
	kids, err := r.d.List(ctxT(t), rootEntry(t, r.d))
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	return kids
}

func TestOpenLogin(t *testing.T) {
	r := newLoginRig(t, aliyuntest.Options{}, nil)
	ctx := ctxT(t)
	if st := r.d.LoginStatus(); st.LoggedIn {
		t.Fatalf("LoginStatus before any login: %+v", st)
	}
	_, err := r.d.List(ctx, drivers.Entry{ID: "root", IsDir: true})
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "no login yet") || !strings.Contains(err.Error(), "pandav login -c <config> /aliyun") {
		t.Fatalf("a mount with no login: %v; want ErrAuth telling to run pandav login", err)
	}
	if got := r.d.LoginKinds(); strings.Join(got, ",") != "open,web" {
		t.Fatalf("LoginKinds = %v", got)
	}
	flow, p := r.start(t, "")
	if p.Kind != aliyuntest.KindOpen || !strings.HasPrefix(flow.QR(), "https://www.aliyundrive.com/o/oauth/authorize?sid=") {
		t.Fatalf("the code is %+v, its QR %q", p, flow.QR())
	}
	if err := flow.Finish(ctx); err == nil {
		t.Fatal("Finish before the confirmation succeeded")
	}
	r.confirm(t, flow, p)
	before := time.Now()
	if err := flow.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.d.LoginStatus(); !st.LoggedIn || st.Refused != "" || st.Since.Before(before.Add(-time.Second)) {
		t.Fatalf("LoginStatus after the login: %+v", st)
	}
	stored, ok, _ := upstream.NewTokenStore(r.env.StateDir, "aliyun", upstream.LoginSeed("", "/aliyun")).Load()
	if !ok || stored.Refresh != r.srv.Login().Latest() {
		t.Fatal("the new login is not in the mount's store")
	}
	if kids := r.listRoot(t); len(kids) != 1 {
		t.Fatalf("after the login the root holds %v", kids)
	}
	r.srv.SetSpace(5 << 40)
	a, err := r.d.Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != aliyuntest.UserName || a.VIP != "svip 20t" || a.VIPExpires.Unix() != 4102444800 || a.Used != 1 || a.Total != 5<<40 {
		t.Fatalf("Account = %+v", a)
	}
	r.srv.SetVIP("member", "", time.Time{})
	if a, err := r.d.Account(ctx); err != nil || a.VIP != "" || !a.VIPExpires.IsZero() {
		t.Fatalf("Account of a member = %+v, %v", a, err)
	}
	// The authCode is good once: a second trade of it is refused, and
	// the login stays.
	f := flow.(*openQRFlow)
	f.finished = false
	err = f.Finish(ctx)
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "InvalidParameter.Code") {
		t.Fatalf("a reused authCode: %v", err)
	}
	if stored2, _, _ := upstream.NewTokenStore(r.env.StateDir, "aliyun", upstream.LoginSeed("", "/aliyun")).Load(); stored2.Refresh != r.srv.Login().Latest() {
		t.Fatal("a refused trade touched the stored login")
	}
	r.noSecrets(t, err)
}

// TestOpenLoginReplacesRefusedLogin: a token another program spent is
// refused, and a login mends the running mount.
func TestOpenLoginReplacesRefusedLogin(t *testing.T) {
	var spent string
	r := newLoginRig(t, aliyuntest.Options{}, func(srv *aliyuntest.Server, o *Options) {
		spent = srv.Login().Issue().Refresh
		o.RefreshToken = spent
	})
	r.srv.Login().Rotate(spent)
	_, err := r.d.List(ctxT(t), rootEntry(t, r.d))
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "another program used this refresh token") {
		t.Fatalf("a token spent elsewhere: %v", err)
	}
	if st := r.d.LoginStatus(); !strings.Contains(st.Refused, "RefreshTokenInvalid") {
		t.Fatalf("LoginStatus of a refused login: %+v", st)
	}
	flow, p := r.start(t, "open")
	r.confirm(t, flow, p)
	if err := flow.Finish(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if st := r.d.LoginStatus(); st.Refused != "" {
		t.Fatalf("the refusal outlived the login: %+v", st)
	}
	r.listRoot(t)
	if stored, _, _ := upstream.NewTokenStore(r.env.StateDir, "aliyun", spent).Load(); stored.Refresh != r.srv.Login().Latest() {
		t.Fatal("the new login is not where the mount reads it")
	}
	r.noSecrets(t, nil)
}

// TestOpenLoginThroughProxy: without a secret, a messense-style proxy at
// renew_url hands out the code and trades it, and refreshes the login.
func TestOpenLoginThroughProxy(t *testing.T) {
	r := newLoginRig(t, aliyuntest.Options{}, func(srv *aliyuntest.Server, o *Options) {
		o.ClientID, o.ClientSecret, o.RenewURL = "", "", srv.ProxyURL()
	})
	flow, p := r.start(t, "open")
	r.confirm(t, flow, p)
	if err := flow.Finish(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.listRoot(t)
	r.srv.ExpireAccessTokens()
	r.listRoot(t)
	c := r.srv.Counters()
	if c.Get(aliyuntest.EndpointProxyQR) != 1 || c.Get(aliyuntest.EndpointProxyToken) != 2 || c.Get("oauth/access_token") != 0 || c.Get("renew") != 0 {
		t.Fatalf("calls: %v; want the code, its trade and a refresh at the proxy", c.Snapshot())
	}
	if r.srv.RefreshTokenReuses() != 0 {
		t.Fatal("a refresh token was spent twice")
	}
	r.noSecrets(t, nil)
}

func TestOpenLoginFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(srv *aliyuntest.Server, o *Options)
		fault func(srv *aliyuntest.Server)
		want  string
	}{
		{"wrong secret", func(srv *aliyuntest.Server, o *Options) { o.ClientSecret = "wrong" }, nil,
			"refused options.client_id and client_secret"},
		{"renew service without QR login", func(srv *aliyuntest.Server, o *Options) {
			o.ClientID, o.ClientSecret, o.RenewURL = "", "", srv.RenewURL()
		}, nil,
			"offers no QR login"},
		{"renew service down", func(srv *aliyuntest.Server, o *Options) {
			o.ClientID, o.ClientSecret, o.RenewURL = "", "", srv.ProxyURL()
		},
			func(srv *aliyuntest.Server) {
				srv.Faults().Inject(aliyuntest.EndpointProxyQR, fakecloud.BadGateway, 1, 100)
			},
			"renew service at options.renew_url is down or out of reach"},
		{"renew service gone", func(srv *aliyuntest.Server, o *Options) {
			o.ClientID, o.ClientSecret, o.RenewURL = "", "", "http://127.0.0.1:1"
		}, nil,
			"is down or out of reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLoginRig(t, aliyuntest.Options{}, tc.edit)
			if tc.fault != nil {
				tc.fault(r.srv)
			}
			_, err := r.d.StartLogin(ctxT(t), "open")
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("StartLogin: %v; want one line saying %q", err, tc.want)
			}
			if st := r.d.LoginStatus(); st.LoggedIn {
				t.Fatal("a failed login logged the mount in")
			}
			r.noSecrets(t, err)
		})
	}
}

func TestLoginEnds(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		act        func(q *fakecloud.QRCodes, id string) error
		want       drivers.LoginState
	}{
		{"open expired", "open", (*fakecloud.QRCodes).ExpireLogin, drivers.LoginExpired},
		// The Open API has no status for a refusal (§3.1): the code dies.
		{"open cancelled", "open", (*fakecloud.QRCodes).CancelLogin, drivers.LoginExpired},
		{"passport expired", "web", (*fakecloud.QRCodes).ExpireLogin, drivers.LoginExpired},
		{"passport cancelled", "web", (*fakecloud.QRCodes).CancelLogin, drivers.LoginCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLoginRig(t, aliyuntest.Options{}, nil)
			flow, p := r.start(t, tc.kind)
			r.srv.QRCodes().ScanLogin(p.ID)
			waitFor(t, flow, drivers.LoginWaiting, drivers.LoginScanned)
			if err := tc.act(r.srv.QRCodes(), p.ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, flow, drivers.LoginScanned, tc.want)
			err := flow.Finish(ctxT(t))
			if err == nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Finish of an ended login: %v", err)
			}
			r.noSecrets(t, err)
		})
	}
	// A code left alone expires by itself.
	r := newLoginRig(t, aliyuntest.Options{LoginTTL: 100 * time.Millisecond}, nil)
	flow, _ := r.start(t, "open")
	waitFor(t, flow, drivers.LoginWaiting, drivers.LoginExpired)
}

// TestPassportLoginWebMount: an api: web mount with no token logs in by
// the passport's code, and serves with it at once.
func TestPassportLoginWebMount(t *testing.T) {
	r := newLoginRig(t, aliyuntest.Options{}, func(srv *aliyuntest.Server, o *Options) {
		o.API, o.ClientID, o.ClientSecret = "web", "", ""
	})
	if got := r.d.LoginKinds(); strings.Join(got, ",") != "web" {
		t.Fatalf("LoginKinds = %v", got)
	}
	if _, err := r.d.StartLogin(ctxT(t), "open"); err == nil {
		t.Fatal("an api: web mount started an Open API login")
	}
	_, err := r.d.List(ctxT(t), drivers.Entry{ID: "root", IsDir: true})
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "pandav login") {
		t.Fatalf("a web mount with no login: %v", err)
	}
	flow, p := r.start(t, "")
	if p.Kind != aliyuntest.KindPassport {
		t.Fatalf("kind %q", p.Kind)
	}
	r.confirm(t, flow, p)
	if err := flow.Finish(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if st := r.d.LoginStatus(); !st.LoggedIn {
		t.Fatalf("LoginStatus after the login: %+v", st)
	}
	if kids := r.listRoot(t); len(kids) != 1 {
		t.Fatalf("after the login: %v", kids)
	}
	a, err := r.d.Account(ctxT(t))
	if err != nil || a.Name != aliyuntest.UserName || a.VIP != "超级会员" || a.Used != 1 || a.Total == 0 {
		t.Fatalf("Account = %+v, %v", a, err)
	}
	if stored, ok, _ := upstream.NewTokenStore(r.env.StateDir, "aliyun-web", upstream.LoginSeed("", "/aliyun")).Load(); !ok || stored.Refresh != r.srv.WebLogin().Latest() {
		t.Fatal("the web login is not in the mount's store")
	}
	r.noSecrets(t, nil)
}

// TestPassportLoginPlaysShares: an Open API account without a web login
// cannot play a share; its web login by QR code mends that at once.
func TestPassportLoginPlaysShares(t *testing.T) {
	rig := newShareRig(t, rigOptions{acct: func(o *Options) { o.WebRefreshToken = ""; o.PassportURL = "" }})
	rig.acct.o.PassportURL = rig.srv.PassportURL()
	rig.acct.t = fastLogin
	ctx := ctxT(t)
	f := rig.put(t, "a.mkv", fakecloud.BytesBlob([]byte("shared")))
	if _, err := rig.share.Link(ctx, f, drivers.LinkRequest{}); err == nil || !strings.Contains(err.Error(), "pandav login") {
		t.Fatalf("a share through an account without a web login: %v", err)
	}
	flow, err := rig.acct.StartLogin(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := rig.srv.QRCodes().FindLogin(flow.QR())
	rig.srv.QRCodes().ConfirmLogin(p.ID)
	waitFor(t, flow, drivers.LoginWaiting, drivers.LoginConfirmed)
	if err := flow.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if st := rig.acct.LoginStatus(); !st.LoggedIn {
		t.Fatal("the web login changed the Open API login's status")
	}
	rig.share.StreamOpened(f)
	defer rig.share.StreamClosed(f)
	l, err := rig.share.Link(ctx, f, drivers.LinkRequest{})
	if err != nil {
		t.Fatalf("a share after the web login: %v", err)
	}
	if got, err := drivertest.FetchLink(ctx, l, 0, -1); err != nil || string(got) != "shared" {
		t.Fatalf("fetch: %q, %v", got, err)
	}
}

// TestLoginReachesEveryMountOfItsLogin: two mounts of one pandav with
// the same configured token share a login: one logs in, both serve.
func TestLoginReachesEveryMountOfItsLogin(t *testing.T) {
	r := newLoginRig(t, aliyuntest.Options{}, nil)
	env := r.env
	env.Shared = drivers.NewShared()
	env.MountPath = "/a"
	a := mustDrive(t, env, r.d.o, fastLogin)
	b := mustDrive(t, env, r.d.o, fastLogin)
	flow, err := a.StartLogin(ctxT(t), "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.srv.QRCodes().FindLogin(flow.QR())
	r.srv.QRCodes().ConfirmLogin(p.ID)
	waitFor(t, flow, drivers.LoginWaiting, drivers.LoginConfirmed)
	if err := flow.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.List(ctxT(t), rootEntry(t, b)); err != nil {
		t.Fatalf("the other mount of the login: %v", err)
	}
}

func TestNumberTakesStrings(t *testing.T) {
	var s spaceFigures
	if err := json.Unmarshal([]byte(`{"used_size":"7436100078094","total_size":8946416877568}`), &s); err != nil || s.UsedSize != 7436100078094 || s.TotalSize != 8946416877568 {
		t.Fatalf("%+v, %v", s, err)
	}
	if err := json.Unmarshal([]byte(`{"used_size":"lots"}`), &s); err == nil {
		t.Fatal("a word taken as a number")
	}
}
