package drivers

import "context"

// The client a call is made for travels in its context, so that the
// pacing of an account's calls (drivers/internal/upstream) can take
// clients in turns: a library scanner with thirty connections must not
// queue a person's click behind all of its own calls. The WebDAV layer
// sets it per request; a call without one counts as one anonymous client.

type clientKey struct{}

// WithClient returns ctx carrying key, which names who a request is
// for: a user, and the address they come from.
func WithClient(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, clientKey{}, key)
}

// ClientOf returns the key WithClient put in ctx, or "".
func ClientOf(ctx context.Context) string {
	k, _ := ctx.Value(clientKey{}).(string)
	return k
}
