package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"pandav/drivers"
)

// The states of a Login. The first five are the drivers.LoginState the
// cloud reports; the Service finishes a confirmed login itself, so it
// ends in StateFinished, or in StateFailed with an error.
const (
	StateWaiting   = string(drivers.LoginWaiting)
	StateScanned   = string(drivers.LoginScanned)
	StateConfirmed = string(drivers.LoginConfirmed) // the tokens are being fetched and stored
	StateExpired   = string(drivers.LoginExpired)
	StateCancelled = string(drivers.LoginCancelled)
	StateFinished  = "finished" // the mount uses the new login
	StateFailed    = "failed"   // see Login.Error
)

// Ended says whether a login in state can change no more.
func Ended(state string) bool {
	switch state {
	case StateExpired, StateCancelled, StateFinished, StateFailed:
		return true
	}
	return false
}

// Login is one interactive login, as the API reports it.
type Login struct {
	ID    string `json:"id"`
	Mount string `json:"mount"`
	Kind  string `json:"kind"`
	State string `json:"state"`
	// QR is the text to show as a QR code. It is a secret of the login:
	// only the admin who started it gets it, and only until it ends.
	QR string `json:"qr,omitempty"`
	// Expires is when the cloud stops taking the code; nil when it does
	// not say.
	Expires *time.Time `json:"expires,omitempty"`
	// Error says, in one sentence, why a failed login failed.
	Error string `json:"error,omitempty"`
	// Account is the account logged in, once finished, when the drive
	// can say.
	Account string `json:"account,omitempty"`
}

const (
	// maxLoginLife bounds a login whose cloud names no expiry.
	maxLoginLife = 10 * time.Minute
	// expiryGrace lets the cloud say "expired" itself, a little after the
	// expiry it announced, before the Service says it.
	expiryGrace = 15 * time.Second
	// keepEnded is how long an ended login can still be read.
	keepEnded = 5 * time.Minute
	// finishTimeout bounds the token exchange. It is not cut short by a
	// stopping pandav: its answer holds the only copy of the new tokens.
	finishTimeout = time.Minute
	// maxWait bounds one long poll.
	maxWait = time.Minute
	// quietPoll is the least time between two polls of the cloud that
	// brought no news, in case a driver's Wait does not wait.
	quietPoll = time.Second
)

// Why a login's context ended, other than its own end.
var (
	errStopping = errors.New("pandav is stopping")
	errReplaced = errors.New("a newer login of this mount replaced this one")
	errDeleted  = errors.New("the login was cancelled")
	errTimedOut = errors.New("the code expired")
)

type loginRecord struct {
	id, mount, kind, owner string
	qr                     string
	expires                time.Time
	flow                   drivers.LoginFlow
	cancel                 context.CancelCauseFunc

	// Guarded by Service.mu.
	state   string
	err     string
	account string
	changed chan struct{} // closed and replaced at every change
}

// StartLogin implements API.
func (s *Service) StartLogin(ctx context.Context, mount, kind string) (Login, error) {
	m, e := s.mount(mount)
	if e != nil {
		return Login{}, e
	}
	loginer, ok := m.Drive.(drivers.Loginer)
	if !ok {
		return Login{}, errorf(400, "mount %s (driver %s) has no interactive login", mount, m.Driver)
	}
	kinds := loginer.LoginKinds()
	if kind == "" && len(kinds) > 0 {
		kind = kinds[0]
	}
	if !slices.Contains(kinds, kind) {
		return Login{}, errorf(400, "mount %s takes logins of kind %v, not %q", mount, kinds, kind)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return Login{}, errorf(503, "pandav is stopping")
	}
	flow, err := loginer.StartLogin(ctx, kind)
	if err != nil {
		s.noteError(mount, err)
		return Login{}, errorf(502, "%s: the cloud did not start a login: %v", mount, err)
	}
	expires := flow.Expires()
	deadline := time.Now().Add(maxLoginLife)
	if !expires.IsZero() && expires.Add(expiryGrace).Before(deadline) {
		deadline = expires.Add(expiryGrace)
	}
	// The flow outlives the request that started it.
	fctx, cancelDeadline := context.WithDeadlineCause(context.WithoutCancel(ctx), deadline, errTimedOut)
	fctx, cancel := context.WithCancelCause(fctx)
	rec := &loginRecord{
		id: newID(), mount: mount, kind: kind, owner: ownerOf(ctx),
		qr: flow.QR(), expires: expires, flow: flow, cancel: cancel,
		state: StateWaiting, changed: make(chan struct{}),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel(errStopping)
		cancelDeadline()
		return Login{}, errorf(503, "pandav is stopping")
	}
	for _, old := range s.logins {
		if old.mount == mount && !Ended(old.state) {
			old.cancel(errReplaced)
		}
	}
	s.logins[rec.id] = rec
	s.running.Add(1)
	out := s.snapshot(rec)
	s.mu.Unlock()
	s.log.Info().Str("mount", mount).Str("kind", kind).Str("by", rec.owner).Msg("login started")
	go func() {
		defer cancelDeadline()
		s.follow(fctx, rec)
	}()
	return out, nil
}

// follow polls the cloud about rec until it ends, finishing it when the
// user confirms.
func (s *Service) follow(ctx context.Context, rec *loginRecord) {
	defer s.running.Done()
	last := drivers.LoginWaiting
	for {
		polled := time.Now()
		st, err := rec.flow.Wait(ctx, last)
		if ctx.Err() != nil {
			cause := context.Cause(ctx)
			if errors.Is(cause, errTimedOut) {
				s.end(rec, StateExpired, "")
			} else {
				s.end(rec, StateFailed, cause.Error())
			}
			s.log.Info().Str("mount", rec.mount).Str("why", cause.Error()).Msg("login ended")
			return
		}
		if err != nil {
			s.fail(rec, err, "the cloud did not say how the login stands")
			return
		}
		switch {
		case st == drivers.LoginConfirmed:
			s.set(rec, StateConfirmed)
			s.finish(ctx, rec)
			return
		case st.Ended():
			s.end(rec, string(st), "")
			return
		case st != last:
			last = st
			s.set(rec, string(st))
			continue
		}
		if quiet := quietPoll - time.Since(polled); quiet > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(quiet):
			}
		}
	}
}

// finish trades the confirmed login for tokens, which the driver stores
// and its drive adopts.
func (s *Service) finish(ctx context.Context, rec *loginRecord) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := rec.flow.Finish(fctx); err != nil {
		s.fail(rec, err, "the login was confirmed, but trading it for tokens failed")
		return
	}
	if s.loggedIn != nil {
		s.loggedIn(rec.mount)
	}
	var name string
	m, _ := s.mount(rec.mount)
	if a, ok := m.Drive.(drivers.Accounter); ok {
		actx, cancel := context.WithTimeout(fctx, 15*time.Second)
		if acct, err := a.Account(actx); err == nil {
			name = acct.Name
		}
		cancel()
	}
	s.noteError(rec.mount, nil)
	s.mu.Lock()
	rec.account = name
	s.mu.Unlock()
	s.end(rec, StateFinished, "")
	s.log.Info().Str("mount", rec.mount).Str("account", name).Msg("logged in")
}

// fail ends rec with the cloud's err, after what failed.
func (s *Service) fail(rec *loginRecord, err error, what string) {
	s.noteError(rec.mount, err)
	why := fmt.Sprintf("%s: %s: %v", rec.mount, what, err)
	s.end(rec, StateFailed, why)
	s.log.Warn().Str("mount", rec.mount).Str("error", why).Msg("login failed")
}

// set records a new state of rec and wakes its long polls.
func (s *Service) set(rec *loginRecord, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(rec, state)
}

func (s *Service) setLocked(rec *loginRecord, state string) {
	if Ended(rec.state) || rec.state == state {
		return
	}
	rec.state = state
	close(rec.changed)
	rec.changed = make(chan struct{})
}

// end records rec's last state and forgets rec a while later.
func (s *Service) end(rec *loginRecord, state, why string) {
	s.mu.Lock()
	if !Ended(rec.state) {
		rec.err = why
		s.setLocked(rec, state)
	}
	s.mu.Unlock()
	rec.cancel(nil)
	time.AfterFunc(keepEnded, func() { s.forget(rec) })
}

func (s *Service) forget(rec *loginRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logins[rec.id] == rec {
		delete(s.logins, rec.id)
	}
}

// snapshot is rec as the API shows it. s.mu is held.
func (s *Service) snapshot(rec *loginRecord) Login {
	l := Login{ID: rec.id, Mount: rec.mount, Kind: rec.kind, State: rec.state, Error: rec.err, Account: rec.account}
	if !Ended(rec.state) {
		l.QR = rec.qr
	}
	if !rec.expires.IsZero() {
		e := rec.expires
		l.Expires = &e
	}
	return l
}

// find returns the login id if ctx's user started it. Another user is
// told it does not exist: its QR code is not theirs to see.
func (s *Service) find(ctx context.Context, id string) (*loginRecord, *Error) {
	rec := s.logins[id]
	if rec == nil || rec.owner != ownerOf(ctx) {
		return nil, errorf(404, "there is no login %s; it may have ended more than %s ago", id, keepEnded)
	}
	return rec, nil
}

// Login implements API.
func (s *Service) Login(ctx context.Context, id, last string, wait time.Duration) (Login, error) {
	s.mu.Lock()
	rec, e := s.find(ctx, id)
	if e != nil {
		s.mu.Unlock()
		return Login{}, e
	}
	if last == "" {
		last = rec.state
	}
	changed, state := rec.changed, rec.state
	s.mu.Unlock()
	if wait > 0 && state == last && !Ended(state) {
		t := time.NewTimer(min(wait, maxWait))
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot(rec), nil
}

// CancelLogin implements API.
func (s *Service) CancelLogin(ctx context.Context, id string) error {
	s.mu.Lock()
	rec, e := s.find(ctx, id)
	if e != nil {
		s.mu.Unlock()
		return e
	}
	delete(s.logins, id)
	s.mu.Unlock()
	rec.cancel(errDeleted)
	return nil
}
