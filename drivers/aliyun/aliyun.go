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
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
	rates          map[string]float64
	policy         upstream.Policy
	newTokenSource func(*upstream.TokenStore, upstream.Token, upstream.RefreshFunc) (*upstream.TokenSource, error)
	// taskPoll is the first wait between polls of an async task; 0 means
	// defaultTaskPoll.
	taskPoll time.Duration
}

var defaultTuning = tuning{rates: defaultRates, policy: upstream.DefaultPolicy, newTokenSource: upstream.SharedTokenSource}

// Drive is one mounted Aliyundrive drive.
type Drive struct {
	o      Options
	t      tuning
	log    zerolog.Logger
	hc     *http.Client
	tokens *upstream.TokenSource // the Open API login; nil with api: web
	limits *upstream.Limiters
	// web is the web-API login: the drive's own with api: web, or the
	// web_refresh_token an Open API account holds for share playback.
	web *webLogin
	// tmp holds the temporary copies share mounts play through this
	// account (sharecopy.go).
	tmp tempCopies

	initMu  sync.Mutex // held while the drive id or root is fetched
	mu      sync.Mutex
	driveID string
	root    *drivers.Entry

	dupLogged sync.Map // folder id + "/" + name -> struct{}
}

var (
	_ drivers.Drive   = (*Drive)(nil)
	_ drivers.Getter  = (*Drive)(nil)
	_ drivers.Quotaer = (*Drive)(nil)
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
		o:   o,
		t:   t,
		log: env.Log.With().Str("driver", "aliyun").Str("mount", env.MountPath).Logger(),
		hc:  env.HTTPClient,
	}
	if d.hc == nil {
		d.hc = upstream.NewHTTPClient()
	}
	if o.API == "web" {
		w, err := newWebLogin(d, env, o.RefreshToken)
		if err != nil {
			return nil, err
		}
		d.web, d.limits = w, w.limits
		return d, nil
	}
	if o.WebRefreshToken != "" {
		w, err := newWebLogin(d, env, o.WebRefreshToken)
		if err != nil {
			return nil, err
		}
		d.web = w
	}
	store := upstream.NewTokenStore(env.StateDir, "aliyun", o.RefreshToken)
	ts, err := t.newTokenSource(store, upstream.Token{Refresh: o.RefreshToken}, d.refresh)
	if err != nil {
		return nil, fmt.Errorf("aliyun: %w", err)
	}
	ts.SetLog(d.log)
	d.tokens = ts
	d.limits = upstream.SharedLimiters("aliyun-open:"+store.Path(), o.RateLimits.rates(t.rates))
	return d, nil
}

// drive returns the id of the drive the mount serves, asking the service
// once.
func (d *Drive) drive(ctx context.Context) (string, error) {
	d.mu.Lock()
	id := d.driveID
	d.mu.Unlock()
	if id != "" {
		return id, nil
	}
	d.initMu.Lock()
	defer d.initMu.Unlock()
	d.mu.Lock()
	id = d.driveID
	d.mu.Unlock()
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
	d.mu.Lock()
	d.driveID = id
	d.mu.Unlock()
	return id, nil
}

// Root resolves options.root once and caches it.
func (d *Drive) Root(ctx context.Context) (drivers.Entry, error) {
	d.mu.Lock()
	r := d.root
	d.mu.Unlock()
	if r != nil {
		return *r, nil
	}
	if d.o.Root == "/" {
		e := drivers.Entry{ID: "root", IsDir: true}
		d.mu.Lock()
		d.root = &e
		d.mu.Unlock()
		return e, nil
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	d.initMu.Lock()
	defer d.initMu.Unlock()
	d.mu.Lock()
	r = d.root
	d.mu.Unlock()
	if r != nil {
		return *r, nil
	}
	var it fileItem
	if d.o.API == "web" {
		err = d.webGetByPath(ctx, driveID, d.o.Root, &it)
	} else {
		err = d.call(ctx, "other", "openFile/get_by_path", getByPathRequest{DriveID: driveID, FilePath: d.o.Root}, &it)
	}
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusNotFound) {
		// A missing path is 404 or, for a missing parent, 400.
		return drivers.Entry{}, fmt.Errorf("aliyun: options.root %q: %w (%v)", d.o.Root, drivers.ErrNotFound, err)
	}
	if err != nil {
		return drivers.Entry{}, err
	}
	e := toEntry(it)
	if !e.IsDir {
		return drivers.Entry{}, fmt.Errorf("aliyun: options.root %q is a file, not a folder", d.o.Root)
	}
	d.mu.Lock()
	d.root = &e
	d.mu.Unlock()
	return e, nil
}

// List returns every child of dir, following next_marker to the last page.
func (d *Drive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	driveID, err := d.drive(ctx)
	if err != nil {
		return nil, err
	}
	if d.o.API == "web" {
		kids, err := d.webList(ctx, driveID, dir)
		return hideTempFolder(dir, kids), err
	}
	req := listRequest{DriveID: driveID, ParentFileID: dir.ID, Limit: d.o.PageSize}
	out, err := listEntries(dir, "openFile/list", func(marker string) (page listResponse, err error) {
		req.Marker = marker
		err = d.call(ctx, "list", "openFile/list", req, &page)
		return page, err
	})
	if err != nil {
		return nil, err
	}
	d.orderDuplicates(dir, out)
	return hideTempFolder(dir, out), nil
}

// listPages follows next_marker from the first page (marker "") to the
// last, with page fetching one. A marker the service repeats would loop
// for ever, so it is an error.
func listPages(dir drivers.Entry, endpoint string, page func(marker string) (listResponse, error)) ([]fileItem, error) {
	var items []fileItem
	seen := map[string]bool{}
	for marker := ""; ; {
		p, err := page(marker)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", dir.Name, err)
		}
		items = append(items, p.Items...)
		if p.NextMarker == "" {
			return items, nil
		}
		if seen[p.NextMarker] {
			return nil, fmt.Errorf("aliyun %s %q: %w: the service repeated a page marker", endpoint, dir.Name, drivers.ErrUpstream)
		}
		seen[p.NextMarker] = true
		marker = p.NextMarker
	}
}

// listEntries is listPages, as entries.
func listEntries(dir drivers.Entry, endpoint string, page func(marker string) (listResponse, error)) ([]drivers.Entry, error) {
	items, err := listPages(dir, endpoint, page)
	out := make([]drivers.Entry, len(items))
	for i, it := range items {
		out[i] = toEntry(it)
	}
	return out, err
}

// orderDuplicates makes a listing's order deterministic: by name, and
// among equal names (the Open API's default check_name_mode allows them)
// the newest first, since the layer above uses the first of equal names.
func (d *Drive) orderDuplicates(dir drivers.Entry, es []drivers.Entry) {
	orderEntries(d.log, &d.dupLogged, dir, es)
}

// orderEntries is orderDuplicates for any mount; logged remembers the
// duplicates already reported.
func orderEntries(log zerolog.Logger, logged *sync.Map, dir drivers.Entry, es []drivers.Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if !a.ModTime.Equal(b.ModTime) {
			return a.ModTime.After(b.ModTime)
		}
		return a.ID < b.ID
	})
	for i := 1; i < len(es); i++ {
		if es[i].Name != es[i-1].Name || (i > 1 && es[i-2].Name == es[i].Name) {
			continue
		}
		n := 2
		for n+i-1 < len(es) && es[n+i-1].Name == es[i].Name {
			n++
		}
		if _, done := logged.LoadOrStore(dir.ID+"/"+es[i].Name, struct{}{}); !done {
			log.Warn().Str("folder_id", dir.ID).Str("name", es[i].Name).Int("copies", n).
				Str("using", es[i-1].ID).Msg("duplicate names in a folder; the newest is served")
		}
	}
}

// Get fetches one entry by id.
func (d *Drive) Get(ctx context.Context, id string) (drivers.Entry, error) {
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	if d.o.API == "web" {
		return d.webGet(ctx, driveID, id)
	}
	var it fileItem
	if err := d.call(ctx, "other", "openFile/get", getRequest{DriveID: driveID, FileID: id}, &it); err != nil {
		return drivers.Entry{}, err
	}
	return toEntry(it), nil
}

// Link asks for a download URL. Open API URLs need no headers; their
// expiry is what x-oss-expires says, whatever was asked for.
func (d *Drive) Link(ctx context.Context, f drivers.Entry, _ drivers.LinkRequest) (drivers.Link, error) {
	if f.IsDir {
		return drivers.Link{}, fmt.Errorf("link %q: %w", f.Name, drivers.ErrIsDir)
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.Link{}, err
	}
	if d.o.API == "web" {
		return d.webLink(ctx, driveID, f)
	}
	var out downloadURLResponse
	req := downloadURLRequest{DriveID: driveID, FileID: f.ID, ExpireSec: d.o.LinkExpiry}
	if err := d.call(ctx, "link", "openFile/getDownloadUrl", req, &out); err != nil {
		return drivers.Link{}, fmt.Errorf("link %q: %w", f.Name, err)
	}
	if out.URL == "" {
		// .livp live photos come as separate streams, with no url.
		return drivers.Link{}, fmt.Errorf("link %q: %w: the service offers no single download URL", f.Name, drivers.ErrUnsupported)
	}
	return drivers.Link{URL: out.URL, Expires: linkExpiry(out), MaxConns: 3}, nil
}

func linkExpiry(out downloadURLResponse) time.Time {
	if u, err := url.Parse(out.URL); err == nil {
		if s, err := strconv.ParseInt(u.Query().Get("x-oss-expires"), 10, 64); err == nil && s > 0 {
			return time.Unix(s, 0)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, out.Expiration); err == nil {
		return t
	}
	return time.Time{}
}

// Close waits for a refresh of either login in flight; see drivers.Closer.
func (d *Drive) Close(ctx context.Context) error {
	var errs []error
	if d.tokens != nil {
		errs = append(errs, d.tokens.Close(ctx))
	}
	if d.web != nil {
		errs = append(errs, d.web.tokens.Close(ctx))
	}
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
	return drivers.Quota{Used: out.PersonalSpaceInfo.UsedSize, Total: out.PersonalSpaceInfo.TotalSize}, nil
}

func toEntry(it fileItem) drivers.Entry {
	e := drivers.Entry{ID: it.FileID, ParentID: it.ParentFileID, Name: it.Name, IsDir: it.Type == "folder"}
	if e.Name == "" {
		e.Name = it.FileName
	}
	if !e.IsDir {
		e.Size = it.Size
		if len(it.ContentHash) == 40 && (it.ContentHashName == "" || strings.EqualFold(it.ContentHashName, "sha1")) {
			e.SHA1 = strings.ToUpper(it.ContentHash)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, it.LocalModifiedAt); err == nil && it.Type != "folder" {
		e.ModTime = t // the time the uploading client gave, which is what it compares
	} else if t, err := time.Parse(time.RFC3339Nano, it.UpdatedAt); err == nil {
		e.ModTime = t
	} else if t, err := time.Parse(time.RFC3339Nano, it.CreatedAt); err == nil {
		e.ModTime = t
	}
	return e
}

// KeepsModTime implements drivers.ModTimeKeeper: an upload's
// local_modified_at comes back in listings.
func (d *Drive) KeepsModTime() bool { return true }
