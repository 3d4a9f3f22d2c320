package memdrive

import (
	"errors"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
)

// TestThrottledListing: throttling that outlasts the retries is a
// RateLimitedError carrying the cloud's own Retry-After, whether a fault
// or the cloud's rate causes it; never "not found".
func TestThrottledListing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     memdrivetest.Options
		fault bool
	}{
		{"injected", memdrivetest.Options{Rate: -1}, true},
		{"over the cloud's rate", memdrivetest.Options{Rate: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, d := mount(t, tc.o)
			root := drivers.Entry{ID: c.Tree().RootID(), IsDir: true}
			if _, err := d.List(ctxT(t), root); err != nil { // spends the rate's burst
				t.Fatal(err)
			}
			if tc.fault {
				c.Faults().Inject(c.Endpoints().List, fakecloud.Throttle, 1, -1)
			}
			_, err := d.List(ctxT(t), root)
			var rl *drivers.RateLimitedError
			if !errors.As(err, &rl) || rl.RetryAfter != time.Second || errors.Is(err, drivers.ErrNotFound) {
				t.Fatalf("got %v, want a RateLimitedError with the cloud's 1s", err)
			}
		})
	}
}

// TestAttemptsBoundPatience: options.attempts is how many times a
// throttled call is made before the client hears of it, and what it then
// hears is the cloud's own Retry-After.
func TestAttemptsBoundPatience(t *testing.T) {
	for _, attempts := range []int{1, 3} {
		c := memdrivetest.NewServer(memdrivetest.Options{Rate: -1, RetryAfter: 7 * time.Second})
		defer c.Close()
		d := openWith(t, testEnv(t), Options{RefreshToken: c.Login().Issue().Refresh, APIURL: c.APIURL(), QPS: 1000, Attempts: attempts})
		c.Faults().Inject(c.Endpoints().List, fakecloud.Throttle, 1, -1)
		_, err := d.List(ctxT(t), drivers.Entry{ID: c.Tree().RootID(), IsDir: true})
		var rl *drivers.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
			t.Fatalf("attempts %d: got %v, want a RateLimitedError with the cloud's 7s", attempts, err)
		}
		if n := c.Counters().Get(c.Endpoints().List); n != int64(attempts) {
			t.Fatalf("attempts %d: %d listing calls", attempts, n)
		}
	}
}
