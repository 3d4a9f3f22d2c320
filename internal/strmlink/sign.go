package strmlink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"path"
	"strings"
)

// The routes signed links live under. Both sit under /.pandav, which no
// mount may use, and both are answered before authentication: the
// signature is the permission.
const (
	// FilePrefix starts a file's link: FilePrefix + signature + the
	// file's WebDAV path. The .strm files hold these.
	FilePrefix = "/.pandav/strm/"
	// ListPrefix starts a folder listing's link, which `pandav strm sync`
	// makes for itself with the key it reads from state_dir. No .strm
	// file holds one, so a link that leaks from a library opens one file,
	// never a folder.
	ListPrefix = "/.pandav/strm-list/"
)

// What a signature is over: the kind of link and the path, so that a
// file's signature does not open a folder of the same name.
const (
	kindFile = "file"
	kindList = "list"
)

// sigLen is the length of a signature in a link: HMAC-SHA256, base64url.
var sigLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// Signer makes and checks signed links with the key of Keys.
type Signer struct{ keys Keys }

// NewSigner signs with keys.
func NewSigner(keys Keys) *Signer { return &Signer{keys: keys} }

func sign(key []byte, kind, p string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind + "\x00" + p))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// FileURL is the link to the file at the WebDAV path p: base (where
// players reach pandav, without a trailing slash) and the signed route.
func (s *Signer) FileURL(base, p string) (string, error) {
	return s.link(base, FilePrefix, kindFile, p)
}

// ListURL is the link to the listing of the folder at p.
func (s *Signer) ListURL(base, p string) (string, error) {
	return s.link(base, ListPrefix, kindList, p)
}

func (s *Signer) link(base, prefix, kind, p string) (string, error) {
	key, err := s.keys.Key()
	if err != nil {
		return "", err
	}
	return base + prefix + sign(key, kind, p) + escape(p), nil
}

// FileURLSize is len(FileURL(base, p)), known without the key: a .strm
// file's size in a listing costs no signature.
func FileURLSize(base, p string) int64 {
	return int64(len(base) + len(FilePrefix) + sigLen + len(escape(p)))
}

func escape(p string) string { return (&url.URL{Path: p}).EscapedPath() }

// split reads a request path under prefix as a signature and the path it
// signs.
func split(reqPath, prefix string) (sig, p string, ok bool) {
	rest, found := strings.CutPrefix(reqPath, prefix)
	if !found {
		return "", "", false
	}
	sig, p, found = strings.Cut(rest, "/")
	if !found || len(sig) != sigLen {
		return "", "", false
	}
	p = "/" + p
	// A path that cleans to another is none we signed.
	if p != path.Clean(p) || p == "/" {
		return "", "", false
	}
	return sig, p, true
}

// valid says whether sig is the signature of kind and p under the
// current key.
func (s *Signer) valid(kind, p, sig string) (bool, error) {
	key, err := s.keys.Key()
	if err != nil {
		return false, err
	}
	return hmac.Equal([]byte(sign(key, kind, p)), []byte(sig)), nil
}
