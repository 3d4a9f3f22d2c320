package pan115

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// refresh trades a refresh token at passportapi. 115's refresh tokens are
// single-use, so the answer's new one is handed to the TokenSource, which
// saves it before anything uses it. A lost answer can burn the old token;
// nothing on our side can prevent that, so transport failures are retried
// and a reuse rejection tells the user to authorize again.
func (d *Drive) refresh(ctx context.Context, refreshToken string) (upstream.Token, error) {
	const op = "pan115 refresh token"
	var tok upstream.Token
	// No Credential: the refresh token travels in the form, and a refused
	// one is a login failure, not a stale token.
	c := upstream.Caller{Policy: d.policy, Limits: d.lim}
	err := c.Call(ctx, op, limitClass, func(ctx context.Context, _ string) error {
		var r refreshResp
		err := d.postForm(ctx, op, d.passportURL+"/open/refreshToken", url.Values{"refresh_token": {refreshToken}}, &r)
		var final *apiError
		switch {
		case errors.As(err, &final):
			// Not a refusal of the token (those are reauthCodes, an auth
			// error already), so the token is kept for the next try.
			return fmt.Errorf("%s: %w: 115 error %d: %s", op, drivers.ErrUpstream, final.Code, final.Message)
		case err != nil:
			return err
		case r.Data.AccessToken == "":
			return upstream.Transient(fmt.Errorf("%s: answer without an access token", op))
		}
		tok = upstream.Token{Access: r.Data.AccessToken, Refresh: r.Data.RefreshToken}
		if r.Data.ExpiresIn > 0 {
			tok.Expiry = time.Now().Add(time.Duration(r.Data.ExpiresIn) * time.Second)
		}
		return nil
	})
	if err != nil {
		return upstream.Token{}, err
	}
	d.env.Log.Info().Str("mount", d.env.MountPath).Time("expiry", tok.Expiry).Msg("pan115: access token refreshed")
	return tok, nil
}
