package memdrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// refresh trades a refresh token for a new pair (docs/protocols/memdrive.md §1). It only
// speaks the protocol: the upstream.TokenSource that calls it runs one
// trade at a time, journals it, and saves the rotated refresh token
// before anything uses the new access token, because the cloud spends
// the old one the moment it answers.
func (d *Drive) refresh(ctx context.Context, refreshToken string) (upstream.Token, error) {
	const op = "memdrive refresh token"
	// The trade is signed by the refresh token in its body, so it goes
	// through a Caller without a credential: paced and retried like any
	// call, and unable to start a refresh of its own.
	login := upstream.Caller{Policy: d.caller.Policy, Limits: d.caller.Limits}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}.Encode()
	var ans tokenAnswer
	err := login.Call(ctx, op, apiClass, func(ctx context.Context, _ string) error {
		req, err := d.newRequest(ctx, op, http.MethodPost, "/v1/oauth/token", nil, strings.NewReader(form), "")
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		a, err := d.send.Send(req, op)
		if err != nil {
			return err
		}
		return classify(op, a, &ans)
	})
	switch {
	case errors.Is(err, drivers.ErrAuth):
		// The TokenSource adds why the token was most likely refused;
		// how to log in again is the driver's to say.
		return upstream.Token{}, fmt.Errorf("%w; to log in again, put a new refresh token in the mount's refresh_token", err)
	case err != nil:
		return upstream.Token{}, err
	case ans.AccessToken == "":
		return upstream.Token{}, fmt.Errorf("%s: %w: the answer holds no access token", op, drivers.ErrUpstream)
	}
	tok := upstream.Token{Access: ans.AccessToken, Refresh: ans.RefreshToken}
	if ans.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(ans.ExpiresIn) * time.Second)
	}
	return tok, nil
}
