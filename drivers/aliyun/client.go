package aliyun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
	"pandav/internal/httpclient"
)

// apiTimeout bounds one API attempt; a CDN body is not an API call.
const apiTimeout = 60 * time.Second

// errStaleToken marks a 401 that a token refresh cures.
var errStaleToken = errors.New("access token expired or invalid")

// errDeviceSession marks a web-API call refused for its device signature,
// which registering the device again cures.
var errDeviceSession = errors.New("device session signature refused")

const reauthorize = "authorize pandav with Aliyundrive again and put the new refresh_token in the config"

// apiError is the service's error answer. It unwraps to the sentinel the
// code maps to, so callers use errors.Is. Its text names the operation and
// the service's code and message, never a URL or a token.
type apiError struct {
	Op      string
	Status  int
	Code    string
	Message string
	kind    error
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("aliyun %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.kind == drivers.ErrAuth {
		s += "; " + reauthorize
	}
	return s
}

func (e *apiError) Unwrap() error { return e.kind }

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// classify turns a non-2xx answer into an error: Retryable for throttling
// and server trouble, a sentinel-wrapping apiError otherwise.
func classify(op string, resp *http.Response, body []byte) error {
	var eb apiErrorBody
	isJSON := json.Unmarshal(body, &eb) == nil
	e := &apiError{Op: op, Status: resp.StatusCode, Code: eb.Code, Message: truncate(eb.Message, 200)}
	if !isJSON {
		e.Message = truncate(string(body), 80)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || eb.Code == "TooManyRequests" || eb.Code == "ParamFlowException":
		return upstream.Throttled(e, retryAfter(resp.Header))
	case resp.StatusCode >= 500 || !isJSON:
		// A proxy's plain "Bad Gateway" or an HTML page is the path to
		// the service failing, not an answer from it.
		return upstream.Transient(e)
	}
	switch e.Code {
	case "AccessTokenExpired", "AccessTokenInvalid":
		e.kind = errStaleToken
	case "DeviceSessionSignatureInvalid":
		e.kind = errDeviceSession
	case "UserDeviceIllegality", "UserDeviceOffline":
		e.kind = drivers.ErrAuth
	case "NotFound.FileId", "NotFound.File", "ForbiddenFileInTheRecycleBin":
		// A trashed item is gone as far as the mount can tell.
		e.kind = drivers.ErrNotFound
	case "AlreadyExist.File":
		e.kind = drivers.ErrExist
	case "InvalidResource.FileTypeFolder":
		e.kind = drivers.ErrIsDir
	case "RefreshTokenInvalid", "RefreshTokenExpired", "PermissionDenied", "InvalidParameter.RefreshToken":
		e.kind = drivers.ErrAuth
	default:
		if resp.StatusCode == http.StatusUnauthorized {
			e.kind = drivers.ErrAuth
		}
	}
	return e
}

// retryAfter reads the Open API's x-retry-after (milliseconds), falling
// back to a standard Retry-After in seconds.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseInt(strings.TrimSpace(h.Get("x-retry-after")), 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(h.Get("Retry-After")), 10, 64); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// roundTrip makes one HTTP attempt and decodes a 2xx JSON answer into out.
// accessToken may be empty (token endpoints).
func (d *Drive) roundTrip(ctx context.Context, method, rawURL, op, accessToken string, in, out any) error {
	var h http.Header
	if accessToken != "" {
		h = http.Header{"Authorization": {"Bearer " + accessToken}}
	}
	return d.roundTripH(ctx, method, rawURL, op, h, in, out)
}

// roundTripH is roundTrip with the request headers given whole, for the
// web API's device signature and share tokens. An answer without a body
// (204) leaves out untouched.
func (d *Drive) roundTripH(ctx context.Context, method, rawURL, op string, h http.Header, in, out any) error {
	return doJSON(ctx, d.hc, method, rawURL, op, h, in, out)
}

// doJSON is one JSON API attempt with client hc.
func doJSON(ctx context.Context, hc *http.Client, method, rawURL, op string, h http.Header, in, out any) error {
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("aliyun %s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(actx, method, rawURL, body)
	if err != nil {
		return fmt.Errorf("aliyun %s: bad request URL", op)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return upstream.Transient(fmt.Errorf("aliyun %s: %v", op, httpclient.Redact(err)))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return upstream.Transient(fmt.Errorf("aliyun %s: reading the answer: %v", op, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classify(op, resp, b)
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return upstream.Transient(fmt.Errorf("aliyun %s: answer is not JSON: %q", op, truncate(string(b), 80)))
		}
	}
	return nil
}

// call makes an Open API call under the class's limiter, with retries,
// refreshing the access token once when the service calls it stale.
func (d *Drive) call(ctx context.Context, class, endpoint string, in, out any) error {
	return d.callWith(ctx, class, endpoint, func(string) (any, error) { return in, nil }, out)
}

// callWith is call for a body that depends on the access token it is
// sent with (a rapid upload's proof_code): build makes it for each try.
func (d *Drive) callWith(ctx context.Context, class, endpoint string, build func(accessToken string) (any, error), out any) error {
	u := d.o.OpenAPIURL + "/adrive/v1.0/" + endpoint
	return upstream.Do(ctx, d.t.policy, "aliyun "+endpoint, func(ctx context.Context) error {
		if err := d.limits.Wait(ctx, class); err != nil {
			return err
		}
		at, err := d.tokens.Access(ctx)
		if err != nil {
			return err
		}
		in, err := build(at)
		if err != nil {
			return err
		}
		err = d.roundTrip(ctx, http.MethodPost, u, endpoint, at, in, out)
		if !errors.Is(err, errStaleToken) {
			return err
		}
		// Refresh with the stale token, so that of many callers seeing
		// the same 401 only one spends the refresh token.
		if at, err = d.tokens.Refresh(ctx, at); err != nil {
			return err
		}
		if err := d.limits.Wait(ctx, class); err != nil {
			return err
		}
		if in, err = build(at); err != nil {
			return err
		}
		err = d.roundTrip(ctx, http.MethodPost, u, endpoint, at, in, out)
		var ae *apiError
		if errors.As(err, &ae) && ae.kind == errStaleToken {
			ae.kind = drivers.ErrAuth
		}
		return err
	})
}
