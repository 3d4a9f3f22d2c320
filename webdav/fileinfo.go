package webdav

import (
	"context"
	"fmt"
	"mime"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"pandav/drivers"
)

// Types Go's built-in table lacks. Without them a scratch or alpine image
// sniffs every video by downloading its first 512 bytes, on PROPFIND too.
var extraTypes = map[string]string{
	".mkv":  "video/x-matroska",
	".mk3d": "video/x-matroska",
	".mka":  "audio/x-matroska",
	".ts":   "video/mp2t",
	".m3u8": "application/vnd.apple.mpegurl",
	".m2ts": "video/mp2t",
	".mts":  "video/mp2t",
	".mov":  "video/quicktime",
	".avi":  "video/x-msvideo",
	".flv":  "video/x-flv",
	".wmv":  "video/x-ms-wmv",
	".rmvb": "application/vnd.rn-realmedia-vbr",
	".rm":   "application/vnd.rn-realmedia",
	".iso":  "application/x-iso9660-image",
	".srt":  "application/x-subrip",
	".ass":  "text/x-ssa",
	".ssa":  "text/x-ssa",
	".vtt":  "text/vtt",
	".mp4":  "video/mp4",
	".m4v":  "video/x-m4v",
	".webm": "video/webm",
	".mpg":  "video/mpeg",
	".mpeg": "video/mpeg",
	".vob":  "video/dvd",
	".flac": "audio/flac",
	".mp3":  "audio/mpeg",
	".m4a":  "audio/mp4",
	".ape":  "audio/x-ape",
	".nfo":  "text/plain; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
}

func init() {
	for ext, typ := range extraTypes {
		mime.AddExtensionType(ext, typ)
	}
}

// contentType is decided by the extension alone; nothing is ever sniffed,
// because sniffing a cloud file costs a download.
func contentType(name string) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
}

// FileInfo is an os.FileInfo carrying the drive's Entry. It implements
// webdav.ContentTyper and webdav.ETager so PROPFIND never opens a file.
type FileInfo struct {
	name    string
	entry   drivers.Entry
	virtual bool
	mod     time.Time
}

var (
	_ webdav.ContentTyper = (*FileInfo)(nil)
	_ webdav.ETager       = (*FileInfo)(nil)
)

func (fi *FileInfo) Name() string { return fi.name }
func (fi *FileInfo) Size() int64 {
	if fi.entry.IsDir {
		return 0
	}
	return fi.entry.Size
}
func (fi *FileInfo) Mode() os.FileMode {
	if fi.entry.IsDir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (fi *FileInfo) ModTime() time.Time {
	if fi.virtual || fi.entry.ModTime.IsZero() {
		return fi.mod
	}
	return fi.entry.ModTime
}
func (fi *FileInfo) IsDir() bool { return fi.entry.IsDir }

// Sys returns the drivers.Entry.
func (fi *FileInfo) Sys() any { return fi.entry }

// ContentType implements webdav.ContentTyper.
func (fi *FileInfo) ContentType(ctx context.Context) (string, error) {
	return contentType(fi.name), nil
}

// ETag implements webdav.ETager: the content hash when the cloud gives
// one, so the tag survives renames and is equal for equal content.
func (fi *FileInfo) ETag(ctx context.Context) (string, error) {
	if fi.entry.SHA1 != "" {
		return `"` + strings.ToLower(fi.entry.SHA1) + `"`, nil
	}
	return fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()), nil
}
