package admin

import (
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"pandav/internal/auth"
)

// Admit lets in who may use what (the admin API, /metrics, ...): with a
// gate, a user with admin, whom the returned request carries
// (auth.FromContext); without one (no users are configured), only
// clients on this machine. Otherwise it says why not, as an HTTP answer.
func Admit(gate Authenticator, r *http.Request, what string, log zerolog.Logger) (*http.Request, *auth.Refusal) {
	if gate == nil {
		if why := notLocal(r); why != "" {
			return r, &auth.Refusal{Status: http.StatusForbidden, Msg: "with no users configured, " + what + " answers only this machine's own clients (" + why + "); add a user with admin: true to use it from elsewhere"}
		}
		return r, nil
	}
	u, refused := gate.Authenticate(r)
	if refused != nil {
		return r, refused
	}
	if !u.Admin {
		log.Warn().Str("user", u.Name).Str("path", r.URL.Path).Msgf("%s refused to a user who is not an admin", what)
		return r, &auth.Refusal{Status: http.StatusForbidden, Msg: fmt.Sprintf("user %s is not an admin; admin: true in the config's users lets them use %s", u.Name, what)}
	}
	return r.WithContext(auth.WithUser(r.Context(), u)), nil
}
