package pan115

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
	"pandav/internal/httpclient"
)

// The device-code login with PKCE
// (docs/protocols/accounts-offline-shares.md §1.2-§1.4): passportapi hands out a QR code for the app in
// options.app_id, qrcodeapi long-polls what the user does with it in the
// 115 app, and passportapi trades the confirmed code and the verifier
// for the login, which the mount's TokenSource adopts.

// loginKind is the one login a 115 mount takes.
const loginKind = "device-code"

// minPollGap paces status polls that come back at once without news, in
// case qrcodeapi ever stops holding them.
const minPollGap = time.Second

// LoginKinds implements drivers.Loginer.
func (d *Drive) LoginKinds() []string { return []string{loginKind} }

// LoginStatus implements drivers.LoginStatuser.
func (d *Drive) LoginStatus() drivers.LoginStatus { return d.ts.LoginStatus() }

// LoginApp implements drivers.LoginApper.
func (d *Drive) LoginApp() string { return "the 115 app" }

// deviceLogin is one device-code login in progress.
type deviceLogin struct {
	d        *Drive
	verifier string
	uid      string
	time     string // echoed as sent
	sign     string
	qr       string
	state    drivers.LoginState
	finished bool
}

// loginFailure is a login step the cloud refused: one sentence, naming
// the cause and the cloud's own words, and no secret of the login.
func loginFailure(format string, a ...any) error {
	return fmt.Errorf("pan115 login: %w: "+format, append([]any{drivers.ErrAuth}, a...)...)
}

// StartLogin asks passportapi for a QR code for options.app_id. It spends
// nothing: the mount's login stays as it was until Finish.
func (d *Drive) StartLogin(ctx context.Context, kind string) (drivers.LoginFlow, error) {
	if kind != "" && kind != loginKind {
		return nil, fmt.Errorf("pan115 login: no login kind %q: a 115 mount logs in by %s", kind, loginKind)
	}
	if d.o.AppID == "" {
		return nil, errors.New("pan115 login: options.app_id is required: the AppID of the 115 open-platform app that pandav logs in as")
	}
	b := make([]byte, 48)
	rand.Read(b)
	// 64 characters of the unreserved set, within the 43-128 allowed.
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	form := url.Values{
		"client_id": {d.o.AppID},
		// Standard base64, as OpenList's SDK sends; 115 takes url-safe
		// too (§1.2).
		"code_challenge":        {base64.StdEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"sha256"},
	}
	var r deviceCodeResp
	err := d.passportCall(ctx, "pan115 login start", d.passportURL+"/open/authDeviceCode", form, &r)
	var ae *apiError
	if errors.As(err, &ae) {
		switch ae.Code {
		case 40140100, 40140106, 40140107, 40140135:
			return nil, loginFailure("115 does not know the app in options.app_id (115 error %d: %s)", ae.Code, ae.Message)
		case 40140108, 40140109, 40140110, 40140118:
			return nil, loginFailure("the 115 app in options.app_id cannot log users in now (115 error %d: %s)", ae.Code, ae.Message)
		}
		return nil, loginFailure("115 refused to start a login (115 error %d: %s)", ae.Code, ae.Message)
	}
	if err != nil {
		return nil, fmt.Errorf("pan115 login: passportapi did not hand out a QR code: %w", err)
	}
	data := r.Data.V
	if data.UID == "" || data.QRCode == "" || data.Sign == "" {
		return nil, fmt.Errorf("pan115 login: %w: passportapi's answer holds no QR code", drivers.ErrUpstream)
	}
	return &deviceLogin{d: d, verifier: verifier, uid: string(data.UID), time: strconv.FormatInt(int64(data.Time), 10),
		sign: string(data.Sign), qr: string(data.QRCode), state: drivers.LoginWaiting}, nil
}

// passportCall posts form to a passport endpoint, without a token, with
// the retries of what may pass the next time.
func (d *Drive) passportCall(ctx context.Context, op, rawURL string, form url.Values, out any) error {
	c := upstream.Caller{Policy: d.policy, Limits: d.lim}
	return c.Call(ctx, op, limitClass, func(ctx context.Context, _ string) error {
		return d.postForm(ctx, op, rawURL, form, out)
	})
}

// postForm is one attempt at a passport endpoint: form, posted without a
// token, and the answer classified into out.
func (d *Drive) postForm(ctx context.Context, op, rawURL string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%s: %v", op, httpclient.Redact(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", d.o.UserAgent)
	a, err := d.send.Send(req, op)
	if err != nil {
		return err
	}
	return classify(op, a, out)
}

func (f *deviceLogin) QR() string { return f.qr }

// Expires is zero: 115 does not say how long a code lives.
func (f *deviceLogin) Expires() time.Time { return time.Time{} }

// Wait makes one long poll of qrcodeapi, which answers when the user
// does something with the code, or after a while without news.
func (f *deviceLogin) Wait(ctx context.Context, last drivers.LoginState) (drivers.LoginState, error) {
	if f.state != last || f.state.Ended() || f.state == drivers.LoginConfirmed {
		// Nothing more to ask: the code is spent, or the news is here.
		return f.state, nil
	}
	start := time.Now()
	st, err := f.d.pollStatus(ctx, f)
	if err != nil {
		return last, err
	}
	f.state = st
	if st == last {
		if gap := minPollGap - time.Since(start); gap > 0 {
			t := time.NewTimer(gap)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	return st, nil
}

// pollStatus is one status poll. Its answer is read here, not by
// classify: state 0 with code 0 is not "try again" but "this code is
// void" (§1.3).
func (d *Drive) pollStatus(ctx context.Context, f *deviceLogin) (drivers.LoginState, error) {
	const op = "pan115 login status"
	q := url.Values{"uid": {f.uid}, "time": {f.time}, "sign": {f.sign}, "_": {strconv.FormatInt(time.Now().Unix(), 10)}}
	var st drivers.LoginState
	c := upstream.Caller{Policy: d.policy, Limits: d.lim}
	err := c.Call(ctx, op, limitClass, func(ctx context.Context, _ string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.qrcodeURL+"/get/status/?"+q.Encode(), nil)
		if err != nil {
			return fmt.Errorf("%s: %v", op, httpclient.Redact(err))
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", d.o.UserAgent)
		a, err := d.send.Send(req, op)
		if err != nil {
			return err
		}
		st, err = readStatus(op, a)
		return err
	})
	var ae *apiError
	if errors.As(err, &ae) {
		return "", loginFailure("qrcodeapi refused the status poll (115 error %d: %s)", ae.Code, ae.Message)
	}
	if err != nil {
		return "", fmt.Errorf("pan115 login: qrcodeapi did not say how the login stands: %w", err)
	}
	return st, nil
}

// readStatus reads a status answer.
func readStatus(op string, a upstream.Answer) (drivers.LoginState, error) {
	if a.Status >= 500 || a.Status == http.StatusTooManyRequests {
		return "", upstream.Transient(fmt.Errorf("%s: HTTP %d", op, a.Status))
	}
	var r qrStatusResp
	if err := json.Unmarshal(a.Body, &r); err != nil {
		return "", upstream.Transient(fmt.Errorf("%s: HTTP %d with an unreadable answer", op, a.Status))
	}
	if code := r.code(); code != 0 {
		if retryCodes[code] || throttleCodes[code] {
			return "", upstream.Transient(fmt.Errorf("%s: 115 error %d: %s", op, code, r.message()))
		}
		return "", &apiError{Op: op, Code: code, Message: r.message()}
	}
	if !r.State {
		return drivers.LoginExpired, nil
	}
	switch r.Data.V.Status {
	case 1:
		return drivers.LoginScanned, nil
	case 2:
		return drivers.LoginConfirmed, nil
	case -1:
		return drivers.LoginExpired, nil
	case -2:
		return drivers.LoginCancelled, nil
	}
	return drivers.LoginWaiting, nil
}

// Finish trades the confirmed code and its verifier for the login, which
// the mount's TokenSource stores and then uses from its next call on.
func (f *deviceLogin) Finish(ctx context.Context) error {
	switch {
	case f.finished:
		return errors.New("pan115 login: this login is finished already")
	case f.state == drivers.LoginExpired:
		return errors.New("pan115 login: the QR code expired before it was confirmed; start the login again")
	case f.state == drivers.LoginCancelled:
		return errors.New("pan115 login: the login was cancelled in the 115 app; start it again")
	case f.state != drivers.LoginConfirmed:
		return errors.New("pan115 login: the login is not confirmed in the 115 app yet")
	}
	d := f.d
	var r refreshResp
	err := d.passportCall(ctx, "pan115 login finish", d.passportURL+"/open/deviceCodeToToken",
		url.Values{"uid": {f.uid}, "code_verifier": {f.verifier}}, &r)
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.Code == 40140112 || ae.Code == 40140113 {
			return loginFailure("115 refused the login's code verifier (115 error %d: %s)", ae.Code, ae.Message)
		}
		return loginFailure("115 refused to finish the login (115 error %d: %s)", ae.Code, ae.Message)
	}
	if err != nil {
		return fmt.Errorf("pan115 login: passportapi did not hand out the login: %w", err)
	}
	if r.Data.AccessToken == "" || r.Data.RefreshToken == "" {
		return fmt.Errorf("pan115 login: %w: passportapi's answer holds no login", drivers.ErrUpstream)
	}
	tok := upstream.Token{Access: r.Data.AccessToken, Refresh: r.Data.RefreshToken}
	if r.Data.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(r.Data.ExpiresIn) * time.Second)
	}
	if err := d.ts.Adopt(ctx, tok); err != nil {
		return fmt.Errorf("pan115 login: %w", err)
	}
	f.finished = true
	d.env.Log.Info().Str("mount", d.env.MountPath).Msg("pan115: logged in; the mount uses the new login from now on")
	return nil
}

// Account reads the account's name, membership and space from
// /open/user/info.
func (d *Drive) Account(ctx context.Context) (drivers.Account, error) {
	r, err := d.userInfo(ctx, "pan115 account")
	if err != nil {
		return drivers.Account{}, err
	}
	a := drivers.Account{Name: string(r.Data.UserName), VIP: string(r.Data.VIP.V.LevelName), Quota: r.quota()}
	if a.Name == "" {
		a.Name = string(r.Data.UserID)
	}
	if exp := int64(r.Data.VIP.V.Expire); exp > 0 {
		a.VIPExpires = time.Unix(exp, 0)
	}
	return a, nil
}
