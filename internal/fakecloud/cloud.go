package fakecloud

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
	List    string // one page of a folder listing
	Get     string // one entry by ID or path
	Link    string // a download link
	Refresh string // a refresh-token trade
	Upload  string // the call that starts an upload
	CDN     string // a fetch of file bytes
}
