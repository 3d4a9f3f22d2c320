package webdav

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"strconv"

	"golang.org/x/net/webdav"
)

// dirFile is an open folder. Its children are listed on Readdir, from the
// cache when warm.
type dirFile struct {
	fs  *FileSystem
	n   node
	ctx context.Context
	pos int
	all []os.FileInfo
}

func (d *dirFile) Close() error                                 { return nil }
func (d *dirFile) Read(p []byte) (int, error)                   { return 0, errIsDir }
func (d *dirFile) Write(p []byte) (int, error)                  { return 0, errReadOnly }
func (d *dirFile) Seek(offset int64, whence int) (int64, error) { return 0, nil }
func (d *dirFile) Stat() (os.FileInfo, error)                   { return d.fs.info(d.n), nil }

var errIsDir = &os.PathError{Op: "read", Err: os.ErrInvalid}

// Readdir follows os.File's contract.
func (d *dirFile) Readdir(count int) ([]os.FileInfo, error) {
	if d.all == nil {
		all, err := d.fs.readdir(d.ctx, d.n)
		if err != nil {
			return nil, asPathError("readdir", d.n.name, err)
		}
		d.all = all
	}
	rest := d.all[d.pos:]
	if count <= 0 {
		d.pos = len(d.all)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if count > len(rest) {
		count = len(rest)
	}
	d.pos += count
	return rest[:count], nil
}

// DeadProps implements webdav.DeadPropsHolder.
func (d *dirFile) DeadProps() (map[xml.Name]webdav.Property, error) {
	return d.fs.deadProps(d.ctx, d.n)
}

// Patch implements webdav.DeadPropsHolder.
func (d *dirFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	return d.fs.patchProps(d.n, patches)
}

// askedProps says which computed properties a PROPFIND named. They are
// added only when asked for, never to allprop: RFC 4331 keeps quota out
// of allprop, and every extra property costs XML on each of 10,000
// entries.
type askedProps struct{ checksums, quota, locks bool }

// askedPropsIn reads a PROPFIND body for the computed properties it names.
func askedPropsIn(body []byte) askedProps {
	return askedProps{
		checksums: bytes.Contains(body, []byte("checksums")),
		quota:     bytes.Contains(body, []byte("quota-")),
		locks:     bytes.Contains(body, []byte("lockdiscovery")) || bytes.Contains(body, []byte("supportedlock")),
	}
}

// deadProps are the stored dead properties plus those x/net/webdav has no
// other way to add: a mount root's RFC 4331 quota, which Finder and davfs2
// show as free space, a file's oc:checksums, and the locks of lockdiscovery
// and supportedlock (x/net/webdav leaves the first out and lists only
// exclusive locks in the second).
func (fs *FileSystem) deadProps(ctx context.Context, n node) (map[xml.Name]webdav.Property, error) {
	if n.m == nil {
		return nil, nil
	}
	props, err := fs.props.get(n.m.path, n.entry.ID)
	if err != nil {
		noteError(ctx, err)
		return nil, err
	}
	asked := requestOf(ctx).askedProps
	if !asked.checksums && !asked.quota && !asked.locks {
		return props, nil
	}
	if props == nil {
		props = map[xml.Name]webdav.Property{}
	}
	if asked.locks {
		ld := xml.Name{Space: "DAV:", Local: "lockdiscovery"}
		props[ld] = webdav.Property{XMLName: ld, InnerXML: []byte(fs.lockDiscoveryXML(n.name))}
		sl := xml.Name{Space: "DAV:", Local: "supportedlock"}
		props[sl] = webdav.Property{XMLName: sl, InnerXML: []byte(supportedLockXML)}
	}
	if cs, ok := checksumProp(n.entry.SHA1); ok && !n.entry.IsDir && asked.checksums {
		props[cs.XMLName] = cs
	}
	if n.name == n.m.path && asked.quota {
		q, ok, err := n.m.quota(ctx)
		if err != nil {
			fs.o.Log.Warn().Str("mount", n.m.path).Err(err).Msg("quota unavailable")
		}
		if ok {
			avail := max(q.Total-q.Used, 0)
			for name, v := range map[string]int64{"quota-available-bytes": avail, "quota-used-bytes": q.Used} {
				xn := xml.Name{Space: "DAV:", Local: name}
				props[xn] = webdav.Property{XMLName: xn, InnerXML: []byte(strconv.FormatInt(v, 10))}
			}
		}
	}
	return props, nil
}

func (fs *FileSystem) patchProps(n node, patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	if n.m == nil || n.m.readOnly {
		return nil, errReadOnly
	}
	return fs.props.patch(n.m.path, n.entry.ID, patches)
}
