package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pandav/internal/metrics"
)

func TestStoreExpiry(t *testing.T) {
	s := NewStore[int](10)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	s.Add("a", 1, time.Second)
	s.Add("b", 2, 0) // not stored
	if v, ok := s.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %v, %v", v, ok)
	}
	if _, ok := s.Get("b"); ok {
		t.Fatal("zero ttl was stored")
	}
	now = now.Add(time.Second)
	if _, ok := s.Get("a"); ok {
		t.Fatal("expired item returned")
	}
}

func TestStoreBoundAndPrefix(t *testing.T) {
	s := NewStore[int](2)
	s.Add("/a/1", 1, time.Hour)
	s.Add("/a/2", 2, time.Hour)
	s.Add("/b/1", 3, time.Hour)
	if s.Len() != 2 {
		t.Fatalf("len %d, want 2", s.Len())
	}
	if n := s.RemovePrefix("/a/"); n != 1 {
		t.Fatalf("removed %d, want 1 (the oldest was evicted)", n)
	}
	if _, ok := s.Get("/b/1"); !ok {
		t.Fatal("/b/1 lost")
	}
}

func TestGroupDedupes(t *testing.T) {
	var g Group[int]
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := g.Do(context.Background(), "k", func(context.Context) (int, error) {
				calls.Add(1)
				<-release
				return 7, nil
			})
			if err != nil || v != 7 {
				t.Errorf("got %v, %v", v, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("fn ran %d times", calls.Load())
	}
}

func TestGroupCallerCancelDoesNotFailOthers(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := g.Do(ctx, "k", func(fctx context.Context) (int, error) {
			<-release
			return 1, fctx.Err()
		})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	second := make(chan error, 1)
	go func() {
		_, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { return 2, nil })
		second <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("other caller failed: %v", err)
	}
}

// TestCounted: a counted store counts each Get as a hit or a miss, an
// expired item as a miss.
func TestCounted(t *testing.T) {
	s := NewStore[int](8).Counted("counttest")
	now := time.Now()
	s.now = func() time.Time { return now }
	s.Get("k")
	s.Add("k", 1, time.Minute)
	s.Get("k")
	now = now.Add(2 * time.Minute)
	s.Get("k")
	hits := metrics.Sum("pandav_cache_hits_total", map[string]string{"cache": "counttest"})
	misses := metrics.Sum("pandav_cache_misses_total", map[string]string{"cache": "counttest"})
	if hits != 1 || misses != 2 {
		t.Errorf("%v hits and %v misses counted, want 1 and 2", hits, misses)
	}
}
