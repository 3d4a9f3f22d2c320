// Package strmlink is what the .strm view (drivers/strm) and `pandav strm
// sync` (internal/strmsync) share: the key that signs their links, kept
// in state_dir; the signed URLs themselves, each good for one file until
// the key is rotated; the rules that decide which files of a folder
// become .strm links, which pass through, and under what names; and the
// routes, in front of authentication, that check a signature and hand
// the request to the WebDAV layer. See docs/DESIGN.md, "Media libraries".
package strmlink
