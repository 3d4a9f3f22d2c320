package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pandav/drivers"
)

// fakeCred hands out "t0", "t1", ... and counts refreshes.
type fakeCred struct {
	n         atomic.Int32
	refreshes atomic.Int32
	fail      error
}

func (c *fakeCred) Access(context.Context) (string, error) {
	return fmt.Sprintf("t%d", c.n.Load()), nil
}

func (c *fakeCred) Refresh(_ context.Context, stale string) (string, error) {
	c.refreshes.Add(1)
	if c.fail != nil {
		return "", c.fail
	}
	c.n.Add(1)
	return fmt.Sprintf("t%d", c.n.Load()), nil
}

var quick = Policy{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, GiveUpAfter: 7 * time.Second}

func TestCall(t *testing.T) {
	stale := fmt.Errorf("cloud says: %w", ErrStaleToken)
	refused := errors.New("refresh refused")
	for _, tc := range []struct {
		name      string
		answers   []error // by attempt; the last repeats
		credFails error
		wantErr   func(error) bool
		attempts  int
		refreshes int
	}{
		{name: "ok", answers: []error{nil}, wantErr: isNil, attempts: 1},
		{name: "stale once", answers: []error{stale, nil}, wantErr: isNil, attempts: 2, refreshes: 1},
		{name: "stale twice is a login failure", answers: []error{stale}, attempts: 2, refreshes: 1,
			wantErr: func(err error) bool { return errors.Is(err, drivers.ErrAuth) }},
		{name: "refresh fails", answers: []error{stale}, credFails: refused, attempts: 1, refreshes: 1,
			wantErr: func(err error) bool { return errors.Is(err, refused) }},
		{name: "transient retried", answers: []error{Transient(errors.New("502")), nil}, wantErr: isNil, attempts: 2},
		{name: "transient exhausted", answers: []error{Transient(errors.New("502"))}, attempts: 3,
			wantErr: func(err error) bool { return errors.Is(err, drivers.ErrUpstream) }},
		{name: "throttled exhausted", answers: []error{Throttled(errors.New("429"), 0)}, attempts: 3,
			wantErr: func(err error) bool {
				after, ok := drivers.RetryAfter(err)
				return ok && after == 7*time.Second
			}},
		{name: "final error not retried", answers: []error{drivers.ErrNotFound}, attempts: 1,
			wantErr: func(err error) bool { return errors.Is(err, drivers.ErrNotFound) }},
		{name: "stale after a retry still refreshes once", answers: []error{Transient(errors.New("reset")), stale, stale}, attempts: 3, refreshes: 1,
			wantErr: func(err error) bool { return errors.Is(err, drivers.ErrAuth) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred := &fakeCred{fail: tc.credFails}
			c := &Caller{Policy: quick, Limits: NewLimiters(nil), Cred: cred}
			n := 0
			var tokens []string
			err := c.Call(context.Background(), "test op", "list", func(ctx context.Context, token string) error {
				tokens = append(tokens, token)
				a := tc.answers[min(n, len(tc.answers)-1)]
				n++
				return a
			})
			if !tc.wantErr(err) {
				t.Fatalf("error %v", err)
			}
			if n != tc.attempts || int(cred.refreshes.Load()) != tc.refreshes {
				t.Fatalf("%d attempts and %d refreshes, want %d and %d (tokens %v)", n, cred.refreshes.Load(), tc.attempts, tc.refreshes, tokens)
			}
			if tc.refreshes > 0 && tc.credFails == nil && tokens[len(tokens)-1] != "t1" {
				t.Fatalf("tokens sent %v: the attempt after a refresh must carry the new token", tokens)
			}
		})
	}
}

// driverError stands for a driver's own error type.
type driverError struct{ code string }

func (e *driverError) Error() string { return "cloud says " + e.code }
func (e *driverError) Unwrap() error { return ErrStaleToken }

// TestStaleTwiceIsNoLongerStale: a call made inside another's attempt
// (a share's call signed by an account) ends in a login failure; the
// outer call must not take it for its own stale token.
func TestStaleTwiceIsNoLongerStale(t *testing.T) {
	inner := &fakeCred{}
	outer := &fakeCred{}
	in := &Caller{Policy: quick, Limits: NewLimiters(nil), Cred: inner}
	out := &Caller{Policy: quick, Limits: NewLimiters(nil), Cred: outer}
	err := out.Call(context.Background(), "outer", "other", func(ctx context.Context, _ string) error {
		return in.Call(ctx, "inner", "other", func(context.Context, string) error {
			return &driverError{code: "AccessTokenInvalid"}
		})
	})
	if !errors.Is(err, drivers.ErrAuth) || errors.Is(err, ErrStaleToken) {
		t.Fatalf("got %v: want a login failure that is no longer a stale token", err)
	}
	var de *driverError
	if !errors.As(err, &de) || de.code != "AccessTokenInvalid" {
		t.Fatalf("the driver's error is not reachable in %v", err)
	}
	if inner.refreshes.Load() != 1 || outer.refreshes.Load() != 0 {
		t.Fatalf("%d inner and %d outer refreshes, want 1 and 0", inner.refreshes.Load(), outer.refreshes.Load())
	}
}

func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/429":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/429ms":
			w.Header().Set("X-Retry-After", "250")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/big":
			w.Write([]byte(strings.Repeat("x", 100)))
		case "/hang":
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte("short"))
		}
	}))
	defer srv.Close()
	get := func(ctx context.Context, p string) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+p+"?access_token=SECRET", nil)
		return req
	}
	s := &Sender{Client: srv.Client(), MaxAnswer: 10}

	a, err := s.Send(get(context.Background(), "/other"), "op")
	if err != nil || a.Status != http.StatusTeapot || string(a.Body) != "short" {
		t.Fatalf("plain answer: %+v, %v", a, err)
	}
	if a, err := s.Send(get(context.Background(), "/big"), "op"); err != nil || len(a.Body) != 10 {
		t.Fatalf("bounded read: %d bytes, %v", len(a.Body), err)
	}
	var r *Retryable
	if _, err := s.Send(get(context.Background(), "/429"), "op"); !errors.As(err, &r) || !r.Throttled || r.After != 3*time.Second {
		t.Fatalf("429: %v", err)
	}
	ms := &Sender{Client: srv.Client(), RetryAfter: func(h http.Header) time.Duration {
		return 250 * time.Millisecond
	}}
	if _, err := ms.Send(get(context.Background(), "/429ms"), "op"); !errors.As(err, &r) || r.After != 250*time.Millisecond {
		t.Fatalf("429 with the driver's own hint: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := s.Send(get(ctx, "/hang"), "op"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller gave up: got %v, want its own context error", err)
	}

	short := &Sender{Client: srv.Client(), Timeout: 20 * time.Millisecond}
	_, err = short.Send(get(context.Background(), "/hang"), "op")
	if !errors.As(err, &r) || r.Throttled {
		t.Fatalf("attempt timeout: %v, want a transient error", err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("a transport error shows the URL or address: %v", err)
	}
}

func isNil(err error) bool { return err == nil }
