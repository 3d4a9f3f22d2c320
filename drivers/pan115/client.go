package pan115

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
	"pandav/internal/httpclient"
)

// Error codes with a meaning for the driver (docs/protocols/pan115.md §1, §6).
var (
	// tokenCodes ask for a refresh and one more try.
	tokenCodes = map[int64]bool{40140123: true, 40140124: true, 40140125: true, 40140126: true}
	// reauthCodes mean the refresh token is dead: only the user can fix it.
	reauthCodes = map[int64]bool{40140114: true, 40140115: true, 40140116: true, 40140119: true, 40140120: true}
	// throttleCodes are 115's rate (770004) and daily quota (406) answers,
	// sent with HTTP 200, and passportapi's "refreshing too often"
	// (40140117), after which the refresh token is still unspent.
	throttleCodes = map[int64]bool{770004: true, 406: true, 40140117: true}
	// retryCodes are "try again" answers; 990009 and 990019 are the batch
	// operations' "the last one is still running".
	retryCodes = map[int64]bool{40110000: true, 40140121: true, 990009: true, 990019: true}
	// existCodes: the name is taken.
	existCodes = map[int64]bool{20004: true}
	// noSpaceCodes: the account's space is used up.
	noSpaceCodes = map[int64]bool{91005: true}
	// invalidNameCodes: empty, too long, forbidden characters, bad
	// extension.
	invalidNameCodes = map[int64]bool{20001: true, 20002: true, 20003: true, 20020: true, 20021: true}
	// notFoundCodes all mean the file or folder is gone.
	notFoundCodes = map[int64]bool{
		430004: true, 20013: true, 20018: true, 31003: true, 50015: true, 70005: true,
		70008: true, 90008: true, 231011: true, 800001: true, 20009: true, 50003: true,
	}
	// taskRefusals are the cloud-download service's refusals of a link
	// or a torrent, each in one sentence
	// (docs/protocols/accounts-offline-shares.md §2): what the user can act on, not a failure.
	taskRefusals = map[int64]string{
		10004:   "115 cannot read the link",
		1000012: "the account's cloud-download quota is used up",
		10007:   "the account's cloud-download quota is used up",
		10010:   "the account's cloud-download quota is used up",
		91006:   "the drive has not enough free space for it",
		20018:   "the .torrent file is no longer in the drive",
		990002:  "115 refused the task's parameters",
	}
	// taskExistsCode is the link or torrent being in the task list
	// already, which is no failure.
	taskExistsCode int64 = 10008
)

// apiError is an answer that no retry will change.
type apiError struct {
	Op      string
	Code    int64
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: 115 error %d: %s", e.Op, e.Code, e.Message)
}

// Is lets callers test the cloud's answer against the sentinel errors.
func (e *apiError) Is(target error) bool {
	switch target {
	case drivers.ErrNotFound:
		return notFoundCodes[e.Code]
	case drivers.ErrAuth:
		return reauthCodes[e.Code]
	case drivers.ErrExist:
		return existCodes[e.Code]
	case drivers.ErrInvalidName:
		return invalidNameCodes[e.Code]
	case drivers.ErrNoSpace:
		return noSpaceCodes[e.Code]
	}
	return false
}

// reauthError is 115 refusing the login itself; what to do about it is
// added by the TokenSource (a refused refresh) or by call.
func reauthError(op string, code int64, msg string) error {
	return fmt.Errorf("%s: %w: 115 error %d: %s: the login is no longer valid", op, drivers.ErrAuth, code, msg)
}

// relogin is what a login error tells the user to do.
func (d *Drive) relogin() string {
	return upstream.LoginHint(d.env.MountPath, "authorize pandav elsewhere and put the refresh token in options.refresh_token")
}

// request is one proapi call.
type request struct {
	method string
	path   string
	query  url.Values
	form   url.Values
	ua     string // User-Agent to send; "" means the configured one
	// class is the pace the call takes; "" means the account's, which
	// every call shares (listings add the scan budget, listClass).
	class string
	// check, if set, says whether a successful answer holds what it
	// must; one that does not is retried like any other failure.
	check func() error
}

// call runs r with pacing, retries and one refresh on a stale token, and
// decodes a successful answer into out.
func (d *Drive) call(ctx context.Context, op string, r request, out any) error {
	c := upstream.Caller{Policy: d.policy, Limits: d.lim, Cred: d.ts}
	class := r.class
	if class == "" {
		class = limitClass
	}
	return upstream.WithHint(c.Call(ctx, op, class, func(ctx context.Context, token string) error {
		err := d.attempt(ctx, op, token, r, out)
		if err == nil && r.check != nil {
			err = r.check()
		}
		if errors.Is(err, upstream.ErrStaleToken) {
			d.env.Log.Debug().Str("mount", d.env.MountPath).Err(err).Msg("pan115: access token rejected, refreshing")
		}
		return err
	}), d.relogin())
}

// attempt sends r once, signed with token.
func (d *Drive) attempt(ctx context.Context, op, token string, r request, out any) error {
	u := d.apiURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("%s: %v", op, httpclient.Redact(err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	ua := r.ua
	if ua == "" {
		ua = d.o.UserAgent
	}
	req.Header.Set("User-Agent", ua)
	a, err := d.send.Send(req, op)
	if err != nil {
		return err
	}
	return classify(op, a, out)
}

// newSender makes the attempts of every call to 115: a minute each,
// answers up to maxBody. Transport failures are worth another try; their
// text leaves out the URL, which carries the query.
func newSender(hc *http.Client) upstream.Sender {
	return upstream.Sender{Client: hc, Timeout: attemptTimeout, MaxAnswer: maxBody}
}

// errStale is 115 refusing an access token in a way a refresh cures:
// 40140123-40140126, or HTTP 401.
func errStale(op string, code int64) error {
	return fmt.Errorf("%s: %w (code %d)", op, upstream.ErrStaleToken, code)
}

// classify decides what one answer of proapi or passportapi means: nil
// with out decoded, a stale access token, *upstream.Retryable for what
// may pass the next time, or a final error wrapping the drivers
// sentinels. Gateway failures and HTML error pages (the 405 page of
// 115's risk control) are retried a bounded number of times, and so are
// 115's HTTP-200 rate answers.
func classify(op string, a upstream.Answer, out any) error {
	if a.Status == http.StatusUnauthorized {
		// Not 115's way of saying it, but a refresh is the right answer.
		return errStale(op, http.StatusUnauthorized)
	}
	raw := bytes.TrimSpace(a.Body)
	switch {
	case a.Status >= 500:
		return upstream.Transient(fmt.Errorf("%s: HTTP %d", op, a.Status))
	case len(raw) == 0 || raw[0] != '{':
		return upstream.Transient(fmt.Errorf("%s: HTTP %d with a non-JSON answer", op, a.Status))
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return upstream.Transient(fmt.Errorf("%s: unreadable answer: %v", op, err))
	}
	code, msg := env.code(), env.message()
	switch {
	case bool(env.State) && code == 0:
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: %w: unexpected answer: %v", op, drivers.ErrUpstream, err)
		}
		return nil
	case tokenCodes[code]:
		return errStale(op, code)
	case throttleCodes[code], code == -1 && strings.Contains(msg, "频率"):
		return upstream.Throttled(fmt.Errorf("%s: 115 error %d: %s", op, code, msg), 0)
	case code == 0 && msg == "":
		// state false with code 0 and no message is what 115 answers a
		// scan that goes too fast (docs/protocols/pan115.md §6): risk
		// control, so it is waited out as throttling, and if it lasts the
		// client hears 503, not that the folder is empty.
		return upstream.Throttled(fmt.Errorf("%s: 115 answered code 0 with no message (risk control)", op), 0)
	case code == 0, retryCodes[code]:
		return upstream.Transient(fmt.Errorf("%s: 115 error %d: %q", op, code, msg))
	case reauthCodes[code]:
		return reauthError(op, code, msg)
	}
	return &apiError{Op: op, Code: code, Message: msg}
}

// classifyOSS decides what an object store answer to one upload request
// means, as classify does for the API: a refused STS credential (it
// expires after about an hour, mid-upload) is retried after refused
// drops it, throttling and server trouble are retried, any other
// failure is final. Errors name OSS's code, never the URL, the
// credential or the signature.
func classifyOSS(op string, a upstream.Answer, refused func()) error {
	st := a.Status
	switch {
	case st == http.StatusForbidden:
		code := ossErrorCode(a.Body)
		switch code {
		case "SecurityTokenExpired", "InvalidAccessKeyId", "InvalidSecurityToken":
			refused()
			return upstream.Transient(fmt.Errorf("%s: OSS refused the upload credential: %s", op, code))
		}
		return fmt.Errorf("%s: %w: OSS refused: %s", op, drivers.ErrUpstream, code)
	case st == http.StatusServiceUnavailable && ossErrorCode(a.Body) == "SlowDown":
		return upstream.Throttled(fmt.Errorf("%s: OSS asks to slow down (HTTP %d)", op, st), upstream.RetryAfterHeader(a.Header))
	case st >= 500, st == http.StatusConflict, st == http.StatusRequestTimeout:
		return upstream.Transient(fmt.Errorf("%s: OSS HTTP %d: %s", op, st, ossErrorCode(a.Body)))
	case st < 200 || st >= 300:
		return fmt.Errorf("%s: %w: OSS HTTP %d: %s", op, drivers.ErrUpstream, st, ossErrorCode(a.Body))
	}
	return nil
}
