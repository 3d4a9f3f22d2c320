package fakecloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// QRState is where a pending QR login stands, as the user's phone moves
// it. Each emulator answers it in its own words (docs/protocols/
// accounts-offline-shares.md §1.3, §3.1, §3.2).
type QRState int

const (
	QRWaiting   QRState = iota // shown, not scanned
	QRScanned                  // scanned, not confirmed
	QRConfirmed                // confirmed in the app: the login may be redeemed
	QRExpired                  // the code's time ran out, or ExpireLogin
	QRCancelled                // refused in the app
)

func (s QRState) String() string {
	return [...]string{"waiting", "scanned", "confirmed", "expired", "cancelled"}[s]
}

// PendingLogin is one QR code an emulator handed out.
type PendingLogin struct {
	// ID is the cloud's id of the code: 115's uid, the Open API's sid,
	// the passport's ck.
	ID string
	// QR is the text the code shows, which the phone scans.
	QR string
	// Kind names the flow, as the emulator calls it.
	Kind    string
	State   QRState
	Expires time.Time
	// Redeemed says the confirmed login was traded for tokens already.
	Redeemed bool
	// Extra is the emulator's own record of the request (a PKCE
	// challenge, the app it was asked for).
	Extra any
}

// Errors of the control and of Redeem.
var (
	ErrNoSuchLogin  = errors.New("no such pending login")
	ErrLoginState   = errors.New("the login is not in a state that allows this")
	ErrNotConfirmed = errors.New("the login is not confirmed")
	ErrRedeemed     = errors.New("the login was redeemed already")
)

// QRCodes is an emulator's pending QR logins, and the control a test
// uses to play the user's phone: scan, confirm, cancel, or let a code
// expire. A code not confirmed within its lifetime expires by itself.
type QRCodes struct {
	ttl time.Duration

	mu       sync.Mutex
	codes    map[string]*qrCode
	order    []string
	closing  chan struct{}
	isClosed bool
}

type qrCode struct {
	PendingLogin
	// reported is the state the last Poll answered.
	reported QRState
	// changed is closed, and replaced, at each change of state.
	changed chan struct{}
}

// NewQRCodes makes a registry whose codes live ttl.
func NewQRCodes(ttl time.Duration) *QRCodes {
	return &QRCodes{ttl: ttl, codes: map[string]*qrCode{}, closing: make(chan struct{})}
}

// Add registers a code handed out now.
func (q *QRCodes) Add(id, qr, kind string, extra any) PendingLogin {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := &qrCode{PendingLogin: PendingLogin{ID: id, QR: qr, Kind: kind, Expires: time.Now().Add(q.ttl), Extra: extra}, changed: make(chan struct{})}
	q.codes[id] = c
	q.order = append(q.order, id)
	return c.PendingLogin
}

// expireLocked lets a code whose time has run out expire.
func (q *QRCodes) expireLocked(c *qrCode) {
	if (c.State == QRWaiting || c.State == QRScanned) && !time.Now().Before(c.Expires) {
		q.setLocked(c, QRExpired)
	}
}

func (q *QRCodes) setLocked(c *qrCode, to QRState) {
	c.State = to
	close(c.changed)
	c.changed = make(chan struct{})
}

// Get returns the code id as it stands now.
func (q *QRCodes) Get(id string) (PendingLogin, bool) { return q.get(id, false) }

// get is Get; report makes it the answer of a Poll.
func (q *QRCodes) get(id string, report bool) (PendingLogin, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, ok := q.codes[id]
	if !ok {
		return PendingLogin{}, false
	}
	q.expireLocked(c)
	if report {
		c.reported = c.State
	}
	return c.PendingLogin, true
}

// Poll is a long poll of code id: it answers at once when the state
// differs from what the previous Poll answered, else holds until it
// changes, hold passes, ctx ends or the registry closes, and then
// answers the state as it stands.
func (q *QRCodes) Poll(ctx context.Context, id string, hold time.Duration) (PendingLogin, bool) {
	deadline := time.NewTimer(hold)
	defer deadline.Stop()
	for {
		q.mu.Lock()
		c, ok := q.codes[id]
		if !ok {
			q.mu.Unlock()
			return PendingLogin{}, false
		}
		q.expireLocked(c)
		if c.State != c.reported {
			c.reported = c.State
			p := c.PendingLogin
			q.mu.Unlock()
			return p, true
		}
		changed, open, expires := c.changed, c.State == QRWaiting || c.State == QRScanned, c.Expires
		q.mu.Unlock()
		if !q.waitChange(ctx, changed, open, expires, deadline.C) {
			return q.get(id, true)
		}
	}
}

// waitChange waits for changed, or for an open code's expiry; false
// means the poll is over without news.
func (q *QRCodes) waitChange(ctx context.Context, changed <-chan struct{}, open bool, expires time.Time, deadline <-chan time.Time) bool {
	var expiry <-chan time.Time
	if open {
		t := time.NewTimer(time.Until(expires) + time.Millisecond)
		defer t.Stop()
		expiry = t.C
	}
	select {
	case <-changed:
	case <-expiry:
	case <-deadline:
		return false
	case <-ctx.Done():
		return false
	case <-q.closing:
		return false
	}
	return true
}

// Redeem trades a confirmed code, once.
func (q *QRCodes) Redeem(id string) (PendingLogin, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, ok := q.codes[id]
	switch {
	case !ok:
		return PendingLogin{}, ErrNoSuchLogin
	case c.Redeemed:
		return c.PendingLogin, ErrRedeemed
	}
	q.expireLocked(c)
	if c.State != QRConfirmed {
		return c.PendingLogin, ErrNotConfirmed
	}
	c.Redeemed = true
	return c.PendingLogin, nil
}

// Close wakes every poll held, so that the emulator's server can stop.
func (q *QRCodes) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.isClosed {
		q.isClosed = true
		close(q.closing)
	}
}

// The control: what the user does on the phone.

// PendingLogins lists every code handed out, oldest first.
func (q *QRCodes) PendingLogins() []PendingLogin {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]PendingLogin, 0, len(q.order))
	for _, id := range q.order {
		c := q.codes[id]
		q.expireLocked(c)
		out = append(out, c.PendingLogin)
	}
	return out
}

// FindLogin returns the code that shows qr.
func (q *QRCodes) FindLogin(qr string) (PendingLogin, bool) {
	for _, p := range q.PendingLogins() {
		if p.QR == qr {
			return p, true
		}
	}
	return PendingLogin{}, false
}

// ScanLogin scans a code that waits.
func (q *QRCodes) ScanLogin(id string) error { return q.move(id, QRScanned, QRWaiting) }

// ConfirmLogin confirms a code, scanning it first if it waits.
func (q *QRCodes) ConfirmLogin(id string) error {
	return q.move(id, QRConfirmed, QRWaiting, QRScanned)
}

// CancelLogin refuses a code in the app.
func (q *QRCodes) CancelLogin(id string) error { return q.move(id, QRCancelled, QRWaiting, QRScanned) }

// ExpireLogin makes a code expired now, whatever its state, unless it was
// redeemed.
func (q *QRCodes) ExpireLogin(id string) error {
	return q.move(id, QRExpired, QRWaiting, QRScanned, QRConfirmed)
}

func (q *QRCodes) move(id string, to QRState, from ...QRState) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, ok := q.codes[id]
	if !ok {
		return fmt.Errorf("login %s: %w", id, ErrNoSuchLogin)
	}
	q.expireLocked(c)
	for _, f := range from {
		if c.State == f && !c.Redeemed {
			q.setLocked(c, to)
			return nil
		}
	}
	return fmt.Errorf("login %s is %s: cannot become %s: %w", id, c.State, to, ErrLoginState)
}
