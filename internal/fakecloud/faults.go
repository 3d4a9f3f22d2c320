package fakecloud

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// FaultKind is a failure an emulator can be told to produce. Each emulator
// renders it the way its cloud does (Aliyun: HTTP 429 with x-retry-after;
// 115: HTTP 200 with code 770004).
type FaultKind string

const (
	NoFault FaultKind = ""
	// Throttle is the cloud's rate-limit answer.
	Throttle FaultKind = "throttle"
	// ServerError is an HTTP 500 with the cloud's error envelope.
	ServerError FaultKind = "5xx"
	// BadGateway is an HTTP 502 with a plain-text body, as a proxy in front
	// of the cloud sends.
	BadGateway FaultKind = "bad-gateway"
	// Reset closes the connection without an answer.
	Reset FaultKind = "reset"
	// Garbage is a non-JSON body (an HTML error page) with HTTP 200 or 405.
	Garbage FaultKind = "garbage"
	// Transient is the cloud's own "try again" answer in its envelope (115:
	// state false with code 0).
	Transient FaultKind = "transient"
	// Truncated is a listing page that says success but holds less than
	// it should, as a cloud under load or a gateway cutting its answer
	// sends: read naively, the folder ends early or looks empty (115: no
	// entries, with the folder's full count; Aliyun: HTTP 200 with an
	// empty body).
	Truncated FaultKind = "truncated"
)

type faultRule struct {
	endpoint string // "" matches every endpoint
	kind     FaultKind
	every    int // fail the calls whose index is a multiple of every
	left     int // failures still to inject; <0 means no limit
	pass     int // calls still to let through before the first failure
}

// Faults holds the fault knobs of one emulator. The zero value injects
// nothing. Endpoints are the names the emulator counts calls under.
type Faults struct {
	mu       sync.Mutex
	rules    []*faultRule
	calls    map[string]int
	latency  time.Duration
	transit  time.Duration // of a token request, see SetRequestTransit
	reset    everyBytes    // SetResetEvery
	stall    everyBytes    // SetStallEvery
	connRate int64         // CDN bytes per second per response; 0: unlimited
}

// Inject makes endpoint ("" for all) fail with kind on every every-th call
// (1 = each call), count times in all (count < 0: until Clear).
func (f *Faults) Inject(endpoint string, kind FaultKind, every, count int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if every < 1 {
		every = 1
	}
	f.rules = append(f.rules, &faultRule{endpoint: endpoint, kind: kind, every: every, left: count})
}

// InjectAfter makes endpoint ("" for all) let its next after calls
// through, then fail with kind on each call, count times in all (count <
// 0: until Clear): a fault in the middle of a scan.
func (f *Faults) InjectAfter(endpoint string, kind FaultKind, after, count int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &faultRule{endpoint: endpoint, kind: kind, every: 1, left: count, pass: after})
}

// Clear removes every injected fault, the latency and the CDN resets.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules, f.calls, f.latency, f.transit, f.reset, f.stall = nil, nil, 0, 0, everyBytes{}, everyBytes{}
}

// Next is called by an emulator once per call of endpoint, and says which
// fault, if any, that call must produce.
func (f *Faults) Next(endpoint string) FaultKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[endpoint]++
	n := f.calls[endpoint]
	for _, r := range f.rules {
		if (r.endpoint != "" && r.endpoint != endpoint) || r.left == 0 {
			continue
		}
		if r.pass > 0 {
			r.pass--
			continue
		}
		if n%r.every != 0 {
			continue
		}
		if r.left > 0 {
			r.left--
		}
		return r.kind
	}
	return NoFault
}

// SetLatency delays every API and CDN answer by d.
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Latency is the delay set by SetLatency.
func (f *Faults) Latency() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

// SetRequestTransit makes a token refresh take d to reach the cloud. A
// client that dies meanwhile is never heard, so its token is not spent;
// SetLatency, by contrast, holds back the answer to a request the cloud
// acts on anyway, as when the answer is what is lost on the way.
func (f *Faults) SetRequestTransit(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transit = d
}

// Arrive is called by a token endpoint before it acts on r. It waits out
// the request transit and reports whether the client is still there; when
// it is not, the endpoint must drop the request untouched.
func (f *Faults) Arrive(r *http.Request) bool {
	f.mu.Lock()
	d := f.transit
	f.mu.Unlock()
	if d <= 0 {
		return true
	}
	// Reading the body to its end is what lets net/http notice a client
	// that hangs up, which cancels r's context.
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	select {
	case <-time.After(d):
		return r.Context().Err() == nil
	case <-r.Context().Done():
		return false
	}
}

// SetResetEvery makes the CDN drop the connection each time another n
// body bytes have been served, counted across responses, as a flaky
// network does to a long stream whatever its requests look like (0:
// never).
func (f *Faults) SetResetEvery(n int64) { f.setEvery(&f.reset, n) }

// ResetEvery is the value set by SetResetEvery.
func (f *Faults) ResetEvery() int64 { return f.every(&f.reset) }

// SetStallEvery makes the CDN go silent each time another n body bytes
// have been served, counted across responses: the response sends nothing
// more but keeps its connection open, as a throttled or overloaded CDN
// does, until the client gives up on it (0: never).
func (f *Faults) SetStallEvery(n int64) { f.setEvery(&f.stall, n) }

// StallEvery is the value set by SetStallEvery.
func (f *Faults) StallEvery() int64 { return f.every(&f.stall) }

// everyBytes is a fault that strikes each time another every CDN body
// bytes have been served; count is the bytes served since it was set.
type everyBytes struct{ every, count int64 }

func (f *Faults) setEvery(e *everyBytes, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*e = everyBytes{every: n}
}

func (f *Faults) every(e *everyBytes) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return e.every
}

// untilNext says how many more body bytes may be served before e strikes
// again; ok is false when e is off.
func (f *Faults) untilNext(e *everyBytes) (left int64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.every <= 0 {
		return 0, false
	}
	return e.every - e.count%e.every, true
}

// served counts n more body bytes against e and says whether e strikes.
func (f *Faults) served(e *everyBytes, n int64) (strikes bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.every <= 0 || n == 0 {
		return false
	}
	before := e.count / e.every
	e.count += n
	return e.count/e.every != before
}

// SetConnRate caps each CDN response at n bytes per second, as real CDNs
// throttle each connection (0: no cap).
func (f *Faults) SetConnRate(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connRate = n
}

// ConnRate is the value set by SetConnRate.
func (f *Faults) ConnRate() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connRate
}

// Counters counts calls per endpoint, so tests can assert what an action
// cost upstream.
type Counters struct {
	mu sync.Mutex
	m  map[string]int64
}

// Inc adds one call of name and returns the new count.
func (c *Counters) Inc(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[name]++
	return c.m[name]
}

// Get returns the calls of name so far.
func (c *Counters) Get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

// Snapshot returns a copy of every count.
func (c *Counters) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// Reset sets every count to zero.
func (c *Counters) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}
