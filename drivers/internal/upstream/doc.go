// Package upstream is the plumbing every driver shares for talking to a
// cloud: an HTTP client tuned for CDNs, one HTTP attempt (Sender.Send),
// one call loop (Caller.Call: pacing per API class, a token, one refresh
// when the token is stale, retry with jittered backoff that turns
// exhausted throttling into drivers.RateLimitedError), and a token source
// whose rotated refresh tokens reach the disk before they are used.
// Limiters and token sources are per account; drivers keep them in
// drivers.Shared so that every mount of an account uses the same ones.
package upstream
