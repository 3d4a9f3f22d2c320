package upstream

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"

	"pandav/drivers"
	"pandav/internal/metrics"
)

// What Call and the token source count (docs/DESIGN.md, "Metrics and
// health"). A call is counted per attempt that reached Send, under the
// cloud that its op starts with ("aliyun file/list" is aliyun's) and the
// path Send sent it to; an attempt that sent nothing (it failed before,
// or only ran calls of its own, which count themselves) is not a call.

// cloudOf is the cloud an op names first.
func cloudOf(op string) string {
	cloud, _, _ := strings.Cut(op, " ")
	return cloud
}

// sentToKey carries, in a Call's context, where its attempt's Send went.
type sentToKey struct{}

func withSentTo(ctx context.Context) (context.Context, *atomic.Pointer[string]) {
	p := new(atomic.Pointer[string])
	return context.WithValue(ctx, sentToKey{}, p), p
}

// noteSentTo tells the Call around a Send the path it sent to.
func noteSentTo(ctx context.Context, path string) {
	if p, ok := ctx.Value(sentToKey{}).(*atomic.Pointer[string]); ok {
		ep := metrics.Endpoint(path)
		p.Store(&ep)
	}
}

// countAttempt counts an attempt that sent to *endpoint, by what err
// says of it.
func countAttempt(cloud string, endpoint *string, err error) {
	if endpoint == nil {
		return
	}
	metrics.UpstreamCall(cloud, *endpoint, attemptResult(err))
}

func attemptResult(err error) string {
	var r *Retryable
	switch {
	case err == nil:
		return metrics.ResultOK
	case errors.As(err, &r) && r.Throttled:
		return metrics.ResultThrottled
	case r != nil:
		return metrics.ResultTransient
	case errors.Is(err, ErrStaleToken):
		return metrics.ResultStaleToken
	case errors.Is(err, drivers.ErrAuth):
		return metrics.ResultAuth
	case errors.Is(err, drivers.ErrNotFound):
		return metrics.ResultNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return metrics.ResultCanceled
	}
	return metrics.ResultError
}

// refreshResult is a refresh-token trade's result.
func refreshResult(err error) string {
	switch {
	case err == nil:
		return metrics.ResultOK
	case errors.Is(err, drivers.ErrAuth):
		return "refused"
	}
	return metrics.ResultError
}
