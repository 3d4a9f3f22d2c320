package admintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"pandav/drivers"
)

// Driver is the name the driver is registered under.
const Driver = "admintest"

// Kinds are the login kinds the driver takes, the first by default.
var Kinds = []string{"qr", "app"}

func init() { drivers.Register(Driver, drivers.FactoryOf(Open)) }

// Options are a mount's options.
type Options struct {
	// Account is the Key of an Account made with NewAccount.
	Account string `yaml:"account"`
	// RefreshToken is the starting login, "" for none; a stored one wins.
	RefreshToken string `yaml:"refresh_token"`
	// Share makes the mount a share mount (drivers.ShareStater).
	Share bool `yaml:"share"`
}

// Drive is an open mount of an Account.
type Drive struct {
	acct  *Account
	store string // the file in state_dir holding the mount's login

	mu      sync.Mutex
	refresh string
	since   time.Time
	live    bool // refresh has been traded: calls may go ahead
	refused string
}

// ShareDrive is a share mount played through an Account.
type ShareDrive struct{ *Drive }

var (
	_ drivers.Loginer       = (*Drive)(nil)
	_ drivers.LoginApper    = (*Drive)(nil)
	_ drivers.Accounter     = (*Drive)(nil)
	_ drivers.LoginStatuser = (*Drive)(nil)
	_ drivers.ShareStater   = ShareDrive{}
)

// stored is what the store file holds.
type stored struct {
	Refresh string    `json:"refresh"`
	Since   time.Time `json:"since"`
}

// Open opens a mount as the registered driver does, for a test that
// builds an admin.Service itself. env needs MountPath and StateDir.
func Open(ctx context.Context, env drivers.Env, o Options) (drivers.Drive, error) {
	v, ok := accounts.Load(o.Account)
	if !ok {
		return nil, fmt.Errorf("admintest: options.account %q names no Account", o.Account)
	}
	name := strings.NewReplacer("/", "_").Replace(strings.TrimPrefix(env.MountPath, "/"))
	d := &Drive{acct: v.(*Account), store: filepath.Join(env.StateDir, "admintest-"+name+".json"), refresh: o.RefreshToken}
	if b, err := os.ReadFile(d.store); err == nil {
		var s stored
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("admintest: %s: %v", d.store, err)
		}
		d.refresh, d.since = s.Refresh, s.Since
	}
	if o.Share {
		return ShareDrive{d}, nil
	}
	return d, nil
}

// save stores refresh as the mount's login, before anything uses it.
func (d *Drive) save(refresh string, since time.Time) error {
	b, _ := json.Marshal(stored{Refresh: refresh, Since: since})
	tmp := d.store + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.store)
}

// ready trades the stored refresh token once, as a driver does on its
// first call, and refuses calls after a refusal.
func (d *Drive) ready() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if reason := d.acct.refusal(); reason != "" {
		d.refused, d.live = reason, false
	}
	switch {
	case d.refused != "":
		return fmt.Errorf("%w: %s", drivers.ErrAuth, d.refused)
	case d.live:
		return nil
	case d.refresh == "":
		return fmt.Errorf("%w: not logged in", drivers.ErrAuth)
	}
	next, err := d.acct.trade(d.refresh)
	if err != nil {
		d.refused = err.Error()
		return fmt.Errorf("%w: %s", drivers.ErrAuth, d.refused)
	}
	now := time.Now()
	if err := d.save(next, now); err != nil {
		return err
	}
	d.refresh, d.since, d.live = next, now, true
	return nil
}

var entries = []drivers.Entry{
	{ID: "a", ParentID: "root", Name: "a.txt", Size: 3},
	{ID: "b", ParentID: "root", Name: "b", IsDir: true},
}

// Root implements drivers.Drive.
func (d *Drive) Root(ctx context.Context) (drivers.Entry, error) {
	if err := d.ready(); err != nil {
		return drivers.Entry{}, err
	}
	return drivers.Entry{ID: "root", IsDir: true}, nil
}

// List implements drivers.Drive.
func (d *Drive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	if err := d.ready(); err != nil {
		return nil, err
	}
	d.acct.listed()
	if dir.ID != "root" {
		return nil, nil
	}
	return append([]drivers.Entry(nil), entries...), nil
}

// Link implements drivers.Drive; nothing is served from its links.
func (d *Drive) Link(ctx context.Context, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	return drivers.Link{}, fmt.Errorf("admintest: %w", drivers.ErrUnsupported)
}

// Account implements drivers.Accounter.
func (d *Drive) Account(ctx context.Context) (drivers.Account, error) {
	if err := d.ready(); err != nil {
		return drivers.Account{}, err
	}
	a := d.acct
	return drivers.Account{Name: a.Name, VIP: a.VIP, VIPExpires: a.VIPExpires, Quota: a.Quota}, nil
}

// LoginStatus implements drivers.LoginStatuser.
func (d *Drive) LoginStatus() drivers.LoginStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return drivers.LoginStatus{LoggedIn: d.refresh != "", Refused: d.refused, Since: d.since}
}

// LoginApp implements drivers.LoginApper.
func (d *Drive) LoginApp() string { return "the admintest app" }

// LoginKinds implements drivers.Loginer.
func (d *Drive) LoginKinds() []string { return append([]string(nil), Kinds...) }

// StartLogin implements drivers.Loginer.
func (d *Drive) StartLogin(ctx context.Context, kind string) (drivers.LoginFlow, error) {
	p, err := d.acct.startLogin()
	if err != nil {
		return nil, err
	}
	return &flow{d: d, p: p}, nil
}

// ShareState implements drivers.ShareStater.
func (s ShareDrive) ShareState(ctx context.Context) (string, error) {
	if err := s.ready(); err != nil {
		return "", err
	}
	s.acct.mu.Lock()
	defer s.acct.mu.Unlock()
	if s.acct.shareErr != nil {
		return "", s.acct.shareErr
	}
	return "valid, no expiry", nil
}

type flow struct {
	d *Drive
	p *pendingLogin
}

func (f *flow) QR() string         { return f.p.qr }
func (f *flow) Expires() time.Time { return f.p.expires }

func (f *flow) Wait(ctx context.Context, last drivers.LoginState) (drivers.LoginState, error) {
	return f.d.acct.poll(ctx, f.p, last)
}

// Finish stores the new login before the drive uses it, and leaves the
// stored one as it was when the trade fails.
func (f *flow) Finish(ctx context.Context) error {
	refresh, err := f.d.acct.redeem(f.p)
	if err != nil {
		return err
	}
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if err := d.save(refresh, now); err != nil {
		return errors.New("admintest: storing the new login: " + err.Error())
	}
	// The trade gave an access token too: the drive is live at once.
	d.refresh, d.since, d.live, d.refused = refresh, now, true, ""
	return nil
}
