// Package app assembles a running pandav from a configuration: it opens
// every mount's driver, builds the WebDAV file system and handler, and
// serves them with the server settings a long stream needs.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"

	"pandav/config"
	"pandav/drivers"
	_ "pandav/drivers/all" // every driver, by its registered name
	"pandav/internal/admin"
	"pandav/internal/auth"
	"pandav/internal/console"
	"pandav/internal/httpclient"
	"pandav/internal/metrics"
	"pandav/internal/state"
	"pandav/internal/stream"
	"pandav/internal/strmlink"
	"pandav/webdav"
)

// App is pandav, assembled.
type App struct {
	Config  *config.Config
	FS      *webdav.FileSystem
	Handler http.Handler
	Log     zerolog.Logger
	// Admin is the admin API's work, which Handler serves under
	// admin.Prefix.
	Admin *admin.Service

	drives *Drives
}

// Drives is every mount's driver, opened.
type Drives struct {
	Mounts []admin.Mount
	// State is where logins, locks and properties are kept.
	State state.Store
	log   zerolog.Logger
	keys  strmlink.Keys // what .strm links are signed with
}

// OpenDrives opens every mount's driver, as a server does, for a command
// that works on the clouds without serving them (pandav check and login,
// when no server holds state_dir). A mistake in a mount's options is a
// *config.Error, naming the mount and its line.
func OpenDrives(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*Drives, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	st, err := OpenState(cfg)
	if err != nil {
		return nil, err
	}
	opened := map[string]drivers.Drive{}
	// Mounts of one login share its token source and pacing through it.
	shared := drivers.NewShared()
	d := &Drives{log: log, keys: strmlink.FileKeys(cfg.StateDir), State: st}
	// The strm views sign with the key the signed routes check.
	drivers.SharedValue(shared, strmlink.SharedKeys, func() (strmlink.Keys, error) { return d.keys, nil })
	serverURL, err := cfg.URL()
	if err != nil {
		return nil, &config.Error{Msg: err.Error()}
	}
	for i := range cfg.Mounts {
		m := &cfg.Mounts[i]
		where := fmt.Sprintf("mounts[%d] %s (line %d)", i, m.Path, m.Line)
		factory, err := drivers.Lookup(m.Driver)
		if err != nil {
			return nil, &config.Error{Msg: fmt.Sprintf("%s: driver: %v", where, err)}
		}
		env := drivers.Env{
			MountPath:  m.Path,
			StateDir:   cfg.StateDir,
			State:      st,
			Log:        log.With().Str("mount", m.Path).Logger(),
			HTTPClient: httpclient.New(),
			Mount: func(p string) (drivers.Drive, bool) {
				d, ok := opened[p]
				return d, ok
			},
			Shared:    shared,
			ServerURL: serverURL,
		}
		opts := func(v any) error {
			return config.Decode(&m.Options, v, fmt.Sprintf("mounts[%d].options", i))
		}
		drive, err := factory(ctx, env, opts)
		if err != nil {
			if config.IsError(err) {
				return nil, err
			}
			return nil, &config.Error{Msg: fmt.Sprintf("%s: %v", where, err)}
		}
		opened[m.Path] = drive
		d.Mounts = append(d.Mounts, admin.Mount{Path: m.Path, Driver: m.Driver, ReadOnly: m.ReadOnly, Drive: drive})
	}
	return d, nil
}

// New opens every mount. A mistake in a mount's options is a
// *config.Error, naming the mount and its line.
func New(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	if len(cfg.Users) == 0 && !cfg.AllowAnonymous && !isLoopback(cfg.Listen) {
		return nil, &config.Error{Msg: fmt.Sprintf("listen: %s is reachable from other machines and no users are configured; add users, or set allow_anonymous: true", cfg.Listen)}
	}
	if len(cfg.Mounts) == 0 {
		log.Warn().Msg("no mounts are configured, so the WebDAV root is empty: add your drives under mounts: in the config file and restart (config.example.yaml shows each driver)")
	}
	drives, err := OpenDrives(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	specs := make([]webdav.MountSpec, len(drives.Mounts))
	for i, m := range drives.Mounts {
		c := &cfg.Mounts[i]
		specs[i] = webdav.MountSpec{Path: m.Path, Drive: m.Drive, ReadOnly: c.ReadOnly, NoTrash: c.NoTrash, Redirect: c.Redirect}
	}
	fs, err := webdav.NewFileSystem(specs, webdav.Options{
		CacheEntries: cfg.Cache.Entries,
		CacheTTL:     cfg.Cache.TTL.D(),
		NegativeTTL:  cfg.Cache.NegativeTTL.D(),
		LinkMargin:   cfg.Cache.LinkMargin.D(),
		CDNClient:    httpclient.New(),
		Stream: stream.Options{
			ChunkSize:    int64(cfg.Stream.ChunkSize),
			ReadAhead:    readAhead(cfg.Stream.ReadAhead),
			MemoryBudget: int64(cfg.Stream.MemoryBudget),
			StallTimeout: cfg.Stream.StallTimeout.D(),
		},
		Log:               log,
		StateDir:          cfg.StateDir,
		State:             drives.State,
		UploadSystemFiles: cfg.UploadSystemFiles,
		PlaceholderGrace:  placeholderGrace(cfg.PlaceholderGrace.D()),
		MaxLockTimeout:    cfg.Locks.MaxTimeout.D(),
		MaxLocksPerUser:   cfg.Locks.MaxPerUser,
		ReadBackMaxFile:   readBackMaxFile(cfg.ReadBack.MaxFile),
		ReadBackMaxTotal:  int64(cfg.ReadBack.MaxTotal),
		ReadBackTTL:       cfg.ReadBack.TTL.D(),
	})
	if err != nil {
		return nil, &config.Error{Msg: err.Error()}
	}
	davHandler := webdav.NewHandler(fs)
	var dav http.Handler = davHandler
	// Without users the admin API answers loopback clients only.
	var authn admin.Authenticator
	var gate *auth.Gate
	if len(cfg.Users) > 0 {
		users := make([]auth.User, len(cfg.Users))
		for i, u := range cfg.Users {
			users[i] = auth.User{Name: u.Name, Password: u.Password, ReadOnly: u.ReadOnly, Mounts: u.Mounts, Admin: u.Admin}
			if !auth.IsHashed(u.Password) {
				log.Warn().Str("user", u.Name).Msg("password is stored in plain text; use `pandav hash-password` to store a bcrypt hash")
			}
		}
		// One gate for WebDAV and the admin API: failed logins count
		// against an address whichever it tries.
		gate = auth.NewGate(users, log, auth.Options{
			IsWrite:          webdav.IsWrite,
			AnonymousOptions: http.HandlerFunc(webdav.AnonymousOptions),
			SignInPage:       console.SignInPath,
		})
		dav = gate.Wrap(dav)
		authn = gate
	}
	svc := admin.NewService(drives.Mounts, log)
	// A new login may be another account's: what the mount showed of the
	// old one must not be served from the cache.
	svc.OnLogin(fs.PurgeMount)
	api := admin.NewHandler(svc, authn, log)
	// A browser's visit to a folder gets the console's page; the console's
	// own pages sit beside the API under /.pandav/.
	pages := console.New(svc, gate, log)
	davHandler.SetFolderPage(pages)
	// The mounts' cards say which cloud is throttling now.
	davHandler.OnThrottled(svc.NoteThrottled)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case admin.IsAPIPath(r.URL.Path):
			api.ServeHTTP(w, r)
		case console.IsConsolePath(r.URL.Path):
			pages.ServeHTTP(w, r)
		default:
			dav.ServeHTTP(w, r)
		}
	})
	// A signed .strm link is its own permission: it is checked before
	// authentication, and only its one file is served.
	h = strmlink.Route(h, strmlink.NewSigner(drives.keys), davHandler, log)
	// Probes and scrapes are answered outside the request counts, which
	// they would fill with their own.
	h = metrics.Instrument(h)
	h = withMetrics(cfg.Metrics.Public, authn, log, withReady(svc, h))
	return &App{Config: cfg, FS: fs, Handler: h, Log: log, Admin: svc, drives: drives}, nil
}

// OpenState opens the state store the config names: Redis when
// state.redis is set (never the embedded store instead, should Redis be
// unreachable), else state_dir's embedded store, opened once per process.
func OpenState(cfg *config.Config) (state.Store, error) {
	if cfg.State.Redis != "" {
		return state.OpenRedis(cfg.State.Redis)
	}
	return state.ForDir(cfg.StateDir)
}

// placeholderGrace maps the config's 0s ("at the next check") to
// webdav.Options' smallest wait, its 0 being "the default".
func placeholderGrace(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}

// readBackMaxFile maps the config's 0 ("keep none") to webdav.Options'
// "none".
func readBackMaxFile(n config.ByteSize) int64 {
	if n == 0 {
		return -1
	}
	return int64(n)
}

// readAhead maps the config's 0 ("none") to stream.Options' "off".
func readAhead(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve answers on ln until ctx ends, then drains for up to grace.
func (a *App) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	// Last of all, on every way out.
	defer a.Close()
	srv := &http.Server{
		Handler: withHealth(a.Handler),
		// No WriteTimeout: a film streams for hours. Slow clients are
		// bounded by the header timeout and each request's own context.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() {
		if a.Config.TLS.Cert != "" {
			// net/http speaks HTTP/2 over TLS to clients that offer it.
			errc <- srv.ServeTLS(ln, a.Config.TLS.Cert, a.Config.TLS.Key)
			return
		}
		errc <- srv.Serve(ln)
	}()
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.FS.Tick()
			}
		}
	}()
	a.Log.Info().Str("addr", ln.Addr().String()).Msg("listening")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	uploads := a.FS.InFlightUploads()
	a.Log.Info().Dur("grace", grace).Int("uploads_in_flight", len(uploads)).Msg("shutting down; in-flight requests may finish")
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	a.FS.Flush()
	if errors.Is(err, context.DeadlineExceeded) {
		if left := a.FS.InFlightUploads(); len(left) > 0 {
			// The clouds keep an unfinished upload invisible, and the old
			// file is only replaced after an upload completes, so nothing
			// is lost: the client must send the file again.
			a.Log.Warn().Strs("paths", left).Msg("grace period over: abandoning unfinished uploads; the old files are untouched")
		}
		srv.Close()
		// Closing the connections fails the uploads' bodies; give them a
		// moment to clean up (spool files, the cloud's half uploads) and
		// say so in the log before the process is gone.
		for end := time.Now().Add(abandonWait); len(a.FS.InFlightUploads()) > 0 && time.Now().Before(end); {
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	if err == nil {
		a.Log.Info().Msg("drained")
	}
	return err
}

// abandonWait bounds how long uploads cut off at the end of the grace
// period get to clean up.
const abandonWait = 3 * time.Second

// closeWait bounds how long a stopping pandav waits for a token refresh
// in flight: as long as a refresh may take (upstream's refreshTimeout). It
// does not depend on shutdown_grace, which is for clients: exiting before
// the cloud's answer arrives can cost the login itself.
const closeWait = time.Minute

// Close ends the admin API's logins in progress (a token exchange under
// way finishes), then lets each driver finish what must not be cut short
// (a token refresh in flight) before the process exits. Serve calls it.
func (a *App) Close() {
	a.Admin.Close()
	a.drives.Close()
}

// Close lets each driver finish what must not be cut short (a token
// refresh in flight).
func (d *Drives) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	for _, m := range d.Mounts {
		if c, ok := m.Drive.(drivers.Closer); ok {
			if err := c.Close(ctx); err != nil {
				d.log.Error().Err(err).Str("mount", m.Path).Msg("stopping a drive")
			}
		}
	}
}

// NewLogger builds the logger the config asks for, writing to w; colours
// only when w is a terminal.
func NewLogger(c config.Log, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	var out = zerolog.New(w)
	if c.Format == "console" {
		out = zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !colorWanted(w)})
	}
	return out.Level(level).With().Timestamp().Logger()
}
