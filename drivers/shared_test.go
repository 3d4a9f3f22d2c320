package drivers

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSharedValue(t *testing.T) {
	s := NewShared()
	var made atomic.Int32
	mk := func() (*int, error) {
		made.Add(1)
		v := new(int)
		return v, nil
	}
	var wg sync.WaitGroup
	got := make([]*int, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := SharedValue(s, "acct", mk)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	wg.Wait()
	if made.Load() != 1 {
		t.Fatalf("made %d times for 16 callers, want once", made.Load())
	}
	for _, v := range got {
		if v != got[0] {
			t.Fatal("two callers of one key got different values")
		}
	}
	if other, _ := SharedValue(s, "other acct", mk); other == got[0] {
		t.Fatal("two keys share a value")
	}

	// A value may be made from another key of the same store.
	nested, err := SharedValue(s, "outer", func() (*int, error) { return SharedValue(s, "inner", mk) })
	if err != nil || nested == nil {
		t.Fatalf("nested make: %v", err)
	}

	// A failed make keeps nothing.
	boom := errors.New("boom")
	if _, err := SharedValue(s, "flaky", func() (*int, error) { return nil, boom }); err != boom {
		t.Fatalf("failed make: %v", err)
	}
	if v, err := SharedValue(s, "flaky", mk); err != nil || v == nil {
		t.Fatalf("after a failed make: %v, %v", v, err)
	}

	if _, err := SharedValue(s, "acct", func() (string, error) { return "", nil }); err == nil {
		t.Fatal("a key read as another type")
	}
}

func TestNilSharedKeepsNothing(t *testing.T) {
	var made int
	mk := func() (*int, error) { made++; return new(int), nil }
	a, _ := SharedValue(nil, "acct", mk)
	b, _ := SharedValue(nil, "acct", mk)
	if a == b || made != 2 {
		t.Fatalf("a nil store shared a value (made %d)", made)
	}
}
