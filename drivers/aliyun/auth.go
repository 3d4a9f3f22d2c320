package aliyun

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// refresh trades an Open API refresh token for a new pair, through the
// token endpoint when the config has the app's own client_id, else through
// a renew service: a proxy's token endpoint, or an OpenList-style one. The TokenSource remembers a refused token, so a dead
// login is not retried on every call.
func (d *Drive) refresh(ctx context.Context, rt string) (upstream.Token, error) {
	var (
		tok upstream.Token
		err error
	)
	switch {
	case d.o.ClientID != "":
		tok, err = d.grant(ctx, d.o.OpenAPIURL, tokenRequest{ClientID: d.o.ClientID, ClientSecret: d.o.ClientSecret, GrantType: "refresh_token", RefreshToken: rt})
	case renewIsHost(d.o.RenewURL):
		tok, err = d.grant(ctx, renewBase(d.o.RenewURL), tokenRequest{GrantType: "refresh_token", RefreshToken: rt})
	default:
		tok, err = d.renewRefresh(ctx, rt)
	}
	if err == nil {
		d.log.Debug().Time("expiry", tok.Expiry).Msg("access token refreshed")
	}
	return tok, err
}

// The ops of the token endpoints, which classify treats as such.
const (
	opOAuth    = "oauth/access_token"
	opRenew    = "renew"
	opWebToken = "v2/account/token"
)

// tokenCall makes an anonymous call to a token endpoint, with retries of
// what may pass the next time. No limiter paces it: it runs inside a
// call that waited its turn already.
func (d *Drive) tokenCall(ctx context.Context, method, rawURL, op string, in, out any) error {
	c := upstream.Caller{Policy: d.t.policy}
	return c.Call(ctx, "aliyun "+op, "", func(ctx context.Context, _ string) error {
		return exchange(ctx, &d.send, method, rawURL, op, nil, in, out)
	})
}

// grant asks the token endpoint under base (the Open API's, or a proxy's
// that adds the app's client) for a login: a refresh, or the trade of a
// QR login's authorization code.
func (d *Drive) grant(ctx context.Context, base string, in tokenRequest) (upstream.Token, error) {
	var out tokenResponse
	if err := d.tokenCall(ctx, http.MethodPost, base+"/oauth/access_token", opOAuth, in, &out); err != nil {
		return upstream.Token{}, err
	}
	if out.AccessToken == "" {
		return upstream.Token{}, fmt.Errorf("aliyun %s: %w: the answer holds no access token", opOAuth, drivers.ErrUpstream)
	}
	tok := upstream.Token{Access: out.AccessToken, Refresh: out.RefreshToken}
	if out.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	} else {
		tok.Expiry = jwtExpiry(out.AccessToken)
	}
	return tok, nil
}

// renewIsHost says whether renew_url names a token proxy's host, in the
// style of messense's (docs/protocols/accounts-offline-shares.md §3.1),
// rather than OpenList's renew endpoint, which has a path.
func renewIsHost(renewURL string) bool {
	u, err := url.Parse(renewURL)
	return err == nil && strings.Trim(u.Path, "/") == ""
}

// renewBase is renew_url as the base of a proxy's /oauth/ endpoints.
func renewBase(renewURL string) string {
	u, err := url.Parse(renewURL)
	if err != nil {
		return renewURL
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/")
}

// renewRefresh trades rt at an OpenList-style renew endpoint.
func (d *Drive) renewRefresh(ctx context.Context, rt string) (upstream.Token, error) {
	u, err := url.Parse(d.o.RenewURL)
	if err != nil {
		return upstream.Token{}, fmt.Errorf("aliyun: options.renew_url: %v", err)
	}
	q := u.Query()
	q.Set("refresh_ui", rt)
	q.Set("server_use", "true")
	q.Set("driver_txt", "alicloud_qr")
	u.RawQuery = q.Encode()
	var out renewResponse
	if err := d.tokenCall(ctx, http.MethodGet, u.String(), opRenew, nil, &out); err != nil {
		return upstream.Token{}, err
	}
	if out.AccessToken == "" || out.RefreshToken == "" {
		// The service states why in text, which must not repeat the token.
		why := truncate(strings.ReplaceAll(out.Text, rt, "<refresh token>"), 200)
		return upstream.Token{}, fmt.Errorf("aliyun renew: %w: %s", drivers.ErrAuth, why)
	}
	return upstream.Token{Access: out.AccessToken, Refresh: out.RefreshToken, Expiry: jwtExpiry(out.AccessToken)}, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it; the zero
// time means unknown, and the token is then refreshed when refused.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}
