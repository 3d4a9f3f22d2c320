package strmlink

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"pandav/drivers"
)

// DefaultVideoExtensions are the files a view shows as .strm links when
// its mount names none. Audio is left out on purpose: a theme.mp3 beside a
// film must not become a second film (OpenList#1468 in
// docs/protocols/user-demands.md §6).
var DefaultVideoExtensions = []string{
	"mkv", "mp4", "m4v", "avi", "mov", "wmv", "flv", "f4v", "webm", "ts", "m2ts", "mts",
	"iso", "rmvb", "rm", "mpg", "mpeg", "vob", "3gp", "ogv", "asf", "divx",
}

// sideExtensions pass through a view unchanged, as media servers expect
// them beside the .strm: subtitles, .nfo metadata and pictures.
var sideExtensions = map[string]bool{
	"srt": true, "ass": true, "ssa": true, "sub": true, "idx": true, "vtt": true, "sup": true, "smi": true,
	"nfo": true,
	"jpg": true, "jpeg": true, "png": true, "webp": true, "gif": true, "bmp": true, "tbn": true,
}

// Kind is what a view makes of a source entry.
type Kind int

const (
	// Hidden entries are not in the view.
	Hidden Kind = iota
	// Folder is shown as it is, with its own view inside.
	Folder
	// Link is a video, shown as a .strm file holding its signed URL.
	Link
	// Side is a subtitle, .nfo or picture, shown as it is.
	Side
)

// Rules decide which files of a folder a view shows, and how.
type Rules struct {
	videos map[string]bool
}

// NewRules makes the rules for the given video extensions ("mkv" or
// ".MKV"; none means DefaultVideoExtensions). Extensions are matched
// without regard to case.
func NewRules(videoExtensions []string) (Rules, error) {
	if len(videoExtensions) == 0 {
		videoExtensions = DefaultVideoExtensions
	}
	r := Rules{videos: map[string]bool{}}
	for _, e := range videoExtensions {
		e = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(e), "."))
		if e == "" || strings.ContainsAny(e, "/\\. ") {
			return Rules{}, fmt.Errorf("%q is not a file extension such as mkv", e)
		}
		if sideExtensions[e] {
			return Rules{}, fmt.Errorf("%q is a subtitle, .nfo or picture extension, which the view passes through as it is", e)
		}
		r.videos[e] = true
	}
	return r, nil
}

func ext(name string) string { return strings.ToLower(strings.TrimPrefix(path.Ext(name), ".")) }

// kind is what the rules make of e.
func (r Rules) kind(e drivers.Entry) Kind {
	switch x := ext(e.Name); {
	case e.IsDir:
		return Folder
	case r.videos[x]:
		return Link
	case sideExtensions[x]:
		return Side
	}
	return Hidden
}

// Item is one entry of a folder's view.
type Item struct {
	// Name is the entry's name in the view.
	Name string
	Kind Kind
	// Src is the entry of the source folder it stands for.
	Src drivers.Entry
}

// View is what the view shows of a folder whose source entries are kids:
// folders and side files under their own names; each video as
// "<name>.strm", its name without the extension, as media servers name
// a film after its file; and nothing else. Where two videos would make
// the same name (film.mkv and film.mp4), each keeps its extension
// ("film.mkv.strm") rather than one hiding the other. The order is by
// name.
func (r Rules) View(kids []drivers.Entry) []Item {
	var out []Item
	count := map[string]int{}
	for _, k := range kids {
		it := Item{Name: k.Name, Kind: r.kind(k), Src: k}
		switch it.Kind {
		case Hidden:
			continue
		case Link:
			it.Name = strmName(k.Name)
			count[it.Name]++
		}
		out = append(out, it)
	}
	for i := range out {
		if out[i].Kind == Link && count[out[i].Name] > 1 {
			out[i].Name = out[i].Src.Name + ".strm"
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// strmName is the .strm file's name for a video: its name without the
// extension, or all of it when that would leave nothing.
func strmName(video string) string {
	base := strings.TrimSuffix(video, path.Ext(video))
	if base == "" {
		base = video
	}
	return base + ".strm"
}

// ViewOptions are a strm view's options (a strm mount's `options:`
// block), which `pandav strm sync` also reads from the config.
type ViewOptions struct {
	// Source is the WebDAV path the view shows: a mount, or a folder
	// inside one ("/115/Movies").
	Source string `yaml:"source"`
	// Extensions are the videos shown as .strm files ("mkv", "iso", ...),
	// matched without regard to case; empty means DefaultVideoExtensions.
	Extensions []string `yaml:"extensions"`
	// BaseURL is what the links in the .strm files start with: where the
	// players reach pandav ("https://nas.example:8080"). Empty means the
	// address pandav listens on.
	BaseURL string `yaml:"base_url"`
}

// Covers says whether the view shows the folder at p.
func (o ViewOptions) Covers(p string) bool {
	src := path.Clean("/" + o.Source)
	return p == src || src == "/" || strings.HasPrefix(p, src+"/")
}
