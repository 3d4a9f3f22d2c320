// Package upstream is the plumbing every driver shares for talking to a
// cloud: an HTTP client tuned for CDNs, rate limiters per API class shared
// by every mount of an account, retry with jittered backoff that turns
// exhausted throttling into drivers.RateLimitedError, and a token source
// whose rotated refresh tokens reach the disk before they are used.
package upstream
