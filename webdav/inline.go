package webdav

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"net/http"
)

// inline returns the bytes of a file its drive makes itself
// (drivers.InlineContenter), which are served without a link.
func (n node) inline() ([]byte, bool) {
	if n.m == nil || n.m.can.inline == nil || n.entry.IsDir || n.held != nil {
		return nil, false
	}
	return n.m.can.inline.InlineContent(n.entry)
}

// serveInline answers GET or HEAD with data. Its ETag is data's own hash:
// the bytes are made when asked and may change while the listing that
// gave the entry is cached.
func serveInline(w http.ResponseWriter, r *http.Request, fi *FileInfo, data []byte) {
	w.Header().Set("Content-Type", contentType(fi.Name()))
	w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sha1.Sum(data)))
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), bytes.NewReader(data))
}
