package drivers

import (
	"fmt"
	"sync"
)

// Shared holds what the mounts of one running pandav share per account:
// a login's token source, its rate limiters, its recent changes. The
// clouds count calls and spend refresh tokens per account, not per
// mount, so two mounts of one login must meet here; and it belongs to
// one pandav, not to the process, so that tests opening drivers side by
// side stay apart.
type Shared struct {
	mu    sync.Mutex
	slots map[string]*sharedSlot
}

type sharedSlot struct {
	mu   sync.Mutex // held while the value is made
	v    any
	made bool
}

// NewShared returns an empty store; internal/app makes one per pandav.
func NewShared() *Shared { return &Shared{slots: map[string]*sharedSlot{}} }

// SharedValue returns the value s keeps under key, made by make on first
// use. Keys name the driver and the account, such as "pan115:" and the
// token store's path. While make runs, other callers of the same key
// wait, so the value is made once; make may use other keys of s. A
// failed make keeps nothing, and the next caller tries again.
//
// A nil s keeps nothing: make runs on every call, so a driver opened
// without a store (a test) shares nothing with any other.
func SharedValue[T any](s *Shared, key string, make func() (T, error)) (T, error) {
	if s == nil {
		return make()
	}
	s.mu.Lock()
	slot, ok := s.slots[key]
	if !ok {
		if s.slots == nil {
			s.slots = map[string]*sharedSlot{}
		}
		slot = &sharedSlot{}
		s.slots[key] = slot
	}
	s.mu.Unlock()

	slot.mu.Lock()
	defer slot.mu.Unlock()
	if !slot.made {
		v, err := make()
		if err != nil {
			return v, err
		}
		slot.v, slot.made = v, true
	}
	v, ok := slot.v.(T)
	if !ok {
		var want T
		return want, fmt.Errorf("drivers: shared %q holds a %T, not a %T", key, slot.v, want)
	}
	return v, nil
}
