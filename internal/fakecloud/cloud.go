package fakecloud

import "time"

// Cloud is what tests, the demo and the bench need of any emulator,
// whichever cloud it plays: the harnesses loop over a list of Clouds
// (internal/demo) instead of naming each one. What only one cloud has
// (share links, device sessions, upload URL lifetimes) stays on the
// emulator's concrete type, for the tests about that cloud.
type Cloud interface {
	// Name is the cloud's short name: the subtest name, and the mount
	// path the demo and the harnesses give it ("/" + Name).
	Name() string
	// Driver is the registered name of the driver that speaks to it.
	Driver() string

	// Tree is the account's storage, Faults its fault knobs (API and
	// CDN), Counters its calls by endpoint name.
	Tree() *Tree
	Faults() *Faults
	Counters() *Counters
	// Endpoints names the emulator's endpoints by role, as Counters and
	// Faults know them.
	Endpoints() Endpoints
	// PageSize is how many entries one listing call returns to a driver
	// mounted with MountOptions, so a test can make folders that span
	// several pages.
	PageSize() int

	// MountOptions is the `options:` block of a mount whose driver logs
	// in at this emulator with refreshToken (from Login().Issue).
	MountOptions(refreshToken string) map[string]any
	// Login is the account's main login: the token family a mount made
	// with MountOptions refreshes.
	Login() *Logins
	// TokenFilePrefix is how the driver's token store names this login's
	// file under state_dir/tokens.
	TokenFilePrefix() string

	// ExpireLinks makes every download link issued so far expired.
	ExpireLinks()
	// SetSpace sets the account's total space in bytes.
	SetSpace(total int64)
	// UploadedBytes is how many content bytes uploads have delivered so
	// far, so a rapid upload can be seen to send none.
	UploadedBytes() int64
	// IssuedSecrets is every secret the emulator has handed out (tokens,
	// client secrets, signatures of links), for tests that check none
	// reaches a log line or an answer.
	IssuedSecrets() []string

	Close()
}

// Endpoints are the Counters and Faults names of an emulator's endpoints,
// by role. CDN counts byte fetches, not API calls.
type Endpoints struct {
	List     string // one page of a folder listing
	Get      string // one entry by ID or path
	Link     string // a download link
	Refresh  string // a refresh-token trade
	Upload   string // the call that starts an upload
	Part     string // one part of a multipart upload; "" when a file goes up in one request
	Complete string // the call that ends a multipart upload; "" likewise
	CDN      string // a fetch of file bytes
}

// Options are what a harness may ask of any emulator it starts; each
// emulator maps them onto its own options. The zero value is the cloud's
// documented behaviour.
type Options struct {
	// AccessTTL and LinkTTL are the lifetimes of access tokens and of
	// download links; 0 keeps the cloud's.
	AccessTTL, LinkTTL time.Duration
	// Unthrottled turns the emulator's own rate limits off, so that every
	// throttled answer is one a test injected and call counts are exact.
	Unthrottled bool
	// RetryAfter is the wait a throttled answer asks for, where the cloud
	// states one; 0 keeps the cloud's. Tests keep it short.
	RetryAfter time.Duration
}

// The optional capabilities below are mount options that only some
// drivers take. A harness discovers them with a type assertion and does
// without where a Cloud lacks them.

// Unpaced is a Cloud whose driver paces its own calls, at rates its mount
// options can set.
type Unpaced interface {
	// UnpacedMountOptions, added to MountOptions, raise the driver's
	// rates far above the cloud's: for bulk tests against an emulator
	// started Unthrottled, where pacing would only make them slow.
	UnpacedMountOptions() map[string]any
}

// PartSized is a Cloud whose driver uploads in parts of a size its mount
// options can set.
type PartSized interface {
	// PartSizeMountOptions, added to MountOptions, make the driver upload
	// in parts of n bytes, so that a small file takes several. n must be
	// at least the cloud's smallest part.
	PartSizeMountOptions(n int64) map[string]any
}

// RapidUploads is a Cloud that stores a file it already holds the content
// of without the bytes being sent again (秒传), when the upload names the
// content's hash. The conformance suite checks that its driver uses it.
type RapidUploads interface {
	DedupesUploadsByHash()
}

// QRLogins is a Cloud whose account logs in by a QR code that the cloud's
// phone app scans. Its QRCodes plays the phone: a test finds the code the
// driver shows (FindLogin) and scans, confirms, cancels or expires it.
type QRLogins interface {
	QRCodes() *QRCodes
}

// FileSizeLimited is a Cloud whose largest file a test can lower, to meet
// the cloud's refusal of a file over it without sending the real limit's
// worth of bytes.
type FileSizeLimited interface {
	// LimitFileSize makes the cloud refuse files over n bytes. It returns
	// what a mount made with MountOptions adds so that its driver knows
	// the limit too, where the driver checks it itself (nil where the
	// cloud's own answer is what the driver goes by).
	LimitFileSize(n int64) map[string]any
}

// FailingLogins is a QRLogins cloud whose driver's mount options name
// what a login goes through (an app of the cloud's open platform, a
// token service), so that a wrong option keeps a login from starting.
type FailingLogins interface {
	// FailingLoginOptions are sets of options, each added to
	// MountOptions, with which no login can start, keyed by what is
	// wrong, in words ("a wrong app id"). The driver's refusal names an
	// option of the set.
	FailingLoginOptions() map[string]map[string]any
}

// LoginVariants is a QRLogins cloud whose driver logs in another way
// too, by other mount options (Aliyun's Open API through a token service
// at renew_url, for users without an app of their own).
type LoginVariants interface {
	// LoginVariantOptions are sets of options, each added to
	// MountOptions, with which a login goes the other way, keyed by the
	// way, in words.
	LoginVariantOptions() map[string]map[string]any
}
