package webdav

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/net/webdav"

	"pandav/internal/state"
)

// propStore keeps dead properties (PROPPATCH) in the state store, keyed
// by mount and file ID, so they follow a file through renames and moves
// and survive restarts. Each property is stored as the JSON of its
// webdav.Property.
//
// A PROPFIND asks for every file's properties, so what was read is
// cached (most files have none). With a store of its own the cache is the
// truth; with a shared one, another process's change drops the entry
// (forget, fanned out by the store's Watcher).
type propStore struct {
	st    state.Props
	cache *lru.Cache[string, map[string]webdav.Property]
}

// propCacheEntries bounds the files whose properties are cached.
const propCacheEntries = 1 << 16

// lastModifiedAlias is DAV:getlastmodified renamed by the Handler before
// x/net/webdav sees it, which would otherwise refuse it as a protected
// live property. Windows and rclone set it; it is accepted, not stored.
var lastModifiedAlias = xml.Name{Space: "DAV:", Local: "pandav-getlastmodified"}

func newPropStore(st state.Props) *propStore {
	c, _ := lru.New[string, map[string]webdav.Property](propCacheEntries)
	return &propStore{st: st, cache: c}
}

func propKey(mount, id string) string { return mount + "\x00" + id }
func nameKey(n xml.Name) string       { return n.Space + " " + n.Local }

func stateCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), stateTimeout)
}

// get returns the file's properties; an error is a store that cannot be
// read.
func (s *propStore) get(mount, id string) (map[xml.Name]webdav.Property, error) {
	k := propKey(mount, id)
	stored, ok := s.cache.Get(k)
	if !ok {
		ctx, cancel := stateCtx()
		raw, err := s.st.GetProps(ctx, mount, id)
		cancel()
		if err != nil {
			return nil, err
		}
		stored = map[string]webdav.Property{}
		for n, b := range raw {
			var p webdav.Property
			if json.Unmarshal(b, &p) == nil {
				stored[n] = p
			}
		}
		s.cache.Add(k, stored)
	}
	if len(stored) == 0 {
		return nil, nil
	}
	out := make(map[xml.Name]webdav.Property, len(stored))
	for _, p := range stored {
		out[p.XMLName] = p
	}
	return out, nil
}

// preloadProps reads the dead properties of n and its listed kids into
// the cache before a PROPFIND's answer starts, so that a shared store that
// cannot be reached is a 503, not a 207 cut short. A store of this
// process's own is read as the answer is written.
func (fs *FileSystem) preloadProps(n node, kids []os.FileInfo) error {
	if n.m == nil || !fs.o.State.Shared() {
		return nil
	}
	if _, err := fs.props.get(n.m.path, n.entry.ID); err != nil {
		return err
	}
	for _, k := range kids {
		if fi, ok := k.(*FileInfo); ok && fi.entry.ID != "" {
			if _, err := fs.props.get(n.m.path, fi.entry.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// forget drops what is cached of a file, which another process changed.
func (s *propStore) forget(mount, id string) { s.cache.Remove(propKey(mount, id)) }

func (s *propStore) patch(mount, id string, patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	ok := webdav.Propstat{Status: http.StatusOK}
	set := map[string][]byte{}
	var remove []string
	for _, p := range patches {
		for _, prop := range p.Props {
			ok.Props = append(ok.Props, webdav.Property{XMLName: prop.XMLName})
			if prop.XMLName == lastModifiedAlias {
				continue
			}
			n := nameKey(prop.XMLName)
			if p.Remove {
				delete(set, n)
				remove = append(remove, n)
			} else {
				b, err := json.Marshal(prop)
				if err != nil {
					return nil, err
				}
				set[n] = b
			}
		}
	}
	ctx, cancel := stateCtx()
	defer cancel()
	s.forget(mount, id)
	if err := s.st.PatchProps(ctx, mount, id, set, remove); err != nil {
		return nil, err
	}
	return []webdav.Propstat{ok}, nil
}

func (s *propStore) move(mount, from, to string) { s.transfer(mount, from, to, true) }
func (s *propStore) copy(mount, from, to string) { s.transfer(mount, from, to, false) }

// transfer merges from's properties into what to has: a placeholder's
// properties join those of the file its content replaces.
func (s *propStore) transfer(mount, from, to string, move bool) {
	if c, ok := s.cache.Get(propKey(mount, from)); ok && len(c) == 0 {
		return // known to have none
	}
	ctx, cancel := stateCtx()
	defer cancel()
	s.forget(mount, from)
	s.forget(mount, to)
	s.st.CopyProps(ctx, mount, from, to, move)
}

func (s *propStore) remove(mount, id string) {
	if c, ok := s.cache.Get(propKey(mount, id)); ok && len(c) == 0 {
		return
	}
	ctx, cancel := stateCtx()
	defer cancel()
	s.forget(mount, id)
	s.st.DropProps(ctx, mount, id)
}

// liveExtras are the properties pandav computes that x/net/webdav does
// not: oc:checksums for rclone and Nextcloud clients.
func checksumProp(sha1 string) (webdav.Property, bool) {
	if sha1 == "" {
		return webdav.Property{}, false
	}
	name := xml.Name{Space: "http://owncloud.org/ns", Local: "checksums"}
	return webdav.Property{
		XMLName:  name,
		InnerXML: []byte(`<oc:checksum xmlns:oc="http://owncloud.org/ns">SHA1:` + strings.ToLower(sha1) + `</oc:checksum>`),
	}, true
}
