package integration

import (
	"net/http"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// calmClouds are emulators whose own rate limits are off, so that every
// throttled answer in a test is one the test injected and call counts are
// exact.
func calmClouds(t *testing.T) *clouds {
	return startClouds(t, cloudOptions{Options: fakecloud.Options{Unthrottled: true}})
}

// TestThrottledListing lists the 2,500-entry folder while every second
// list call is throttled. The listing must be complete, cost exactly one
// successful call per page, and no per-entry calls.
func TestThrottledListing(t *testing.T) {
	t.Parallel()
	c := calmClouds(t)
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			// The mount root is listed first, unthrottled, so that only the
			// big folder's pages are counted below.
			propfind(t, p.URL(demo.MountPath(cl)+"/"), "1")

			// Clear also restarts the fault's call numbering: call 1 passes,
			// call 2 is throttled, call 3 passes (page 2), and so on.
			cl.Faults().Clear()
			cl.Counters().Reset()
			cl.Faults().Inject(cl.Endpoints().List, fakecloud.Throttle, 2, -1)

			dir := demo.MountPath(cl) + sample.ManyDir + "/"
			ms := propfind(t, p.URL(dir), "1")
			if got, want := len(ms.Responses), sample.ManyCount+1; got != want {
				t.Errorf("%d responses, want %d", got, want)
			}
			names := childNames(t, ms, dir)
			for i := range sample.ManyCount {
				if _, ok := names[sample.ManyName(i)]; !ok {
					t.Errorf("%s missing", sample.ManyName(i))
					break
				}
			}
			pages := (sample.ManyCount + cl.PageSize() - 1) / cl.PageSize()
			// Successful pages are calls 1, 3, ..., 2*pages-1; the throttled
			// calls between them are counted too.
			if got, want := cl.Counters().Get(cl.Endpoints().List), int64(2*pages-1); got != want {
				t.Errorf("%s calls: %d, want %d (%d pages, each after a throttled retry but the first)", cl.Endpoints().List, got, want, pages)
			}
			if got := cl.Counters().Get(cl.Endpoints().Get); got != 0 {
				t.Errorf("%s calls: %d, want 0 (no per-entry calls)", cl.Endpoints().Get, got)
			}
		})
	}
}

// TestThrottledBeyondRetries: when the cloud throttles every list call,
// pandav gives up with 503 and Retry-After, never 404.
func TestThrottledBeyondRetries(t *testing.T) {
	t.Parallel()
	c := calmClouds(t)
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			propfind(t, p.URL(demo.MountPath(cl)+"/"), "1")
			cl.Faults().Inject(cl.Endpoints().List, fakecloud.Throttle, 1, -1)

			// Documents is known from the root listing but never listed.
			start := time.Now()
			resp, body := davDo(t, "PROPFIND", p.URL(demo.MountPath(cl)+"/Documents/"), map[string]string{"Depth": "1"}, "")
			checkThrottled(t, "PROPFIND Documents/", resp, body)
			t.Logf("PROPFIND gave up after %s and %d list calls", time.Since(start).Round(time.Millisecond), cl.Counters().Get(cl.Endpoints().List))

			// A file in a folder not listed yet needs that listing first.
			resp, body = davDo(t, "GET", p.URL(demo.MountPath(cl)+sample.VideoPath), nil, "")
			checkThrottled(t, "GET "+sample.VideoPath, resp, body)

			cl.Faults().Clear()
			resp, _ = davDo(t, "GET", p.URL(demo.MountPath(cl)+sample.VideoPath), nil, "")
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET after the throttling ended: %s, want 200", resp.Status)
			}
		})
	}
}

func checkThrottled(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s while throttled: %s, want 503\n%s", what, resp.Status, tail(string(body), 500))
		return
	}
	ra := resp.Header.Get("Retry-After")
	if ra == "" {
		t.Errorf("%s: 503 without Retry-After", what)
		return
	}
	if _, err := time.ParseDuration(ra + "s"); err != nil {
		if _, err := http.ParseTime(ra); err != nil {
			t.Errorf("%s: Retry-After %q is neither seconds nor a date", what, ra)
		}
	}
}
