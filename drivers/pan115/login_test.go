package pan115

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/fakecloud"
)

// loginRig is a mount with no refresh token, ready to log in.
type loginRig struct {
	srv *pan115test.Server
	d   *Drive
	log *drivertest.LogBuffer
	env drivers.Env
}

func newLoginRig(t *testing.T, so pan115test.Options, mod func(*Options)) *loginRig {
	t.Helper()
	so.QPS = -1
	srv := pan115test.NewServer(so)
	t.Cleanup(srv.Close)
	o := Options{APIURL: srv.APIURL(), PassportURL: srv.PassportURL(), QRCodeURL: srv.QRCodeURL(), AppID: srv.AppID(), QPS: 1000}
	if mod != nil {
		mod(&o)
	}
	r := &loginRig{srv: srv, log: &drivertest.LogBuffer{}}
	r.env = drivers.Env{MountPath: "/115", StateDir: t.TempDir(), Log: zerolog.New(r.log).Level(zerolog.DebugLevel), Shared: drivers.NewShared()}
	d, err := New(context.Background(), r.env, o)
	if err != nil {
		t.Fatal(err)
	}
	d.policy = testPolicy
	r.d = d
	return r
}

// start starts a login and returns it with its pending code.
func (r *loginRig) start(t *testing.T) (drivers.LoginFlow, fakecloud.PendingLogin) {
	t.Helper()
	flow, err := r.d.StartLogin(ctxT(t), "")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := r.srv.QRCodes().FindLogin(flow.QR())
	if !ok {
		t.Fatalf("the emulator handed out no code showing %q", flow.QR())
	}
	return flow, p
}

func wait(t *testing.T, flow drivers.LoginFlow, last, want drivers.LoginState) {
	t.Helper()
	got, err := flow.Wait(ctxT(t), last)
	if err != nil || got != want {
		t.Fatalf("Wait(%s) = %s, %v; want %s", last, got, err, want)
	}
}

// noSecrets fails when a token, the verifier or a QR code reached the
// log or err.
func (r *loginRig) noSecrets(t *testing.T, err error, extra ...string) {
	t.Helper()
	text := r.log.String()
	if err != nil {
		text += "\n" + err.Error()
	}
	for _, s := range append(r.srv.IssuedSecrets(), extra...) {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("a secret (%.6s…) reached the log or an error:\n%s", s, text)
		}
	}
}

func TestDeviceCodeLogin(t *testing.T) {
	r := newLoginRig(t, pan115test.Options{PageCap: 100}, nil)
	ctx := ctxT(t)
	r.srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	if st := r.d.LoginStatus(); st.LoggedIn || st.Refused != "" {
		t.Fatalf("LoginStatus before any login: %+v", st)
	}
	_, err := r.d.List(ctx, dirEntry(rootID))
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "no login yet") || !strings.Contains(err.Error(), "pandav login -c <config> /115") {
		t.Fatalf("a mount with no login: %v; want ErrAuth telling to run pandav login", err)
	}
	if n := r.srv.Counters().Get(pan115test.EndpointFiles); n != 0 {
		t.Fatalf("a mount with no login called the cloud %d times", n)
	}
	if got := r.d.LoginKinds(); len(got) != 1 || got[0] != "device-code" {
		t.Fatalf("LoginKinds = %v", got)
	}

	flow, p := r.start(t)
	if p.State != fakecloud.QRWaiting || !flow.Expires().IsZero() {
		t.Fatalf("a new code is %s, expires %v", p.State, flow.Expires())
	}
	// The long poll is held until the app scans.
	go func() {
		time.Sleep(100 * time.Millisecond)
		r.srv.QRCodes().ScanLogin(p.ID)
	}()
	wait(t, flow, drivers.LoginWaiting, drivers.LoginScanned)
	if n := r.srv.Counters().Get(pan115test.EndpointQRStatus); n != 1 {
		t.Fatalf("%d status polls until the scan, want 1 held", n)
	}
	if err := flow.Finish(ctx); err == nil {
		t.Fatal("Finish before the confirmation succeeded")
	}
	if err := r.srv.QRCodes().ConfirmLogin(p.ID); err != nil {
		t.Fatal(err)
	}
	wait(t, flow, drivers.LoginScanned, drivers.LoginConfirmed)
	before := time.Now()
	if err := flow.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := flow.Finish(ctx); err == nil {
		t.Fatal("a second Finish succeeded")
	}
	st := r.d.LoginStatus()
	if !st.LoggedIn || st.Refused != "" || st.Since.Before(before.Add(-time.Second)) {
		t.Fatalf("LoginStatus after the login: %+v", st)
	}
	// Stored where this mount reads its login, before use.
	stored, ok, _ := upstream.NewTokenStore(r.env.StateDir, "pan115", upstream.LoginSeed("", "/115")).Load()
	if !ok || stored.Refresh != r.srv.Login().Latest() {
		t.Fatalf("the new login is not in the mount's store: %+v", stored)
	}
	// The running drive serves with it, without being opened again.
	kids, err := r.d.List(ctx, dirEntry(rootID))
	if err != nil || len(kids) != 1 {
		t.Fatalf("after the login: %v, %v", kids, err)
	}
	a, err := r.d.Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != pan115test.UserName || a.VIP != pan115test.VIPLevel || !a.VIPExpires.Equal(pan115test.VIPExpires()) || a.Used != 1 || a.Total != 2<<40 {
		t.Fatalf("Account = %+v", a)
	}
	// expire comes as a string every other time.
	if b, err := r.d.Account(ctx); err != nil || b != a {
		t.Fatalf("second Account = %+v, %v; want %+v", b, err, a)
	}
	// Another mount of this pandav, opened afterwards on the same state,
	// starts from the stored login.
	d2, err := New(ctx, r.env, r.d.o)
	if err != nil {
		t.Fatal(err)
	}
	if !d2.LoginStatus().LoggedIn {
		t.Fatal("the stored login is not found again")
	}
	r.noSecrets(t, nil, flow.(*deviceLogin).verifier)
}

// TestLoginReplacesRefusedLogin: a token another program spent is
// refused; a new login mends the mount without a restart.
func TestLoginReplacesRefusedLogin(t *testing.T) {
	r := newLoginRig(t, pan115test.Options{}, func(o *Options) {})
	ctx := ctxT(t)
	spent := r.srv.Login().Issue().Refresh
	o := r.d.o
	o.RefreshToken = spent
	d, err := New(ctx, r.env, o)
	if err != nil {
		t.Fatal(err)
	}
	d.policy = testPolicy
	r.d = d
	if _, err := r.srv.Login().Rotate(spent); err != nil {
		t.Fatal(err)
	}
	_, err = d.List(ctx, dirEntry(rootID))
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "another program used this refresh token") {
		t.Fatalf("a token spent elsewhere: %v", err)
	}
	st := d.LoginStatus()
	if !st.LoggedIn || !strings.Contains(st.Refused, "40140120") || !strings.Contains(st.Refused, "pandav login") {
		t.Fatalf("LoginStatus of a refused login: %+v", st)
	}
	flow, p := r.start(t)
	r.srv.QRCodes().ConfirmLogin(p.ID)
	wait(t, flow, drivers.LoginWaiting, drivers.LoginConfirmed)
	if err := flow.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if st := d.LoginStatus(); st.Refused != "" {
		t.Fatalf("the refusal outlived the new login: %+v", st)
	}
	if _, err := d.List(ctx, dirEntry(rootID)); err != nil {
		t.Fatalf("after the new login: %v", err)
	}
	// The config still names the spent token: the store, named after it,
	// holds the new login.
	if stored, _, _ := upstream.NewTokenStore(r.env.StateDir, "pan115", spent).Load(); stored.Refresh != r.srv.Login().Latest() {
		t.Fatal("the new login is not where the mount reads it")
	}
	r.noSecrets(t, nil)
}

func TestLoginEnds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		act   func(q *fakecloud.QRCodes, id string) error
		want  drivers.LoginState
		finis string
	}{
		{"expired", (*fakecloud.QRCodes).ExpireLogin, drivers.LoginExpired, "expired"},
		{"cancelled", (*fakecloud.QRCodes).CancelLogin, drivers.LoginCancelled, "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLoginRig(t, pan115test.Options{}, nil)
			flow, p := r.start(t)
			r.srv.QRCodes().ScanLogin(p.ID)
			wait(t, flow, drivers.LoginWaiting, drivers.LoginScanned)
			if err := tc.act(r.srv.QRCodes(), p.ID); err != nil {
				t.Fatal(err)
			}
			wait(t, flow, drivers.LoginScanned, tc.want)
			polls := r.srv.Counters().Get(pan115test.EndpointQRStatus)
			wait(t, flow, tc.want, tc.want)
			if r.srv.Counters().Get(pan115test.EndpointQRStatus) != polls {
				t.Fatal("an ended login was polled again")
			}
			err := flow.Finish(ctxT(t))
			if err == nil || !strings.Contains(err.Error(), tc.finis) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Finish of a %s login: %v", tc.name, err)
			}
			if st := r.d.LoginStatus(); st.LoggedIn {
				t.Fatalf("an ended login logged the mount in: %+v", st)
			}
			r.noSecrets(t, err)
		})
	}
}

// TestLoginExpiresByItself: a code left alone expires after its time,
// and the long poll held on it says so.
func TestLoginExpiresByItself(t *testing.T) {
	r := newLoginRig(t, pan115test.Options{LoginTTL: 300 * time.Millisecond}, nil)
	flow, _ := r.start(t)
	wait(t, flow, drivers.LoginWaiting, drivers.LoginExpired)
}

// TestLoginLongPollWithoutNews: a poll held past the emulator's hold
// comes back with the state unchanged.
func TestLoginLongPollWithoutNews(t *testing.T) {
	r := newLoginRig(t, pan115test.Options{LongPoll: 200 * time.Millisecond}, nil)
	flow, _ := r.start(t)
	start := time.Now()
	wait(t, flow, drivers.LoginWaiting, drivers.LoginWaiting)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("a poll without news came back after %v", d)
	}
}

func TestLoginRefusedApp(t *testing.T) {
	for _, tc := range []struct {
		name, appID, want string
	}{
		{"unknown app", "100000001", "40140106"},
		{"malformed app id", "my-app", "40140100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLoginRig(t, pan115test.Options{}, func(o *Options) { o.AppID = tc.appID })
			_, err := r.d.StartLogin(ctxT(t), "")
			if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "options.app_id") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StartLogin: %v; want an auth error naming options.app_id and %s", err, tc.want)
			}
			if n := len(r.srv.QRCodes().PendingLogins()); n != 0 {
				t.Fatalf("%d codes handed out for a refused app", n)
			}
			r.noSecrets(t, err)
		})
	}
	r := newLoginRig(t, pan115test.Options{}, func(o *Options) { o.RefreshToken, o.AppID = "pasted", "" })
	if _, err := r.d.StartLogin(ctxT(t), ""); err == nil || !strings.Contains(err.Error(), "options.app_id is required") {
		t.Fatalf("StartLogin without app_id: %v", err)
	}
	if _, err := r.d.StartLogin(ctxT(t), "web"); err == nil || !strings.Contains(err.Error(), "device-code") {
		t.Fatalf("StartLogin of an unknown kind: %v", err)
	}
}

// TestLoginVerifierRefused: a verifier that does not match the challenge,
// or of a length 115 refuses, ends in one sentence, and the mount's login
// stays as it was.
func TestLoginVerifierRefused(t *testing.T) {
	for _, tc := range []struct {
		name, verifier, want string
	}{
		{"mismatch", strings.Repeat("v", 64), "40140113"},
		{"too short", "short", "40140112"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLoginRig(t, pan115test.Options{}, nil)
			flow, p := r.start(t)
			r.srv.QRCodes().ConfirmLogin(p.ID)
			wait(t, flow, drivers.LoginWaiting, drivers.LoginConfirmed)
			real := flow.(*deviceLogin).verifier
			flow.(*deviceLogin).verifier = tc.verifier
			err := flow.Finish(ctxT(t))
			if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "code verifier") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Finish: %v; want the verifier refused with %s", err, tc.want)
			}
			if st := r.d.LoginStatus(); st.LoggedIn {
				t.Fatal("a refused login logged the mount in")
			}
			r.noSecrets(t, err, real, tc.verifier)
		})
	}
}

// TestLoginPassportDown: a passport that only fails ends the start in one
// sentence, after the bounded retries.
func TestLoginPassportDown(t *testing.T) {
	r := newLoginRig(t, pan115test.Options{}, nil)
	r.srv.Faults().Inject(pan115test.EndpointAuthDeviceCode, fakecloud.BadGateway, 1, 100)
	_, err := r.d.StartLogin(ctxT(t), "")
	if err == nil || !strings.Contains(err.Error(), "did not hand out a QR code") {
		t.Fatalf("StartLogin with the passport down: %v", err)
	}
}
