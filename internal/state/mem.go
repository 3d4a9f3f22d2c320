package state

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// memStore keeps state in memory only, for a file system built without
// a state_dir (tests, a bench) and as the suite's reference backend.
type memStore struct {
	mu       sync.Mutex
	tokens   map[string]Token
	leases   map[string]lease
	locks    map[string]Lock
	props    map[string]map[string][]byte
	removals map[string]Removal
	seq      uint64
}

// NewMemory returns a store that forgets everything when the process
// ends.
func NewMemory() Store {
	return &memStore{tokens: map[string]Token{}, leases: map[string]lease{}, locks: map[string]Lock{},
		props: map[string]map[string][]byte{}, removals: map[string]Removal{}}
}

func (s *memStore) Shared() bool { return false }
func (s *memStore) Close() error { return nil }

func (s *memStore) LoadToken(_ context.Context, key string) (Token, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[key]
	return t, ok, nil
}

func (s *memStore) PutToken(_ context.Context, key string, tok Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[key] = tok
	return nil
}

func (s *memStore) SwapToken(_ context.Context, key, prev string, tok Token) (Token, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.tokens[key]; ok && cur.Refresh != prev || !ok && prev != "" {
		return cur, false, nil
	}
	s.tokens[key] = tok
	return tok, true, nil
}

func (s *memStore) TryLease(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if cur, ok := s.leases[name]; ok && cur.Owner != owner && now.Before(cur.Until) {
		return false, nil
	}
	s.leases[name] = lease{Owner: owner, Until: now.Add(ttl)}
	return true, nil
}

func (s *memStore) ReleaseLease(_ context.Context, name, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases[name].Owner == owner {
		delete(s.leases, name)
	}
	return nil
}

func (s *memStore) liveLocked(now time.Time) map[string]Lock {
	m := map[string]Lock{}
	for k, l := range s.locks {
		if now.Before(l.Expires) {
			m[k] = l
		}
	}
	return m
}

func (s *memStore) LiveLocks(_ context.Context, now time.Time) (map[string]Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveLocked(now), nil
}

func (s *memStore) UpdateLocks(_ context.Context, now time.Time, fn func(map[string]Lock) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.liveLocked(now)
	if err := fn(m); err != nil {
		return err
	}
	s.locks = m
	return nil
}

func (s *memStore) GetProps(_ context.Context, mount, id string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.props[propKey(mount, id)]), nil
}

func (s *memStore) PatchProps(_ context.Context, mount, id string, set map[string][]byte, remove []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := propKey(mount, id)
	if p := patched(maps.Clone(s.props[k]), set, remove); len(p) > 0 {
		s.props[k] = p
	} else {
		delete(s.props, k)
	}
	return nil
}

func (s *memStore) CopyProps(_ context.Context, mount, from, to string, move bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.props[propKey(mount, from)]
	if !ok {
		return nil
	}
	s.props[propKey(mount, to)] = patched(maps.Clone(s.props[propKey(mount, to)]), src, nil)
	if move && from != to {
		delete(s.props, propKey(mount, from))
	}
	return nil
}

func (s *memStore) DropProps(_ context.Context, mount, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.props, propKey(mount, id))
	return nil
}

func (s *memStore) AddRemoval(_ context.Context, r Removal) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	r.ID = fmt.Sprintf("%020d", s.seq)
	s.removals[r.ID] = r
	return r.ID, nil
}

func (s *memStore) Removals(_ context.Context) ([]Removal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Removal
	for _, k := range slices.Sorted(maps.Keys(s.removals)) {
		out = append(out, s.removals[k])
	}
	return out, nil
}

func (s *memStore) DoneRemoval(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.removals, id)
	return nil
}
