package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"pandav/drivers"
	"pandav/internal/httpclient"
	"pandav/internal/metrics"
)

// ErrStaleToken is what a driver's classify wraps when the cloud refused
// the access token in a way a refresh cures. Call then refreshes once and
// tries again.
var ErrStaleToken = errors.New("access token expired or refused")

// Credential is what a call is signed with: an account's login
// (*TokenSource) or a share's token.
type Credential interface {
	// Access returns the token to send.
	Access(ctx context.Context) (string, error)
	// Refresh replaces stale, which the cloud refused, unless another
	// caller has already; either way it returns the token to send now.
	Refresh(ctx context.Context, stale string) (string, error)
}

// Caller is what the calls of one login share: the retry policy, the
// pacing per API class and the credential (nil for anonymous calls).
type Caller struct {
	Policy Policy
	Limits *Limiters
	Cred   Credential
}

// Call runs one upstream call. Each attempt waits its turn on class's
// limiter, takes a token, and runs attempt with it. An answer the driver
// classified as ErrStaleToken refreshes the token once per call, with the
// stale token (so that of many callers seeing the same refusal only one
// spends the refresh token), and tries again at once; a second refusal is
// a login failure. Errors the driver classified as *Retryable are retried
// under the policy; any other error ends the call.
func (c *Caller) Call(ctx context.Context, op, class string, attempt func(ctx context.Context, token string) error) error {
	refreshed := false
	cloud := cloudOf(op)
	ctx, sent := withSentTo(ctx)
	return Do(ctx, c.Policy, op, func(ctx context.Context) error {
		for {
			start := time.Now()
			queued, err := c.Limits.wait(ctx, class)
			if queued {
				metrics.Waited(cloud, metrics.WaitPace, time.Since(start))
			}
			if err != nil {
				return err
			}
			token := ""
			if c.Cred != nil {
				var err error
				if token, err = c.Cred.Access(ctx); err != nil {
					return err
				}
			}
			sent.Store(nil)
			err = attempt(ctx, token)
			countAttempt(cloud, sent.Load(), err)
			if c.Cred == nil || !errors.Is(err, ErrStaleToken) {
				return err
			}
			if refreshed {
				return &staleAfterRefresh{err}
			}
			refreshed = true
			if _, err := c.Cred.Refresh(ctx, token); err != nil {
				return err
			}
		}
	})
}

// staleAfterRefresh is a token refused again right after a refresh: only
// a new login mends that, so it is a login failure.
//
// It has no Unwrap, so that it is no longer a stale token: a Call made
// inside the attempt of another (a share's call signed by an account's
// login) must not have the outer one refresh its own credential for it.
// The driver's error is still reachable with errors.As.
type staleAfterRefresh struct{ err error }

func (e *staleAfterRefresh) Error() string {
	return e.err.Error() + " (again, right after a token refresh)"
}

// Is makes it a login failure.
func (e *staleAfterRefresh) Is(target error) bool { return target == drivers.ErrAuth }

// As finds the driver's own error types in the refusal.
func (e *staleAfterRefresh) As(target any) bool { return errors.As(e.err, target) }

// Answer is a whole HTTP answer, read by Send.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Sender makes single HTTP attempts for a driver.
type Sender struct {
	Client *http.Client
	// Timeout bounds one attempt, answer included; 0 means a minute. A
	// CDN body is not an attempt: it is read elsewhere.
	Timeout time.Duration
	// MaxAnswer caps the bytes of an answer read; 0 means 64 MiB.
	MaxAnswer int64
	// RetryAfter reads the wait a 429 asks for; nil reads Retry-After in
	// seconds or as a date.
	RetryAfter func(http.Header) time.Duration
}

// Send makes one attempt of req and reads its answer. A transport failure
// is Transient, with a text that leaves out the URL (a signed link, a
// query with a token) and the addresses; when the caller's own context
// ended, its error is returned instead, so a client that left is not
// counted as a cloud failure. A 429 is Throttled, with the cloud's hint.
// Any other status is the driver's to classify.
func (s *Sender) Send(req *http.Request, op string) (Answer, error) {
	ctx := req.Context()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	noteSentTo(ctx, req.URL.Path)
	hc := s.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req.WithContext(actx))
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, ctx.Err()
		}
		var dial *net.OpError
		if !errors.As(err, &dial) || dial.Op != "dial" {
			noteLostAnswer(ctx)
		}
		return Answer{}, Transient(fmt.Errorf("%s: %v", op, httpclient.Redact(err)))
	}
	defer resp.Body.Close()
	max := s.MaxAnswer
	if max <= 0 {
		max = 64 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, ctx.Err()
		}
		noteLostAnswer(ctx)
		return Answer{}, Transient(fmt.Errorf("%s: reading the answer: %v", op, httpclient.Redact(err)))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		hint := s.RetryAfter
		if hint == nil {
			hint = RetryAfterHeader
		}
		return Answer{}, Throttled(fmt.Errorf("%s: HTTP 429", op), hint(resp.Header))
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// lostAnswersKey carries, in a token trade's context, the count of its
// attempts that may have reached the cloud and got no answer: a refusal
// after one of them is most likely the cloud having spent the token then.
type lostAnswersKey struct{}

func withLostAnswers(ctx context.Context) (context.Context, *atomic.Int32) {
	n := new(atomic.Int32)
	return context.WithValue(ctx, lostAnswersKey{}, n), n
}

// noteLostAnswer counts an attempt sent (a connection that could not be
// dialled sent nothing) whose answer never came.
func noteLostAnswer(ctx context.Context) {
	if n, ok := ctx.Value(lostAnswersKey{}).(*atomic.Int32); ok {
		n.Add(1)
	}
}

// RetryAfterHeader reads a standard Retry-After: seconds, or a date; 0
// when absent or unreadable.
func RetryAfterHeader(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		return max(time.Duration(s)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
