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
	"strconv"
	"strings"
	"time"

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
	// sent with HTTP 200.
	throttleCodes = map[int64]bool{770004: true, 406: true}
	// retryCodes are "try again" answers; 990009 and 990019 are the batch
	// operations' "the last one is still running".
	retryCodes = map[int64]bool{40110000: true, 40140121: true, 990009: true, 990019: true}
	// existCodes: the name is taken.
	existCodes = map[int64]bool{20004: true}
	// invalidNameCodes: empty, too long, forbidden characters, bad
	// extension.
	invalidNameCodes = map[int64]bool{20001: true, 20002: true, 20003: true, 20020: true, 20021: true}
	// notFoundCodes all mean the file or folder is gone.
	notFoundCodes = map[int64]bool{
		430004: true, 20013: true, 20018: true, 31003: true, 50015: true, 70005: true,
		70008: true, 90008: true, 231011: true, 800001: true, 20009: true, 50003: true,
	}
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
	}
	return false
}

// staleToken is proapi rejecting an access token that a refresh may fix.
type staleToken struct {
	token string
	code  int64
}

func (e *staleToken) Error() string {
	return fmt.Sprintf("access token rejected (code %d)", e.code)
}

func reauthError(op string, code int64, msg string) error {
	return fmt.Errorf("%s: %w: 115 error %d: %s; authorize again: run the 115 open-app authorization and paste the new refresh token into refresh_token", op, drivers.ErrAuth, code, msg)
}

// request is one proapi call.
type request struct {
	method string
	path   string
	query  url.Values
	form   url.Values
	ua     string // User-Agent to send; "" means the configured one
}

// call runs r with pacing, retries and one refresh on a stale token, and
// decodes a successful answer into out.
func (d *Drive) call(ctx context.Context, op string, r request, out any) error {
	refreshed := false
	return upstream.Do(ctx, d.policy, op, func(ctx context.Context) error {
		for {
			err := d.attempt(ctx, op, r, out)
			var st *staleToken
			if !errors.As(err, &st) {
				return err
			}
			if refreshed {
				return fmt.Errorf("%s: %w: access token still rejected after a refresh (code %d)", op, drivers.ErrAuth, st.code)
			}
			refreshed = true
			d.env.Log.Debug().Str("mount", d.env.MountPath).Int64("code", st.code).Msg("pan115: access token rejected, refreshing")
			if _, err := d.ts.Refresh(ctx, st.token); err != nil {
				return err
			}
		}
	})
}

func (d *Drive) attempt(ctx context.Context, op string, r request, out any) error {
	tok, err := d.ts.Access(ctx)
	if err != nil {
		return err
	}
	if err := d.lim.Wait(ctx, limitClass); err != nil {
		return err
	}
	u := d.apiURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("%s: %v", op, httpclient.Redact(err))
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if r.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	ua := r.ua
	if ua == "" {
		ua = d.o.UserAgent
	}
	req.Header.Set("User-Agent", ua)
	status, raw, err := d.roundTrip(ctx, op, req)
	if err != nil {
		return err
	}
	if status == http.StatusUnauthorized {
		// Not 115's way of saying it, but a refresh is the right answer.
		return &staleToken{token: tok, code: http.StatusUnauthorized}
	}
	if err := classifyHTTP(op, status, raw); err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return upstream.Transient(fmt.Errorf("%s: unreadable answer: %v", op, err))
	}
	code := env.code()
	if bool(env.State) && code == 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: %w: unexpected answer: %v", op, drivers.ErrUpstream, err)
		}
		return nil
	}
	if tokenCodes[code] {
		return &staleToken{token: tok, code: code}
	}
	return classifyCode(op, code, env.message())
}

// roundTrip sends req and reads the body. Transport failures are worth
// another try; their text leaves out the URL, which carries the query.
func (d *Drive) roundTrip(ctx context.Context, op string, req *http.Request) (int, []byte, error) {
	resp, err := d.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, upstream.Transient(fmt.Errorf("%s: %v", op, httpclient.Redact(err)))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, upstream.Transient(fmt.Errorf("%s: reading answer: %v", op, httpclient.Redact(err)))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return 0, nil, upstream.Throttled(fmt.Errorf("%s: HTTP 429", op), retryAfter(resp.Header.Get("Retry-After")))
	}
	return resp.StatusCode, raw, nil
}

// classifyHTTP turns answers that are not 115's JSON envelope into
// errors: gateway failures and HTML error pages (the 405 page of 115's
// risk control) are retried a bounded number of times.
func classifyHTTP(op string, status int, raw []byte) error {
	isJSON := len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] == '{'
	switch {
	case status >= 500:
		return upstream.Transient(fmt.Errorf("%s: HTTP %d", op, status))
	case !isJSON:
		return upstream.Transient(fmt.Errorf("%s: HTTP %d with a non-JSON answer", op, status))
	}
	return nil
}

// classifyCode maps a failed envelope's code to the driver's errors.
func classifyCode(op string, code int64, msg string) error {
	switch {
	case throttleCodes[code], code == -1 && strings.Contains(msg, "频率"):
		return upstream.Throttled(fmt.Errorf("%s: 115 error %d: %s", op, code, msg), 0)
	case code == 0, retryCodes[code]:
		// state false with code 0 and no message is 115's "try again".
		return upstream.Transient(fmt.Errorf("%s: 115 error %d: %q", op, code, msg))
	case reauthCodes[code]:
		return reauthError(op, code, msg)
	}
	return &apiError{Op: op, Code: code, Message: msg}
}

func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}
