package webdav

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/net/webdav"
)

// propStore keeps dead properties (PROPPATCH) in state_dir, keyed by
// mount and file ID, so they follow a file through renames and moves and
// survive restarts.
type propStore struct {
	path string
	mu   sync.Mutex
	m    map[string]map[string]webdav.Property // mount\x00id -> "space local" -> prop
}

// lastModifiedAlias is DAV:getlastmodified renamed by the Handler before
// x/net/webdav sees it, which would otherwise refuse it as a protected
// live property. Windows and rclone set it; it is accepted, not stored.
var lastModifiedAlias = xml.Name{Space: "DAV:", Local: "pandav-getlastmodified"}

func newPropStore(stateDir string) (*propStore, error) {
	s := &propStore{m: map[string]map[string]webdav.Property{}}
	if stateDir == "" {
		return s, nil
	}
	s.path = filepath.Join(stateDir, "props.json")
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &s.m); err != nil {
		return nil, errors.New("props.json is unreadable; move it away to start without dead properties")
	}
	// Files held in memory did not outlive the last run (placeholders
	// were stored at shutdown, and their properties moved with them).
	for k := range s.m {
		if _, id, _ := strings.Cut(k, "\x00"); strings.HasPrefix(id, heldIDPrefix) {
			delete(s.m, k)
		}
	}
	return s, nil
}

func propKey(mount, id string) string { return mount + "\x00" + id }
func nameKey(n xml.Name) string       { return n.Space + " " + n.Local }

func (s *propStore) get(mount, id string) map[xml.Name]webdav.Property {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := s.m[propKey(mount, id)]
	if len(stored) == 0 {
		return nil
	}
	out := make(map[xml.Name]webdav.Property, len(stored))
	for _, p := range stored {
		out[p.XMLName] = p
	}
	return out
}

func (s *propStore) patch(mount, id string, patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := propKey(mount, id)
	props := s.m[k]
	if props == nil {
		props = map[string]webdav.Property{}
	}
	ok := webdav.Propstat{Status: http.StatusOK}
	for _, p := range patches {
		for _, prop := range p.Props {
			ok.Props = append(ok.Props, webdav.Property{XMLName: prop.XMLName})
			if prop.XMLName == lastModifiedAlias {
				continue
			}
			if p.Remove {
				delete(props, nameKey(prop.XMLName))
			} else {
				props[nameKey(prop.XMLName)] = prop
			}
		}
	}
	if len(props) == 0 {
		delete(s.m, k)
	} else {
		s.m[k] = props
	}
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	return []webdav.Propstat{ok}, nil
}

func (s *propStore) move(mount, from, to string) { s.transfer(mount, from, to, true) }
func (s *propStore) copy(mount, from, to string) { s.transfer(mount, from, to, false) }

func (s *propStore) transfer(mount, from, to string, drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	props, ok := s.m[propKey(mount, from)]
	if !ok {
		return
	}
	// Merged into what the destination has: a placeholder's properties
	// join those of the file its content replaces.
	c := make(map[string]webdav.Property, len(props))
	for k, v := range s.m[propKey(mount, to)] {
		c[k] = v
	}
	for k, v := range props {
		c[k] = v
	}
	s.m[propKey(mount, to)] = c
	if drop {
		delete(s.m, propKey(mount, from))
	}
	s.saveLocked()
}

func (s *propStore) remove(mount, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[propKey(mount, id)]; ok {
		delete(s.m, propKey(mount, id))
		s.saveLocked()
	}
}

// saveLocked writes the whole store atomically. Dead properties are few
// (litmus, Windows' Win32 times), so rewriting the file is cheap.
func (s *propStore) saveLocked() error {
	if s.path == "" {
		return nil
	}
	b, err := json.Marshal(s.m)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, b)
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
