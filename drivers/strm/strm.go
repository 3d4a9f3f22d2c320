// Package strm is the .strm view of another mount: the source tree with
// each video as a small <name>.strm file whose content is one signed
// link back to pandav, and its subtitles, .nfo files and pictures as they
// are. Media servers (Emby, Jellyfin, Plex) scan the view and hand the
// links to their players; opening a link streams or redirects exactly as
// the file itself would. The view knows no cloud: it reads its source
// through the source mount's drive (drivers.Env.Mount), and listing it
// costs the source's listings and nothing else. See docs/DESIGN.md,
// "Media libraries".
package strm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"sync"

	"pandav/drivers"
	"pandav/internal/strmlink"
)

func init() { drivers.Register("strm", drivers.FactoryOf(New)) }

// Drive is one strm view.
type Drive struct {
	src     drivers.Drive
	srcPath string // the WebDAV path of the source folder
	sub     string // the source folder inside its mount, "/" for its root
	base    string
	rules   strmlink.Rules
	signer  *strmlink.Signer

	rootMu sync.Mutex
	root   *drivers.Entry
}

var (
	_ drivers.Drive           = (*Drive)(nil)
	_ drivers.ContentProducer = (*Drive)(nil)
	_ drivers.LinkKeyer       = (*Drive)(nil)
	_ drivers.StreamNotifier  = (*Drive)(nil)
)

// New finds the source mount and checks the options. It makes no cloud
// call.
func New(ctx context.Context, env drivers.Env, o Options) (*Drive, error) {
	src := strings.TrimSpace(o.Source)
	if src == "" || !strings.HasPrefix(src, "/") {
		return nil, errors.New("strm: options.source is required: the WebDAV path of the folder to show, such as /115/Movies")
	}
	src = path.Clean(src)
	if env.Mount == nil {
		return nil, errors.New("strm: no mounts to take options.source from")
	}
	d := &Drive{srcPath: src}
	for mp := src; ; mp = path.Dir(mp) {
		if drive, ok := env.Mount(mp); ok {
			d.src = drive
			d.sub = "/" + strings.TrimPrefix(strings.TrimPrefix(src, mp), "/")
			break
		}
		if mp == "/" {
			return nil, fmt.Errorf("strm: options.source %s is in no mount configured before this one; mount its drive first, and put the strm mount after it", src)
		}
	}
	if _, isView := d.src.(*Drive); isView {
		return nil, fmt.Errorf("strm: options.source %s is another strm view; give the mount of the files themselves", src)
	}
	rules, err := strmlink.NewRules(o.Extensions)
	if err != nil {
		return nil, fmt.Errorf("strm: options.extensions: %v", err)
	}
	d.rules = rules
	d.base = strings.TrimRight(strings.TrimSpace(o.BaseURL), "/")
	if d.base == "" {
		d.base = env.ServerURL
		if u, err := url.Parse(d.base); err == nil && isLoopback(u.Hostname()) {
			env.Log.Warn().Str("base_url", d.base).Msg("strm: options.base_url is not set, so the .strm links start with this loopback address, which only this machine reaches; set base_url to the address your players use")
		}
	}
	if u, err := url.Parse(d.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, errors.New("strm: options.base_url must be an http(s) URL such as https://nas.example:8080, where the players reach pandav")
	}
	keys, err := drivers.SharedValue(env.Shared, strmlink.SharedKeys, func() (strmlink.Keys, error) {
		return strmlink.FileKeys(env.StateDir), nil
	})
	if err != nil {
		return nil, fmt.Errorf("strm: %w", err)
	}
	if _, err := keys.Key(); err != nil {
		return nil, fmt.Errorf("strm: %w", err)
	}
	d.signer = strmlink.NewSigner(keys)
	return d, nil
}

// BaseURL is what the view's links start with.
func (d *Drive) BaseURL() string { return d.base }

// item is the view's Extra on every entry: the source entry it stands
// for and the source's WebDAV path, which the links are signed for and
// the view's children are found under.
type item struct {
	src  drivers.Entry
	path string
	kind strmlink.Kind
}

func itemOf(e drivers.Entry) (*item, error) {
	it, ok := e.Extra.(*item)
	if !ok {
		return nil, fmt.Errorf("strm: %q is no entry of this view: %w", e.Name, drivers.ErrNotFound)
	}
	return it, nil
}

// Root is the source folder, found once by listing down from the source
// mount's root.
func (d *Drive) Root(ctx context.Context) (drivers.Entry, error) {
	d.rootMu.Lock()
	defer d.rootMu.Unlock()
	if d.root != nil {
		return *d.root, nil
	}
	cur, err := d.src.Root(ctx)
	if err != nil {
		return drivers.Entry{}, err
	}
	for _, name := range strings.Split(strings.Trim(d.sub, "/"), "/") {
		if name == "" {
			continue
		}
		kids, err := d.src.List(ctx, cur)
		if err != nil {
			return drivers.Entry{}, err
		}
		found := false
		for _, k := range kids {
			if k.Name == name && k.IsDir {
				cur, found = k, true
				break
			}
		}
		if !found {
			return drivers.Entry{}, fmt.Errorf("strm: options.source %s: %w", d.srcPath, drivers.ErrNotFound)
		}
	}
	root := d.entry(strmlink.Item{Name: cur.Name, Kind: strmlink.Folder, Src: cur}, d.srcPath)
	d.root = &root
	return root, nil
}

// List shows dir's source folder through the view's rules. It costs the
// source's listing and nothing else.
func (d *Drive) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	parent, err := itemOf(dir)
	if err != nil {
		return nil, err
	}
	kids, err := d.src.List(ctx, parent.src)
	if err != nil {
		return nil, err
	}
	view := d.rules.View(kids)
	out := make([]drivers.Entry, 0, len(view))
	for _, v := range view {
		out = append(out, d.entry(v, path.Join(parent.path, v.Src.Name)))
	}
	return out, nil
}

// entry is v as the view shows it; srcPath is its source's WebDAV path.
func (d *Drive) entry(v strmlink.Item, srcPath string) drivers.Entry {
	e := v.Src
	e.Extra = &item{src: v.Src, path: srcPath, kind: v.Kind}
	if v.Kind == strmlink.Link {
		e.ID = "strm:" + v.Src.ID
		e.Name = v.Name
		e.Size = strmlink.FileURLSize(d.base, srcPath)
		// The content depends on the key, which may be rotated while
		// this entry is cached; ProducedContent makes it afresh.
		e.SHA1 = ""
	}
	return e
}

// ProducedContent implements drivers.ContentProducer: a .strm file's
// link, signed now.
func (d *Drive) ProducedContent(_ context.Context, f drivers.Entry) ([]byte, bool, error) {
	it, ok := f.Extra.(*item)
	if !ok || it.kind != strmlink.Link {
		return nil, false, nil
	}
	u, err := d.signer.FileURL(d.base, it.path)
	if err != nil {
		return nil, true, fmt.Errorf("strm: %s: no link can be signed: %w", f.Name, err)
	}
	return []byte(u), true, nil
}

// Link is the source file's: only subtitles, .nfo files and pictures are
// read through the view.
func (d *Drive) Link(ctx context.Context, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	it, err := itemOf(f)
	if err != nil {
		return drivers.Link{}, err
	}
	if it.kind == strmlink.Link {
		// Asked only when ProducedContent could not sign.
		_, err := d.signer.FileURL(d.base, it.path)
		return drivers.Link{}, fmt.Errorf("strm: %s: no link can be signed: %v", f.Name, err)
	}
	return d.src.Link(ctx, it.src, req)
}

// LinkKey is the source's, whose links the view hands out.
func (d *Drive) LinkKey(req drivers.LinkRequest) string {
	if k, ok := d.src.(drivers.LinkKeyer); ok {
		return k.LinkKey(req)
	}
	return ""
}

// StreamOpened passes the news on to a source that wants it.
func (d *Drive) StreamOpened(f drivers.Entry) {
	if n, ok := d.src.(drivers.StreamNotifier); ok {
		if it, err := itemOf(f); err == nil {
			n.StreamOpened(it.src)
		}
	}
}

// StreamClosed passes the news on to a source that wants it.
func (d *Drive) StreamClosed(f drivers.Entry) {
	if n, ok := d.src.(drivers.StreamNotifier); ok {
		if it, err := itemOf(f); err == nil {
			n.StreamClosed(it.src)
		}
	}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
