package upstream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rotating is a refresh endpoint whose refresh tokens are single-use.
type rotating struct {
	mu    sync.Mutex
	valid string
	n     int
	calls atomic.Int32
	reuse atomic.Int32
}

func (r *rotating) refresh(ctx context.Context, rt string) (Token, error) {
	r.calls.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if rt != r.valid {
		r.reuse.Add(1)
		return Token{}, errors.New("spent refresh token")
	}
	r.n++
	r.valid = "rt" + string(rune('a'+r.n))
	return Token{Access: "at" + r.valid, Refresh: r.valid, Expiry: time.Now().Add(time.Hour)}, nil
}

func TestRotatedTokenSavedBeforeUse(t *testing.T) {
	dir := t.TempDir()
	cloud := &rotating{valid: "rt0"}
	store := NewTokenStore(dir, "test", "rt0")
	ts, err := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ts.Access(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if cloud.calls.Load() != 1 {
		t.Fatalf("%d refreshes for 8 concurrent callers", cloud.calls.Load())
	}
	stored, ok, err := store.Load()
	if err != nil || !ok || stored.Refresh != cloud.valid {
		t.Fatalf("stored %+v (%v), the cloud's newest is %s", stored, err, cloud.valid)
	}
	// a restart starts from the stored token, not the configured one
	ts2, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	if _, err := ts2.Refresh(context.Background(), ""); err != nil || cloud.reuse.Load() != 0 {
		t.Fatalf("after restart: %v, %d reuses", err, cloud.reuse.Load())
	}
}

func TestUnsavableTokenIsKeptNotLost(t *testing.T) {
	dir := t.TempDir()
	cloud := &rotating{valid: "rt0"}
	store := NewTokenStore(dir, "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	// the state folder becomes unwritable
	tokens := filepath.Dir(store.Path())
	os.MkdirAll(filepath.Dir(tokens), 0o700)
	os.WriteFile(tokens, []byte("not a folder"), 0o600)
	if _, err := ts.Access(context.Background()); err == nil {
		t.Fatal("a token that could not be saved was used")
	}
	os.Remove(tokens)
	if _, err := ts.Access(context.Background()); err != nil {
		t.Fatalf("after the disk recovered: %v", err)
	}
	if cloud.reuse.Load() != 0 {
		t.Fatalf("the spent token was sent again")
	}
	if stored, ok, _ := store.Load(); !ok || stored.Refresh != cloud.valid {
		t.Fatalf("stored %+v, want %s", stored, cloud.valid)
	}
}

func TestRefreshSurvivesCallerCancel(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	slow := func(ctx context.Context, rt string) (Token, error) {
		time.Sleep(50 * time.Millisecond)
		if err := ctx.Err(); err != nil {
			return Token{}, err // the answer would be dropped
		}
		return cloud.refresh(ctx, rt)
	}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, slow)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	ts.Access(ctx)
	if stored, ok, _ := store.Load(); !ok || stored.Refresh != cloud.valid {
		t.Fatalf("a cancelled caller lost the rotated token: stored %+v", stored)
	}
}
