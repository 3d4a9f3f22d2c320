package upstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"pandav/drivers"
	"pandav/internal/metrics"
)

// Retryable wraps an attempt's error that may go away if the call is made
// again.
type Retryable struct {
	Err error
	// After is the cloud's own hint for when to try again; 0 means use
	// the backoff.
	After time.Duration
	// Throttled says the cloud asked us to slow down, as opposed to
	// failing; exhausted throttling becomes drivers.RateLimitedError.
	Throttled bool
}

func (r *Retryable) Error() string { return r.Err.Error() }
func (r *Retryable) Unwrap() error { return r.Err }

// Throttled is a convenience for a rate-limit answer with a hint.
func Throttled(err error, after time.Duration) error {
	return &Retryable{Err: err, After: after, Throttled: true}
}

// Transient is a convenience for a failure worth another try.
func Transient(err error) error { return &Retryable{Err: err} }

// Policy bounds the retries of one call.
type Policy struct {
	Attempts  int           // total tries, at least 1
	BaseDelay time.Duration // first backoff, doubled each time
	MaxDelay  time.Duration // cap on one wait, hint included
	// GiveUpAfter is the Retry-After reported to the client when throttling
	// outlasts the attempts and the cloud gave no hint.
	GiveUpAfter time.Duration
}

// DefaultPolicy suits API calls: about 30 s of patience in all.
var DefaultPolicy = Policy{Attempts: 6, BaseDelay: 250 * time.Millisecond, MaxDelay: 8 * time.Second, GiveUpAfter: 10 * time.Second}

// Do runs attempt until it succeeds, returns an error that is not
// *Retryable, or the attempts run out. Waits are jittered so that many
// streams throttled together do not come back together.
func Do(ctx context.Context, p Policy, op string, attempt func(ctx context.Context) error) error {
	if p.Attempts < 1 {
		p.Attempts = 1
	}
	delay := p.BaseDelay
	var last *Retryable
	for i := 0; i < p.Attempts; i++ {
		err := attempt(ctx)
		var r *Retryable
		if !errors.As(err, &r) {
			return err
		}
		last = r
		if i == p.Attempts-1 {
			break
		}
		wait := delay
		if r.After > 0 {
			wait = r.After
		}
		if wait > p.MaxDelay {
			wait = p.MaxDelay
		}
		wait += time.Duration(rand.Int64N(int64(wait/4) + 1))
		delay *= 2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		reason := metrics.WaitRetry
		if r.Throttled {
			reason = metrics.WaitThrottled
		}
		metrics.Waited(cloudOf(op), reason, wait)
	}
	if last.Throttled {
		after := last.After
		if after <= 0 {
			after = p.GiveUpAfter
		}
		return fmt.Errorf("%w (%v)", &drivers.RateLimitedError{Op: op, RetryAfter: after}, last.Err)
	}
	return fmt.Errorf("%s: %w: %v", op, drivers.ErrUpstream, last.Err)
}
