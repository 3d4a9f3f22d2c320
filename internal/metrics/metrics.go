// Package metrics holds pandav's Prometheus metrics (docs/DESIGN.md,
// "Metrics and health"): their definitions, pandav's own registry and
// the /metrics handler. The packages that count (internal/app, webdav's
// caches through cache/, internal/stream, drivers/internal/upstream) call
// the small functions here and learn nothing of each other.
//
// The metrics are process-wide, as one process serves one pandav; tests
// that build several Apps share them, and registering them once, in this
// package, is what keeps that from panicking.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Registry is pandav's own, not the client library's global one, so that
// nothing a dependency registers is served, and nothing here collides
// with it.
var Registry = prometheus.NewRegistry()

const namespace = "pandav"

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by method and status code.",
	}, []string{"method", "code"})
	bytesServed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_response_bytes_total",
		Help: "Bytes of HTTP answer bodies sent to clients.",
	})
	bytesReceived = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_request_bytes_total",
		Help: "Bytes of HTTP request bodies read from clients (uploads).",
	})

	streamsActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "streams_active",
		Help: "Files being streamed from a cloud's CDN now.",
	})
	streamsOpened = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "streams_opened_total",
		Help: "Streams of a file from a cloud's CDN opened.",
	})
	streamMemory = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "stream_memory_bytes",
		Help: "Bytes of the stream memory budget that chunk buffers hold now.",
	})

	upstreamCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_calls_total",
		Help: "Attempts of cloud API calls, by cloud, endpoint and result (ok, throttled, transient, stale_token, auth, not_found, canceled, error).",
	}, []string{"cloud", "endpoint", "result"})
	throttled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_throttled_total",
		Help: "Answers in which a cloud asked pandav to slow down (429, a rate-limit code).",
	}, []string{"cloud"})
	waits = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_wait_seconds",
		Help:    "Time cloud calls waited before going out, by cloud and reason: pace (pandav's own rate limit), throttled (backing off after the cloud asked), retry (backing off after a failure).",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"cloud", "reason"})
	refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "token_refreshes_total",
		Help: "Refresh-token trades, by login (the token store's name: aliyun, aliyun-web, pan115, ...) and result (ok, refused, error).",
	}, []string{"cloud", "result"})

	cacheHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_hits_total",
		Help: "Lookups answered by a cache, by cache (entries, listings, negative, links, quotas, ...).",
	}, []string{"cache"})
	cacheMisses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_misses_total",
		Help: "Lookups a cache could not answer, by cache.",
	}, []string{"cache"})
)

func init() {
	Registry.MustRegister(
		requests, bytesServed, bytesReceived,
		streamsActive, streamsOpened, streamMemory,
		upstreamCalls, throttled, waits, refreshes,
		cacheHits, cacheMisses,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

// Handler serves the registry in Prometheus's text format (or what the
// scraper asks for).
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}

// StreamOpened counts a stream of a file opened.
func StreamOpened() {
	streamsActive.Inc()
	streamsOpened.Inc()
}

// StreamClosed counts an opened stream closed.
func StreamClosed() { streamsActive.Dec() }

// StreamMemory adds delta (negative when given back) to the stream
// memory in use.
func StreamMemory(delta int64) { streamMemory.Add(float64(delta)) }

// UpstreamCall counts one attempt of a cloud call. endpoint is the
// path it was sent to (Endpoint bounds what it may be).
func UpstreamCall(cloud, endpoint, result string) {
	upstreamCalls.WithLabelValues(cloud, endpoints.bound(cloud, endpoint), result).Inc()
	if result == ResultThrottled {
		throttled.WithLabelValues(cloud).Inc()
	}
}

// Results of an upstream call's attempt.
const (
	ResultOK         = "ok"
	ResultThrottled  = "throttled"
	ResultTransient  = "transient"
	ResultStaleToken = "stale_token"
	ResultAuth       = "auth"
	ResultNotFound   = "not_found"
	ResultCanceled   = "canceled"
	ResultError      = "error"
)

// Reasons a cloud call waited.
const (
	WaitPace      = "pace"
	WaitThrottled = "throttled"
	WaitRetry     = "retry"
)

// Waited records how long a call of cloud waited, and why.
func Waited(cloud, reason string, d time.Duration) {
	waits.WithLabelValues(cloud, reason).Observe(d.Seconds())
}

// TokenRefresh counts one trade of a refresh token of the login named
// cloud, with its result (ResultOK, "refused" or ResultError).
func TokenRefresh(cloud, result string) {
	refreshes.WithLabelValues(cloud, result).Inc()
}

// Counter is what a cache counts its hits or misses with.
type Counter interface{ Inc() }

// Cache returns the counters of the cache named name, resolved once so
// that a lookup costs one atomic add.
func Cache(name string) (hits, misses Counter) {
	return cacheHits.WithLabelValues(name), cacheMisses.WithLabelValues(name)
}

// maxEndpoints bounds the endpoint label's values per cloud: a driver
// that put an id into its paths must not grow the metrics without end.
const maxEndpoints = 200

// endpointSet remembers the endpoints seen per cloud.
type endpointSet struct {
	mu   sync.Mutex
	seen map[string]map[string]bool
}

var endpoints = endpointSet{seen: map[string]map[string]bool{}}

// bound returns endpoint, or "other" once cloud has maxEndpoints others.
func (s *endpointSet) bound(cloud, endpoint string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.seen[cloud]
	if set == nil {
		set = map[string]bool{}
		s.seen[cloud] = set
	}
	if set[endpoint] {
		return endpoint
	}
	if len(set) >= maxEndpoints {
		return "other"
	}
	set[endpoint] = true
	return endpoint
}

// Sum adds up the values of family's series whose labels include match
// (a histogram's count of observations), for tests and diagnostics.
func Sum(family string, match map[string]string) float64 {
	mfs, err := Registry.Gather()
	if err != nil {
		return 0
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range match {
				if !hasLabel(m.GetLabel(), k, v) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				total += m.Counter.GetValue()
			case m.Gauge != nil:
				total += m.Gauge.GetValue()
			case m.Histogram != nil:
				total += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return total
}

func hasLabel(labels []*dto.LabelPair, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
