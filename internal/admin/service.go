// Package admin is pandav's admin API: the mounts and their logins, the
// interactive logins (QR codes scanned with a cloud's app), and the
// health check of every mount. Service does the work; Handler serves it
// as JSON under /.pandav/api/v1/ (docs/admin-api.md) to admins; Client
// speaks to a Handler over HTTP. Service and Client both meet API, so the
// CLI works the same whether it asks a running pandav or opens the
// mounts itself.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/auth"
)

// API is what the admin API offers, in Go.
type API interface {
	// Mounts says how every mount is, without a cloud call.
	Mounts(ctx context.Context) ([]MountInfo, error)
	// StartLogin starts an interactive login of mount's account; kind ""
	// is the mount's first kind. A login of the same mount still running
	// is replaced.
	StartLogin(ctx context.Context, mount, kind string) (Login, error)
	// Login returns the login id. When wait > 0 it first waits, up to
	// wait, for the state to differ from last ("" means the state it has
	// now).
	Login(ctx context.Context, id, last string, wait time.Duration) (Login, error)
	// CancelLogin stops the login id and forgets it.
	CancelLogin(ctx context.Context, id string) error
	// Check checks the mounts named (every mount when none is), asking
	// the clouds.
	Check(ctx context.Context, mounts ...string) (Report, error)
	DownloadsAPI
}

// Mount is one opened mount, as the Service is given it.
type Mount struct {
	Path     string
	Driver   string
	ReadOnly bool
	Drive    drivers.Drive
}

// MountInfo is one mount as Mounts reports it.
type MountInfo struct {
	Path     string `json:"path"`
	Driver   string `json:"driver"`
	ReadOnly bool   `json:"read_only"`
	// Login is nil when the drive does not report its login (a share
	// mount plays through another mount's).
	Login *LoginStatus `json:"login,omitempty"`
	// LoginKinds are the interactive logins the mount takes; empty when
	// it takes none.
	LoginKinds []string `json:"login_kinds,omitempty"`
	// Logins are the mount's logins by kind, when it holds one per kind
	// (drivers.KindLoginStatuser); the first is Login.
	Logins []KindLoginStatus `json:"logins,omitempty"`
	// LoginApp names the app that scans the mount's login codes, when
	// the drive says (drivers.LoginApper).
	LoginApp string `json:"login_app,omitempty"`
	// LastError is the last failure this pandav saw from the cloud in a
	// check or a login of this mount, until a check passes.
	LastError *CloudError `json:"last_error,omitempty"`
	// ThrottledUntil is set while the cloud is throttling this mount: a
	// check, a login or a WebDAV request (NoteThrottled) met a rate limit
	// beyond the driver's retries, and the wait it asked for has not
	// passed.
	ThrottledUntil *time.Time `json:"throttled_until,omitempty"`
	// CloudDownload says the mount's cloud fetches links and torrents
	// itself (docs/admin-api.md, cloud download).
	CloudDownload bool `json:"cloud_download,omitempty"`
}

// LoginStatus is drivers.LoginStatus, as JSON.
type LoginStatus struct {
	LoggedIn bool       `json:"logged_in"`
	Refused  string     `json:"refused,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
}

// KindLoginStatus is the LoginStatus of one kind of a mount's logins.
type KindLoginStatus struct {
	Kind string `json:"kind"`
	LoginStatus
}

// CloudError is a failure and when it happened.
type CloudError struct {
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Error is a refusal of the API, with its HTTP status.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func errorf(status int, format string, a ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// Service is the admin API over a pandav's opened mounts.
type Service struct {
	mounts []Mount
	log    zerolog.Logger

	// loggedIn is told the mount of every login that finished.
	loggedIn func(mount string)

	mu        sync.Mutex
	lastError map[string]*CloudError
	// throttledUntil is, by mount, when the cloud's last rate limit's
	// wait ends.
	throttledUntil map[string]time.Time
	logins         map[string]*loginRecord
	closed         bool
	running        sync.WaitGroup
}

var _ API = (*Service)(nil)

// NewService serves mounts.
func NewService(mounts []Mount, log zerolog.Logger) *Service {
	return &Service{mounts: mounts, log: log, lastError: map[string]*CloudError{}, throttledUntil: map[string]time.Time{}, logins: map[string]*loginRecord{}}
}

// OnLogin makes the Service call f with a mount's path once a login of
// the mount has finished: the server then forgets what it cached of the
// mount, which may be another account's now. Call it before the Service
// is used.
func (s *Service) OnLogin(f func(mount string)) { s.loggedIn = f }

// Close ends every login in progress, but lets a token exchange already
// under way finish and store its tokens, and waits for that.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	for _, rec := range s.logins {
		rec.cancel(errStopping)
	}
	s.mu.Unlock()
	s.running.Wait()
}

func (s *Service) mount(path string) (Mount, *Error) {
	for _, m := range s.mounts {
		if m.Path == path {
			return m, nil
		}
	}
	return Mount{}, errorf(404, "there is no mount %s", path)
}

// Mounts implements API.
func (s *Service) Mounts(ctx context.Context) ([]MountInfo, error) {
	out := make([]MountInfo, 0, len(s.mounts))
	for _, m := range s.mounts {
		info := MountInfo{Path: m.Path, Driver: m.Driver, ReadOnly: m.ReadOnly, Login: loginStatus(m.Drive)}
		if l, ok := m.Drive.(drivers.Loginer); ok {
			info.LoginKinds = l.LoginKinds()
		}
		if a, ok := m.Drive.(drivers.LoginApper); ok {
			info.LoginApp = a.LoginApp()
		}
		for _, k := range kindLogins(m.Drive) {
			info.Logins = append(info.Logins, KindLoginStatus{Kind: k.Kind, LoginStatus: *jsonStatus(k.LoginStatus)})
		}
		_, info.CloudDownload = m.Drive.(drivers.CloudDownloader)
		s.mu.Lock()
		if e := s.lastError[m.Path]; e != nil {
			c := *e
			info.LastError = &c
		}
		if until := s.throttledUntil[m.Path]; until.After(time.Now()) {
			info.ThrottledUntil = &until
		}
		s.mu.Unlock()
		out = append(out, info)
	}
	return out, nil
}

func loginStatus(d drivers.Drive) *LoginStatus {
	ls, ok := d.(drivers.LoginStatuser)
	if !ok {
		return nil
	}
	return jsonStatus(ls.LoginStatus())
}

func jsonStatus(st drivers.LoginStatus) *LoginStatus {
	out := &LoginStatus{LoggedIn: st.LoggedIn, Refused: st.Refused}
	if !st.Since.IsZero() {
		out.Since = &st.Since
	}
	return out
}

// kindLogins are d's logins by kind, when it holds more than one; nil
// otherwise, as its LoginStatus then says all.
func kindLogins(d drivers.Drive) []drivers.KindLogin {
	k, ok := d.(drivers.KindLoginStatuser)
	if !ok {
		return nil
	}
	if ls := k.KindLoginStatuses(); len(ls) > 1 {
		return ls
	}
	return nil
}

// noteError remembers a cloud failure of mount; a nil err clears it.
func (s *Service) noteError(mount string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.lastError, mount)
		return
	}
	now := time.Now()
	s.lastError[mount] = &CloudError{Message: err.Error(), At: now}
	var limited *drivers.RateLimitedError
	if errors.As(err, &limited) {
		s.throttledLocked(mount, now.Add(limited.RetryAfter))
	}
}

// NoteThrottled says the cloud of mount throttled a request beyond the
// driver's retries and asked to wait until then: GET mounts shows it
// until that time.
func (s *Service) NoteThrottled(mount string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttledLocked(mount, until)
}

func (s *Service) throttledLocked(mount string, until time.Time) {
	// A person reads the mark: a hint of milliseconds still shows it for
	// a while.
	until = maxTime(until, time.Now().Add(minThrottledMark))
	if until.After(s.throttledUntil[mount]) {
		s.throttledUntil[mount] = until
	}
}

// minThrottledMark is the least time a rate limit marks a mount as
// throttled.
const minThrottledMark = 30 * time.Second

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ownerOf is who asks: the admin's name, or "" where there are no users
// (loopback clients, the CLI in its own process).
func ownerOf(ctx context.Context) string {
	if u := auth.FromContext(ctx); u != nil {
		return u.Name
	}
	return ""
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
