package aliyun

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		status    int
		header    http.Header
		body      string
		want      error // sentinel, or nil for none
		retry     bool
		throttled bool
		after     time.Duration
	}{
		{status: 429, header: http.Header{"X-Retry-After": {"1500"}}, body: `{"code":"TooManyRequests","message":"Too Many Requests"}`, retry: true, throttled: true, after: 1500 * time.Millisecond},
		{status: 400, body: `{"code":"ParamFlowException","message":"1.2.3.4"}`, retry: true, throttled: true},
		{status: 500, body: `{"code":"InternalError","message":"x"}`, retry: true},
		{status: 502, body: "Bad Gateway", retry: true},
		{status: 405, body: "<html>nope</html>", retry: true},
		{status: 401, body: `{"code":"AccessTokenExpired"}`, want: upstream.ErrStaleToken},
		{status: 401, body: `{"code":"AccessTokenInvalid"}`, want: upstream.ErrStaleToken},
		{status: 401, body: `{"code":"RefreshTokenExpired"}`, want: drivers.ErrAuth},
		{status: 401, body: `{"code":"RefreshTokenInvalid"}`, want: drivers.ErrAuth},
		{status: 403, body: `{"code":"PermissionDenied"}`, want: drivers.ErrAuth},
		{status: 404, body: `{"code":"NotFound.FileId"}`, want: drivers.ErrNotFound},
		{status: 404, body: `{"code":"NotFound.File"}`, want: drivers.ErrNotFound},
		{status: 400, body: `{"code":"NotFound.File"}`, want: drivers.ErrNotFound},
		{status: 400, body: `{"code":"InvalidResource.FileTypeFolder"}`, want: drivers.ErrIsDir},
		{status: 400, body: `{"code":"InvalidParameter.Limit"}`},
		{status: 404, body: `{"code":"NotFound.Drive"}`},
		{status: 400, body: `{"code":"QuotaExhausted.Drive","message":"drive full"}`, want: drivers.ErrNoSpace},
		{status: 400, body: `{"code":"InvalidParameter.SizeExceed","message":"x"}`, want: drivers.ErrTooLarge},
		{status: 400, body: `{"code":"InvalidParameter.Size","message":"file size is exceed the limit"}`, want: drivers.ErrTooLarge},
	}
	for _, tc := range cases {
		a := upstream.Answer{Status: tc.status, Header: tc.header, Body: []byte(tc.body)}
		if a.Header == nil {
			a.Header = http.Header{}
		}
		err := classify("op", a, nil)
		var r *upstream.Retryable
		isRetry := errors.As(err, &r)
		if isRetry != tc.retry || (isRetry && (r.Throttled != tc.throttled || r.After != tc.after)) {
			t.Errorf("%d %s: %#v, want retry=%v throttled=%v after=%v", tc.status, tc.body, err, tc.retry, tc.throttled, tc.after)
			continue
		}
		for _, s := range []error{upstream.ErrStaleToken, drivers.ErrAuth, drivers.ErrNotFound, drivers.ErrIsDir, drivers.ErrNoSpace, drivers.ErrTooLarge} {
			if errors.Is(err, s) != (s == tc.want) {
				t.Errorf("%d %s: %v; errors.Is(%v) = %v", tc.status, tc.body, err, s, !(s == tc.want))
			}
		}
	}
}
