package drivers

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Drivers wrap them with context (fmt.Errorf("...: %w",
// ErrNotFound)); the WebDAV layer maps them to status codes in one place.
var (
	ErrNotFound    = errors.New("not found")
	ErrExist       = errors.New("already exists")
	ErrAuth        = errors.New("authorization failed")
	ErrInvalidName = errors.New("invalid name")
	ErrUnsupported = errors.New("not supported by this drive")
	ErrIsDir       = errors.New("is a folder")
	// ErrRateLimited is matched by every *RateLimitedError.
	ErrRateLimited = errors.New("rate limited by the cloud")
	// ErrUpstream means the cloud or its CDN failed or could not be reached.
	ErrUpstream = errors.New("cloud unavailable")
	// ErrNoSpace means the drive has no room for what the write would add.
	ErrNoSpace = errors.New("the drive is full")
	// ErrTooLarge means the file is larger than the cloud takes as one
	// file.
	ErrTooLarge = errors.New("the file is larger than the cloud accepts")
)

// RateLimitedError is returned when the cloud kept throttling after every
// retry. RetryAfter is the cloud's own hint, or our best guess.
type RateLimitedError struct {
	Op         string
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	// Whole seconds, rounded up as the Retry-After header is.
	wait := e.RetryAfter
	if r := wait % time.Second; r > 0 {
		wait += time.Second - r
	}
	return fmt.Sprintf("%s: rate limited by the cloud, retry after %s", e.Op, wait)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// RetryAfter extracts the retry hint from err, if it carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}
