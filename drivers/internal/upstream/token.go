package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
)

// Token is one login's current credentials.
type Token struct {
	Access  string    `json:"access_token"`
	Refresh string    `json:"refresh_token"`
	Expiry  time.Time `json:"expiry"` // of Access; zero means unknown
	// RefreshSentAt is the refresh journal: it is on disk while Refresh is
	// being traded, and cleared by the save of the answer. Found set after
	// a crash, it says the cloud may have spent Refresh without pandav ever
	// seeing the new one, which is then the reason given if it is refused.
	RefreshSentAt time.Time `json:"refresh_sent_at,omitzero"`
}

// TokenStore keeps an account's newest refresh token on disk. The file is
// named after the refresh token in the config, so the stored token wins
// over the config for as long as the config still names the token it
// descends from; pasting a fresh token into the config starts a new chain.
type TokenStore struct {
	path string
}

// NewTokenStore returns the store for the account whose configured refresh
// token is seed, under stateDir/tokens.
func NewTokenStore(stateDir, driver, seed string) *TokenStore {
	sum := sha256.Sum256([]byte(driver + "\x00" + seed))
	return &TokenStore{path: filepath.Join(stateDir, "tokens", driver+"-"+hex.EncodeToString(sum[:8])+".json")}
}

// Path is where the token lives.
func (s *TokenStore) Path() string { return s.path }

// Load returns the stored token, or ok=false when none was stored.
func (s *TokenStore) Load() (tok Token, ok bool, err error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return Token{}, false, nil
	}
	if err != nil {
		return Token{}, false, fmt.Errorf("token store: %w", err)
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.Refresh == "" {
		return Token{}, false, fmt.Errorf("token store %s: unreadable, remove it to use the configured token", s.path)
	}
	return tok, true, nil
}

// Save writes tok atomically: a temporary file, fsync, rename, fsync of the
// folder. When Save returns nil the token survives a crash or SIGKILL.
func (s *TokenStore) Save(tok Token) error {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	b, _ := json.Marshal(tok)
	f, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// RefreshFunc trades a refresh token for a new Token. It must return the
// rotated refresh token; a cloud that does not rotate returns the old one.
type RefreshFunc func(ctx context.Context, refreshToken string) (Token, error)

// TokenSource hands out a valid access token, refreshing it when it has
// expired or was reported stale. Exactly one refresh runs at a time, and a
// rotated refresh token is saved before the new access token is handed out.
type TokenSource struct {
	store   *TokenStore
	refresh RefreshFunc
	early   time.Duration

	// turn is a one-slot semaphore rather than a mutex, so that callers
	// waiting behind a slow refresh can give up with their own context.
	turn    chan struct{}
	cur     Token
	unsaved bool  // cur holds a rotated token the store could not take
	refused error // the cloud refused cur.Refresh; it is never sent again
	closed  bool  // shutting down: no new refresh may start
	log     atomic.Pointer[zerolog.Logger]
}

// NewTokenSource starts from the stored token when there is one, else from
// the configured refresh and access tokens.
func NewTokenSource(store *TokenStore, configured Token, refresh RefreshFunc) (*TokenSource, error) {
	ts := &TokenSource{store: store, refresh: refresh, early: time.Minute, cur: configured, turn: make(chan struct{}, 1)}
	stored, ok, err := store.Load()
	if err != nil {
		return nil, err
	}
	if ok {
		ts.cur = stored
	}
	return ts, nil
}

// Access returns a usable access token, refreshing first when needed.
func (ts *TokenSource) Access(ctx context.Context) (string, error) {
	select {
	case ts.turn <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-ts.turn }()
	if ts.unsaved {
		if err := ts.store.Save(ts.cur); err != nil {
			return "", fmt.Errorf("the rotated refresh token still cannot be saved: %w", err)
		}
		ts.unsaved = false
	}
	if ts.cur.Access != "" && (ts.cur.Expiry.IsZero() || time.Until(ts.cur.Expiry) > ts.early) {
		return ts.cur.Access, nil
	}
	if err := ts.refreshLocked(ctx); err != nil {
		return "", err
	}
	return ts.cur.Access, nil
}

// Refresh forces a refresh now, unless the token was already replaced
// since stale was handed out.
func (ts *TokenSource) Refresh(ctx context.Context, stale string) (string, error) {
	select {
	case ts.turn <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-ts.turn }()
	if ts.cur.Access != "" && ts.cur.Access != stale {
		return ts.cur.Access, nil
	}
	if err := ts.refreshLocked(ctx); err != nil {
		return "", err
	}
	return ts.cur.Access, nil
}

// refreshTimeout bounds one refresh, which runs detached from the caller:
// a client that hangs up must not drop the cloud's answer, because the
// answer carries the only copy of the rotated refresh token.
//
// Stopping pandav waits as long for a refresh in flight (app.closeWait).
const refreshTimeout = time.Minute

func (ts *TokenSource) refreshLocked(ctx context.Context) error {
	if ts.refused != nil {
		return ts.refused
	}
	if ts.closed {
		return errors.New("shutting down: no token refresh starts now")
	}
	if ts.unsaved {
		if err := ts.store.Save(ts.cur); err != nil {
			return fmt.Errorf("the rotated refresh token still cannot be saved: %w", err)
		}
		ts.unsaved = false
	}
	if ts.cur.Refresh == "" {
		return errors.New("no refresh token configured")
	}
	// The journal goes to disk first: a disk that cannot take it could not
	// take the rotated token either, so the token is not spent at all.
	earlier := ts.cur.RefreshSentAt
	journal := ts.cur
	journal.RefreshSentAt = time.Now()
	if err := ts.store.Save(journal); err != nil {
		return fmt.Errorf("the refresh token is not traded, because its successor could not be saved: %w", err)
	}
	ts.cur = journal
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	tok, err := ts.refresh(ctx, ts.cur.Refresh)
	if errors.Is(err, drivers.ErrAuth) {
		ts.refused = fmt.Errorf("%w; %s", err, refusalReason(earlier))
		ts.logger().Error().Err(ts.refused).Msg("the cloud refused the login; pandav will not send this refresh token again")
		return ts.refused
	}
	if err != nil {
		return err
	}
	if tok.Refresh == "" {
		tok.Refresh = ts.cur.Refresh
	}
	// The old refresh token is spent the moment the cloud answered: the new
	// one must be on disk before anything can use it or crash. If the disk
	// refuses, the new token is still the only valid one, so it is kept in
	// memory (and saved again at the next call) rather than thrown away.
	ts.cur = tok
	if err := ts.store.Save(tok); err != nil {
		ts.unsaved = true
		return fmt.Errorf("the rotated refresh token could not be saved, so pandav will not use it until it can: %w", err)
	}
	return nil
}

// refusalReason says how a refresh token the cloud refused was most
// likely lost. earlier is the journal entry this attempt found: a trade of
// the same token that never completed, in this process or before a crash.
// How to log in again is the driver's to say, in its error.
func refusalReason(earlier time.Time) string {
	if !earlier.IsZero() {
		return fmt.Sprintf("why: an earlier refresh of this token, sent at %s, never completed (pandav was stopped, or the answer was lost on the way), and the cloud most likely spent the token then",
			earlier.UTC().Format(time.RFC3339))
	}
	return "why: the token was spent or revoked: by another program or another copy of this state_dir using the same login, by a revocation, or by an attempt of this refresh whose answer was lost"
}

// Close waits for a refresh in flight to finish and be saved, then lets no
// other start: a refresh cut short by the process exiting could spend the
// token with its successor nowhere.
func (ts *TokenSource) Close(ctx context.Context) error {
	select {
	case ts.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("a token refresh still running: %w", ctx.Err())
	}
	ts.closed = true
	<-ts.turn
	return nil
}

func (ts *TokenSource) logger() *zerolog.Logger {
	if l := ts.log.Load(); l != nil {
		return l
	}
	nop := zerolog.Nop()
	return &nop
}

// SetLog sets where a refused login is reported. A login shared by
// several mounts reports under the first that set it.
func (ts *TokenSource) SetLog(l zerolog.Logger) {
	ts.log.CompareAndSwap(nil, &l)
}

// Current returns the token held now, for tests and diagnostics.
func (ts *TokenSource) Current() Token {
	ts.turn <- struct{}{}
	defer func() { <-ts.turn }()
	return ts.cur
}
