package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestInstrument: requests are counted by method and status, a method no
// WebDAV client sends as "other", and the bytes of both bodies as they
// pass.
func TestInstrument(t *testing.T) {
	h := Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		switch r.Method {
		case "PUT":
			w.WriteHeader(http.StatusCreated)
		case "GET":
			w.Write([]byte(strings.Repeat("x", 1000)))
			w.(http.Flusher).Flush()
		case "MKCOL":
			// Nothing written: net/http answers 200.
		default:
			http.Error(w, fmt.Sprint(n), http.StatusMethodNotAllowed)
		}
	}))
	served := Sum("pandav_http_response_bytes_total", nil)
	received := Sum("pandav_http_request_bytes_total", nil)
	before := map[string]float64{}
	cases := []struct {
		method, body, code string
		label              string
	}{
		{"PUT", strings.Repeat("y", 300), "201", "PUT"},
		{"GET", "", "200", "GET"},
		{"MKCOL", "", "200", "MKCOL"},
		{"BREW", "", "405", "other"},
	}
	for _, c := range cases {
		before[c.label] = Sum("pandav_http_requests_total", map[string]string{"method": c.label, "code": c.code})
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, "/x", strings.NewReader(c.body))
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, c := range cases {
		if got := Sum("pandav_http_requests_total", map[string]string{"method": c.label, "code": c.code}) - before[c.label]; got != 1 {
			t.Errorf("%s: %v requests counted with method %s and code %s, want 1", c.method, got, c.label, c.code)
		}
	}
	// The 405's body is "0\n".
	if got := Sum("pandav_http_response_bytes_total", nil) - served; got != 1002 {
		t.Errorf("bytes served: %v, want 1002", got)
	}
	if got := Sum("pandav_http_request_bytes_total", nil) - received; got != 300 {
		t.Errorf("bytes received: %v, want 300", got)
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"/adrive/v1.0/openFile/list":             "/adrive/v1.0/openFile/list",
		"/open/offline/get_task_list":            "/open/offline/get_task_list",
		"/v1/files/f123":                         "/v1/files/:id",
		"/v1/files/5f2a9c0e1b7d4e3a8c6b2d1e0f9a": "/v1/files/:id",
		"/oauth2/token":                          "/oauth2/token",
	} {
		if got := Endpoint(in); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEndpointsBounded: a cloud with more endpoints than maxEndpoints
// counts the rest as "other", so the metrics cannot grow without end.
func TestEndpointsBounded(t *testing.T) {
	for i := range maxEndpoints + 10 {
		UpstreamCall("boundtest", fmt.Sprintf("/e%c%c", 'a'+i/26%26, 'a'+i%26), ResultOK)
	}
	if got := Sum("pandav_upstream_calls_total", map[string]string{"cloud": "boundtest", "endpoint": "other"}); got != 10 {
		t.Errorf("%v calls counted as other, want 10", got)
	}
}

// TestFamilies: every family is in what Handler serves, in the text
// format, once it has a value; throttled answers count twice, as calls
// and as throttling.
func TestFamilies(t *testing.T) {
	StreamOpened()
	StreamMemory(4 << 20)
	UpstreamCall("famtest", "/list", ResultThrottled)
	Waited("famtest", WaitPace, 30*time.Millisecond)
	TokenRefresh("famtest", ResultOK)
	hits, misses := Cache("famtest")
	hits.Inc()
	misses.Inc()
	Instrument(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	defer func() {
		StreamClosed()
		StreamMemory(-4 << 20)
	}()

	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, f := range []string{
		"pandav_http_requests_total", "pandav_http_response_bytes_total",
		"pandav_streams_active", "pandav_streams_opened_total", "pandav_stream_memory_bytes",
		`pandav_upstream_calls_total{cloud="famtest",endpoint="/list",result="throttled"} 1`,
		`pandav_upstream_throttled_total{cloud="famtest"} 1`,
		`pandav_upstream_wait_seconds_count{cloud="famtest",reason="pace"} 1`,
		`pandav_token_refreshes_total{cloud="famtest",result="ok"} 1`,
		`pandav_cache_hits_total{cache="famtest"} 1`, `pandav_cache_misses_total{cache="famtest"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(text, f) {
			t.Errorf("/metrics lacks %s", f)
		}
	}
	if Sum("pandav_stream_memory_bytes", nil) < 4<<20 || Sum("pandav_streams_active", nil) < 1 {
		t.Errorf("the stream gauges do not show the stream open")
	}
}
