package webdav

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/webdav"

	"pandav/drivers"
	"pandav/internal/state"
	"pandav/internal/stream"
)

// MountSpec puts a drive at a path.
type MountSpec struct {
	Path     string // absolute, cleaned, not "/"
	Drive    drivers.Drive
	ReadOnly bool
	NoTrash  bool // deletes are permanent instead of going to the trash
	// Redirect answers GET with a 302 to the cloud's link when the client
	// can fetch it itself (see Handler.redirectable).
	Redirect bool
}

// Options tune the FileSystem. Zero values get defaults.
type Options struct {
	CacheEntries int
	CacheTTL     time.Duration // how long a listing is trusted
	NegativeTTL  time.Duration // how long a miss is remembered
	LinkMargin   time.Duration // drop a cached link this long before it expires
	// CDNClient fetches file bytes from links.
	CDNClient *http.Client
	Stream    stream.Options
	Log       zerolog.Logger
	// StateDir holds dead properties and spooled uploads; "" keeps
	// properties in memory and spools to the system's temp folder.
	StateDir string
	// UploadSystemFiles sends .DS_Store, ._*, Thumbs.db and desktop.ini to
	// the cloud instead of keeping them in memory.
	UploadSystemFiles bool
	// MaxLockTimeout caps LOCK timeouts; "Infinite" means this long.
	MaxLockTimeout time.Duration
	// MaxLocksPerUser caps the locks one user (or anonymous address)
	// holds at once.
	MaxLocksPerUser int
	// PlaceholderGrace is how long an empty, unlocked placeholder waits
	// for its content before it is stored as an empty file.
	PlaceholderGrace time.Duration
	// State keeps locks, dead properties and pending removals across
	// restarts (and, shared, across replicas); nil means StateDir's
	// embedded store, or memory when StateDir is "".
	State state.Store
	// ReadBackMaxFile, ReadBackMaxTotal and ReadBackTTL bound the copies
	// of pandav's own uploads kept in StateDir/readback to serve reads
	// of them without a download link (see readBack): the largest file
	// kept (negative: none), all of them together, and how long each.
	ReadBackMaxFile  int64
	ReadBackMaxTotal int64
	ReadBackTTL      time.Duration
}

func (o *Options) defaults() {
	if o.CacheEntries <= 0 {
		o.CacheEntries = 100000
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Minute
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 10 * time.Second
	}
	if o.LinkMargin <= 0 {
		o.LinkMargin = time.Minute
	}
	if o.CDNClient == nil {
		o.CDNClient = http.DefaultClient
	}
	if o.MaxLockTimeout <= 0 {
		o.MaxLockTimeout = time.Hour
	}
	if o.MaxLocksPerUser <= 0 {
		o.MaxLocksPerUser = 1000
	}
	if o.PlaceholderGrace <= 0 {
		o.PlaceholderGrace = time.Minute
	}
	if o.StateDir == "" {
		o.StateDir = os.TempDir()
	}
	if o.ReadBackMaxFile == 0 {
		o.ReadBackMaxFile = 16 << 20
	}
	if o.ReadBackMaxTotal <= 0 {
		o.ReadBackMaxTotal = 32 * max(o.ReadBackMaxFile, 1<<20)
	}
	if o.ReadBackTTL <= 0 {
		o.ReadBackTTL = 5 * time.Minute
	}
}

// FileSystem is a webdav.FileSystem over the mount table. Paths that are
// a mount's ancestors ("/", "/share" for "/share/demo") are virtual,
// read-only folders.
type FileSystem struct {
	mounts    []*mount // longest path first
	virtual   map[string][]string
	caches    *caches
	streams   *stream.Pool
	held      *heldFiles
	props     *propStore
	locks     *lockSystem
	uploads   sync.Map // *uploadFile -> path, while in flight
	pathLocks pathLocks
	pending   *pendingRemovals
	readBack  *readBack
	watcher   state.Watcher // other replicas' changes; nil without replicas
	o         Options
	started   time.Time
}

var _ webdav.FileSystem = (*FileSystem)(nil)

// NewFileSystem builds the mount table.
func NewFileSystem(specs []MountSpec, o Options) (*FileSystem, error) {
	stateDir := o.StateDir
	o.defaults()
	if o.State == nil {
		o.State = state.NewMemory()
		if stateDir != "" {
			st, err := state.ForDir(stateDir)
			if err != nil {
				return nil, err
			}
			o.State = st
		}
	}
	props := newPropStore(o.State)
	sweepSpool(o.StateDir)
	locks, err := newLockSystem(o.State, o.State.Shared(), time.Now())
	if err != nil {
		return nil, err
	}
	fs := &FileSystem{
		caches: newCaches(o), o: o, virtual: map[string][]string{"/": nil}, started: time.Now().UTC(),
		streams: stream.NewPool(o.Stream, o.CDNClient, o.Log), held: newHeldFiles(), props: props, locks: locks,
		pending:  newPendingRemovals(o.State),
		readBack: newReadBack(o.StateDir, o.ReadBackMaxFile, o.ReadBackMaxTotal, o.ReadBackTTL),
	}
	seen := map[string]bool{}
	for _, s := range specs {
		p := path.Clean("/" + s.Path)
		if p == "/" || seen[p] || s.Drive == nil {
			return nil, fmt.Errorf("webdav: bad or duplicate mount %q", s.Path)
		}
		seen[p] = true
		fs.mounts = append(fs.mounts, &mount{path: p, drive: s.Drive, can: capabilitiesOf(s.Drive), readOnly: s.ReadOnly, noTrash: s.NoTrash, redirect: s.Redirect, caches: fs.caches})
		for child := p; child != "/"; child = path.Dir(child) {
			parent := path.Dir(child)
			if !contains(fs.virtual[parent], path.Base(child)) {
				fs.virtual[parent] = append(fs.virtual[parent], path.Base(child))
			}
		}
	}
	for _, m := range fs.mounts {
		fs.followChanges(m)
	}
	fs.watchState()
	for p := range seen {
		if _, clash := fs.virtual[p]; clash {
			return nil, fmt.Errorf("webdav: mount %s has another mount inside it", p)
		}
	}
	for _, kids := range fs.virtual {
		sort.Strings(kids)
	}
	sort.Slice(fs.mounts, func(i, j int) bool { return len(fs.mounts[i].path) > len(fs.mounts[j].path) })
	return fs, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// watchState fans out cache invalidation through a shared state store:
// our own writes are published, and what other replicas publish drops
// what is cached here, so a file PUT through one replica is in the next
// PROPFIND through any other. Metadata caches stay per replica; only
// their invalidation is shared.
func (fs *FileSystem) watchState() {
	w, ok := fs.o.State.(state.Watcher)
	if !ok || !fs.o.State.Shared() {
		return
	}
	fs.watcher = w
	fs.caches.changed = func(c cacheChange) {
		b, _ := json.Marshal(c)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := w.Publish(ctx, "path", string(b)); err != nil {
			fs.o.Log.Warn().Err(err).Str("path", c.Mount+c.Rel).Msg("the other replicas were not told of this change; they may serve their cached listing until it expires")
		}
	}
	w.Watch(func(topic, msg string) {
		switch topic {
		case "path":
			var c cacheChange
			if json.Unmarshal([]byte(msg), &c) != nil {
				return
			}
			m := fs.mountAt(c.Mount)
			switch {
			case m == nil || m.path != c.Mount:
			case c.Entry != nil:
				m.learnHere(c.Rel, *c.Entry)
			case c.Gone:
				m.forgetHere(c.Rel)
			default:
				fs.caches.dropRemote(m.fullPath(c.Rel))
			}
		case "props":
			mount, id, _ := strings.Cut(msg, "\x00")
			fs.props.forget(mount, id)
		case "locks":
			fs.locks.reload()
		case "all":
			// Messages may have been lost while the store was away.
			fs.caches.Purge()
			fs.props.cache.Purge()
			fs.locks.reload()
		}
	})
}

// syncState waits, on a shared store, for the changes other replicas
// made before this request to reach the caches here, so that a client
// sees what its last request changed whichever replica served it. A
// store that cannot be reached is no reason to refuse a request that may
// not need it: those that do are refused when they reach it.
func (fs *FileSystem) syncState(ctx context.Context) {
	if fs.watcher == nil {
		return
	}
	if err := fs.watcher.Sync(ctx); err != nil {
		fs.o.Log.Debug().Err(err).Msg("state store: caches not synced with the other replicas")
	}
}

// Purge flushes every cache (SIGHUP).
func (fs *FileSystem) Purge() { fs.caches.Purge() }

// PurgeMount forgets everything cached of the mount at path p: its
// entries, listings, misses, links and space. A new login of the mount
// may be another account's, whose files the cache has never seen.
func (fs *FileSystem) PurgeMount(p string) {
	if m := fs.mountAt(cleanPath(p)); m != nil {
		m.purge()
	}
}

// Tick does the periodic work: storing idle placeholders. The server calls
// it every few seconds.
func (fs *FileSystem) Tick() {
	fs.materializeIdle(fs.o.PlaceholderGrace, fs.locks.covers)
	fs.streams.Trim(time.Minute)
	fs.readBack.trim()
	fs.pending.retry(fs)
}

// mountAt returns the mount at exactly path p, or nil.
func (fs *FileSystem) mountAt(p string) *mount {
	for _, m := range fs.mounts {
		if m.path == p {
			return m
		}
	}
	return nil
}

func (fs *FileSystem) forgetMiss(name string) { fs.caches.misses.Remove(name) }

// locate splits a cleaned path into its mount and the path inside it.
// A virtual folder has no mount.
func (fs *FileSystem) locate(name string) (*mount, string) {
	for _, m := range fs.mounts {
		if name == m.path {
			return m, "/"
		}
		if strings.HasPrefix(name, m.path+"/") {
			return m, name[len(m.path):]
		}
	}
	return nil, ""
}

func cleanPath(name string) string { return path.Clean("/" + name) }

// finderHints are empty files that exist at the root without being
// listed: their presence tells macOS not to index the volume with
// Spotlight and not to render QuickLook thumbnails, either of which
// would download every video in a folder Finder opens.
var finderHints = map[string]bool{"/.metadata_never_index": true, "/.ql_disablethumbnails": true, "/.metadata_never_index_unless_rootfs": true}

// node is what a path resolves to.
type node struct {
	name    string // full cleaned path
	m       *mount // nil for a virtual folder
	entry   drivers.Entry
	virtual bool
	held    *heldFile // a file kept in memory (see heldFiles)
	// uploading: a new file whose upload is in progress (see inflight)
	uploading bool
}

func (fs *FileSystem) resolve(ctx context.Context, name string) (node, error) {
	name = cleanPath(name)
	if !requestOf(ctx).user.MaySee(name) {
		return node{}, fmt.Errorf("%s: %w", name, drivers.ErrNotFound)
	}
	if _, ok := fs.virtual[name]; ok {
		return node{name: name, virtual: true}, nil
	}
	if finderHints[name] {
		return node{name: name, entry: drivers.Entry{Name: path.Base(name), ModTime: fs.started}, held: &heldFile{mod: fs.started}}, nil
	}
	m, rel := fs.locate(name)
	if m == nil {
		return node{}, fmt.Errorf("%s: %w", name, drivers.ErrNotFound)
	}
	if hf, ok := fs.held.get(name); ok {
		e := drivers.Entry{ID: heldID(name), Name: path.Base(name), Size: int64(len(hf.data)), ModTime: hf.mod, SHA1: hf.sum}
		return node{name: name, m: m, entry: e, held: hf}, nil
	}
	if st, ok := fs.downloadStatus(ctx, m, name, rel); ok {
		return st, nil
	}
	e, err := m.resolve(ctx, rel)
	if errors.Is(err, drivers.ErrNotFound) {
		if u := fs.inflight(name); u != nil {
			return node{name: name, m: m, entry: u.entry(), uploading: true}, nil
		}
	}
	if err != nil {
		return node{}, err
	}
	return node{name: name, m: m, entry: e}, nil
}

func (fs *FileSystem) info(n node) *FileInfo {
	if n.virtual {
		return &FileInfo{name: path.Base(n.name), virtual: true, mod: fs.started, entry: drivers.Entry{IsDir: true}}
	}
	base := n.entry.Name
	if n.m != nil && n.name == n.m.path {
		base = path.Base(n.m.path) // a drive's root folder has no name of its own
	}
	return &FileInfo{name: base, entry: n.entry, mod: fs.started}
}

// Stat implements webdav.FileSystem.
func (fs *FileSystem) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	n, err := fs.resolve(ctx, name)
	if err != nil {
		return nil, fs.fail(ctx, "stat", name, err)
	}
	return fs.info(n), nil
}

// OpenFile implements webdav.FileSystem. It does no upstream work beyond
// resolving the path, which a warm cache answers: a file's bytes are
// fetched on its first Read, a folder's children on Readdir.
func (fs *FileSystem) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		return fs.create(ctx, name)
	}
	if flag&os.O_APPEND != 0 {
		return nil, &os.PathError{Op: "open", Path: name, Err: drivers.ErrUnsupported}
	}
	n, err := fs.resolve(ctx, name)
	if err != nil {
		return nil, fs.fail(ctx, "open", name, err)
	}
	if n.held != nil {
		return &heldReader{Reader: bytes.NewReader(n.held.data), fs: fs, n: n, ctx: ctx}, nil
	}
	if n.uploading {
		return &heldReader{Reader: bytes.NewReader(nil), fs: fs, n: n, ctx: ctx}, nil
	}
	if n.virtual || n.entry.IsDir {
		return &dirFile{fs: fs, n: n, ctx: ctx}, nil
	}
	if b, ok, err := fs.produced(ctx, n); err != nil {
		return nil, fs.fail(ctx, "open", name, err)
	} else if ok {
		return &producedFile{Reader: bytes.NewReader(b), fi: fs.info(n)}, nil
	}
	return newRemoteFile(ctx, fs, n, drivers.LinkRequest{UserAgent: requestOf(ctx).userAgent}), nil
}

// errReadOnly is what writes to a read-only mount meet.
var errReadOnly = fmt.Errorf("%w: this mount is read-only", os.ErrPermission)

// readdir lists the folder at name.
func (fs *FileSystem) readdir(ctx context.Context, n node) ([]os.FileInfo, error) {
	if n.virtual {
		var out []os.FileInfo
		for _, kid := range fs.virtual[n.name] {
			child := path.Join(n.name, kid)
			if !requestOf(ctx).user.MaySee(child) {
				continue
			}
			if _, ok := fs.virtual[child]; ok {
				out = append(out, &FileInfo{name: kid, virtual: true, mod: fs.started, entry: drivers.Entry{IsDir: true}})
				continue
			}
			// A mount's root is shown from its own root entry when known,
			// but a mount that cannot reach its cloud must not hide the
			// others, so it is listed as a plain folder then.
			m, _ := fs.locate(child)
			e, err := m.resolve(ctx, "/")
			if err != nil {
				fs.o.Log.Warn().Str("mount", m.path).Err(err).Msg("mount root unavailable")
				e = drivers.Entry{IsDir: true, ModTime: fs.started}
			}
			out = append(out, &FileInfo{name: kid, entry: e, mod: fs.started})
		}
		return out, nil
	}
	rel := n.name[len(n.m.path):]
	if rel == "" {
		rel = "/"
	}
	kids, err := n.m.list(ctx, n.entry, rel)
	if err != nil {
		return nil, err
	}
	out := make([]os.FileInfo, 0, len(kids))
	seen := make(map[string]bool, len(kids))
	for _, k := range kids {
		out = append(out, &FileInfo{name: k.Name, entry: k, mod: fs.started})
		seen[k.Name] = true
	}
	for name, hf := range fs.held.children(n.name) {
		if !seen[name] {
			seen[name] = true
			out = append(out, &FileInfo{name: name, entry: drivers.Entry{Name: name, Size: int64(len(hf.data)), ModTime: hf.mod, SHA1: hf.sum}, mod: fs.started})
		}
	}
	for _, u := range fs.inflightIn(n.name) {
		if e := u.entry(); !seen[e.Name] {
			seen[e.Name] = true
			out = append(out, &FileInfo{name: e.Name, entry: e, mod: fs.started})
		}
	}
	return fs.withDownloadStatus(ctx, n, rel, out), nil
}

// asPathError gives x/net/webdav the *os.PathError it expects. A missing
// entry becomes os.ErrNotExist itself, because x/net/webdav tests with
// os.IsNotExist, which does not follow wrapped errors.
func asPathError(op, name string, err error) error {
	if errors.Is(err, drivers.ErrNotFound) {
		err = os.ErrNotExist
	}
	return &os.PathError{Op: op, Path: name, Err: err}
}
