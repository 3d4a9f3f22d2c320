// Package aliyun is the Aliyundrive (alipan) driver. It speaks the Open API
// (openapi.alipan.com): listing with marker pagination, download URLs whose
// expiry is read from x-oss-expires, rotating single-use refresh tokens
// persisted before use, and the per-user rate limits the service enforces.
// Writes (write.go, upload.go) use the Open API's own operations: folder
// create, rename, move, copy and trash with their async tasks, and
// uploads by pre-hash and proof (rapid) or by presigned part PUTs.
// With api: web (web.go) the drive is read through the web API instead,
// with its device signature. Share links (share.go) mount other people's
// shares and play them through an account's login.
package aliyun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

func init() { drivers.Register("aliyun", drivers.FactoryOf(New)) }

// Rates per API class, just under the Open API's documented per-user
// limits (list 4/s, getDownloadUrl 1/s, others 15/s), as OpenList runs.
var defaultRates = map[string]float64{"list": 3.9, "link": 0.9, "other": 14.9}

// tuning is what tests may change; production uses defaultTuning.
type tuning struct {
	rates  map[string]float64
	policy upstream.Policy
	// taskPoll is the first wait between polls of an async task; 0 means
	// defaultTaskPoll.
	taskPoll time.Duration
	// loginPoll is the wait between status polls of a QR login; 0 means
	// each kind's own.
	loginPoll time.Duration
	// copyRetry is how long a share mount answers a refused copy from
	// memory before it tries again; 0 means refusalMemory.
	copyRetry time.Duration
}

var defaultTuning = tuning{rates: defaultRates, policy: upstream.DefaultPolicy}

// Drive is one mounted Aliyundrive drive.
type Drive struct {
	o    Options
	t    tuning
	log  zerolog.Logger
	send upstream.Sender
	// tokens is the Open API login, and openAPI makes its calls; nil and
	// unused with api: web.
	tokens  *upstream.TokenSource
	openAPI upstream.Caller
	// web is the web-API login: the drive's own with api: web, or the
	// one an Open API account holds for share playback (web_refresh_token,
	// or a web login by QR code); never nil.
	web *webLogin
	// mount is where the drive is mounted, for what a login error says.
	mount string
	// tmp holds the temporary copies share mounts play through this
	// account (sharecopy.go).
	tmp tempCopies

	initMu  sync.Mutex // held while the drive id or root is fetched
	mu      sync.Mutex
	driveID string
	root    *drivers.Entry
	// cachedGen is the login (TokenSource.Generation) driveID and root
	// were fetched under: a new login may be another account's.
	cachedGen uint64

	dupLogged sync.Map // folder id + "/" + name -> struct{}
}

var (
	_ drivers.Drive         = (*Drive)(nil)
	_ drivers.Quotaer       = (*Drive)(nil)
	_ drivers.Loginer       = (*Drive)(nil)
	_ drivers.Accounter     = (*Drive)(nil)
	_ drivers.LoginStatuser = (*Drive)(nil)
	_ drivers.LoginApper    = (*Drive)(nil)

	_ drivers.KindLoginStatuser = (*Drive)(nil)
)

// New checks o and prepares the drive. It makes no network call: a cloud
// that cannot be reached is an error at first use.
func New(ctx context.Context, env drivers.Env, o Options) (*Drive, error) {
	return newDrive(env, o, defaultTuning)
}

func newDrive(env drivers.Env, o Options, t tuning) (*Drive, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if env.StateDir == "" {
		return nil, errors.New("aliyun: no state_dir: rotated refresh tokens must be kept on disk")
	}
	d := &Drive{
		o:     o,
		t:     t,
		log:   env.Log.With().Str("driver", "aliyun").Str("mount", env.MountPath).Logger(),
		send:  newSender(env.HTTPClient),
		mount: env.MountPath,
	}
	if o.API == "web" {
		w, err := newWebLogin(d, env, o.RefreshToken, d.relogin())
		if err != nil {
			return nil, err
		}
		d.web = w
		return d, nil
	}
	w, err := newWebLogin(d, env, o.WebRefreshToken, d.reloginWeb())
	if err != nil {
		return nil, err
	}
	d.web = w
	store := upstream.TokenStoreOf(env, "aliyun", upstream.LoginSeed(o.RefreshToken, env.MountPath))
	l, err := drivers.SharedValue(env.Shared, "aliyun-open:"+store.SharedName(), func() (*openLogin, error) {
		ts, err := upstream.NewTokenSource(store, upstream.Token{Refresh: o.RefreshToken}, d.refresh)
		if err != nil {
			return nil, err
		}
		return &openLogin{tokens: ts, limits: o.limiters(t.rates)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("aliyun: %w", err)
	}
	l.tokens.SetLog(d.log)
	l.tokens.SetLoginHint(d.relogin())
	d.tokens = l.tokens
	d.openAPI = upstream.Caller{Policy: t.policy, Limits: l.limits, Cred: l.tokens}
	return d, nil
}

// openLogin is what every mount of one Open API login shares
// (drivers.Shared): the token source, whose single-use refresh token no
// two mounts may spend, and the pace, as the service counts per user.
// Refreshes go through the first mount's refresher.
type openLogin struct {
	tokens *upstream.TokenSource
	limits *upstream.Limiters
}

// login is the token source of the mount's own login.
func (d *Drive) login() *upstream.TokenSource {
	if d.o.API == "web" {
		return d.web.auth.tokens
	}
	return d.tokens
}

// cached returns the drive id and root fetched under the current login,
// whose generation it returns too.
func (d *Drive) cached() (string, *drivers.Entry, uint64) {
	gen := d.login().Generation()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cachedGen != gen {
		d.driveID, d.root, d.cachedGen = "", nil, gen
	}
	return d.driveID, d.root, gen
}

// remember keeps what was fetched under the login gen, unless another
// login came meanwhile.
func (d *Drive) remember(gen uint64, keep func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cachedGen == gen {
		keep()
	}
}

// drive returns the id of the drive the mount serves, asking the service
// once per login.
func (d *Drive) drive(ctx context.Context) (string, error) {
	if id, _, _ := d.cached(); id != "" {
		return id, nil
	}
	d.initMu.Lock()
	defer d.initMu.Unlock()
	id, _, gen := d.cached()
	if id != "" {
		return id, nil
	}
	var info driveInfoResponse
	var err error
	if d.o.API == "web" {
		err = d.webDriveInfo(ctx, &info)
	} else {
		err = d.call(ctx, "other", "user/getDriveInfo", struct{}{}, &info)
	}
	if err != nil {
		return "", err
	}
	switch d.o.Drive {
	case "resource":
		id = info.ResourceDriveID
	case "backup":
		id = info.BackupDriveID
	}
	if id == "" {
		if d.o.Drive != "default" {
			d.log.Info().Str("drive", d.o.Drive).Msg("the account has no such drive; using its default drive")
		}
		id = info.DefaultDriveID
	}
	if id == "" {
		return "", fmt.Errorf("aliyun user/getDriveInfo: %w: no drive id in the answer", drivers.ErrUpstream)
	}
	d.remember(gen, func() { d.driveID = id })
	return id, nil
}

// Close waits for a refresh of either login in flight; see drivers.Closer.
func (d *Drive) Close(ctx context.Context) error {
	var errs []error
	if d.tokens != nil {
		errs = append(errs, d.tokens.Close(ctx))
	}
	errs = append(errs, d.web.auth.tokens.Close(ctx))
	return errors.Join(errs...)
}

// Quota reports the account's space.
func (d *Drive) Quota(ctx context.Context) (drivers.Quota, error) {
	if d.o.API == "web" {
		return drivers.Quota{}, fmt.Errorf("aliyun quota: %w under api: web", drivers.ErrUnsupported)
	}
	var out spaceInfoResponse
	if err := d.call(ctx, "other", "user/getSpaceInfo", struct{}{}, &out); err != nil {
		return drivers.Quota{}, err
	}
	return out.PersonalSpaceInfo.quota(), nil
}

// KeepsModTime implements drivers.ModTimeKeeper: an upload's
// local_modified_at comes back in listings.
func (d *Drive) KeepsModTime() bool { return true }
