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
// a renew service. The TokenSource remembers a refused token, so a dead
// login is not retried on every call.
func (d *Drive) refresh(ctx context.Context, rt string) (upstream.Token, error) {
	var (
		tok upstream.Token
		err error
	)
	if d.o.ClientID != "" {
		tok, err = d.oauthRefresh(ctx, rt)
	} else {
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

func (d *Drive) oauthRefresh(ctx context.Context, rt string) (upstream.Token, error) {
	in := tokenRequest{ClientID: d.o.ClientID, ClientSecret: d.o.ClientSecret, GrantType: "refresh_token", RefreshToken: rt}
	var out tokenResponse
	if err := d.tokenCall(ctx, http.MethodPost, d.o.OpenAPIURL+"/oauth/access_token", opOAuth, in, &out); err != nil {
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
		return upstream.Token{}, fmt.Errorf("aliyun renew: %w: %s; %s", drivers.ErrAuth, why, reauthorize)
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
