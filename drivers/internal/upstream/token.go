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
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/metrics"
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
	// Since is when Refresh was obtained: by a trade, or by a login
	// (Adopt). Zero for a token pasted into the config.
	Since time.Time `json:"since,omitzero"`
}

// TokenStore keeps an account's newest refresh token on disk. The file is
// named after the refresh token in the config, so the stored token wins
// over the config for as long as the config still names the token it
// descends from; pasting a fresh token into the config starts a new chain.
type TokenStore struct {
	path   string
	driver string // names the login in metrics
}

// NewTokenStore returns the store for the account whose configured refresh
// token is seed, under stateDir/tokens.
func NewTokenStore(stateDir, driver, seed string) *TokenStore {
	sum := sha256.Sum256([]byte(driver + "\x00" + seed))
	return &TokenStore{path: filepath.Join(stateDir, "tokens", driver+"-"+hex.EncodeToString(sum[:8])+".json"), driver: driver}
}

// LoginSeed is the seed of a mount's TokenStore: its configured refresh
// token, or, for a mount that has none and takes its login from `pandav
// login`, its path, so that each such mount keeps a login of its own. No
// refresh token holds a space, so the two kinds never meet.
func LoginSeed(configured, mountPath string) string {
	if configured != "" {
		return configured
	}
	return "login of mount " + mountPath
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
	if tok.Since.IsZero() {
		// Written before tokens knew their age: the file's last write is
		// the nearest thing, as a trade rewrites it.
		if fi, err := os.Stat(s.path); err == nil {
			tok.Since = fi.ModTime()
		}
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
	unsaved bool        // cur holds a rotated token the store could not take
	refused *LoginError // the cloud refused cur.Refresh; it is never sent again
	closed  bool        // shutting down: no new refresh may start
	log     atomic.Pointer[zerolog.Logger]
	hint    atomic.Pointer[string]
	// status is LoginStatus's answer, kept apart from cur so that reading
	// it never waits behind a refresh in flight.
	status     atomic.Pointer[drivers.LoginStatus]
	generation atomic.Uint64
}

// LoginError is a login the TokenSource cannot use: there is none (no
// refresh token configured or stored), or the cloud refused it. It is a
// drivers.ErrAuth, and its text says why and what to do.
type LoginError struct {
	// Refusal is the cloud's answer; nil when there is no login at all.
	Refusal error
	// Why says how a refused token was most likely lost.
	Why string
	// Hint is what the user does about it (SetLoginHint).
	Hint string
}

func (e *LoginError) Error() string {
	parts := []string{"no login yet"}
	if e.Refusal != nil {
		parts[0] = e.Refusal.Error()
	}
	for _, s := range []string{e.Why, e.Hint} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// Is makes it a login failure.
func (e *LoginError) Is(target error) bool { return target == drivers.ErrAuth }

// LoginHint is what a login error of the mount at mountPath tells the
// user to do: run `pandav login`, or else what alternative says.
func LoginHint(mountPath, alternative string) string {
	return fmt.Sprintf("to log in, run `pandav login -c <config> %s` (or %s)", mountPath, alternative)
}

// WithHint adds hint to a login failure that does not say what to do
// yet: a LoginError says it already.
func WithHint(err error, hint string) error {
	var le *LoginError
	if errors.Is(err, drivers.ErrAuth) && !errors.As(err, &le) {
		return fmt.Errorf("%w; %s", err, hint)
	}
	return err
}

// Unwrap reaches the cloud's refusal.
func (e *LoginError) Unwrap() error { return e.Refusal }

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
	ts.publishLocked()
	return ts, nil
}

// SetLoginHint sets what a login error tells the user to do, such as the
// command that logs the mount in. A login shared by several mounts says
// what the first that set it said.
func (ts *TokenSource) SetLoginHint(hint string) {
	ts.hint.CompareAndSwap(nil, &hint)
}

func (ts *TokenSource) loginHint() string {
	if h := ts.hint.Load(); h != nil {
		return *h
	}
	return ""
}

// publishLocked updates what LoginStatus reports from cur and refused;
// the caller holds the turn.
func (ts *TokenSource) publishLocked() {
	st := drivers.LoginStatus{LoggedIn: ts.cur.Refresh != "" || ts.cur.Access != "", Since: ts.cur.Since}
	if ts.refused != nil {
		st.Refused = ts.refused.Error()
	}
	ts.status.Store(&st)
}

// LoginStatus says whether there is a login, whether the cloud refused
// it, and when its refresh token was obtained, without a cloud call and
// without waiting for a refresh in flight.
func (ts *TokenSource) LoginStatus() drivers.LoginStatus { return *ts.status.Load() }

// Generation counts the logins adopted so far: a driver that caches what
// depends on the account (a drive id, a root folder's id) fetches it again
// when the generation it was fetched under has passed.
func (ts *TokenSource) Generation() uint64 { return ts.generation.Load() }

// Adopt makes tok, the fruit of a new login, the current token: it is
// stored first, then used from the next call on, and a refusal remembered
// of the old login is forgotten. It waits for a refresh in flight, so that
// the old chain's answer cannot overwrite the new login on disk.
func (ts *TokenSource) Adopt(ctx context.Context, tok Token) error {
	if tok.Refresh == "" {
		return errors.New("the new login holds no refresh token")
	}
	select {
	case ts.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-ts.turn }()
	tok.RefreshSentAt = time.Time{}
	if tok.Since.IsZero() {
		tok.Since = time.Now()
	}
	if err := ts.store.Save(tok); err != nil {
		return fmt.Errorf("the new login could not be saved, so it is not used: %w", err)
	}
	ts.cur, ts.unsaved, ts.refused = tok, false, nil
	ts.generation.Add(1)
	ts.publishLocked()
	return nil
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
	if ts.cur.Refresh == "" {
		return &LoginError{Hint: ts.loginHint()}
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
	ctx, lost := withLostAnswers(ctx)
	tok, err := ts.refresh(ctx, ts.cur.Refresh)
	metrics.TokenRefresh(ts.store.driver, refreshResult(err))
	if errors.Is(err, drivers.ErrAuth) {
		ts.refused = &LoginError{Refusal: err, Why: refusalReason(earlier, lost.Load() > 0), Hint: ts.loginHint()}
		ts.publishLocked()
		ts.logger().Error().Err(ts.refused).Msg("the cloud refused the login; pandav will not send this refresh token again")
		return ts.refused
	}
	if err != nil {
		return err
	}
	if tok.Refresh == "" {
		tok.Refresh = ts.cur.Refresh
		tok.Since = ts.cur.Since
	} else {
		tok.Since = time.Now()
	}
	defer ts.publishLocked()
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
// lostNow says an attempt of this very trade got no answer. With neither,
// the journal shows pandav never sent the token before: someone else did.
func refusalReason(earlier time.Time, lostNow bool) string {
	switch {
	case !earlier.IsZero():
		return fmt.Sprintf("why: an earlier refresh of this token, sent at %s, never completed (pandav was stopped, or the answer was lost on the way), and the cloud most likely spent the token then",
			earlier.UTC().Format(time.RFC3339))
	case lostNow:
		return "why: an attempt of this refresh got no answer (the connection failed on the way), and the cloud most likely spent the token then"
	}
	return "why: another program used this refresh token (pandav's journal shows pandav never sent it), or the login was revoked; two programs, or two copies of this state_dir, must not share one login"
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
