// Package torrent reads and writes BitTorrent metainfo (.torrent files,
// BEP 3): the bencoding, and of the metainfo what a cloud download needs,
// the name, the info hash and the files with their sizes. The drivers use
// it to tell a torrent from anything else before they upload one; the
// emulators to learn what a torrent would download; the tests to make
// real torrents.
package torrent

import (
	"bytes"
	"crypto/sha1"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// File is one file a torrent holds.
type File struct {
	// Path is the file's path inside the torrent, "/"-separated; for a
	// single-file torrent, the torrent's name.
	Path string
	Size int64
}

// Meta is what a .torrent says.
type Meta struct {
	Name string
	// InfoHash is the SHA1 of the bencoded info dictionary, 40 lowercase
	// hex digits: the torrent's identity, and a magnet link's btih.
	InfoHash string
	// Files are the torrent's files in the order the info dictionary
	// lists them (indexes into it are what clouds call "wanted").
	Files []File
	// MultiFile says the torrent has a folder of files (the info
	// dictionary's "files"), even when it holds a single one.
	MultiFile bool
}

// Size is the total size of the files.
func (m Meta) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// ErrNotTorrent is wrapped by every error of Parse.
var ErrNotTorrent = errors.New("not a torrent file")

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxDepth = 64

// Parse reads a .torrent. It checks what a client needs to download it:
// an info dictionary with a name, a piece length, pieces, and a length
// or a list of files with paths and lengths.
func Parse(data []byte) (Meta, error) {
	d := decoder{b: data}
	v, err := d.value(0)
	if err == nil && d.pos != len(data) {
		err = fmt.Errorf("%d bytes after the end of the metainfo", len(data)-d.pos)
	}
	if err != nil {
		return Meta{}, fmt.Errorf("%w: %v", ErrNotTorrent, err)
	}
	top, ok := v.(dict)
	if !ok {
		return Meta{}, fmt.Errorf("%w: the metainfo is not a dictionary", ErrNotTorrent)
	}
	infoV, ok := top.m["info"]
	if !ok {
		return Meta{}, fmt.Errorf("%w: there is no info dictionary", ErrNotTorrent)
	}
	info, ok := infoV.(dict)
	if !ok {
		return Meta{}, fmt.Errorf("%w: info is not a dictionary", ErrNotTorrent)
	}
	sum := sha1.Sum(data[info.start:info.end])
	m := Meta{InfoHash: hex.EncodeToString(sum[:])}
	name, ok := info.m["name"].(string)
	if !ok || strings.TrimSpace(name) == "" {
		return Meta{}, fmt.Errorf("%w: the torrent has no name", ErrNotTorrent)
	}
	m.Name = name
	if pl, ok := info.m["piece length"].(int64); !ok || pl <= 0 {
		return Meta{}, fmt.Errorf("%w: the torrent has no piece length", ErrNotTorrent)
	}
	if p, ok := info.m["pieces"].(string); !ok || len(p) == 0 || len(p)%sha1.Size != 0 {
		return Meta{}, fmt.Errorf("%w: the torrent's pieces are missing or cut", ErrNotTorrent)
	}
	if n, ok := info.m["length"].(int64); ok {
		if n < 0 {
			return Meta{}, fmt.Errorf("%w: a negative length", ErrNotTorrent)
		}
		m.Files = []File{{Path: name, Size: n}}
		return m, nil
	}
	list, ok := info.m["files"].([]any)
	if !ok || len(list) == 0 {
		return Meta{}, fmt.Errorf("%w: the torrent lists no files", ErrNotTorrent)
	}
	m.MultiFile = true
	for i, fv := range list {
		f, ok := fv.(dict)
		if !ok {
			return Meta{}, fmt.Errorf("%w: file %d is not a dictionary", ErrNotTorrent, i)
		}
		n, ok := f.m["length"].(int64)
		if !ok || n < 0 {
			return Meta{}, fmt.Errorf("%w: file %d has no length", ErrNotTorrent, i)
		}
		parts, ok := f.m["path"].([]any)
		if !ok || len(parts) == 0 {
			return Meta{}, fmt.Errorf("%w: file %d has no path", ErrNotTorrent, i)
		}
		var segs []string
		for _, p := range parts {
			s, ok := p.(string)
			if !ok || s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
				return Meta{}, fmt.Errorf("%w: file %d has a bad path", ErrNotTorrent, i)
			}
			segs = append(segs, s)
		}
		m.Files = append(m.Files, File{Path: path.Join(segs...), Size: n})
	}
	return m, nil
}

// dict is a decoded dictionary, with where it lies in the input (the
// info hash is over the info dictionary's bytes exactly as they are).
type dict struct {
	m          map[string]any
	start, end int
}

type decoder struct {
	b   []byte
	pos int
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deep")
	}
	if d.pos >= len(d.b) {
		return nil, errors.New("unexpected end")
	}
	switch c := d.b[d.pos]; {
	case c == 'i':
		end := bytes.IndexByte(d.b[d.pos:], 'e')
		if end < 0 {
			return nil, errors.New("an integer without its end")
		}
		s := string(d.b[d.pos+1 : d.pos+end])
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || (len(s) > 1 && (s[0] == '0' || strings.HasPrefix(s, "-0"))) {
			return nil, fmt.Errorf("bad integer %q", s)
		}
		d.pos += end + 1
		return n, nil
	case c >= '0' && c <= '9':
		colon := bytes.IndexByte(d.b[d.pos:], ':')
		if colon < 0 {
			return nil, errors.New("a string without its length")
		}
		n, err := strconv.Atoi(string(d.b[d.pos : d.pos+colon]))
		if err != nil || n < 0 || d.pos+colon+1+n > len(d.b) {
			return nil, errors.New("a string longer than the input")
		}
		s := string(d.b[d.pos+colon+1 : d.pos+colon+1+n])
		d.pos += colon + 1 + n
		return s, nil
	case c == 'l':
		d.pos++
		var out []any
		for {
			if d.pos >= len(d.b) {
				return nil, errors.New("a list without its end")
			}
			if d.b[d.pos] == 'e' {
				d.pos++
				return out, nil
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	case c == 'd':
		start := d.pos
		d.pos++
		out := dict{m: map[string]any{}, start: start}
		for {
			if d.pos >= len(d.b) {
				return nil, errors.New("a dictionary without its end")
			}
			if d.b[d.pos] == 'e' {
				d.pos++
				out.end = d.pos
				return out, nil
			}
			k, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, errors.New("a dictionary key that is not a string")
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out.m[key] = v
		}
	}
	return nil, fmt.Errorf("unexpected byte %q at %d", d.b[d.pos], d.pos)
}

// Make builds a .torrent of the given files, whose pieces are hashed
// from content(i) for file i. With one file whose path is name, the
// torrent is a single-file one; otherwise the paths are below name. The
// piece size is 256 KiB.
func Make(name string, files []File, content func(i int) []byte) []byte {
	const pieceLen = 256 << 10
	var all []byte
	for i := range files {
		all = append(all, content(i)...)
	}
	var pieces []byte
	for off := 0; off < len(all) || off == 0; off += pieceLen {
		sum := sha1.Sum(all[off:min(off+pieceLen, len(all))])
		pieces = append(pieces, sum[:]...)
		if off+pieceLen >= len(all) {
			break
		}
	}
	info := map[string]any{"name": name, "piece length": int64(pieceLen), "pieces": string(pieces)}
	if len(files) == 1 && files[0].Path == name {
		info["length"] = files[0].Size
	} else {
		var list []any
		for _, f := range files {
			var segs []any
			for _, s := range strings.Split(f.Path, "/") {
				segs = append(segs, s)
			}
			list = append(list, map[string]any{"length": f.Size, "path": segs})
		}
		info["files"] = list
	}
	var b bytes.Buffer
	encode(&b, map[string]any{"announce": "udp://tracker.invalid:80/announce", "created by": "pandav", "info": info})
	return b.Bytes()
}

// encode writes v (string, int64, []any or map[string]any) bencoded,
// with dictionary keys sorted as BEP 3 asks.
func encode(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case string:
		fmt.Fprintf(b, "%d:%s", len(v), v)
	case int64:
		fmt.Fprintf(b, "i%de", v)
	case []any:
		b.WriteByte('l')
		for _, x := range v {
			encode(b, x)
		}
		b.WriteByte('e')
	case map[string]any:
		b.WriteByte('d')
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			encode(b, k)
			encode(b, v[k])
		}
		b.WriteByte('e')
	default:
		panic(fmt.Sprintf("torrent: cannot encode %T", v))
	}
}

// MagnetHash is a magnet link's BitTorrent info hash (xt=urn:btih:, in
// hex or base32) as 40 lowercase hex digits; false when the link is no
// magnet or names no valid hash.
func MagnetHash(link string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || !strings.EqualFold(u.Scheme, "magnet") {
		return "", false
	}
	for _, xt := range u.Query()["xt"] {
		h, ok := strings.CutPrefix(strings.ToLower(xt), "urn:btih:")
		if !ok {
			continue
		}
		switch len(h) {
		case 40:
			if _, err := hex.DecodeString(h); err == nil {
				return h, true
			}
		case 32:
			if b, err := base32.StdEncoding.DecodeString(strings.ToUpper(h)); err == nil {
				return hex.EncodeToString(b), true
			}
		}
	}
	return "", false
}
