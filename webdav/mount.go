package webdav

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pandav/cache"
	"pandav/drivers"
)

// mount is one drive at one path, with the path-to-entry resolution that
// drivers leave to us. Every listing caches each child, so the Stat and
// OpenFile that x/net/webdav makes per PROPFIND entry cost no upstream
// call.
type mount struct {
	path     string // "/aliyun"
	drive    drivers.Drive
	can      capabilities
	readOnly bool
	noTrash  bool
	redirect bool
	caches   *caches
}

// capabilities are the optional interfaces of a mount's drive
// (docs/DESIGN.md, the driver contract), found once when the mount is
// made; nil where the drive lacks one.
type capabilities struct {
	mkdir          drivers.Mkdirer
	upload         drivers.Uploader
	uploadNeeds    drivers.UploadRequirer
	rename         drivers.Renamer
	move           drivers.Mover
	copy           drivers.Copier
	remove         drivers.Remover
	quota          drivers.Quotaer
	linkKey        drivers.LinkKeyer
	modTimeKeeper  drivers.ModTimeKeeper
	streamNotifier drivers.StreamNotifier
	// download is the drive's cloud download, when it has watch folders;
	// folders, when it says which folders the cloud changed
	// (clouddownload.go).
	download *cloudDownload
	folders  *folderIndex
	producer drivers.ContentProducer
	router   drivers.RouteServer
}

func capabilitiesOf(d drivers.Drive) capabilities {
	var c capabilities
	c.mkdir, _ = d.(drivers.Mkdirer)
	c.upload, _ = d.(drivers.Uploader)
	c.uploadNeeds, _ = d.(drivers.UploadRequirer)
	c.rename, _ = d.(drivers.Renamer)
	c.move, _ = d.(drivers.Mover)
	c.copy, _ = d.(drivers.Copier)
	c.remove, _ = d.(drivers.Remover)
	c.quota, _ = d.(drivers.Quotaer)
	c.linkKey, _ = d.(drivers.LinkKeyer)
	c.modTimeKeeper, _ = d.(drivers.ModTimeKeeper)
	c.streamNotifier, _ = d.(drivers.StreamNotifier)
	c.download = cloudDownloadOf(d)
	c.producer, _ = d.(drivers.ContentProducer)
	c.router, _ = d.(drivers.RouteServer)
	return c
}

// keepsModTime says whether the drive stores the modification time an
// upload names (drivers.ModTimeKeeper).
func (c capabilities) keepsModTime() bool {
	return c.modTimeKeeper != nil && c.modTimeKeeper.KeepsModTime()
}

// needs is what the drive must know of an upload before it starts
// (drivers.UploadRequirer).
func (c capabilities) needs() drivers.UploadNeeds {
	if c.uploadNeeds == nil {
		return drivers.UploadNeeds{}
	}
	return c.uploadNeeds.UploadNeeds()
}

// caches are shared by all mounts and bounded together. Keys start with
// the full WebDAV path, so one mount's keys share its path as a prefix.
type caches struct {
	entries  *cache.Store[drivers.Entry]
	listings *cache.Store[[]drivers.Entry]
	misses   *cache.Store[struct{}]
	links    *cache.Store[drivers.Link]
	quotas   *cache.Store[drivers.Quota]

	listG  cache.Group[[]drivers.Entry]
	rootG  cache.Group[drivers.Entry]
	linkG  cache.Group[drivers.Link]
	quotaG cache.Group[drivers.Quota]

	ttl, negativeTTL, linkMargin time.Duration

	patchMu sync.Mutex // serialises patchListing's read-modify-write

	// gen counts our own writes. A listing that was in flight across a
	// write may predate it, so it is handed to its callers but not cached.
	gen atomic.Uint64

	// changed tells the other replicas of a shared state store what our
	// own write changed (see FileSystem.watchState); nil without
	// replicas.
	changed func(cacheChange)
}

// cacheChange is what one replica's write changed, for the others'
// caches: the entry it learned (so that a cloud that lists new files
// late shows it at once there too), or that it forgot the path.
type cacheChange struct {
	Mount string         `json:"mount"`
	Rel   string         `json:"rel"`
	Entry *drivers.Entry `json:"entry,omitempty"` // nil: forgotten, or not portable
	Gone  bool           `json:"gone,omitempty"`
}

// portable is e as another replica can use it, or nil: Extra is
// driver-private, and only a string comes through JSON as it was.
func portable(e drivers.Entry) *drivers.Entry {
	switch e.Extra.(type) {
	case nil, string:
		return &e
	}
	return nil
}

// dropRemote drops what is cached of key, and below it, and its parent's
// listing: another replica changed it, and what it changed to is not
// known here.
func (c *caches) dropRemote(key string) {
	c.gen.Add(1)
	for _, s := range []interface {
		Remove(string)
		RemovePrefix(string) int
	}{c.entries, c.listings, c.misses} {
		s.Remove(key)
		s.RemovePrefix(key + "/")
	}
	c.listings.Remove(path.Dir(key))
}

func newCaches(o Options) *caches {
	return &caches{
		entries:     cache.NewStore[drivers.Entry](o.CacheEntries).Counted("entries"),
		listings:    cache.NewStore[[]drivers.Entry](max(o.CacheEntries/16, 64)).Counted("listings"),
		misses:      cache.NewStore[struct{}](max(o.CacheEntries/4, 256)).Counted("negative"),
		links:       cache.NewStore[drivers.Link](max(o.CacheEntries/16, 256)).Counted("links"),
		quotas:      cache.NewStore[drivers.Quota](64).Counted("quotas"),
		ttl:         o.CacheTTL,
		negativeTTL: o.NegativeTTL,
		linkMargin:  o.LinkMargin,
	}
}

// Purge drops everything cached (SIGHUP).
func (c *caches) Purge() {
	c.entries.Purge()
	c.listings.Purge()
	c.misses.Purge()
	c.links.Purge()
	c.quotas.Purge()
}

// purge drops everything cached of m. A listing in flight meanwhile may
// predate it, so it is handed to its callers but not cached.
func (m *mount) purge() {
	m.caches.gen.Add(1)
	for _, s := range []interface {
		Remove(string)
		RemovePrefix(string) int
	}{m.caches.entries, m.caches.listings, m.caches.misses} {
		s.Remove(m.path)
		s.RemovePrefix(m.path + "/")
	}
	m.caches.links.RemovePrefix(m.path + "\x00")
	m.caches.quotas.Remove(m.path)
}

// fullPath is the WebDAV path of rel, and its key in the caches.
func (m *mount) fullPath(rel string) string {
	if rel == "/" {
		return m.path
	}
	return m.path + rel
}

// resolve returns the entry at rel ("/" is the mount's root).
func (m *mount) resolve(ctx context.Context, rel string) (drivers.Entry, error) {
	key := m.fullPath(rel)
	if e, ok := m.caches.entries.Get(key); ok {
		return e, nil
	}
	if rel == "/" {
		e, err := m.caches.rootG.Do(ctx, key, m.drive.Root)
		if err != nil {
			return drivers.Entry{}, err
		}
		m.caches.entries.Add(key, e, m.caches.ttl)
		return e, nil
	}
	if _, miss := m.caches.misses.Get(key); miss {
		return drivers.Entry{}, fmt.Errorf("%s: %w", key, drivers.ErrNotFound)
	}
	dir, name := path.Split(rel)
	parent, err := m.resolve(ctx, path.Clean(dir))
	if err != nil {
		return drivers.Entry{}, err
	}
	if !parent.IsDir {
		return drivers.Entry{}, fmt.Errorf("%s: %w", key, drivers.ErrNotFound)
	}
	kids, err := m.list(ctx, parent, path.Clean(dir))
	if err != nil {
		return drivers.Entry{}, err
	}
	for _, k := range kids {
		if k.Name == name {
			return k, nil
		}
	}
	m.caches.misses.Add(key, struct{}{}, m.caches.negativeTTL)
	return drivers.Entry{}, fmt.Errorf("%s: %w", key, drivers.ErrNotFound)
}

// list returns the children of dir, which lives at rel. Concurrent
// listings of one folder share one upstream listing; failed and empty
// listings are not cached.
func (m *mount) list(ctx context.Context, dir drivers.Entry, rel string) ([]drivers.Entry, error) {
	key := m.fullPath(rel)
	if kids, ok := m.caches.listings.Get(key); ok {
		return kids, nil
	}
	memo := requestOf(ctx).listMemo
	if kids, ok := memo.get(key); ok {
		return kids, nil
	}
	kids, err := m.caches.listG.Do(ctx, key+"\x00"+dir.ID, func(ctx context.Context) ([]drivers.Entry, error) {
		gen := m.caches.gen.Load()
		kids, err := m.drive.List(ctx, dir)
		if err != nil {
			return nil, unlisted(err)
		}
		kids = usable(kids)
		m.can.folders.note(dir.ID, key, m.caches.ttl)
		if len(kids) > 0 && m.caches.gen.Load() == gen {
			m.caches.listings.Add(key, kids, m.caches.ttl)
			for _, k := range kids {
				m.caches.entries.Add(path.Join(key, k.Name), k, m.caches.ttl)
			}
		}
		return kids, nil
	})
	if err == nil {
		memo.put(key, kids)
	}
	return kids, err
}

// listMemo keeps one request's listings, so an empty folder, which is
// never cached, is still listed once per PROPFIND and not twice.
type listMemo struct {
	mu sync.Mutex
	m  map[string][]drivers.Entry
}

func newListMemo() *listMemo { return &listMemo{m: map[string][]drivers.Entry{}} }

func (l *listMemo) get(key string) ([]drivers.Entry, bool) {
	if l == nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	kids, ok := l.m[key]
	return kids, ok
}

func (l *listMemo) put(key string, kids []drivers.Entry) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[key] = kids
}

// usable drops names no path can reach and pandav's own in-flight names,
// and keeps one of equal names: the first, which the driver lists as the
// one uploaded last (drivers.Drive.List), so that after an overwrite (new
// file first, old one removed after) the new content is what shows, even
// if removing the old one failed. The entries' ModTime cannot decide
// this: a cloud may list the time the uploading client gave, and a client
// may store an older version over a newer one.
func usable(in []drivers.Entry) []drivers.Entry {
	out := in[:0:0]
	at := make(map[string]int, len(in))
	for _, e := range in {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") || strings.HasPrefix(e.Name, tempPrefix) {
			continue
		}
		if _, dup := at[e.Name]; dup {
			continue
		}
		at[e.Name] = len(out)
		out = append(out, e)
	}
	return out
}

// learn records an entry our own write just made or changed, patching the
// parent's cached listing instead of dropping it: the clouds show new
// files late, and a relisting would cost a call.
func (m *mount) learn(rel string, e drivers.Entry) {
	m.learnHere(rel, e)
	if m.caches.changed != nil {
		m.caches.changed(cacheChange{Mount: m.path, Rel: rel, Entry: portable(e)})
	}
}

// learnHere is learn without telling the other replicas.
func (m *mount) learnHere(rel string, e drivers.Entry) {
	m.caches.gen.Add(1)
	key := m.fullPath(rel)
	m.caches.misses.Remove(key)
	m.caches.entries.Add(key, e, m.caches.ttl)
	if e.IsDir {
		m.caches.listings.Remove(key)
	}
	m.patchListing(path.Dir(rel), e.Name, &e)
}

// forget drops an entry, and everything cached below it, after our own
// write removed or moved it.
func (m *mount) forget(rel string) {
	m.forgetHere(rel)
	if m.caches.changed != nil {
		m.caches.changed(cacheChange{Mount: m.path, Rel: rel, Gone: true})
	}
}

// forgetHere is forget without telling the other replicas.
func (m *mount) forgetHere(rel string) {
	m.caches.gen.Add(1)
	key := m.fullPath(rel)
	m.caches.entries.Remove(key)
	m.caches.entries.RemovePrefix(key + "/")
	m.caches.listings.Remove(key)
	m.caches.listings.RemovePrefix(key + "/")
	m.caches.misses.Remove(key)
	m.caches.misses.RemovePrefix(key + "/")
	m.patchListing(path.Dir(rel), path.Base(rel), nil)
}

// patchListing replaces (or with e nil, removes) name in dir's cached
// listing. Listings are shared with readers, so it copies.
func (m *mount) patchListing(dirRel, name string, e *drivers.Entry) {
	// Uploads into one folder finish together: without this lock two
	// patches read the same listing and the second drops the first's file.
	m.caches.patchMu.Lock()
	defer m.caches.patchMu.Unlock()
	key := m.fullPath(dirRel)
	kids, ok := m.caches.listings.Get(key)
	if !ok {
		return
	}
	out := make([]drivers.Entry, 0, len(kids)+1)
	for _, k := range kids {
		if k.Name != name {
			out = append(out, k)
		}
	}
	if e != nil {
		out = append(out, *e)
	}
	if len(out) == 0 {
		m.caches.listings.Remove(key)
		return
	}
	m.caches.listings.Add(key, out, m.caches.ttl)
}

// link returns a usable link for f, from the cache while it is safely
// inside its lifetime. A link is cached under what binds it (for 115, the
// User-Agent).
func (m *mount) link(ctx context.Context, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	key := m.linkKey(f, req)
	if l, ok := m.caches.links.Get(key); ok {
		return l, nil
	}
	return m.caches.linkG.Do(ctx, key, func(ctx context.Context) (drivers.Link, error) {
		l, err := m.drive.Link(ctx, f, req)
		if err != nil {
			return drivers.Link{}, err
		}
		m.caches.links.AddUntil(key, l, m.linkDeadline(l))
		return l, nil
	})
}

// linkDeadline is when a cached link stops being handed out: the margin
// before its expiry, shrunk for short-lived links so they are still used.
func (m *mount) linkDeadline(l drivers.Link) time.Time {
	if l.Expires.IsZero() {
		return time.Now().Add(min(m.caches.linkMargin, 5*time.Minute))
	}
	margin := m.caches.linkMargin
	if life := time.Until(l.Expires); life/5 < margin {
		margin = life / 5
	}
	return l.Expires.Add(-margin)
}

// dropLink forgets a link the CDN refused, so the next fetch asks anew;
// only if it is still the cached one, so that several chunks refused
// together cost one new link, not one each.
func (m *mount) dropLink(f drivers.Entry, req drivers.LinkRequest, refusedURL string) {
	key := m.linkKey(f, req)
	if l, ok := m.caches.links.Get(key); ok && l.URL != refusedURL {
		return
	}
	m.caches.links.Remove(key)
	m.caches.linkG.Forget(key)
}

func (m *mount) linkKey(f drivers.Entry, req drivers.LinkRequest) string {
	bind := ""
	if m.can.linkKey != nil {
		bind = m.can.linkKey.LinkKey(req)
	}
	return m.path + "\x00" + f.ID + "\x00" + bind
}

// quota returns the drive's space figures, cached for a minute, or
// ok=false when the drive cannot say.
func (m *mount) quota(ctx context.Context) (q drivers.Quota, ok bool, err error) {
	if m.can.quota == nil {
		return drivers.Quota{}, false, nil
	}
	if q, hit := m.caches.quotas.Get(m.path); hit {
		return q, true, nil
	}
	q, err = m.caches.quotaG.Do(ctx, m.path, func(ctx context.Context) (drivers.Quota, error) {
		q, err := m.can.quota.Quota(ctx)
		if err == nil {
			m.caches.quotas.Add(m.path, q, time.Minute)
		}
		return q, err
	})
	if errors.Is(err, drivers.ErrUnsupported) {
		return drivers.Quota{}, false, nil
	}
	return q, err == nil, err
}
