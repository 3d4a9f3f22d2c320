package aliyun

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// The logins by QR code (docs/protocols/accounts-offline-shares.md §3):
//
//   - "open", the Open API's: the app's own client_id and secret, or the
//     proxy at renew_url, hands out a code; its status is polled at the
//     Open API; the authCode of a confirmed code becomes the mount's login.
//   - "web", the passport's: the confirmed code carries a web login, the
//     mount's own with api: web, else the one an Open API mount plays
//     shares through.

const (
	kindOpen = "open"
	kindWeb  = "web"

	// openQRLink is what the app scans for an Open API login, with the
	// code's sid (§3.1: the answer's qrCodeUrl is an image of it).
	openQRLink = "https://www.aliyundrive.com/o/oauth/authorize?sid="
	// defaultOpenPoll and defaultPassportPoll pace status polls, as
	// [MSW] (3 s) and aligo (2-3 s) do; neither service holds a poll.
	defaultOpenPoll     = 3 * time.Second
	defaultPassportPoll = 2 * time.Second
	// maxWait is how long Wait polls without news before it returns.
	maxWait = 30 * time.Second
)

// openScopes are what the Open API login asks for.
var openScopes = []string{"user:base", "file:all:read", "file:all:write"}

// LoginKinds implements drivers.Loginer: an Open API mount logs in its
// own login, or the web login it plays shares through; an api: web
// mount its web login.
func (d *Drive) LoginKinds() []string {
	if d.o.API == "web" {
		return []string{kindWeb}
	}
	return []string{kindOpen, kindWeb}
}

// LoginStatus implements drivers.LoginStatuser for the mount's own
// login.
func (d *Drive) LoginStatus() drivers.LoginStatus { return d.login().LoginStatus() }

// KindLoginStatuses implements drivers.KindLoginStatuser: an Open API
// mount's own login, then the web login its share mounts play through.
func (d *Drive) KindLoginStatuses() []drivers.KindLogin {
	if d.o.API == "web" {
		return []drivers.KindLogin{{Kind: kindWeb, LoginStatus: d.web.auth.tokens.LoginStatus()}}
	}
	return []drivers.KindLogin{
		{Kind: kindOpen, LoginStatus: d.tokens.LoginStatus()},
		{Kind: kindWeb, LoginStatus: d.web.auth.tokens.LoginStatus()},
	}
}

// LoginApp implements drivers.LoginApper: both kinds of code are scanned
// with the Aliyundrive app.
func (d *Drive) LoginApp() string { return "the Aliyundrive (阿里云盘) app" }

// StartLogin asks for a QR code of kind. It spends nothing: the mount's
// login stays as it was until Finish.
func (d *Drive) StartLogin(ctx context.Context, kind string) (drivers.LoginFlow, error) {
	if kind == "" {
		kind = d.LoginKinds()[0]
	}
	switch {
	case kind == kindOpen && d.o.API != "web":
		return d.startOpenLogin(ctx)
	case kind == kindWeb:
		return d.startPassportLogin(ctx)
	}
	return nil, fmt.Errorf("aliyun login: no login kind %q for this mount: it takes %s", kind, strings.Join(d.LoginKinds(), " or "))
}

// loginPoll is the pace of a kind's status polls.
func (d *Drive) loginPoll(def time.Duration) time.Duration {
	if d.t.loginPoll > 0 {
		return d.t.loginPoll
	}
	return def
}

// pollUntilNews calls poll at once, then every every, until it tells
// something other than last, maxWait passes or ctx ends.
func pollUntilNews(ctx context.Context, last drivers.LoginState, every time.Duration, poll func(context.Context) (drivers.LoginState, error)) (drivers.LoginState, error) {
	giveUp := time.Now().Add(maxWait)
	for {
		st, err := poll(ctx)
		if err != nil || st != last || time.Now().After(giveUp) {
			return st, err
		}
		t := time.NewTimer(every)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		}
	}
}

// loginCall is the pace and the retries of the login's calls: no
// credential, the pace of other calls.
func (d *Drive) loginCall(ctx context.Context, op string, attempt func(ctx context.Context) error) error {
	c := upstream.Caller{Policy: d.t.policy}
	return c.Call(ctx, "aliyun "+op, "", func(ctx context.Context, _ string) error { return attempt(ctx) })
}

// polledFlow is what both flows share: a state that polls at a pace
// move, as neither service holds a poll.
type polledFlow struct {
	state    drivers.LoginState
	every    time.Duration
	poll     func(context.Context) (drivers.LoginState, error)
	finished bool
}

// Wait polls until the state is news to the caller, or maxWait passes.
func (f *polledFlow) Wait(ctx context.Context, last drivers.LoginState) (drivers.LoginState, error) {
	if f.state != last || f.state.Ended() || f.state == drivers.LoginConfirmed {
		return f.state, nil
	}
	st, err := pollUntilNews(ctx, last, f.every, f.poll)
	if err != nil {
		return last, err
	}
	f.state = st
	return st, nil
}

// Expires is zero: neither service says how long a code lives.
func (f *polledFlow) Expires() time.Time { return time.Time{} }

// openQRFlow is one Open API login in progress.
type openQRFlow struct {
	polledFlow
	d        *Drive
	sid      string
	authCode string
}

func (d *Drive) startOpenLogin(ctx context.Context) (drivers.LoginFlow, error) {
	in := authorizeQRRequest{Scopes: openScopes, Width: 430, Height: 430}
	base := d.o.OpenAPIURL
	if d.o.ClientID != "" {
		in.ClientID, in.ClientSecret = d.o.ClientID, d.o.ClientSecret
	} else {
		base = renewBase(d.o.RenewURL)
	}
	const op = "oauth/authorize/qrcode"
	var out authorizeQRResponse
	err := d.loginCall(ctx, op, func(ctx context.Context) error {
		return exchange(ctx, &d.send, http.MethodPost, base+"/oauth/authorize/qrcode", op, nil, in, &out)
	})
	if err != nil {
		return nil, d.openLoginFailure("hand out a QR code", err)
	}
	if out.SID == "" {
		return nil, fmt.Errorf("aliyun login: %w: the answer holds no QR code", drivers.ErrUpstream)
	}
	f := &openQRFlow{d: d, sid: out.SID, polledFlow: polledFlow{state: drivers.LoginWaiting, every: d.loginPoll(defaultOpenPoll)}}
	f.polledFlow.poll = f.poll
	return f, nil
}

// openLoginFailure says in one sentence why a step of an Open API login
// failed, naming the options at fault, and nothing of the login's
// secrets.
func (d *Drive) openLoginFailure(step string, err error) error {
	via, later := "the Open API", "try again later"
	if d.o.ClientID == "" {
		via, later = "the renew service at options.renew_url", "try again later, or log in with options.client_id and client_secret"
	}
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status >= 500 {
		// What outlasts the retries: no answer, or a failing service.
		return fmt.Errorf("aliyun login: %s is down or out of reach, so it did not %s (%v); %s", via, step, err, later)
	}
	said := answerText(ae.Op, ae.Status, ae.Code, ae.Message)
	switch {
	case d.o.ClientID == "" && ae.Status == http.StatusNotFound && ae.Code == "":
		return fmt.Errorf("aliyun login: %w: the renew service at options.renew_url offers no QR login (%s); use a proxy that does, or options.client_id and client_secret", drivers.ErrUnsupported, said)
	case d.o.ClientID != "" && ae.Code == "InvalidClient":
		return fmt.Errorf("aliyun login: %w: the Open API refused options.client_id and client_secret (%s)", drivers.ErrAuth, said)
	}
	return fmt.Errorf("aliyun login: %w: %s refused to %s (%s)", drivers.ErrAuth, via, step, said)
}

func (f *openQRFlow) QR() string { return openQRLink + f.sid }

// poll asks the Open API how the code stands. A status it does not know
// is taken as expired, as [MSW] does.
func (f *openQRFlow) poll(ctx context.Context) (drivers.LoginState, error) {
	d := f.d
	const op = "oauth/qrcode/status"
	var out qrStatusResponse
	err := d.loginCall(ctx, op, func(ctx context.Context) error {
		return exchange(ctx, &d.send, http.MethodGet, d.o.OpenAPIURL+"/oauth/qrcode/"+url.PathEscape(f.sid)+"/status", op, nil, nil, &out)
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return "", fmt.Errorf("aliyun login: the Open API did not say how the login stands (%s)", answerText(ae.Op, ae.Status, ae.Code, ae.Message))
		}
		return "", fmt.Errorf("aliyun login: the Open API did not say how the login stands: %w", err)
	}
	switch out.Status {
	case "WaitLogin":
		return drivers.LoginWaiting, nil
	case "ScanSuccess":
		return drivers.LoginScanned, nil
	case "LoginSuccess":
		if out.AuthCode == "" {
			return "", fmt.Errorf("aliyun login: %w: a confirmed login without its authCode", drivers.ErrUpstream)
		}
		f.authCode = out.AuthCode
		return drivers.LoginConfirmed, nil
	}
	return drivers.LoginExpired, nil
}

// finishable says why Finish cannot trade the flow, or nil.
func finishable(finished bool, st drivers.LoginState) error {
	switch {
	case finished:
		return errors.New("aliyun login: this login is finished already")
	case st == drivers.LoginExpired:
		return errors.New("aliyun login: the QR code expired before it was confirmed; start the login again")
	case st == drivers.LoginCancelled:
		return errors.New("aliyun login: the login was cancelled in the Aliyundrive app; start it again")
	case st != drivers.LoginConfirmed:
		return errors.New("aliyun login: the login is not confirmed in the Aliyundrive app yet")
	}
	return nil
}

// Finish trades the authCode for the login, which the mount's
// TokenSource stores and then uses from its next call on.
func (f *openQRFlow) Finish(ctx context.Context) error {
	if err := finishable(f.finished, f.state); err != nil {
		return err
	}
	d := f.d
	in, base := tokenRequest{GrantType: "authorization_code", Code: f.authCode}, renewBase(d.o.RenewURL)
	if d.o.ClientID != "" {
		in.ClientID, in.ClientSecret, base = d.o.ClientID, d.o.ClientSecret, d.o.OpenAPIURL
	}
	tok, err := d.grant(ctx, base, in)
	if err != nil {
		return d.openLoginFailure("trade the confirmed login", err)
	}
	if tok.Refresh == "" {
		return fmt.Errorf("aliyun login: %w: the answer holds no refresh token", drivers.ErrUpstream)
	}
	if err := d.tokens.Adopt(ctx, tok); err != nil {
		return fmt.Errorf("aliyun login: %w", err)
	}
	f.finished = true
	d.log.Info().Msg("logged in through the Open API; the mount uses the new login from now on")
	return nil
}

// passportFlow is one web login by the passport's QR code.
type passportFlow struct {
	polledFlow
	d       *Drive
	t, ck   string
	qr      string
	refresh string // the web login, once confirmed
}

// passportQuery is what generate.do and query.do take besides the form.
var passportQuery = url.Values{"appName": {"aliyun_drive"}, "fromSite": {"52"}}

// passportCall makes one passport call, with retries of what may pass
// the next time; form nil means GET.
func (d *Drive) passportCall(ctx context.Context, op, path string, query, form url.Values, out *passportResponse) error {
	return d.loginCall(ctx, op, func(ctx context.Context) error {
		method, body := http.MethodGet, ""
		if form != nil {
			method, body = http.MethodPost, form.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, method, d.o.PassportURL+path+"?"+query.Encode(), strings.NewReader(body))
		if err != nil {
			return fmt.Errorf("aliyun %s: bad request URL", op)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		a, err := d.send.Send(req, "aliyun "+op)
		if err != nil {
			return err
		}
		if a.Status >= 500 || a.Status == http.StatusTooManyRequests {
			return upstream.Transient(fmt.Errorf("aliyun %s: HTTP %d", op, a.Status))
		}
		*out = passportResponse{}
		if err := json.Unmarshal(a.Body, out); err != nil || a.Status != http.StatusOK {
			return fmt.Errorf("aliyun %s: %w: HTTP %d with an answer that is not the passport's", op, drivers.ErrUpstream, a.Status)
		}
		if out.HasError || !out.Content.Success {
			return fmt.Errorf("aliyun %s: %w: the passport refused", op, drivers.ErrAuth)
		}
		return nil
	})
}

func (d *Drive) startPassportLogin(ctx context.Context) (drivers.LoginFlow, error) {
	q := url.Values{"appEntrance": {"web"}, "lang": {"zh_CN"}}
	for k, v := range passportQuery {
		q[k] = v
	}
	var out passportResponse
	if err := d.passportCall(ctx, "newlogin/qrcode/generate.do", "/newlogin/qrcode/generate.do", q, nil, &out); err != nil {
		return nil, fmt.Errorf("aliyun login: the passport at options.passport_url did not hand out a QR code: %w", err)
	}
	data := out.Content.Data
	if data.CodeContent == "" || data.CK == "" || data.T == "" {
		return nil, fmt.Errorf("aliyun login: %w: the passport's answer holds no QR code", drivers.ErrUpstream)
	}
	f := &passportFlow{d: d, t: data.T.String(), ck: data.CK, qr: data.CodeContent,
		polledFlow: polledFlow{state: drivers.LoginWaiting, every: d.loginPoll(defaultPassportPoll)}}
	f.polledFlow.poll = f.poll
	return f, nil
}

func (f *passportFlow) QR() string { return f.qr }

// poll is one query.do. The spelling SCANED is the passport's; CANCELED
// is taken as the user's refusal, and any other status as expired, as
// aligo does (§3.2).
func (f *passportFlow) poll(ctx context.Context) (drivers.LoginState, error) {
	q := url.Values{"_bx-v": {"2.0.31"}}
	for k, v := range passportQuery {
		q[k] = v
	}
	var out passportResponse
	if err := f.d.passportCall(ctx, "newlogin/qrcode/query.do", "/newlogin/qrcode/query.do", q, url.Values{"t": {f.t}, "ck": {f.ck}}, &out); err != nil {
		return "", fmt.Errorf("aliyun login: the passport did not say how the login stands: %w", err)
	}
	data := out.Content.Data
	switch data.QRCodeStatus {
	case "NEW":
		return drivers.LoginWaiting, nil
	case "SCANED":
		return drivers.LoginScanned, nil
	case "CANCELED":
		return drivers.LoginCancelled, nil
	case "CONFIRMED":
		rt, err := decodeBizExt(data.BizExt)
		if err != nil {
			return "", err
		}
		f.refresh = rt
		return drivers.LoginConfirmed, nil
	}
	return drivers.LoginExpired, nil
}

// decodeBizExt reads the refresh token of a confirmed code's bizExt:
// base64 of JSON whose text may be GB18030 (§3.2). The token is ASCII,
// and encoding/json reads past the bytes that are not UTF-8.
func decodeBizExt(biz string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(biz))
	if err != nil {
		return "", fmt.Errorf("aliyun login: %w: the passport's bizExt is not base64", drivers.ErrUpstream)
	}
	var l passportLogin
	if err := json.Unmarshal(b, &l); err != nil || l.Result.RefreshToken == "" {
		return "", fmt.Errorf("aliyun login: %w: the passport's bizExt holds no login", drivers.ErrUpstream)
	}
	return l.Result.RefreshToken, nil
}

// Finish makes the confirmed code's web login the mount's: the web
// login's TokenSource stores it and uses it from the next call on,
// trading it at auth_url first, as the user it names is not known yet.
func (f *passportFlow) Finish(ctx context.Context) error {
	if err := finishable(f.finished, f.state); err != nil {
		return err
	}
	d := f.d
	if err := d.web.adopt(ctx, upstream.Token{Refresh: f.refresh}); err != nil {
		return fmt.Errorf("aliyun login: %w", err)
	}
	f.finished = true
	d.log.Info().Msg("logged in through the passport; the web login is used from now on")
	return nil
}

// Account says whose account the mount serves: its name, membership and
// space.
func (d *Drive) Account(ctx context.Context) (drivers.Account, error) {
	if d.o.API == "web" {
		return d.webAccount(ctx)
	}
	var info driveInfoResponse
	if err := d.call(ctx, "other", "user/getDriveInfo", struct{}{}, &info); err != nil {
		return drivers.Account{}, err
	}
	q, err := d.Quota(ctx)
	if err != nil {
		return drivers.Account{}, err
	}
	var vip vipInfoResponse
	err = d.openAPI.Call(ctx, "aliyun user/getVipInfo", "other", func(ctx context.Context, at string) error {
		return exchange(ctx, &d.send, http.MethodPost, d.o.OpenAPIURL+"/v1.0/user/getVipInfo", "v1.0/user/getVipInfo", bearer(at), struct{}{}, &vip)
	})
	if err != nil {
		return drivers.Account{}, upstream.WithHint(err, d.relogin())
	}
	a := drivers.Account{Name: info.Name, Quota: q}
	if a.Name == "" {
		a.Name = info.UserID
	}
	if vip.Identity != "" && vip.Identity != "member" {
		a.VIP = vip.Identity
		if vip.Level != "" {
			a.VIP += " " + vip.Level
		}
		if vip.Expire > 0 {
			a.VIPExpires = time.Unix(int64(vip.Expire), 0)
		}
	}
	return a, nil
}

// webAccount is Account through the web API: user/get and
// get_personal_info, which states no membership's end.
func (d *Drive) webAccount(ctx context.Context) (drivers.Account, error) {
	var info driveInfoResponse
	if err := d.webDriveInfo(ctx, &info); err != nil {
		return drivers.Account{}, err
	}
	var pi personalInfoResponse
	if err := d.web.call(ctx, "other", "/v2/databox/get_personal_info", nil, struct{}{}, &pi); err != nil {
		return drivers.Account{}, err
	}
	a := drivers.Account{Name: info.NickName, Quota: pi.SpaceInfo.quota()}
	if a.Name == "" {
		a.Name = info.UserName
	}
	if pi.RightsInfo.SpuID != "" && pi.RightsInfo.SpuID != "non-vip" {
		a.VIP = pi.RightsInfo.Name
	}
	return a, nil
}
