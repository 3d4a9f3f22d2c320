package webdav

import (
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

// DeadProps implements webdav.DeadPropsHolder. A mount's root carries the
// RFC 4331 quota properties, which Finder and davfs2 show as free space;
// x/net/webdav has no other way to add a property.
func (d *dirFile) DeadProps() (map[xml.Name]webdav.Property, error) {
	if d.n.m == nil || d.n.name != d.n.m.path {
		return nil, nil
	}
	q, ok, err := d.n.m.quota(d.ctx)
	if err != nil {
		d.fs.o.Log.Warn().Str("mount", d.n.m.path).Err(err).Msg("quota unavailable")
		return nil, nil
	}
	if !ok {
		return nil, nil
	}
	avail := q.Total - q.Used
	if avail < 0 {
		avail = 0
	}
	return map[xml.Name]webdav.Property{
		{Space: "DAV:", Local: "quota-available-bytes"}: {
			XMLName:  xml.Name{Space: "DAV:", Local: "quota-available-bytes"},
			InnerXML: []byte(strconv.FormatInt(avail, 10)),
		},
		{Space: "DAV:", Local: "quota-used-bytes"}: {
			XMLName:  xml.Name{Space: "DAV:", Local: "quota-used-bytes"},
			InnerXML: []byte(strconv.FormatInt(q.Used, 10)),
		},
	}, nil
}

// Patch implements webdav.DeadPropsHolder; nothing is stored yet.
func (d *dirFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	return nil, errReadOnly
}
