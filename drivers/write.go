package drivers

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"strings"
	"time"
)

// The write capabilities. A driver implements those its cloud supports;
// the WebDAV layer discovers them by type assertion and answers 403 or
// 501 for the rest. Every method works on IDs (Entries), never paths.

// Mkdirer creates folders. A name that exists gives ErrExist.
type Mkdirer interface {
	Mkdir(ctx context.Context, parent Entry, name string) (Entry, error)
}

// Uploader creates a file from src in parent. If name exists, the driver
// creates a second entry with the same name or fails with ErrExist; it
// never replaces the old one: the WebDAV layer replaces files itself, so
// that a failed upload leaves the old file intact.
type Uploader interface {
	Upload(ctx context.Context, parent Entry, name string, src UploadSource) (Entry, error)
}

// UploadNeeds says what a driver must have before its first byte goes
// out; the WebDAV layer spools the body to disk to provide it.
type UploadNeeds struct {
	// SHA1 means the full content hash must be known up front (115's
	// upload/init takes it).
	SHA1 bool
	// RandomAccess means the driver reads the content at offsets of its
	// choosing (hash proofs, pre-hashes); src then implements io.ReaderAt.
	RandomAccess bool
}

// UploadRequirer is implemented by Uploaders with needs.
type UploadRequirer interface {
	UploadNeeds() UploadNeeds
}

// UploadSource is the content of one upload. Read yields exactly Size
// bytes, once, from the start.
type UploadSource interface {
	io.Reader
	Size() int64
	// SHA1 is the uppercase hex SHA1 when known before reading, else "".
	SHA1() string
	// ModTime is the client's modification time, zero if not given.
	ModTime() time.Time
}

// ModTimeKeeper is an Uploader that stores UploadSource.ModTime and lists
// it back as the entry's ModTime, so a client's X-OC-Mtime can be
// answered "accepted".
type ModTimeKeeper interface {
	KeepsModTime() bool
}

// Renamer changes an entry's name in place, to exactly newName.
type Renamer interface {
	Rename(ctx context.Context, e Entry, newName string) (Entry, error)
}

// Mover puts an entry in another folder, renaming it at the same time
// when newName is not empty and differs.
type Mover interface {
	Move(ctx context.Context, e Entry, newParent Entry, newName string) (Entry, error)
}

// Copier copies an entry (a folder with all it holds) server-side.
type Copier interface {
	Copy(ctx context.Context, e Entry, newParent Entry, newName string) (Entry, error)
}

// Remover removes an entry: to the cloud's trash, or for good when
// permanent is true.
type Remover interface {
	Remove(ctx context.Context, e Entry, permanent bool) error
}

// BytesSource is an UploadSource over b, with random access; for tests
// and small bodies.
type BytesSource struct {
	*bytes.Reader
	data  []byte
	mtime time.Time
}

// NewBytesSource returns an UploadSource holding b.
func NewBytesSource(b []byte, mtime time.Time) *BytesSource {
	return &BytesSource{Reader: bytes.NewReader(b), data: b, mtime: mtime}
}

func (s *BytesSource) Size() int64        { return int64(len(s.data)) }
func (s *BytesSource) ModTime() time.Time { return s.mtime }
func (s *BytesSource) SHA1() string       { return SHA1Of(s.data) }

// SHA1Of is b's SHA1 as the drivers write it: uppercase hex.
func SHA1Of(b []byte) string {
	sum := sha1.Sum(b)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// StreamSource is an UploadSource over a stream of known size, read once.
type StreamSource struct {
	R     io.Reader
	N     int64
	Sum   string // uppercase hex SHA1 if known
	MTime time.Time
}

func (s *StreamSource) Read(p []byte) (int, error) { return s.R.Read(p) }
func (s *StreamSource) Size() int64                { return s.N }
func (s *StreamSource) SHA1() string               { return strings.ToUpper(s.Sum) }
func (s *StreamSource) ModTime() time.Time         { return s.MTime }
