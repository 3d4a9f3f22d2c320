package drivers

import (
	"context"
	"time"
)

// The account capabilities: logging a mount's account in without pasting
// a token, and saying how the account is. The login flows are the
// clouds' own QR and device-code flows, in
// docs/protocols/accounts-offline-shares.md §1 and §3.

// Loginer is a drive whose account can be logged in interactively: the
// user scans a QR code with the cloud's app and confirms there.
type Loginer interface {
	// LoginKinds names the logins this mount can take, the one `pandav
	// login MOUNT` starts first ("open", "web", "device-code", ...).
	LoginKinds() []string
	// StartLogin asks the cloud for a new QR code of the given kind ("":
	// the first of LoginKinds). It spends nothing: a flow that is never
	// finished leaves the mount's login as it was.
	StartLogin(ctx context.Context, kind string) (LoginFlow, error)
}

// LoginFlow is one interactive login in progress. Its methods may be
// called from another goroutine than the one that started it, but not
// concurrently.
type LoginFlow interface {
	// QR is the text to draw as a QR code, which the cloud's app scans.
	// It is a secret of this login: it is shown to the user, never
	// logged.
	QR() string
	// Expires is when the cloud stops accepting the code; zero if it
	// does not say.
	Expires() time.Time
	// Wait returns the flow's state once it differs from last, or when
	// the cloud's long poll ends without news (then it returns last), or
	// when ctx ends.
	Wait(ctx context.Context, last LoginState) (LoginState, error)
	// Finish trades a confirmed login for the account's tokens, stores
	// them where this mount reads its login (before anything uses them),
	// and makes the running drive use them from its next call. It may be
	// called once, after Wait reported LoginConfirmed.
	Finish(ctx context.Context) error
}

// LoginState is where an interactive login stands.
type LoginState string

const (
	LoginWaiting   LoginState = "waiting"   // shown, not scanned yet
	LoginScanned   LoginState = "scanned"   // scanned, waiting for the user to confirm in the app
	LoginConfirmed LoginState = "confirmed" // confirmed: Finish may trade it
	LoginExpired   LoginState = "expired"   // the code expired: start again
	LoginCancelled LoginState = "cancelled" // the user refused in the app
)

// Ended says whether the flow can make no more progress.
func (s LoginState) Ended() bool { return s == LoginExpired || s == LoginCancelled }

// Account is what a cloud says about the logged-in account.
type Account struct {
	Name       string    // the account's display name, or its id
	VIP        string    // the membership level, "" for none
	VIPExpires time.Time // zero when there is none or the cloud does not say
	Quota
}

// Accounter is a drive that can say whose account it serves. It makes a
// cloud call; callers cache it.
type Accounter interface {
	Account(ctx context.Context) (Account, error)
}

// LoginStatus is what a drive knows of its login without asking the
// cloud, so that health checks and the console can read it on every hit.
type LoginStatus struct {
	// LoggedIn is false when the mount has no login at all (no
	// refresh_token and none stored): it waits for `pandav login`.
	LoggedIn bool
	// Refused is the cloud's reason when it refused the login; the mount
	// needs a new login. Empty while the login works.
	Refused string
	// Since is when the stored token was last traded or stored; zero if
	// never.
	Since time.Time
}

// LoginStatuser reports LoginStatus.
type LoginStatuser interface {
	LoginStatus() LoginStatus
}

// LoginApper is a Loginer that names the app its users scan login codes
// with ("the 115 app"), for what the CLI and the console say.
type LoginApper interface {
	LoginApp() string
}

// KindLogin is the LoginStatus of one kind of a mount's logins.
type KindLogin struct {
	Kind string
	LoginStatus
}

// KindLoginStatuser is a drive whose mount holds a login per kind of
// LoginKinds (Aliyun's Open API login, and the web login its share
// mounts play through), in the order of LoginKinds; LoginStatus is the
// first. Like LoginStatus it makes no cloud call.
type KindLoginStatuser interface {
	KindLoginStatuses() []KindLogin
}

// ShareStater is a share mount: it says how the share stands ("valid
// until ...") or, as an error, why it does not play (cancelled by its
// owner, expired, forbidden, a wrong code, an account that cannot play
// it), with the cloud's reason. It makes at most one cheap cloud call.
type ShareStater interface {
	ShareState(ctx context.Context) (string, error)
}
