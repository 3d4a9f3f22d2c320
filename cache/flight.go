package cache

import (
	"context"

	"golang.org/x/sync/singleflight"
)

// Group dedupes concurrent calls with the same key: Finder repeats one
// PROPFIND five times at once, and a player opens several ranges of one
// file together; the cloud must see one call.
type Group[V any] struct {
	g singleflight.Group
}

// Do runs fn once for all concurrent callers of key. fn runs with a
// context detached from any one caller's cancellation, so a client that
// goes away does not fail the call for the others; each caller still
// stops waiting when its own ctx ends.
func (g *Group[V]) Do(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (V, error) {
	ch := g.g.DoChan(key, func() (any, error) {
		return fn(context.WithoutCancel(ctx))
	})
	select {
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			var zero V
			return zero, r.Err
		}
		return r.Val.(V), nil
	}
}

// Forget makes the next Do for key run fn again even if one is in flight.
func (g *Group[V]) Forget(key string) { g.g.Forget(key) }
