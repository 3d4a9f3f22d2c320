package drivers

import (
	"context"
	"errors"
	"time"
)

// The sharing capabilities: making share links of one's own files and
// folders, and managing them (docs/protocols/accounts-offline-shares.md
// §4). They take entries and share ids, never paths: the admin API
// resolves paths above the driver, as the WebDAV layer does. Each is one
// method, found by type assertion; a drive that has the methods but not,
// for its login, the cloud calls behind one (an Open API login that can
// create but not list) returns ErrUnsupported saying what it needs.

// ShareRequest is a share link to make.
type ShareRequest struct {
	// Files are the files and folders shared together, all of one drive.
	Files []Entry
	// Password is the code a visitor types; "" for none, unless
	// RandomPassword asks the drive to draw one by its cloud's rules.
	Password       string
	RandomPassword bool
	// Expires is when the link stops working; the zero time is never.
	Expires     time.Time
	Description string
}

// ShareUpdate changes a share link; nil fields stay as they are.
type ShareUpdate struct {
	// Password is the new code, "" to remove it; RandomPassword asks the
	// drive to draw one instead.
	Password       *string
	RandomPassword bool
	// Expires is the new expiry; a pointer to the zero time is never.
	Expires     *time.Time
	Description *string
}

// ShareState is where a share link stands.
type ShareState string

const (
	ShareEnabled   ShareState = "enabled"
	ShareExpired   ShareState = "expired"
	ShareCancelled ShareState = "cancelled"
	ShareForbidden ShareState = "forbidden" // the cloud stopped it (a complaint, the rules)
)

// ShareLink is one share link, as its owner sees it.
type ShareLink struct {
	ID string
	// Name is what the cloud calls the share: its first file's name.
	Name string
	URL  string
	// Text is the message to paste: the name, the link and its code.
	Text        string
	Password    string
	Expires     time.Time // zero: never
	Description string
	Created     time.Time
	State       ShareState
	// Views, Saves and Downloads are counts the cloud keeps; -1 where it
	// does not say.
	Views, Saves, Downloads int64
	FileIDs                 []string
}

// Unshareable is a file the cloud will not share, and its reason.
type Unshareable struct {
	Entry  Entry
	Reason string
}

// ShareChecker asks the cloud which of files it refuses to share; none
// means all may be.
type ShareChecker interface {
	CheckShareable(ctx context.Context, files []Entry) ([]Unshareable, error)
}

// ShareCreator makes a share link.
type ShareCreator interface {
	CreateShare(ctx context.Context, req ShareRequest) (ShareLink, error)
}

// ShareLister lists the account's share links, every page.
type ShareLister interface {
	ListShares(ctx context.Context) ([]ShareLink, error)
}

// ShareGetter reads one share link; ErrNotFound when the account has no
// such link.
type ShareGetter interface {
	GetShare(ctx context.Context, id string) (ShareLink, error)
}

// ShareUpdater changes a share link and returns it as it now is.
type ShareUpdater interface {
	UpdateShare(ctx context.Context, id string, u ShareUpdate) (ShareLink, error)
}

// ShareCanceller cancels share links. errs has one error per id, nil for
// a link cancelled; err is a failure of the whole call.
type ShareCanceller interface {
	CancelShares(ctx context.Context, ids []string) (errs []error, err error)
}

var (
	// ErrShareRefused: the cloud refuses to share these files (a file
	// type it does not share, a flagged file, an account barred from
	// sharing).
	ErrShareRefused = errors.New("the cloud refuses to share this")
	// ErrInvalidShare: the request breaks the cloud's rules for share
	// links (a password of the wrong length, an expiry in the past), so
	// nothing was sent.
	ErrInvalidShare = errors.New("invalid share link request")
)
