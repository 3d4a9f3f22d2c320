package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pandav/drivers"
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
		return Token{}, fmt.Errorf("%w: spent refresh token", drivers.ErrAuth)
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

// breakTokensDir makes the store's folder unwritable (a file where the
// folder should be, which stops root too) and returns the repair.
func breakTokensDir(t *testing.T, store *TokenStore) (repair func()) {
	tokens := filepath.Dir(store.Path())
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tokens, tokens+".away"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tokens, []byte("not a folder"), 0o600)
	return func() {
		os.Remove(tokens)
		os.Rename(tokens+".away", tokens)
	}
}

func TestUnsavableJournalSpendsNothing(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	repair := breakTokensDir(t, store)
	if _, err := ts.Access(context.Background()); err == nil {
		t.Fatal("a refresh ran with nowhere to save its answer")
	}
	if n := cloud.calls.Load(); n != 0 {
		t.Fatalf("the token was sent to the cloud %d times while the disk refused the journal", n)
	}
	repair()
	if _, err := ts.Access(context.Background()); err != nil || cloud.calls.Load() != 1 {
		t.Fatalf("after the disk recovered: %v, %d calls", err, cloud.calls.Load())
	}
}

func TestUnsavableTokenIsKeptNotLost(t *testing.T) {
	dir := t.TempDir()
	cloud := &rotating{valid: "rt0"}
	store := NewTokenStore(dir, "test", "rt0")
	var repair func()
	// the disk fails while the cloud answers: after the journal, before
	// the rotated token is saved
	breakDuring := func(ctx context.Context, rt string) (Token, error) {
		repair = breakTokensDir(t, store)
		return cloud.refresh(ctx, rt)
	}
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, breakDuring)
	if _, err := ts.Access(context.Background()); err == nil {
		t.Fatal("a token that could not be saved was used")
	}
	repair()
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

func TestRefusedTokenIsNotSentAgain(t *testing.T) {
	cloud := &rotating{valid: "rt-elsewhere"}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	for range 3 {
		_, err := ts.Access(context.Background())
		if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "spent or revoked") {
			t.Fatalf("got %v, want an auth error saying the token was spent or revoked", err)
		}
	}
	if n := cloud.calls.Load(); n != 1 {
		t.Fatalf("a refused token was sent %d times", n)
	}
}

// TestJournalNamesInterruptedRefresh: a process died while the cloud's
// answer was on its way, so the cloud spent the stored token. The next
// process says so, with the time of the lost refresh, and sends the
// token once.
func TestJournalNamesInterruptedRefresh(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	lost := func(ctx context.Context, rt string) (Token, error) {
		cloud.refresh(ctx, rt) // the cloud rotates; its answer never arrives
		return Token{}, errors.New("killed")
	}
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, lost)
	ts.Access(context.Background())
	stored, _, _ := store.Load()
	if stored.Refresh != "rt0" || stored.RefreshSentAt.IsZero() {
		t.Fatalf("stored %+v: want rt0 with the refresh journalled", stored)
	}
	ts2, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	_, err := ts2.Access(context.Background())
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "never completed") ||
		!strings.Contains(err.Error(), stored.RefreshSentAt.UTC().Format(time.RFC3339)) {
		t.Fatalf("got %v, want an auth error naming the refresh sent at %s", err, stored.RefreshSentAt)
	}
	ts2.Access(context.Background())
	if n := cloud.reuse.Load(); n != 1 {
		t.Fatalf("the spent token was sent %d times, want once", n)
	}
}

func TestCloseWaitsForRefresh(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	started := make(chan struct{})
	slow := func(ctx context.Context, rt string) (Token, error) {
		close(started)
		time.Sleep(100 * time.Millisecond)
		return cloud.refresh(ctx, rt)
	}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, slow)
	go ts.Access(context.Background())
	<-started
	if err := ts.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stored, _, _ := store.Load(); stored.Refresh != cloud.valid || !stored.RefreshSentAt.IsZero() {
		t.Fatalf("Close returned before the rotated token was saved: stored %+v, cloud's %s", stored, cloud.valid)
	}
	if err := ts.Close(context.Background()); err != nil {
		t.Fatalf("a second Close (a login shared by two mounts): %v", err)
	}
	if _, err := ts.Refresh(context.Background(), ts.Current().Access); err == nil || cloud.calls.Load() != 1 {
		t.Fatalf("a refresh started after Close: %v, %d calls", err, cloud.calls.Load())
	}
}
