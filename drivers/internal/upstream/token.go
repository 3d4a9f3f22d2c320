package upstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/metrics"
	"pandav/internal/state"
)

// Token is one login's current credentials.
type Token = state.Token

// TokenStore keeps an account's newest refresh token in the state store,
// under a key named after the refresh token in the config, so the stored
// token wins over the config for as long as the config still names the
// token it descends from; pasting a fresh token into the config starts a
// new chain.
type TokenStore struct {
	st     state.Store
	err    error // opening the store failed: every call says so
	key    string
	self   string // this process, as the holder of the refresh lease
	driver string // names the login in metrics
	where  string // the store: a state_dir, or the shared store
}

// NewTokenStore returns the store, in stateDir's embedded state store,
// for the account whose configured refresh token is seed. Drivers use
// TokenStoreOf, which honours a shared store.
func NewTokenStore(stateDir, driver, seed string) *TokenStore {
	st, err := state.ForDir(stateDir)
	return &TokenStore{st: st, err: err, key: TokenKey(driver, seed), self: processID, driver: driver, where: stateDir}
}

// TokenStoreOf is the TokenStore of a driver opened with env: in
// env.State when pandav gave one (Redis, shared by replicas), else in
// env.StateDir's embedded store.
func TokenStoreOf(env drivers.Env, driver, seed string) *TokenStore {
	if env.State != nil {
		return &TokenStore{st: env.State, key: TokenKey(driver, seed), self: processID, driver: driver, where: "the shared store"}
	}
	return NewTokenStore(env.StateDir, driver, seed)
}

// TokenKey names an account's token in the store: the driver and a hash
// of the seed, never the token itself.
func TokenKey(driver, seed string) string {
	sum := sha256.Sum256([]byte(driver + "\x00" + seed))
	return driver + "-" + hex.EncodeToString(sum[:8])
}

// processID tells this process from the other replicas of a shared store.
var processID = func() string {
	host, _ := os.Hostname()
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}()

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

// Key names the login in the store, and so across the replicas that
// share it.
func (s *TokenStore) Key() string { return s.key }

// SharedName names the login within this process, for drivers.SharedValue:
// the mounts of one login in one store share a TokenSource. Two stores
// (two state_dirs, as tests open side by side) that hold the same
// configured token are two logins, so the store is part of the name.
func (s *TokenStore) SharedName() string { return s.where + "\x00" + s.key }

// Load returns the stored token, or ok=false when none was stored.
func (s *TokenStore) Load() (tok Token, ok bool, err error) {
	if s.err != nil {
		return Token{}, false, fmt.Errorf("token store: %w", s.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	tok, ok, err = s.st.LoadToken(ctx, s.key)
	if err != nil {
		return Token{}, false, fmt.Errorf("token store: %w", err)
	}
	return tok, ok, nil
}

// Save stores tok whatever is stored: a new login, or a rotated token
// that could not be stored at the first try. When Save returns nil the
// token survives a crash or SIGKILL.
func (s *TokenStore) Save(tok Token) error {
	if s.err != nil {
		return fmt.Errorf("token store: %w", s.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := s.st.PutToken(ctx, s.key, tok); err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	return nil
}

// swap stores tok if the stored token is still the one whose refresh
// token is prev; else it returns what is stored.
func (s *TokenStore) swap(prev string, tok Token) (Token, bool, error) {
	if s.err != nil {
		return Token{}, false, fmt.Errorf("token store: %w", s.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	stored, ok, err := s.st.SwapToken(ctx, s.key, prev, tok)
	if err != nil {
		return Token{}, false, fmt.Errorf("token store: %w", err)
	}
	return stored, ok, nil
}

// storeTimeout bounds one call of the state store.
const storeTimeout = 10 * time.Second

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
	stored  string      // the refresh token of the stored token, "" when none is
	shared  bool        // other processes use the store: refreshes take its lease
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
	ts.shared = store.st != nil && store.st.Shared()
	stored, ok, err := store.Load()
	if err != nil {
		return nil, err
	}
	if ok {
		ts.cur, ts.stored = stored, stored.Refresh
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
	ts.cur, ts.stored, ts.unsaved, ts.refused = tok, tok.Refresh, false, nil
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
	if err := ts.saveUnsavedLocked(); err != nil {
		return "", err
	}
	if ts.usableLocked("") {
		return ts.cur.Access, nil
	}
	if err := ts.refreshLocked(ctx, ""); err != nil {
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
	if err := ts.refreshLocked(ctx, stale); err != nil {
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

// usableLocked says whether the access token held can be handed out: it
// is not stale (the cloud refused it) and not about to expire.
func (ts *TokenSource) usableLocked(stale string) bool {
	return ts.cur.Access != "" && ts.cur.Access != stale && (ts.cur.Expiry.IsZero() || time.Until(ts.cur.Expiry) > ts.early)
}

// saveUnsavedLocked stores a rotated token the store could not take
// when it came.
func (ts *TokenSource) saveUnsavedLocked() error {
	if !ts.unsaved {
		return nil
	}
	if err := ts.store.Save(ts.cur); err != nil {
		return fmt.Errorf("the rotated refresh token still cannot be saved: %w", err)
	}
	ts.unsaved, ts.stored = false, ts.cur.Refresh
	return nil
}

// takeStoredLocked makes the stored token the current one when it is not
// the one held: another process (a replica) traded or logged in since.
func (ts *TokenSource) takeStoredLocked(stored Token) bool {
	// What is stored is what the next compare-and-set compares with,
	// even when it is the token held (another process's journal of it).
	ts.stored = stored.Refresh
	if stored.Refresh == ts.cur.Refresh && stored.Access == ts.cur.Access {
		return false
	}
	if stored.Refresh != ts.cur.Refresh {
		ts.refused = nil // a new chain: its own refusal, if any, is to come
		ts.generation.Add(1)
	}
	ts.cur, ts.stored = stored, stored.Refresh
	ts.publishLocked()
	return true
}

// leaseTTL is how long a refresh lease lasts unless its holder renews
// it: how long the other replicas wait when the holder died.
const leaseTTL = 3 * time.Second

// lease takes or renews the named lease for this process.
func (s *TokenStore) lease(name string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	got, err := s.st.TryLease(ctx, name, s.self, leaseTTL)
	if err != nil {
		return false, fmt.Errorf("token store: %w", err)
	}
	return got, nil
}

// leaseWait is how often a process waiting behind another's refresh
// looks for its result.
const leaseWait = 50 * time.Millisecond

// leaseLocked takes the account's refresh lease in a shared store. It
// returns done when, instead, another process's refresh left a usable
// token, which is then the current one: the old refresh token is never
// sent again. While another holds the lease it waits, reading the store,
// until ctx ends; a holder that died frees the lease when its time runs
// out (leaseTTL), as it is renewed only while its holder lives.
func (ts *TokenSource) leaseLocked(ctx context.Context, stale string) (release func(), done bool, err error) {
	name := "refresh:" + ts.store.key
	for {
		stored, ok, err := ts.store.Load()
		if err != nil {
			return nil, false, err
		}
		if ok && ts.takeStoredLocked(stored) && ts.usableLocked(stale) {
			return nil, true, nil
		}
		got, err := ts.store.lease(name)
		if err != nil {
			return nil, false, err
		}
		if got {
			// Renewed while the refresh runs, so that a holder that dies
			// frees the account within leaseTTL, not after the longest
			// refresh.
			release = state.KeepLease(ts.store.st, name, ts.store.self, leaseTTL)
			// The holder before may have stored its answer between the
			// read above and the lease.
			stored, ok, err := ts.store.Load()
			if err != nil {
				release()
				return nil, false, err
			}
			if ok && ts.takeStoredLocked(stored) && ts.usableLocked(stale) {
				release()
				return nil, true, nil
			}
			return release, false, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, fmt.Errorf("waiting for another replica's token refresh: %w", ctx.Err())
		case <-time.After(leaseWait):
		}
	}
}

func (ts *TokenSource) refreshLocked(ctx context.Context, stale string) error {
	if ts.refused != nil && !ts.shared {
		return ts.refused
	}
	if ts.closed {
		return errors.New("shutting down: no token refresh starts now")
	}
	if err := ts.saveUnsavedLocked(); err != nil {
		return err
	}
	if ts.shared {
		release, done, err := ts.leaseLocked(ctx, stale)
		if err != nil || done {
			return err
		}
		defer release()
	}
	if ts.refused != nil {
		return ts.refused
	}
	if ts.cur.Refresh == "" {
		return &LoginError{Hint: ts.loginHint()}
	}
	// The journal is stored first: a store that cannot take it could not
	// take the rotated token either, so the token is not spent at all.
	// It is a compare-and-set on the chain: a token someone else stored
	// since is taken instead of spending this one.
	earlier := ts.cur.RefreshSentAt
	journal := ts.cur
	journal.RefreshSentAt = time.Now()
	stored, swapped, err := ts.store.swap(ts.stored, journal)
	if err != nil {
		return fmt.Errorf("the refresh token is not traded, because its successor could not be saved: %w", err)
	}
	if !swapped {
		ts.takeStoredLocked(stored)
		return nil
	}
	ts.cur, ts.stored = journal, journal.Refresh
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
	// one must be stored before anything can use it or crash. If the store
	// refuses, the new token is still the only valid one, so it is kept in
	// memory (and saved again at the next call) rather than thrown away.
	ts.cur = tok
	stored, swapped, err = ts.store.swap(ts.stored, tok)
	if err != nil {
		ts.unsaved = true
		return fmt.Errorf("the rotated refresh token could not be saved, so pandav will not use it until it can: %w", err)
	}
	if !swapped {
		// Only a new login replaces a journal another process holds
		// the lease of: the login wins.
		ts.takeStoredLocked(stored)
		return nil
	}
	ts.stored = tok.Refresh
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
