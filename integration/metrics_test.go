package integration

import (
	"bufio"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// scrape is what /metrics served: each series, as its text up to the
// value ("name{labels}"), with its value.
type scrape map[string]float64

// scrapeMetrics GETs /metrics of p and parses the text format.
func scrapeMetrics(t testing.TB, p *pandavProc) scrape {
	t.Helper()
	resp, err := httpClient.Get(p.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	s := scrape{}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics: unreadable line %q", line)
		}
		s[line[:i]] = v
	}
	return s
}

// sum adds up the series of family (a name, up to its labels) whose
// labels include each of labels (`name="value"`).
func (s scrape) sum(family string, labels ...string) float64 {
	total := 0.0
	for series, v := range s {
		name, rest, _ := strings.Cut(series, "{")
		if name != family {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(rest, l)
		}
		if all {
			total += v
		}
	}
	return total
}

// TestMetricsFamilies runs a little of everything through the real
// binary on every cloud (PROPFINDs, one of them answered from the cache,
// a GET of the video, a PUT, a listing the cloud throttles once, a call
// with an expired access token), then reads /metrics while a GET of the
// big file streams: every family counts something, for every cloud where
// it is the cloud's.
func TestMetricsFamilies(t *testing.T) {
	t.Parallel()
	c := calmClouds(t)
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		m := demo.MountPath(cl)
		propfind(t, p.URL(m+"/"), "1")
		propfind(t, p.URL(m+"/"), "1")
		if resp, body := davDo(t, "GET", p.URL(m+sample.VideoPath), nil, ""); resp.StatusCode != http.StatusOK || len(body) != len(sample.Video()) {
			t.Fatalf("GET %s%s: %s, %d bytes", m, sample.VideoPath, resp.Status, len(body))
		}
		if resp, _ := davDo(t, "PUT", p.URL(m+"/Documents/metrics.txt"), nil, "counted on the way in\n"); resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT: %s", resp.Status)
		}
		cl.Faults().Inject(cl.Endpoints().List, fakecloud.Throttle, 1, 1)
		propfind(t, p.URL(m+"/中文 目录/"), "1")
		cl.Faults().Clear()
		cl.Login().ExpireAccess()
		propfind(t, p.URL(m+"/Big/"), "1")
	}
	// A stream in progress, for the gauges: the client reads a little
	// and leaves the rest waiting.
	for _, cl := range c.Each() {
		resp, err := httpClient.Get(p.URL(demo.MountPath(cl) + sample.BigPath))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
			t.Fatalf("GET %s: %s, %v", sample.BigPath, resp.Status, err)
		}
	}
	s := scrapeMetrics(t, p)

	families := []struct {
		family  string
		labels  []string
		atLeast float64
	}{
		{"pandav_http_requests_total", []string{`method="PROPFIND"`, `code="207"`}, 4 * float64(len(c.Each()))},
		// The GETs of the video; a GET still streaming is counted once it ends.
		{"pandav_http_requests_total", []string{`method="GET"`, `code="200"`}, float64(len(c.Each()))},
		{"pandav_http_requests_total", []string{`method="PUT"`, `code="201"`}, float64(len(c.Each()))},
		{"pandav_http_response_bytes_total", nil, float64(len(sample.Video())+1<<20) * float64(len(c.Each()))},
		{"pandav_http_request_bytes_total", nil, float64(len("counted on the way in\n") * len(c.Each()))},
		{"pandav_streams_active", nil, float64(len(c.Each()))},
		{"pandav_streams_opened_total", nil, 2 * float64(len(c.Each()))},
		{"pandav_stream_memory_bytes", nil, 1},
		{"pandav_cache_hits_total", nil, 1},
		{"pandav_cache_misses_total", nil, 1},
	}
	for _, cl := range c.Each() {
		cloud := `cloud="` + cl.Driver() + `"`
		families = append(families, []struct {
			family  string
			labels  []string
			atLeast float64
		}{
			{"pandav_upstream_calls_total", []string{cloud, `result="ok"`}, 5},
			{"pandav_upstream_calls_total", []string{cloud, `result="throttled"`}, 1},
			{"pandav_upstream_calls_total", []string{cloud, `result="stale_token"`}, 1},
			{"pandav_upstream_throttled_total", []string{cloud}, 1},
			{"pandav_upstream_wait_seconds_count", []string{cloud, `reason="throttled"`}, 1},
			// The first call's, then the one after the access token expired.
			{"pandav_token_refreshes_total", []string{cloud, `result="ok"`}, 2},
		}...)
	}
	for _, f := range families {
		got := s.sum(f.family, f.labels...)
		t.Logf("%s%v = %v", f.family, f.labels, got)
		if got < f.atLeast {
			t.Errorf("%s%v = %v, want at least %v", f.family, f.labels, got, f.atLeast)
		}
	}
	var ours []string
	for series, v := range s {
		if strings.HasPrefix(series, "pandav_") && !strings.Contains(series, "_bucket{") {
			ours = append(ours, series+" "+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	slices.Sort(ours)
	t.Logf("/metrics, pandav's own series:\n%s", strings.Join(ours, "\n"))
	for series := range s {
		if strings.Contains(series, "pandav_upstream_calls_total") && strings.Contains(series, `endpoint="other"`) {
			t.Errorf("a driver's endpoints overflowed the label's bound: %s", series)
		}
	}
}

// TestReadyzFollowsLogins: on every cloud with QR logins, /readyz of the
// real binary is 503 naming the mount while it has no login, 200 once
// `pandav login` logged it in, 503 again once the cloud revoked the
// login and a call met the refusal, and 200 after the next `pandav
// login`; it never shows a secret.
func TestReadyzFollowsLogins(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			r := newLoginRig(t, cl, nil, false)
			p := startServe(t, r.configPath)
			var bodies strings.Builder
			readyz := func(want int, says string) {
				t.Helper()
				resp, body := davDo(t, "GET", p.URL("/readyz"), nil, "")
				t.Logf("/readyz: %s\n%s", resp.Status, body)
				bodies.Write(body)
				if resp.StatusCode != want || !strings.Contains(string(body), says) {
					t.Errorf("/readyz: %s %q; want %d saying %q", resp.Status, body, want, says)
				}
			}
			readyz(http.StatusServiceUnavailable, r.mount+": no login yet")
			r.login(t, r.configPath, "--no-qr")
			readyz(http.StatusOK, "ready")

			cl.Login().RevokeAll()
			if resp, _ := davDo(t, "PROPFIND", p.URL(r.mount+"/"), map[string]string{"Depth": "1"}, ""); resp.StatusCode < 400 {
				t.Fatalf("PROPFIND of a mount whose login the cloud revoked: %s", resp.Status)
			}
			readyz(http.StatusServiceUnavailable, r.mount+": the cloud refused the login; run `pandav login "+r.mount+"`")

			r.login(t, r.configPath, "--no-qr")
			readyz(http.StatusOK, "ready")
			listsSample(t, p, r.mount)
			checkNoSecrets(t, cl, map[string]string{"/readyz": bodies.String()})
		})
	}
}
