package upstream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"pandav/drivers"
	"pandav/internal/metrics"
)

// TestCallMetrics: each attempt that reached the cloud is counted under
// the op's cloud, the path it was sent to and its result; a throttled
// answer counts as throttling, with the wait after it, and a call that
// queued on its pace counts its wait. An attempt that sent nothing is no
// call.
func TestCallMetrics(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	s := &Sender{Client: srv.Client()}
	cloud := "calltest"
	sum := func(family string, labels map[string]string) float64 {
		labels["cloud"] = cloud
		return metrics.Sum(family, labels)
	}
	// 20 calls a second: the retry after the throttled answer, and the
	// second call, queue for their turns.
	c := &Caller{Policy: quick, Limits: NewLimiters(map[string]float64{"list": 20})}
	for range 2 {
		err := c.Call(context.Background(), cloud+" list 12345", "list", func(ctx context.Context, _ string) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/file/list/98765", nil)
			_, err := s.Send(req, "list")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := c.Call(context.Background(), cloud+" build", "", func(ctx context.Context, _ string) error {
		return fmt.Errorf("bad name: %w", drivers.ErrInvalidName)
	})
	if err == nil {
		t.Fatal("the failing attempt did not fail")
	}
	for _, want := range []struct {
		family string
		labels map[string]string
		n      float64
	}{
		{"pandav_upstream_calls_total", map[string]string{"endpoint": "/v2/file/list/:id", "result": "throttled"}, 1},
		{"pandav_upstream_calls_total", map[string]string{"endpoint": "/v2/file/list/:id", "result": "ok"}, 2},
		{"pandav_upstream_calls_total", map[string]string{}, 3},
		{"pandav_upstream_throttled_total", map[string]string{}, 1},
		{"pandav_upstream_wait_seconds", map[string]string{"reason": "throttled"}, 1},
		{"pandav_upstream_wait_seconds", map[string]string{"reason": "pace"}, 2},
	} {
		if got := sum(want.family, want.labels); got != want.n {
			t.Errorf("%s%v = %v, want %v", want.family, want.labels, got, want.n)
		}
	}
}

// TestRefreshMetrics: each trade of a refresh token is counted under the
// store's name, with its result; a refused token that is never sent
// again is not counted again.
func TestRefreshMetrics(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	store := NewTokenStore(t.TempDir(), "refreshtest", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	if _, err := ts.Access(context.Background()); err != nil {
		t.Fatal(err)
	}
	cloud.mu.Lock()
	cloud.valid = "elsewhere"
	cloud.mu.Unlock()
	for range 2 {
		ts.Refresh(context.Background(), ts.Current().Access)
	}
	ok := metrics.Sum("pandav_token_refreshes_total", map[string]string{"cloud": "refreshtest", "result": "ok"})
	refused := metrics.Sum("pandav_token_refreshes_total", map[string]string{"cloud": "refreshtest", "result": "refused"})
	if ok != 1 || refused != 1 {
		t.Errorf("refreshes counted: %v ok, %v refused; want 1 and 1", ok, refused)
	}
}
