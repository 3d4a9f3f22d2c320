package webdav

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"net/http"
	"os"
	"strings"

	"pandav/drivers"
)

// Content a drive produces itself (drivers.ContentProducer), the routes a
// drive serves for its parts (drivers.RouteServer), and listings a drive
// says have changed (drivers.ChangeNotifier). This layer passes them
// through without knowing what they are (docs/DESIGN.md, "Content a
// driver produces").

// produced returns n's bytes when its drive makes n itself; ok is false
// for a file whose bytes come through a link.
func (fs *FileSystem) produced(ctx context.Context, n node) (b []byte, ok bool, err error) {
	if n.m == nil || n.m.can.producer == nil || n.held != nil || n.virtual || n.entry.IsDir {
		return nil, false, nil
	}
	return n.m.can.producer.ProducedContent(ctx, n.entry)
}

// serveProduced answers GET or HEAD of a produced file. Its ETag is the
// bytes' own hash: they are made when asked (a .strm signed with the key
// in force) and may change while the listing that gave the entry is
// cached.
func serveProduced(w http.ResponseWriter, r *http.Request, fi *FileInfo, b []byte) {
	w.Header().Set("Content-Type", contentType(fi.Name()))
	w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sha1.Sum(b)))
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), bytes.NewReader(b))
}

// producedFile is a produced file, open.
type producedFile struct {
	*bytes.Reader
	fi *FileInfo
}

func (f *producedFile) Close() error                       { return nil }
func (f *producedFile) Write([]byte) (int, error)          { return 0, errReadOnly }
func (f *producedFile) Readdir(int) ([]os.FileInfo, error) { return nil, os.ErrInvalid }
func (f *producedFile) Stat() (os.FileInfo, error)         { return f.fi, nil }

// serveRoute answers a request at a drive's own routes, below
// drivers.RoutePrefix, and reports whether the path was there. The
// client must be allowed to see the mount, as for its files.
func (h *Handler) serveRoute(w http.ResponseWriter, r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, drivers.RoutePrefix+"/")
	if !ok {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return true
	}
	m, inside := h.fs.locate(cleanPath(rest))
	if m == nil || m.can.router == nil || !requestOf(r.Context()).user.MaySee(m.path) {
		http.Error(w, "Not Found", http.StatusNotFound)
		return true
	}
	if err := m.can.router.ServeRoute(r.Context(), w, r, strings.TrimPrefix(inside, "/")); err != nil {
		writeError(w, err)
	}
	return true
}
