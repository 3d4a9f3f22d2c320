// Package admintest is a driver for tests of pandav's account features
// (the admin API, `pandav login`, `pandav check`, the state_dir lock)
// without a cloud: it implements drivers.Loginer, Accounter and
// LoginStatuser over an Account kept in this process, whose refresh
// tokens are single-use as the clouds' are. It also has DriveLogin, which
// logs a mount in through any admin.API; with a confirm that plays the
// user in a real cloud's emulator, it serves end-to-end tests of the real
// drivers too.
//
// Importing the package registers the driver as Driver.
package admintest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"pandav/drivers"
)

// Reasons the Account gives when it refuses a refresh token.
const (
	ReasonSpent   = "another program used this refresh token"
	ReasonUnknown = "this refresh token was never issued"
)

// Account is one cloud account: its profile, the refresh token it takes
// now, and the logins waiting for its app.
type Account struct {
	// The profile Account reports; set them before use.
	Name       string
	VIP        string
	VIPExpires time.Time
	drivers.Quota
	// LoginTTL is how long a login's QR code stays valid; 0 means two
	// minutes.
	LoginTTL time.Duration

	key string

	mu        sync.Mutex
	current   string          // the refresh token the account takes now
	spent     map[string]bool // refresh tokens already traded
	refreshes int
	lists     int
	revoked   string
	startErr  error
	finishErr error
	shareErr  error
	logins    []*pendingLogin
	started   chan struct{} // closed and replaced when a login starts
}

var accounts sync.Map // key → *Account

// NewAccount makes an account, reachable by mounts whose option account
// is its Key, until Close.
func NewAccount(name string) *Account {
	a := &Account{Name: name, key: name + "-" + randomText(4), spent: map[string]bool{}, started: make(chan struct{})}
	accounts.Store(a.key, a)
	return a
}

// Key is the value of the option account of the mounts of a.
func (a *Account) Key() string { return a.key }

// Close forgets a.
func (a *Account) Close() { accounts.Delete(a.key) }

// Issue makes a new refresh token the one a takes, as a login in the
// cloud's own app would, and returns it.
func (a *Account) Issue() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked = ""
	a.current = "rt-" + randomText(12)
	return a.current
}

// Revoke refuses every token a has issued, as the cloud does when the
// user removes the app's authorization; reason is what the cloud says.
func (a *Account) Revoke(reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked = reason
	a.current = ""
}

// Refreshes is how many refresh tokens a has traded.
func (a *Account) Refreshes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refreshes
}

// Lists is how many folders the mounts of a have listed.
func (a *Account) Lists() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lists
}

func (a *Account) listed() { a.mu.Lock(); a.lists++; a.mu.Unlock() }

// FailStart makes StartLogin fail with err (nil: succeed again), as a
// wrong app id or a renewal service that is down does.
func (a *Account) FailStart(err error) { a.mu.Lock(); a.startErr = err; a.mu.Unlock() }

// FailFinish makes the trade of a confirmed login fail with err, as a
// refused code verifier does.
func (a *Account) FailFinish(err error) { a.mu.Lock(); a.finishErr = err; a.mu.Unlock() }

// FailShare makes share mounts of a say their share no longer plays.
func (a *Account) FailShare(err error) { a.mu.Lock(); a.shareErr = err; a.mu.Unlock() }

// trade spends refresh and returns its successor.
func (a *Account) trade(refresh string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.revoked != "":
		return "", errors.New(a.revoked)
	case a.spent[refresh]:
		return "", errors.New(ReasonSpent)
	case refresh != a.current:
		return "", errors.New(ReasonUnknown)
	}
	a.spent[refresh] = true
	a.refreshes++
	a.current = "rt-" + randomText(12)
	return a.current, nil
}

func (a *Account) refusal() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.revoked
}

// pendingLogin is a login shown as a QR code, as the cloud keeps it.
type pendingLogin struct {
	qr      string
	expires time.Time
	state   drivers.LoginState
	changed chan struct{}
	traded  bool
}

// The user's part, in the cloud's app, on the login whose QR code is qr.

// Scan marks the login scanned.
func (a *Account) Scan(qr string) error { return a.move(qr, drivers.LoginScanned) }

// Confirm scans (when not done yet) and confirms the login.
func (a *Account) Confirm(qr string) error {
	if err := a.move(qr, drivers.LoginScanned); err != nil {
		return err
	}
	return a.move(qr, drivers.LoginConfirmed)
}

// Cancel refuses the login in the app.
func (a *Account) Cancel(qr string) error { return a.move(qr, drivers.LoginCancelled) }

// Expire ends the login's code before its time.
func (a *Account) Expire(qr string) error { return a.move(qr, drivers.LoginExpired) }

func (a *Account) move(qr string, to drivers.LoginState) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.logins {
		if p.qr != qr {
			continue
		}
		if p.state.Ended() || p.state == drivers.LoginConfirmed {
			return fmt.Errorf("admintest: the login is %s already", p.state)
		}
		if p.state != to {
			p.state = to
			close(p.changed)
			p.changed = make(chan struct{})
		}
		return nil
	}
	return errors.New("admintest: no login has this QR code")
}

// NextQR waits for a login started after the n-th (counting from 1) and
// returns its QR code: what the user's phone would scan.
func (a *Account) NextQR(ctx context.Context, n int) (string, error) {
	for {
		a.mu.Lock()
		if len(a.logins) >= n {
			qr := a.logins[n-1].qr
			a.mu.Unlock()
			return qr, nil
		}
		started := a.started
		a.mu.Unlock()
		select {
		case <-started:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (a *Account) startLogin() (*pendingLogin, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.startErr != nil {
		return nil, a.startErr
	}
	ttl := a.LoginTTL
	if ttl == 0 {
		ttl = 2 * time.Minute
	}
	p := &pendingLogin{
		qr:      "https://admintest.invalid/qr?uid=" + randomText(16),
		expires: time.Now().Add(ttl),
		state:   drivers.LoginWaiting,
		changed: make(chan struct{}),
	}
	a.logins = append(a.logins, p)
	close(a.started)
	a.started = make(chan struct{})
	return p, nil
}

// poll is the cloud's long poll on p: it answers when the state differs
// from last, or after pollHold without news.
func (a *Account) poll(ctx context.Context, p *pendingLogin, last drivers.LoginState) (drivers.LoginState, error) {
	const pollHold = 200 * time.Millisecond
	timer := time.NewTimer(pollHold)
	defer timer.Stop()
	for {
		a.mu.Lock()
		if !p.state.Ended() && p.state != drivers.LoginConfirmed && time.Now().After(p.expires) {
			p.state = drivers.LoginExpired
		}
		st, changed := p.state, p.changed
		a.mu.Unlock()
		if st != last {
			return st, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return last, nil
		case <-ctx.Done():
			return last, ctx.Err()
		}
	}
}

// redeem trades a confirmed login for a new refresh token.
func (a *Account) redeem(p *pendingLogin) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finishErr != nil {
		return "", a.finishErr
	}
	if p.state != drivers.LoginConfirmed || p.traded {
		return "", fmt.Errorf("admintest: the login is %s, and traded %v", p.state, p.traded)
	}
	p.traded = true
	a.revoked = ""
	a.current = "rt-" + randomText(12)
	return a.current, nil
}

func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
