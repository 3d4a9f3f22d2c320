// Package cache holds pandav's generic caches: an LRU bounded by entries
// whose items carry their own expiry, and typed singleflight groups. It
// knows nothing about WebDAV or any cloud; the callers decide what is worth
// keeping and for how long.
package cache

import (
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"pandav/internal/metrics"
)

type item[V any] struct {
	v       V
	expires time.Time
}

// Store is an LRU of at most n items, each with its own expiry.
type Store[V any] struct {
	lru *lru.Cache[string, item[V]]
	now func() time.Time
	// hits and misses count Get's answers; nil until Counted.
	hits, misses metrics.Counter
}

// NewStore returns a Store bounded to n items (n < 1 means 1).
func NewStore[V any](n int) *Store[V] {
	if n < 1 {
		n = 1
	}
	c, _ := lru.New[string, item[V]](n)
	return &Store[V]{lru: c, now: time.Now}
}

// Counted makes the store count its hits and misses in the metrics,
// under name. Call it before the store is used.
func (s *Store[V]) Counted(name string) *Store[V] {
	s.hits, s.misses = metrics.Cache(name)
	return s
}

// Get returns the value under key if it has not expired.
func (s *Store[V]) Get(key string) (V, bool) {
	v, ok := s.get(key)
	if s.hits != nil {
		if ok {
			s.hits.Inc()
		} else {
			s.misses.Inc()
		}
	}
	return v, ok
}

func (s *Store[V]) get(key string) (V, bool) {
	it, ok := s.lru.Get(key)
	if !ok {
		var zero V
		return zero, false
	}
	if !s.now().Before(it.expires) {
		s.lru.Remove(key)
		var zero V
		return zero, false
	}
	return it.v, true
}

// Add keeps v under key for ttl. A ttl <= 0 stores nothing.
func (s *Store[V]) Add(key string, v V, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	s.lru.Add(key, item[V]{v: v, expires: s.now().Add(ttl)})
}

// AddUntil keeps v under key until t.
func (s *Store[V]) AddUntil(key string, v V, t time.Time) {
	s.Add(key, v, t.Sub(s.now()))
}

// Remove drops key.
func (s *Store[V]) Remove(key string) { s.lru.Remove(key) }

// RemovePrefix drops every key that starts with prefix. It walks all keys,
// so it is meant for writes, which are rare next to reads.
func (s *Store[V]) RemovePrefix(prefix string) int {
	n := 0
	for _, k := range s.lru.Keys() {
		if strings.HasPrefix(k, prefix) {
			s.lru.Remove(k)
			n++
		}
	}
	return n
}

// Purge drops everything.
func (s *Store[V]) Purge() { s.lru.Purge() }

// Len is the number of items held, expired ones included.
func (s *Store[V]) Len() int { return s.lru.Len() }
