// Package pan115 is the driver for 115 网盘 through its open API
// (proapi.115.com, passportapi.115.com): listing, lookups, download links
// bound to the requesting User-Agent, quota, and writes (folders, uploads
// through OSS with rapid upload, rename, move, copy, remove). See
// docs/protocols/pan115.md for the protocol it copes with.
package pan115

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

const (
	defaultAPIURL      = "https://proapi.115.com"
	defaultPassportURL = "https://passportapi.115.com"
	defaultQRCodeURL   = "https://qrcodeapi.115.com"
	defaultPageSize    = 1150
	// defaultQPS stays under the ~5/s where 115 starts answering 770004;
	// OpenList uses 1, the open115 rclone fork 3.
	defaultQPS       = 3
	defaultUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	// maxLinkLife caps a link's lifetime whatever its `t=` says: users see
	// open-API links die about an hour after issue (qmediasync #118).
	maxLinkLife    = time.Hour
	limitClass     = "api"
	attemptTimeout = 60 * time.Second
	maxBody        = 64 << 20
	rootID         = "0"
	// defaultPartSize is OpenList's 20 MB; minPartSize is OSS's floor for
	// every part but the last.
	defaultPartSize = 20 << 20
	// maxFileSize is the largest file 115 takes (docs/protocols/pan115.md
	// §4 Upload).
	maxFileSize = 115 << 30
	minPartSize = 100 << 10
)

const (
	// listClass is the listings' pace: the scan budget, then limitClass.
	listClass = "list"
	// defaultScanBudget, listing calls a minute, is two a second: a
	// library scan leaves a third of the default pace to links and all
	// else, and stays well under the rate at which 115 answers scans with
	// risk control (docs/protocols/pan115.md §6).
	defaultScanBudget = 120
)

// defaultPolicy is patient with 115's throttling, but not so patient that
// a WebDAV client times out before it hears 503.
var defaultPolicy = upstream.Policy{Attempts: 6, BaseDelay: 500 * time.Millisecond, MaxDelay: 10 * time.Second, GiveUpAfter: 30 * time.Second}

// Drive is one 115 mount.
type Drive struct {
	o           Options
	env         drivers.Env
	apiURL      string
	passportURL string
	qrcodeURL   string
	hc          *http.Client // also reads a file back for a rename by re-upload (rename.go)
	send        upstream.Sender
	ts          *upstream.TokenSource
	recent      *recentChanges // this login's changes, laid over 115's lagging listings
	lim         *upstream.Limiters
	// policy bounds retries; tests shorten it.
	policy upstream.Policy

	rootMu  sync.Mutex
	root    *drivers.Entry
	rootGen uint64 // the login root was looked up under

	stsMu sync.Mutex
	sts   *ossCred // cached get_token answer

	// watch follows the cloud-download tasks that run (offline.go).
	watch *taskWatch
	// folderPaths caches the paths of the folders tasks save into.
	folderPaths sync.Map // folder ID -> folderPath
}

var (
	_ drivers.Drive     = (*Drive)(nil)
	_ drivers.Quotaer   = (*Drive)(nil)
	_ drivers.LinkKeyer = (*Drive)(nil)

	_ drivers.Mkdirer        = (*Drive)(nil)
	_ drivers.Uploader       = (*Drive)(nil)
	_ drivers.UploadRequirer = (*Drive)(nil)
	_ drivers.Renamer        = (*Drive)(nil)
	_ drivers.Mover          = (*Drive)(nil)
	_ drivers.Copier         = (*Drive)(nil)
	_ drivers.Remover        = (*Drive)(nil)

	_ drivers.CloudDownloader      = (*Drive)(nil)
	_ drivers.CloudDownloadWatcher = (*Drive)(nil)
	_ drivers.ChangeNotifier       = (*Drive)(nil)

	_ drivers.Loginer       = (*Drive)(nil)
	_ drivers.Accounter     = (*Drive)(nil)
	_ drivers.LoginStatuser = (*Drive)(nil)
	_ drivers.LoginApper    = (*Drive)(nil)
)

func init() { drivers.Register("pan115", drivers.FactoryOf(New)) }

// New checks o and builds the drive. It makes no network call: a cloud that
// is down at start fails at first use, not at start.
func New(ctx context.Context, env drivers.Env, o Options) (*Drive, error) {
	o.RefreshToken, o.AppID = strings.TrimSpace(o.RefreshToken), strings.TrimSpace(o.AppID)
	if o.RefreshToken == "" && o.AppID == "" {
		// Such a mount could never log in: `pandav login` authorizes an app.
		return nil, errors.New("pan115: options.refresh_token is empty and there is no options.app_id to log in with: set app_id to your 115 open-platform app's AppID and run `pandav login`, or put a refresh token in refresh_token")
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if !strings.HasPrefix(o.Root, "/") {
		return nil, fmt.Errorf("pan115: root %q must start with /", o.Root)
	}
	o.Root = path.Clean(o.Root)
	if o.APIURL == "" {
		o.APIURL = defaultAPIURL
	}
	if o.PassportURL == "" {
		o.PassportURL = defaultPassportURL
	}
	if o.QRCodeURL == "" {
		o.QRCodeURL = defaultQRCodeURL
	}
	for key, v := range map[string]string{"api_url": o.APIURL, "passport_url": o.PassportURL, "qrcode_url": o.QRCodeURL} {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("pan115: %s %q is not an http(s) URL", key, v)
		}
	}
	switch {
	case o.PageSize < 0:
		return nil, fmt.Errorf("pan115: page_size %d must be positive", o.PageSize)
	case o.PageSize == 0:
		o.PageSize = defaultPageSize
	}
	switch {
	case o.QPS < 0:
		return nil, fmt.Errorf("pan115: qps %v must be positive", o.QPS)
	case o.QPS == 0:
		o.QPS = defaultQPS
	}
	switch {
	case o.ScanBudget < 0:
		return nil, fmt.Errorf("pan115: scan_budget %v must be positive (listing calls a minute)", o.ScanBudget)
	case o.ScanBudget == 0:
		o.ScanBudget = defaultScanBudget
	}
	if o.UserAgent == "" {
		o.UserAgent = defaultUserAgent
	}
	switch {
	case o.UploadPartSize == 0:
		o.UploadPartSize = defaultPartSize
	case o.UploadPartSize < minPartSize:
		return nil, fmt.Errorf("pan115: upload_part_size %d is below OSS's minimum part of %d bytes", o.UploadPartSize, minPartSize)
	}
	switch {
	case o.MaxFileSize == 0:
		o.MaxFileSize = maxFileSize
	case o.MaxFileSize < 0:
		return nil, fmt.Errorf("pan115: max_file_size %d must be positive", o.MaxFileSize)
	}
	if err := o.checkWatch(); err != nil {
		return nil, err
	}
	if env.StateDir == "" {
		return nil, errors.New("pan115: no state_dir to keep the rotating refresh token in")
	}
	d := &Drive{
		o:           o,
		env:         env,
		apiURL:      strings.TrimRight(o.APIURL, "/"),
		passportURL: strings.TrimRight(o.PassportURL, "/"),
		qrcodeURL:   strings.TrimRight(o.QRCodeURL, "/"),
		hc:          env.HTTPClient,
		policy:      defaultPolicy,
	}
	if d.hc == nil {
		d.hc = upstream.NewHTTPClient()
	}
	d.send = newSender(d.hc)
	d.watch = newTaskWatch(d, o.CloudDownloadPoll.D())
	store := upstream.TokenStoreOf(env, "pan115", upstream.LoginSeed(o.RefreshToken, env.MountPath))
	l, err := drivers.SharedValue(env.Shared, "pan115:"+store.SharedName(), func() (*login, error) {
		ts, err := upstream.NewTokenSource(store, upstream.Token{Access: o.AccessToken, Refresh: o.RefreshToken}, d.refresh)
		if err != nil {
			return nil, err
		}
		lim := upstream.NewLimiters(map[string]float64{limitClass: o.QPS})
		lim.ScanBudget(listClass, o.ScanBudget, limitClass)
		recent := &recentChanges{}
		shareRecent(recent, env.State, store.Key(), env.Log)
		return &login{ts: ts, lim: lim, recent: recent}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pan115: %w", err)
	}
	l.ts.SetLog(env.Log.With().Str("mount", env.MountPath).Logger())
	l.ts.SetLoginHint(d.relogin())
	d.ts, d.lim, d.recent = l.ts, l.lim, l.recent
	return d, nil
}

// login is what every mount of one 115 login shares (drivers.Shared):
// the token source, whose single-use refresh token no two mounts may
// spend; the pace, as 115 counts per account; and the recent changes,
// as two mounts of one login can show the same folder.
type login struct {
	ts     *upstream.TokenSource
	lim    *upstream.Limiters
	recent *recentChanges
}

// Close waits for a token refresh in flight; see drivers.Closer.
func (d *Drive) Close(ctx context.Context) error {
	d.watch.stop()
	return d.ts.Close(ctx)
}

// Quota reads the account's space from /open/user/info.
func (d *Drive) Quota(ctx context.Context) (drivers.Quota, error) {
	r, err := d.userInfo(ctx, "pan115 quota")
	if err != nil {
		return drivers.Quota{}, err
	}
	return r.quota(), nil
}

func (d *Drive) userInfo(ctx context.Context, op string) (userResp, error) {
	var r userResp
	err := d.call(ctx, op, request{method: http.MethodGet, path: "/open/user/info"}, &r)
	return r, err
}

func (r *userResp) quota() drivers.Quota {
	sp := r.Data.SpaceInfo
	q := drivers.Quota{Used: int64(sp.Use.Size), Total: int64(sp.Total.Size)}
	if q.Total == 0 && sp.Remain.Size > 0 {
		q.Total = q.Used + int64(sp.Remain.Size)
	}
	return q
}
