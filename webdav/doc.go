// Package webdav serves pandav's mounts over WebDAV. It holds the
// webdav.FileSystem over the mount table (with a virtual root listing the
// mounts), the remote File that streams byte ranges from a drive's links,
// and the Handler that wraps golang.org/x/net/webdav's own to fix what a
// cloud-backed server must do differently: GET and HEAD without network
// work in Open/Stat/Seek, finite PROPFIND depth, status codes that tell
// throttling from absence, quota, and one log line per request. It
// answers LOCK and UNLOCK itself (shared and exclusive locks, urn:uuid
// tokens, kept through a LockStore across restarts), holds placeholders
// and system files in memory as files like any other, and serves what it
// just uploaded back from state_dir (readBack).
//
// It knows drivers only through the drivers package interfaces. A file's
// bytes come through internal/stream, and who is logged in from
// internal/auth.
package webdav
