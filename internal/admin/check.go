package admin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"pandav/drivers"
)

// Report is the health of the mounts, as Check finds it.
type Report struct {
	Checked time.Time `json:"checked"`
	// OK is true when every mount is fine.
	OK     bool       `json:"ok"`
	Mounts []CheckRow `json:"mounts"`
}

// The values of CheckRow.Login.
const (
	LoginOK      = "ok"      // the login works
	LoginNone    = "none"    // no login yet: `pandav login MOUNT`
	LoginRefused = "refused" // the cloud refused it; LoginReason says why
	LoginUnknown = "unknown" // the cloud could not be asked
)

// CheckRow is one mount's health.
type CheckRow struct {
	Mount  string `json:"mount"`
	Driver string `json:"driver"`
	OK     bool   `json:"ok"`
	// Problem says, in one sentence, what is wrong when OK is false.
	Problem     string `json:"problem,omitempty"`
	Login       string `json:"login"`
	LoginReason string `json:"login_reason,omitempty"`
	// Logins are the mount's logins by kind, when it holds one per kind
	// (Aliyun's Open API login, and the web login its shares play
	// through): the first is Login; the others are read without a cloud
	// call, so their ok means "logged in, and not refused so far".
	Logins []KindLoginState `json:"logins,omitempty"`
	// Account, VIP and VIPExpires are what the cloud says of the
	// account, when the drive can ask.
	Account    string     `json:"account,omitempty"`
	VIP        string     `json:"vip,omitempty"`
	VIPExpires *time.Time `json:"vip_expires,omitempty"`
	// SpaceUsed and SpaceTotal are in bytes; nil when unknown.
	SpaceUsed  *int64 `json:"space_used,omitempty"`
	SpaceTotal *int64 `json:"space_total,omitempty"`
	// RootListed says whether the mount's root listed; RootMS is how
	// long that took, in milliseconds.
	RootListed  bool   `json:"root_listed"`
	RootEntries int    `json:"root_entries"`
	RootMS      int64  `json:"root_ms"`
	RootError   string `json:"root_error,omitempty"`
	// TokenSince is when the stored login was last traded or stored;
	// TokenAgeSeconds is its age at the check.
	TokenSince      *time.Time `json:"token_since,omitempty"`
	TokenAgeSeconds *int64     `json:"token_age_s,omitempty"`
	// Share is, for a share mount, how the share stands, or why it does
	// not play; ShareOK says which.
	Share   string `json:"share,omitempty"`
	ShareOK bool   `json:"share_ok,omitempty"`
}

// KindLoginState is how one kind of a mount's logins stands, in the
// values of CheckRow.Login.
type KindLoginState struct {
	Kind   string `json:"kind"`
	Login  string `json:"login"`
	Reason string `json:"reason,omitempty"`
}

// checkTimeout bounds the check of one mount: a throttled cloud makes its
// row fail, not the whole check hang.
const checkTimeout = 45 * time.Second

// Check implements API. The mounts are checked side by side.
func (s *Service) Check(ctx context.Context, mounts ...string) (Report, error) {
	selected := s.mounts
	if len(mounts) > 0 {
		selected = nil
		for _, p := range mounts {
			m, e := s.mount(p)
			if e != nil {
				return Report{}, e
			}
			selected = append(selected, m)
		}
	}
	r := Report{Checked: time.Now(), OK: true, Mounts: make([]CheckRow, len(selected))}
	var wg sync.WaitGroup
	for i, m := range selected {
		wg.Go(func() {
			mctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			r.Mounts[i] = s.checkMount(mctx, m, r.Checked)
		})
	}
	wg.Wait()
	for _, row := range r.Mounts {
		r.OK = r.OK && row.OK
	}
	return r, nil
}

// loginAdvice is what a problem with the login of the mount at path
// tells the user to do: pandav login where the drive can log in; for a
// drive that cannot, the refusal the driver wrote already says how.
func loginAdvice(d drivers.Drive, path string) string {
	if _, ok := d.(drivers.Loginer); ok {
		return ": run pandav login " + path
	}
	return ""
}

func (s *Service) checkMount(ctx context.Context, m Mount, now time.Time) (row CheckRow) {
	row = CheckRow{Mount: m.Path, Driver: m.Driver, Login: LoginUnknown}
	d := m.Drive
	defer func() { checkKinds(&row, kindLogins(d)) }()
	status := func() (drivers.LoginStatus, bool) {
		ls, ok := d.(drivers.LoginStatuser)
		if !ok {
			return drivers.LoginStatus{}, false
		}
		return ls.LoginStatus(), true
	}
	if st, ok := status(); ok {
		switch {
		case !st.LoggedIn:
			row.Login = LoginNone
			row.Problem = fmt.Sprintf("%s is not logged in%s", m.Path, loginAdvice(d, m.Path))
			return row
		case st.Refused != "":
			// Every call would be refused too, and a refused login costs
			// nothing more to report.
			row.Login, row.LoginReason = LoginRefused, st.Refused
			row.Problem = fmt.Sprintf("%s: the cloud refused the login (%s)%s", m.Path, st.Refused, loginAdvice(d, m.Path))
			tokenAge(&row, st, now)
			s.noteError(m.Path, errors.New(st.Refused))
			return row
		}
	}
	var failures []error
	authFailed := func(err error) {
		if errors.Is(err, drivers.ErrAuth) && row.LoginReason == "" {
			row.LoginReason = err.Error()
		}
		failures = append(failures, err)
	}
	answered := false
	if a, ok := d.(drivers.Accounter); ok {
		acct, err := a.Account(ctx)
		if err != nil {
			authFailed(fmt.Errorf("account: %w", err))
		} else {
			answered = true
			row.Account, row.VIP = acct.Name, acct.VIP
			if !acct.VIPExpires.IsZero() {
				row.VIPExpires = &acct.VIPExpires
			}
			row.SpaceUsed, row.SpaceTotal = &acct.Used, &acct.Total
		}
	} else if q, ok := d.(drivers.Quotaer); ok {
		if quota, err := q.Quota(ctx); err == nil {
			answered = true
			row.SpaceUsed, row.SpaceTotal = &quota.Used, &quota.Total
		}
	}
	start := time.Now()
	root, err := d.Root(ctx)
	var kids []drivers.Entry
	if err == nil {
		kids, err = d.List(ctx, root)
	}
	row.RootMS = time.Since(start).Milliseconds()
	if err != nil {
		row.RootError = err.Error()
		authFailed(fmt.Errorf("listing the root: %w", err))
	} else {
		answered = true
		row.RootListed, row.RootEntries = true, len(kids)
	}
	if ss, ok := d.(drivers.ShareStater); ok {
		state, err := ss.ShareState(ctx)
		if err != nil {
			row.Share = err.Error()
			authFailed(fmt.Errorf("the share: %w", err))
		} else {
			answered = true
			row.Share, row.ShareOK = state, true
		}
	}
	// A refresh during the calls above may have been refused.
	st, reports := status()
	if reports {
		tokenAge(&row, st, now)
		if st.Refused != "" {
			row.LoginReason = st.Refused
		}
	}
	switch {
	case row.LoginReason != "":
		row.Login = LoginRefused
	case answered:
		row.Login = LoginOK
	}
	row.OK = len(failures) == 0 && row.Login == LoginOK
	switch {
	case row.Login == LoginRefused:
		row.Problem = fmt.Sprintf("%s: the cloud refused the login (%s)%s", m.Path, row.LoginReason, loginAdvice(d, m.Path))
		s.noteError(m.Path, errors.New(row.LoginReason))
	case len(failures) > 0:
		row.Problem = fmt.Sprintf("%s: %v", m.Path, failures[0])
		s.noteError(m.Path, failures[0])
	default:
		s.noteError(m.Path, nil)
	}
	return row
}

// checkKinds fills row.Logins from the mount's logins by kind, the first
// as the check found it; a refused other login makes the row fail.
func checkKinds(row *CheckRow, kinds []drivers.KindLogin) {
	for i, k := range kinds {
		st := KindLoginState{Kind: k.Kind, Login: row.Login, Reason: row.LoginReason}
		switch {
		case i == 0:
		case !k.LoggedIn:
			st = KindLoginState{Kind: k.Kind, Login: LoginNone}
		case k.Refused != "":
			st = KindLoginState{Kind: k.Kind, Login: LoginRefused, Reason: k.Refused}
			if row.OK {
				row.OK = false
				row.Problem = fmt.Sprintf("%s: the cloud refused its %s login (%s): run pandav login --kind %s %s", row.Mount, k.Kind, k.Refused, k.Kind, row.Mount)
			}
		default:
			st = KindLoginState{Kind: k.Kind, Login: LoginOK}
		}
		row.Logins = append(row.Logins, st)
	}
}

func tokenAge(row *CheckRow, st drivers.LoginStatus, now time.Time) {
	if st.Since.IsZero() {
		return
	}
	since := st.Since
	age := int64(now.Sub(since).Seconds())
	row.TokenSince, row.TokenAgeSeconds = &since, &age
}
