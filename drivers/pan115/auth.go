package pan115

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
	"pandav/internal/httpclient"
)

// refresh trades a refresh token at passportapi. 115's refresh tokens are
// single-use, so the answer's new one is handed to the TokenSource, which
// saves it before anything uses it. A lost answer can burn the old token;
// nothing on our side can prevent that, so transport failures are retried
// and a reuse rejection tells the user to authorize again.
func (d *Drive) refresh(ctx context.Context, refreshToken string) (upstream.Token, error) {
	const op = "pan115 refresh token"
	var tok upstream.Token
	err := upstream.Do(ctx, d.policy, op, func(ctx context.Context) error {
		if err := d.lim.Wait(ctx, limitClass); err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		form := url.Values{"refresh_token": {refreshToken}}
		req, err := http.NewRequestWithContext(actx, http.MethodPost, d.passportURL+"/open/refreshToken", strings.NewReader(form.Encode()))
		if err != nil {
			return fmt.Errorf("%s: %v", op, httpclient.Redact(err))
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", d.o.UserAgent)
		status, raw, err := d.roundTrip(ctx, op, req)
		if err != nil {
			return err
		}
		if err := classifyHTTP(op, status, raw); err != nil {
			return err
		}
		var r refreshResp
		if err := json.Unmarshal(raw, &r); err != nil {
			return upstream.Transient(fmt.Errorf("%s: unreadable answer: %v", op, err))
		}
		code := r.code()
		if bool(r.State) && code == 0 && r.Data.AccessToken != "" {
			tok = upstream.Token{Access: r.Data.AccessToken, Refresh: r.Data.RefreshToken}
			if r.Data.ExpiresIn > 0 {
				tok.Expiry = time.Now().Add(time.Duration(r.Data.ExpiresIn) * time.Second)
			}
			return nil
		}
		if code == 40140117 {
			// Refreshing too often: wait and try again; the token is
			// still unspent.
			return upstream.Throttled(fmt.Errorf("%s: 115 error %d: %s", op, code, r.message()), 0)
		}
		if code == 0 && bool(r.State) {
			return upstream.Transient(fmt.Errorf("%s: answer without an access token", op))
		}
		err = classifyCode(op, code, r.message())
		if _, final := err.(*apiError); final {
			// Not a refusal of the token (those are reauthCodes, an auth
			// error already), so the token is kept for the next try.
			return fmt.Errorf("%s: %w: 115 error %d: %s", op, drivers.ErrUpstream, code, r.message())
		}
		return err
	})
	if err != nil {
		return upstream.Token{}, err
	}
	d.env.Log.Info().Str("mount", d.env.MountPath).Time("expiry", tok.Expiry).Msg("pan115: access token refreshed")
	return tok, nil
}
