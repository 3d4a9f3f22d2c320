package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/state"
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

// breakTokensDir makes the store refuse every write, as a full disk or a
// Redis that went away would, and returns the repair.
func breakTokensDir(t *testing.T, store *TokenStore) (repair func()) {
	orig := store.st
	store.st = refusingStore{orig}
	return func() { store.st = orig }
}

// refusingStore reads, and refuses every change of a token.
type refusingStore struct{ state.Store }

var errStoreDown = fmt.Errorf("%w: test", state.ErrUnavailable)

func (refusingStore) PutToken(context.Context, string, Token) error { return errStoreDown }
func (refusingStore) SwapToken(context.Context, string, string, Token) (Token, bool, error) {
	return Token{}, false, errStoreDown
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

// TestRefusedTokenIsNotSentAgain: the journal shows pandav never sent
// the token the cloud refused, so someone else spent it; the error and
// LoginStatus say so, with the hint, and the token is not sent again.
func TestRefusedTokenIsNotSentAgain(t *testing.T) {
	cloud := &rotating{valid: "rt-elsewhere"}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	ts.SetLoginHint("run `pandav login /m`")
	for range 3 {
		_, err := ts.Access(context.Background())
		var le *LoginError
		if !errors.Is(err, drivers.ErrAuth) || !errors.As(err, &le) || !strings.Contains(err.Error(), "another program used this refresh token") ||
			!strings.HasSuffix(err.Error(), "run `pandav login /m`") {
			t.Fatalf("got %v, want an auth error saying another program used the token, then the hint", err)
		}
	}
	if n := cloud.calls.Load(); n != 1 {
		t.Fatalf("a refused token was sent %d times", n)
	}
	st := ts.LoginStatus()
	if !st.LoggedIn || !strings.Contains(st.Refused, "another program") || !strings.Contains(st.Refused, "spent refresh token") {
		t.Fatalf("LoginStatus %+v: want logged in, refused with the cloud's reason and why", st)
	}
}

// TestLostAnswerInThisTradeIsNamed: the first attempt of a trade reaches
// the cloud, which spends the token, and its connection dies; the retry
// is refused. That is pandav's own lost answer, not another program.
func TestLostAnswerInThisTradeIsNamed(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := cloud.refresh(r.Context(), r.URL.Query().Get("rt"))
		if hits.Add(1) == 1 {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	send := Sender{Client: srv.Client()}
	refresh := func(ctx context.Context, rt string) (Token, error) {
		c := Caller{Policy: Policy{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}}
		err := c.Call(ctx, "refresh", "", func(ctx context.Context, _ string) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"?rt="+rt, nil)
			a, err := send.Send(req, "refresh")
			if err == nil && a.Status == http.StatusUnauthorized {
				err = fmt.Errorf("%w: refused", drivers.ErrAuth)
			}
			return err
		})
		return Token{}, err
	}
	ts, _ := NewTokenSource(NewTokenStore(t.TempDir(), "test", "rt0"), Token{Refresh: "rt0"}, refresh)
	_, err := ts.Access(context.Background())
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "got no answer") || strings.Contains(err.Error(), "another program") {
		t.Fatalf("got %v, want the lost answer of this refresh named", err)
	}
}

func TestNoLogin(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	store := NewTokenStore(t.TempDir(), "test", "mount /m")
	ts, _ := NewTokenSource(store, Token{}, cloud.refresh)
	ts.SetLoginHint("run `pandav login /m`")
	if st := ts.LoginStatus(); st.LoggedIn || st.Refused != "" || !st.Since.IsZero() {
		t.Fatalf("LoginStatus %+v before any login", st)
	}
	_, err := ts.Access(context.Background())
	if !errors.Is(err, drivers.ErrAuth) || err.Error() != "no login yet; run `pandav login /m`" {
		t.Fatalf("got %v, want the no-login error with the hint", err)
	}
	if cloud.calls.Load() != 0 {
		t.Fatal("a refresh was attempted without a token")
	}
	if _, ok, _ := store.Load(); ok {
		t.Fatal("a journal was written without a token")
	}
}

// TestAdopt: a new login is stored before it is used, ends a remembered
// refusal, and is what the next call uses and trades.
func TestAdopt(t *testing.T) {
	cloud := &rotating{valid: "rt-elsewhere"}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
	if _, err := ts.Access(context.Background()); !errors.Is(err, drivers.ErrAuth) {
		t.Fatalf("got %v, want a refusal", err)
	}
	gen := ts.Generation()
	before := time.Now()
	if err := ts.Adopt(context.Background(), Token{Access: "at-new", Refresh: "rt-elsewhere", RefreshSentAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	stored, ok, _ := store.Load()
	if !ok || stored.Refresh != "rt-elsewhere" || !stored.RefreshSentAt.IsZero() || stored.Since.Before(before) {
		t.Fatalf("stored %+v: want the new login, no journal, obtained now", stored)
	}
	if st := ts.LoginStatus(); !st.LoggedIn || st.Refused != "" || st.Since.Before(before) {
		t.Fatalf("LoginStatus %+v after the new login", st)
	}
	if ts.Generation() != gen+1 {
		t.Fatalf("generation %d, want %d", ts.Generation(), gen+1)
	}
	if at, err := ts.Access(context.Background()); err != nil || at != "at-new" {
		t.Fatalf("Access = %q, %v: want the adopted access token", at, err)
	}
	calls := cloud.calls.Load()
	if _, err := ts.Refresh(context.Background(), "at-new"); err != nil || cloud.calls.Load() != calls+1 || cloud.reuse.Load() != 1 {
		t.Fatalf("trading the adopted login: %v (%d calls, %d reuses)", err, cloud.calls.Load()-calls, cloud.reuse.Load())
	}
	if st := ts.LoginStatus(); st.Refused != "" || st.Since.Before(before) {
		t.Fatalf("LoginStatus %+v after a trade", st)
	}
	// An unsavable login is not used.
	repair := breakTokensDir(t, store)
	defer repair()
	if err := ts.Adopt(context.Background(), Token{Refresh: "rt-lost"}); err == nil || ts.Current().Refresh == "rt-lost" {
		t.Fatalf("an unsaved login was adopted: %v", err)
	}
}

// TestAdoptWaitsForRefresh: a login adopted while the old chain's refresh
// is in flight wins on disk, and LoginStatus answers meanwhile.
func TestAdoptWaitsForRefresh(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	started, release := make(chan struct{}), make(chan struct{})
	slow := func(ctx context.Context, rt string) (Token, error) {
		close(started)
		<-release
		return cloud.refresh(ctx, rt)
	}
	store := NewTokenStore(t.TempDir(), "test", "rt0")
	ts, _ := NewTokenSource(store, Token{Refresh: "rt0"}, slow)
	go ts.Access(context.Background())
	<-started
	if st := ts.LoginStatus(); !st.LoggedIn {
		t.Fatalf("LoginStatus during a refresh: %+v", st)
	}
	done := make(chan error)
	go func() { done <- ts.Adopt(context.Background(), Token{Refresh: "rt-login"}) }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if stored, _, _ := store.Load(); stored.Refresh != "rt-login" {
		t.Fatalf("stored %q, want the adopted login", stored.Refresh)
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

// sharedStore is a memory store that says replicas share it.
type sharedStore struct{ state.Store }

func (sharedStore) Shared() bool { return true }

// TestReplicasRefreshOnce: three processes (token sources) on one shared
// store, their access tokens expired at once: the cloud sees one refresh
// per expiry and no reuse, and every replica ends on the newest token,
// read from the store rather than traded again.
func TestReplicasRefreshOnce(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	st := sharedStore{state.NewMemory()}
	var replicas []*TokenSource
	for i := range 3 {
		store := &TokenStore{st: st, key: TokenKey("test", "rt0"), self: fmt.Sprint("replica-", i)}
		ts, err := NewTokenSource(store, Token{Refresh: "rt0"}, cloud.refresh)
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, ts)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		for _, ts := range replicas {
			stale := ts.Current().Access
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					at, err := ts.Refresh(context.Background(), stale)
					if err != nil || at != "at"+cloud.valid {
						t.Errorf("round %d: %q, %v", round, at, err)
					}
				}()
			}
		}
		wg.Wait()
	}
	if cloud.reuse.Load() != 0 {
		t.Fatalf("%d reused refresh tokens", cloud.reuse.Load())
	}
	if n := cloud.calls.Load(); n != 5 {
		t.Fatalf("%d refreshes for 5 rounds, want 5", n)
	}
}

// TestReplicaTakesOverDeadHolder: a replica died holding the refresh
// lease, its journal stored, its request never heard by the cloud. The
// next replica waits for the lease to run out, trades the same token once
// (the journal is the chain's head, not a change), and stores the answer.
func TestReplicaTakesOverDeadHolder(t *testing.T) {
	cloud := &rotating{valid: "rt0"}
	st := sharedStore{state.NewMemory()}
	key := TokenKey("test", "rt0")
	ctx := context.Background()
	st.SwapToken(ctx, key, "", Token{Refresh: "rt0", RefreshSentAt: time.Now()})
	st.TryLease(ctx, "refresh:"+key, "dead", 200*time.Millisecond)
	ts, err := NewTokenSource(&TokenStore{st: st, key: key, self: "alive"}, Token{Refresh: "rt0"}, cloud.refresh)
	if err != nil {
		t.Fatal(err)
	}
	at, err := ts.Access(ctx)
	if err != nil || at != "at"+cloud.valid || cloud.calls.Load() != 1 || cloud.reuse.Load() != 0 {
		t.Fatalf("Access: %q %v; %d refreshes, %d reused", at, err, cloud.calls.Load(), cloud.reuse.Load())
	}
	if stored, _, _ := st.LoadToken(ctx, key); stored.Refresh != cloud.valid || !stored.RefreshSentAt.IsZero() {
		t.Fatalf("stored %+v", stored)
	}
}
