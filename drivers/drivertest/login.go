package drivertest

import (
	"errors"
	"strings"
	"testing"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// RunLogin runs the login part of the suite: h must give a mount with no
// login at all (no refresh token configured or stored), whose driver is
// a drivers.Loginer, on a Cloud that is a fakecloud.QRLogins, whose
// phone the suite plays. Each kind the mount lists is logged in by its
// QR code, and the mount must serve with the new login at once; codes
// that expire or are cancelled end the flow and log nothing in.
func RunLogin(t *testing.T, h Harness) {
	runSuite(t, h, []suiteTest{
		{"LoginAndServe", testLoginAndServe},
		{"LoginEndsWhenExpired", func(t *testing.T, f *Fixture) {
			testLoginEnds(t, f, (*fakecloud.QRCodes).ExpireLogin)
		}},
		{"LoginEndsWhenCancelled", func(t *testing.T, f *Fixture) {
			testLoginEnds(t, f, (*fakecloud.QRCodes).CancelLogin)
		}},
	})
}

// loginParts are the capabilities the login part needs.
func loginParts(t *testing.T, f *Fixture) (drivers.Loginer, *fakecloud.QRCodes) {
	t.Helper()
	l := capability[drivers.Loginer](t, f)
	q, ok := f.Cloud.(fakecloud.QRLogins)
	if !ok {
		t.Fatalf("%T is no fakecloud.QRLogins", f.Cloud)
	}
	return l, q.QRCodes()
}

// startLogin starts a login of kind and finds the code it shows.
func startLogin(t *testing.T, l drivers.Loginer, q *fakecloud.QRCodes, kind string) (drivers.LoginFlow, fakecloud.PendingLogin) {
	t.Helper()
	flow, err := l.StartLogin(ctxT(t), kind)
	if err != nil {
		t.Fatalf("StartLogin(%q): %v", kind, err)
	}
	p, ok := q.FindLogin(flow.QR())
	if !ok {
		t.Fatalf("StartLogin(%q): the cloud handed out no code that shows the flow's QR", kind)
	}
	return flow, p
}

func waitLogin(t *testing.T, flow drivers.LoginFlow, last drivers.LoginState) drivers.LoginState {
	t.Helper()
	st, err := flow.Wait(ctxT(t), last)
	if err != nil {
		t.Fatalf("Wait(%s): %v", last, err)
	}
	return st
}

// checkNoSecret fails when a secret the cloud handed out is in text.
func checkNoSecret(t *testing.T, f *Fixture, text string) {
	t.Helper()
	for _, s := range f.Cloud.IssuedSecrets() {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("a secret (%.6s…) is in %q", s, text)
		}
	}
}

// kindStatus is the status of the mount's login of kind, when the drive
// reports its logins by kind.
func kindStatus(f *Fixture, kind string) (drivers.LoginStatus, bool) {
	k, ok := f.Drive.(drivers.KindLoginStatuser)
	if !ok {
		return drivers.LoginStatus{}, false
	}
	for _, st := range k.KindLoginStatuses() {
		if st.Kind == kind {
			return st.LoginStatus, true
		}
	}
	return drivers.LoginStatus{}, false
}

func loggedIn(f *Fixture) (bool, bool) {
	s, ok := f.Drive.(drivers.LoginStatuser)
	if !ok {
		return false, false
	}
	return s.LoginStatus().LoggedIn, true
}

func testLoginAndServe(t *testing.T, f *Fixture) {
	l, q := loginParts(t, f)
	ctx := ctxT(t)
	mustPut(t, f, "logged in.txt", fakecloud.BytesBlob([]byte("hello")))
	if in, ok := loggedIn(f); ok && in {
		t.Fatal("LoginStatus says logged in before any login")
	}
	_, err := Resolve(ctx, f.Drive, "logged in.txt")
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "pandav login") {
		t.Fatalf("a mount with no login: %v; want ErrAuth saying to run pandav login", err)
	}
	kinds := l.LoginKinds()
	if len(kinds) == 0 {
		t.Fatal("no login kinds")
	}
	if a, ok := f.Drive.(drivers.LoginApper); ok && a.LoginApp() == "" {
		t.Error("LoginApp names no app")
	}
	if k, ok := f.Drive.(drivers.KindLoginStatuser); ok {
		ks := k.KindLoginStatuses()
		for i, st := range ks {
			if i >= len(kinds) || st.Kind != kinds[i] {
				t.Fatalf("KindLoginStatuses names %v; want the kinds of LoginKinds, %v, in order", ks, kinds)
			}
			if st.LoggedIn {
				t.Fatalf("the %s login is in before any login", st.Kind)
			}
		}
	}
	for i, kind := range kinds {
		flow, p := startLogin(t, l, q, kind)
		if i == 0 {
			// "" is the first kind.
			if _, p0 := startLogin(t, l, q, ""); p0.Kind != p.Kind {
				t.Fatalf("StartLogin(\"\") made a %q code, StartLogin(%q) a %q one", p0.Kind, kind, p.Kind)
			}
		}
		if err := flow.Finish(ctx); err == nil {
			t.Fatalf("%s: Finish before the confirmation succeeded", kind)
		}
		if err := q.ScanLogin(p.ID); err != nil {
			t.Fatal(err)
		}
		if st := waitLogin(t, flow, drivers.LoginWaiting); st != drivers.LoginScanned {
			t.Fatalf("%s: after the scan, Wait says %s", kind, st)
		}
		if err := q.ConfirmLogin(p.ID); err != nil {
			t.Fatal(err)
		}
		if st := waitLogin(t, flow, drivers.LoginScanned); st != drivers.LoginConfirmed {
			t.Fatalf("%s: after the confirmation, Wait says %s", kind, st)
		}
		if err := flow.Finish(ctx); err != nil {
			t.Fatalf("%s: Finish: %v", kind, err)
		}
		if st, ok := kindStatus(f, kind); ok && (!st.LoggedIn || st.Refused != "") {
			t.Fatalf("after the %s login, its status is %+v", kind, st)
		}
		if i > 0 {
			continue
		}
		// The first kind is the mount's own login: it serves with it now,
		// without being opened again.
		if in, ok := loggedIn(f); ok && !in {
			t.Fatal("LoginStatus says not logged in after the login")
		}
		e, err := Resolve(ctx, f.Drive, "logged in.txt")
		if err != nil {
			t.Fatalf("after the login: %v", err)
		}
		if got, err := Fetch(ctx, f, e, 0, -1); err != nil || string(got) != "hello" {
			t.Fatalf("after the login, the file reads %q, %v", got, err)
		}
		if a, ok := f.Drive.(drivers.Accounter); ok {
			acct, err := a.Account(ctx)
			if err != nil || acct.Name == "" || acct.Total <= 0 {
				t.Fatalf("Account = %+v, %v", acct, err)
			}
		}
	}
}

// testLoginEnds: a code that ends in the app ends the flow, Finish says
// so in one sentence, and the mount stays without a login.
func testLoginEnds(t *testing.T, f *Fixture, end func(*fakecloud.QRCodes, string) error) {
	l, q := loginParts(t, f)
	flow, p := startLogin(t, l, q, "")
	if err := q.ScanLogin(p.ID); err != nil {
		t.Fatal(err)
	}
	if st := waitLogin(t, flow, drivers.LoginWaiting); st != drivers.LoginScanned {
		t.Fatalf("after the scan, Wait says %s", st)
	}
	if err := end(q, p.ID); err != nil {
		t.Fatal(err)
	}
	st := drivers.LoginScanned
	for range 5 {
		if st = waitLogin(t, flow, st); st.Ended() {
			break
		}
	}
	if !st.Ended() {
		t.Fatalf("the flow goes on at %s", st)
	}
	err := flow.Finish(ctxT(t))
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Finish of an ended login: %v", err)
	}
	checkNoSecret(t, f, err.Error())
	if in, ok := loggedIn(f); ok && in {
		t.Fatal("an ended login logged the mount in")
	}
}
