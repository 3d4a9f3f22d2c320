package aliyun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// The web API (api.alipan.com), for `api: web` and for the web login an
// account lends its share mounts. It differs from the Open API in three
// ways: the login is refreshed at auth_url, every call is signed by a
// registered device (signature.go), and download links demand a Referer.

const (
	// webReferer is what the web API's links demand (docs/protocols/aliyun.md §3).
	webReferer = "https://www.alipan.com/"
	webCanary  = "client=Android,app=adrive,version=v4.1.0"
	// maxSessionRenewals caps create_session calls for one API call, as
	// OpenList caps its retries at 3.
	maxSessionRenewals = 3
)

// webAccount is what a web refresh names: the user (whose id makes the
// device) and the default drive.
type webAccount struct {
	UserID         string
	DefaultDriveID string
}

// webAuth is what every mount of one web login shares (drivers.Shared):
// the token source, whose single-use refresh token no two mounts may
// spend, the pace, and the account the last refresh named. It is the
// upstream.Credential that web calls are signed with. Refreshes go
// through the first mount's refresher.
type webAuth struct {
	tokens  *upstream.TokenSource
	limits  *upstream.Limiters
	account atomic.Pointer[webAccount]
}

// Access returns a usable access token. The user is known only from a
// refresh, so a process that starts from a stored access token refreshes
// once first.
func (a *webAuth) Access(ctx context.Context) (string, error) {
	at, err := a.tokens.Access(ctx)
	if err != nil {
		return "", err
	}
	if a.account.Load() != nil {
		return at, nil
	}
	if at, err = a.tokens.Refresh(ctx, at); err != nil {
		return "", err
	}
	if a.account.Load() == nil {
		return "", fmt.Errorf("aliyun web login: %w: the token service named no user", drivers.ErrUpstream)
	}
	return at, nil
}

// Refresh replaces stale unless another call has already.
func (a *webAuth) Refresh(ctx context.Context, stale string) (string, error) {
	return a.tokens.Refresh(ctx, stale)
}

// webLogin is one mount's use of a web login: its calls and its device
// session.
type webLogin struct {
	d        *Drive
	auth     *webAuth
	caller   upstream.Caller
	listPath atomic.Pointer[string]
	// hint is what a login error tells the user to do.
	hint string

	mu      sync.Mutex
	dev     *device
	session bool // create_session succeeded for dev
}

// newWebLogin opens the web login whose configured refresh token is
// refreshToken ("" for one that `pandav login` makes), in the mount's
// pandav.
func newWebLogin(d *Drive, env drivers.Env, refreshToken, hint string) (*webLogin, error) {
	store := upstream.TokenStoreOf(env, "aliyun-web", upstream.LoginSeed(refreshToken, env.MountPath))
	auth, err := drivers.SharedValue(env.Shared, "aliyun-web:"+store.SharedName(), func() (*webAuth, error) {
		a := &webAuth{limits: d.o.limiters(d.t.rates)}
		refresh := func(ctx context.Context, rt string) (upstream.Token, error) { return d.webRefresh(ctx, a, rt) }
		ts, err := upstream.NewTokenSource(store, upstream.Token{Refresh: refreshToken}, refresh)
		if err != nil {
			return nil, err
		}
		a.tokens = ts
		return a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("aliyun: %w", err)
	}
	auth.tokens.SetLog(d.log)
	auth.tokens.SetLoginHint(hint)
	w := &webLogin{d: d, auth: auth, caller: upstream.Caller{Policy: d.t.policy, Limits: auth.limits, Cred: auth}, hint: hint}
	p := "/adrive/v3/file/list"
	w.listPath.Store(&p)
	return w, nil
}

// adopt makes tok, a new web login, the one every mount of this login
// uses. The user it names is learnt anew, as it may be another's, and
// with it the device.
func (w *webLogin) adopt(ctx context.Context, tok upstream.Token) error {
	if err := w.auth.tokens.Adopt(ctx, tok); err != nil {
		return err
	}
	w.auth.account.Store(nil)
	return nil
}

// webRefresh trades a web refresh token at auth_url, and notes in a the
// account the answer names. The TokenSource remembers a refused token, so
// a dead login is not retried on every call.
func (d *Drive) webRefresh(ctx context.Context, a *webAuth, rt string) (upstream.Token, error) {
	var out webTokenResponse
	err := d.tokenCall(ctx, http.MethodPost, d.o.AuthURL+"/v2/account/token", opWebToken,
		webTokenRequest{RefreshToken: rt, GrantType: "refresh_token"}, &out)
	if err != nil {
		return upstream.Token{}, err
	}
	if out.AccessToken == "" || out.UserID == "" {
		return upstream.Token{}, fmt.Errorf("aliyun %s: %w: the answer holds no access token or user", opWebToken, drivers.ErrUpstream)
	}
	a.account.Store(&webAccount{UserID: out.UserID, DefaultDriveID: out.DefaultDriveID})
	tok := upstream.Token{Access: out.AccessToken, Refresh: out.RefreshToken, Expiry: jwtExpiry(out.AccessToken)}
	if out.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	}
	d.log.Debug().Time("expiry", tok.Expiry).Msg("web access token refreshed")
	return tok, nil
}

// device returns the login's device, made from the user the last refresh
// named; webAuth.Access has made sure there is one.
func (w *webLogin) device() (device, error) {
	acct := w.auth.account.Load()
	if acct == nil {
		return device{}, fmt.Errorf("aliyun web login: %w: no user known yet", drivers.ErrUpstream)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil || w.dev.User != acct.UserID {
		dev := newDevice(acct.UserID)
		w.dev, w.session = &dev, false
	}
	return *w.dev, nil
}

// headers are what every signed call carries.
func (w *webLogin) headers(at string, dev device) http.Header {
	return http.Header{
		"Authorization": {"Bearer " + at},
		"X-Device-Id":   {dev.ID},
		"X-Signature":   {dev.Signature},
		"X-Canary":      {webCanary},
		"X-Request-Id":  {randomID()},
		"Origin":        {"https://www.alipan.com"},
		"Referer":       {webReferer},
	}
}

// ensureSession registers the device's key once per session.
func (w *webLogin) ensureSession(ctx context.Context, at string, dev device) error {
	w.mu.Lock()
	done := w.session && w.dev != nil && w.dev.ID == dev.ID
	w.mu.Unlock()
	if done {
		return nil
	}
	const op = "create_session"
	in := createSessionRequest{DeviceName: "pandav", ModelName: "pandav WebDAV", Nonce: 0, PubKey: dev.PubKey,
		RefreshToken: w.auth.tokens.Current().Refresh}
	err := exchange(ctx, &w.d.send, http.MethodPost, w.d.o.WebAPIURL+"/users/v1/users/device/create_session", op,
		w.headers(at, dev), in, nil)
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.dev != nil && w.dev.ID == dev.ID {
		w.session = true
	}
	w.mu.Unlock()
	w.d.log.Debug().Msg("web device session registered")
	return nil
}

func (w *webLogin) dropSession(dev device) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev != nil && w.dev.ID == dev.ID {
		w.session = false
	}
}

// call makes a signed web-API call under the class's limiter, with
// retries, one token refresh on a stale token, and a new device session
// (up to maxSessionRenewals) when the service refuses the signature.
// extra adds headers (a share token).
func (w *webLogin) call(ctx context.Context, class, path string, extra http.Header, in, out any) error {
	op := strings.TrimPrefix(path, "/")
	renewals := 0
	err := w.caller.Call(ctx, "aliyun "+op, class, func(ctx context.Context, at string) error {
		for {
			dev, err := w.device()
			if err == nil {
				err = w.ensureSession(ctx, at, dev)
			}
			if err == nil {
				h := w.headers(at, dev)
				for k, vs := range extra {
					h[k] = vs
				}
				err = exchange(ctx, &w.d.send, http.MethodPost, w.d.o.WebAPIURL+path, op, h, in, out)
			}
			if !errors.Is(err, errDeviceSession) {
				return err
			}
			if renewals >= maxSessionRenewals {
				// A signature refused whatever is done: only a new
				// login might mend it.
				var ae *apiError
				if errors.As(err, &ae) {
					ae.kind = drivers.ErrAuth
				}
				return err
			}
			renewals++
			w.dropSession(dev)
			w.d.log.Info().Int("attempt", renewals).Msg("the web API refused the device signature; registering the device again")
			if err := w.auth.limits.Wait(ctx, class); err != nil {
				return err
			}
		}
	})
	return upstream.WithHint(err, w.hint)
}

// The Drive's read methods under api: web.

func (d *Drive) webDriveInfo(ctx context.Context, out *driveInfoResponse) error {
	return d.web.call(ctx, "other", "/v2/user/get", nil, struct{}{}, out)
}

func (d *Drive) webGetByPath(ctx context.Context, driveID, p string, out *fileItem) error {
	return d.web.call(ctx, "other", "/v2/file/get_by_path", nil, getByPathRequest{DriveID: driveID, FilePath: p}, out)
}

// webList lists through /adrive/v3/file/list, or /v2/file/list where the
// former is not routed (a Spring-style 404 without an API code).
func (d *Drive) webList(ctx context.Context, driveID string, dir drivers.Entry) ([]drivers.Entry, error) {
	req := webListRequest{DriveID: driveID, ParentFileID: dir.ID, Limit: d.o.PageSize, Fields: "*",
		OrderBy: "name", OrderDirection: "ASC", URLExpireSec: 14400}
	out, err := listEntries(dir, "file/list", func(marker string) (page listResponse, err error) {
		req.Marker = marker
		path := *d.web.listPath.Load()
		err = d.web.call(ctx, "list", path, nil, req, &page)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Code == "" && path != "/v2/file/list" {
			p := "/v2/file/list"
			d.web.listPath.Store(&p)
			page = listResponse{}
			err = d.web.call(ctx, "list", p, nil, req, &page)
		}
		return page, err
	})
	if err != nil {
		return nil, err
	}
	d.logDuplicates(dir, out)
	return out, nil
}

func (d *Drive) webGet(ctx context.Context, driveID, id string) (drivers.Entry, error) {
	var it fileItem
	if err := d.web.call(ctx, "other", "/v2/file/get", nil, getRequest{DriveID: driveID, FileID: id}, &it); err != nil {
		return drivers.Entry{}, err
	}
	return toEntry(it), nil
}

// webLink asks for a download URL. Web-API URLs demand a Referer, so the
// link carries it, which also keeps it from being handed to a client as
// a redirect.
func (d *Drive) webLink(ctx context.Context, driveID string, f drivers.Entry) (drivers.Link, error) {
	var out downloadURLResponse
	req := downloadURLRequest{DriveID: driveID, FileID: f.ID, ExpireSec: d.o.LinkExpiry}
	if err := d.web.call(ctx, "link", "/v2/file/get_download_url", nil, req, &out); err != nil {
		return drivers.Link{}, fmt.Errorf("link %q: %w", f.Name, err)
	}
	if out.URL == "" {
		return drivers.Link{}, fmt.Errorf("link %q: %w: the service offers no single download URL", f.Name, drivers.ErrUnsupported)
	}
	return drivers.Link{URL: out.URL, Header: http.Header{"Referer": {webReferer}}, Expires: linkExpiry(out), MaxConns: linkConns, Busy: linkBusy}, nil
}

// errWebReadOnly answers writes under api: web, which serves reads only.
var errWebReadOnly = fmt.Errorf("%w: the aliyun mount runs api: web, which pandav serves read-only; use api: open to write", drivers.ErrUnsupported)

func (d *Drive) writable() error {
	if d.o.API == "web" {
		return errWebReadOnly
	}
	return nil
}

// randomID is a request id in the UUID shape clients send.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
