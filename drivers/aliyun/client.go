package aliyun

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// apiTimeout bounds one API attempt; a CDN body is not an API call.
const apiTimeout = 60 * time.Second

// maxAnswer bounds the bytes of one API answer read.
const maxAnswer = 32 << 20

// errDeviceSession marks a web-API call refused for its device signature,
// which registering the device again cures.
var errDeviceSession = errors.New("device session signature refused")

// errShareToken marks a share token the service refused; only a call
// signed with the share token treats it as stale (see shareStale), since
// a call signed by an account may carry a share token too.
var errShareToken = errors.New("share token expired or refused")

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

// Error says nothing of what to do about a refused login: the
// TokenSource, or the call that met it, adds the mount's LoginHint.
func (e *apiError) Error() string { return answerText("aliyun "+e.Op, e.Status, e.Code, e.Message) }

// answerText is how an error answer reads: the operation, the status,
// and the service's code and message.
func answerText(op string, status int, code, message string) string {
	s := fmt.Sprintf("%s: HTTP %d", op, status)
	if code != "" {
		s += " " + code
	}
	if message != "" {
		s += ": " + message
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

// classify decides what one answer means: nil with out decoded, an
// apiError wrapping upstream.ErrStaleToken for a token a refresh cures,
// *upstream.Retryable for throttling and server trouble, or a final
// apiError wrapping the sentinel its code maps to.
func classify(op string, a upstream.Answer, out any) error {
	if a.Status >= 200 && a.Status <= 299 {
		if out != nil && len(bytes.TrimSpace(a.Body)) > 0 {
			if err := json.Unmarshal(a.Body, out); err != nil {
				return upstream.Transient(fmt.Errorf("aliyun %s: answer is not JSON: %q", op, truncate(string(a.Body), 80)))
			}
		}
		if c, ok := out.(completer); ok {
			if err := c.incomplete(); err != nil {
				return upstream.Throttled(fmt.Errorf("aliyun %s: %w", op, err), 0)
			}
		}
		return nil
	}
	var eb apiErrorBody
	isJSON := json.Unmarshal(a.Body, &eb) == nil
	e := &apiError{Op: op, Status: a.Status, Code: eb.Code, Message: truncate(eb.Message, 200)}
	if !isJSON {
		e.Message = truncate(string(a.Body), 80)
	}
	switch {
	case a.Status == http.StatusTooManyRequests || eb.Code == "TooManyRequests" || eb.Code == "ParamFlowException":
		return upstream.Throttled(e, retryAfter(a.Header))
	case a.Status >= 500 || !isJSON:
		// A proxy's plain "Bad Gateway" or an HTML page is the path to
		// the service failing, not an answer from it.
		return upstream.Transient(e)
	}
	switch e.Code {
	case "AccessTokenExpired", "AccessTokenInvalid":
		e.kind = upstream.ErrStaleToken
	case "ShareLinkTokenInvalid":
		e.kind = errShareToken
	case "DeviceSessionSignatureInvalid":
		e.kind = errDeviceSession
	case "UserDeviceIllegality", "UserDeviceOffline":
		e.kind = drivers.ErrAuth
	case "NotFound.FileId", "NotFound.File", "ForbiddenFileInTheRecycleBin":
		// A trashed item is gone as far as the mount can tell.
		e.kind = drivers.ErrNotFound
	case "AlreadyExist.File":
		e.kind = drivers.ErrExist
	case "QuotaExhausted.Drive":
		e.kind = drivers.ErrNoSpace
	case "InvalidParameter.SizeExceed":
		e.kind = drivers.ErrTooLarge
	case "InvalidResource.FileTypeFolder":
		e.kind = drivers.ErrIsDir
	case "RefreshTokenInvalid", "RefreshTokenExpired", "PermissionDenied", "InvalidParameter.RefreshToken":
		e.kind = drivers.ErrAuth
	case "NotFound.ShareLink":
		e.kind = drivers.ErrNotFound
	default:
		switch {
		case errShareRefusedCode(e.Code):
			e.kind = drivers.ErrShareRefused
		case isInvalidShareCode(e.Code):
			e.kind = drivers.ErrInvalidShare
		case a.Status == http.StatusUnauthorized:
			e.kind = drivers.ErrAuth
		case strings.Contains(eb.Message, "file size is exceed"):
			// Seen with other codes than InvalidParameter.SizeExceed
			// (docs/protocols/aliyun.md §5 Failures).
			e.kind = drivers.ErrTooLarge
		}
	}
	if tokenEndpoints[op] {
		// The token endpoints have no 4xx a retry or a refresh would
		// cure: it is the login they refuse.
		e.kind = drivers.ErrAuth
	}
	return e
}

// completer is an answer that can tell it is not what it claims to be:
// a listing page without its list of items. The service under load, or
// a gateway in front of it, answers success with such a page; taken as
// it is, it would show a folder empty. It is retried as throttling, and
// a client sees 503 if it lasts.
type completer interface {
	incomplete() error
}

// tokenEndpoints are the ops of the calls that trade a refresh token.
var tokenEndpoints = map[string]bool{opOAuth: true, opRenew: true, opWebToken: true}

// ossError is the object store's XML answer to a part PUT. Its text has
// the code and message, never the signed URL.
type ossError struct {
	Op      string
	Status  int
	Code    string
	Message string
}

func (e *ossError) Error() string { return answerText(e.Op, e.Status, e.Code, e.Message) }

// classifyPart is classify for the object store's answer to a part PUT:
// 409 PartAlreadyExist means an earlier try got through; a timeout and
// server trouble are retried; any other failure is a final *ossError,
// whose 403 the part loop cures with a fresh URL.
func classifyPart(op string, a upstream.Answer) error {
	if a.Status >= 200 && a.Status <= 299 {
		return nil
	}
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	oe := &ossError{Op: op, Status: a.Status}
	if xml.Unmarshal(a.Body, &x) == nil {
		oe.Code, oe.Message = x.Code, truncate(x.Message, 200)
	} else {
		oe.Message = truncate(string(a.Body), 80)
	}
	switch {
	case a.Status == http.StatusConflict && oe.Code == "PartAlreadyExist":
		return nil
	case a.Status >= 500 || a.Status == http.StatusRequestTimeout:
		return upstream.Transient(oe)
	}
	return oe
}

// retryAfter reads the Open API's x-retry-after (milliseconds), falling
// back to a standard Retry-After in seconds.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseInt(strings.TrimSpace(h.Get("x-retry-after")), 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return upstream.RetryAfterHeader(h)
}

// newSender makes the attempts of every API call and part upload: a
// minute each, answers up to maxAnswer, and a 429's wait read from
// x-retry-after. A nil hc means a default client.
func newSender(hc *http.Client) upstream.Sender {
	if hc == nil {
		hc = upstream.NewHTTPClient()
	}
	return upstream.Sender{Client: hc, Timeout: apiTimeout, MaxAnswer: maxAnswer, RetryAfter: retryAfter}
}

// exchange is one JSON API attempt: it sends in (nil for no body) with
// the headers h, and classifies the answer into out.
func exchange(ctx context.Context, s *upstream.Sender, method, rawURL, op string, h http.Header, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("aliyun %s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return fmt.Errorf("aliyun %s: bad request URL", op)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a, err := s.Send(req, "aliyun "+op)
	if err != nil {
		return err
	}
	return classify(op, a, out)
}

func bearer(accessToken string) http.Header {
	return http.Header{"Authorization": {"Bearer " + accessToken}}
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
	err := d.openAPI.Call(ctx, "aliyun "+endpoint, class, func(ctx context.Context, at string) error {
		in, err := build(at)
		if err != nil {
			return err
		}
		return exchange(ctx, &d.send, http.MethodPost, u, endpoint, bearer(at), in, out)
	})
	return upstream.WithHint(err, d.relogin())
}

// relogin is what a login error of the mount's own login tells the user
// to do.
func (d *Drive) relogin() string {
	if d.o.API == "web" {
		return upstream.LoginHint(d.mount, "log in at www.alipan.com and put the refresh_token of the browser's local storage in options.refresh_token")
	}
	return upstream.LoginHint(d.mount, "authorize pandav elsewhere and put the refresh token in options.refresh_token")
}

// reloginWeb is relogin for the web login an Open API mount plays shares
// through.
func (d *Drive) reloginWeb() string {
	return fmt.Sprintf("to log in the web login that plays shares, run `pandav login -c <config> %s` with its web login (or put a refresh_token from www.alipan.com in options.web_refresh_token)", d.mount)
}
