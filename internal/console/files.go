package console

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"pandav/internal/auth"
)

// The files page: a folder of the WebDAV tree for a browser. It works
// without JavaScript (sorting and filtering are query parameters the
// server applies); the script does them in place and adds uploads,
// new folders, renames, deletes and the player, through the WebDAV
// methods themselves.

type crumb struct{ Name, Href string }

type entry struct {
	Name  string
	Path  string // the WebDAV path, unescaped, for the script
	Href  string
	IsDir bool
	Size  int64
	Human string
	// Mod is the time in RFC 3339 (UTC), which the script shows in the
	// browser's own zone; ModShow is the server's rendering of it.
	Mod, ModShow string
	MTime        int64
	Kind         string // folder, video, audio, image, text, archive, file
	// Play is "video" or "audio" for what a browser can play in the page.
	Play string
}

type folderPage struct {
	Folder   string
	Up       string // the parent folder's URL; "" at the root
	Crumbs   []crumb
	Entries  []entry
	Total    int
	Sort     string // name, size or date
	Desc     bool
	Query    string
	DavURL   string
	ReadOnly bool
	Heads    []head
}

type head struct {
	Label, Key, Href, Class string
	Sorted                  string // "", "ascending" or "descending"
}

// ServeFolder implements webdav.FolderPage.
func (c *Console) ServeFolder(w http.ResponseWriter, r *http.Request, folder string, infos []os.FileInfo) {
	q := r.URL.Query()
	fp := folderPage{Folder: folder, Sort: q.Get("sort"), Desc: q.Get("order") == "desc", Query: strings.TrimSpace(q.Get("q"))}
	if fp.Sort != "size" && fp.Sort != "date" {
		fp.Sort = "name"
	}
	if u := auth.FromContext(r.Context()); u != nil {
		fp.ReadOnly = u.ReadOnly
	}
	// The root lists the mounts, which cannot be renamed, deleted or
	// written beside.
	fp.ReadOnly = fp.ReadOnly || folder == "/"
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	fp.DavURL = scheme + "://" + r.Host + escapedPath(folder)
	if folder != "/" {
		fp.DavURL += "/"
	}
	fp.Crumbs = crumbs(folder)
	if len(fp.Crumbs) > 1 {
		// Absolute: a folder asked for without its trailing slash would
		// make "../" the grandparent.
		fp.Up = fp.Crumbs[len(fp.Crumbs)-2].Href
	}
	needle := strings.ToLower(fp.Query)
	for _, fi := range infos {
		fp.Total++
		if needle != "" && !strings.Contains(strings.ToLower(fi.Name()), needle) {
			continue
		}
		fp.Entries = append(fp.Entries, newEntry(folder, fi))
	}
	sortEntries(fp.Entries, fp.Sort, fp.Desc)
	for _, h := range []struct{ label, key, class string }{{"Name", "name", "name"}, {"Size", "size", "size"}, {"Modified", "date", "date"}} {
		hd := head{Label: h.label, Key: h.key, Class: h.class}
		order := ""
		if fp.Sort == h.key {
			hd.Sorted = "ascending"
			if fp.Desc {
				hd.Sorted = "descending"
			} else {
				order = "&order=desc"
			}
		}
		hd.Href = "?sort=" + h.key + order
		if fp.Query != "" {
			hd.Href += "&q=" + url.QueryEscape(fp.Query)
		}
		fp.Heads = append(fp.Heads, hd)
	}
	title := folder
	if len(fp.Crumbs) > 1 {
		title = fp.Crumbs[len(fp.Crumbs)-1].Name
	}
	c.render(w, r, http.StatusOK, "files", page{Title: title, Nav: "files", Data: fp})
}

func crumbs(folder string) []crumb {
	out := []crumb{{Name: "Home", Href: "/"}}
	p := ""
	for _, seg := range strings.Split(strings.Trim(folder, "/"), "/") {
		if seg == "" {
			continue
		}
		p += "/" + seg
		out = append(out, crumb{Name: seg, Href: escapedPath(p) + "/"})
	}
	return out
}

func newEntry(folder string, fi os.FileInfo) entry {
	p := path.Join(folder, fi.Name())
	e := entry{Name: fi.Name(), Path: p, Href: escapedPath(p), IsDir: fi.IsDir(), Size: fi.Size()}
	if e.IsDir {
		e.Href += "/"
		e.Kind, e.Path = "folder", p+"/"
	} else {
		e.Human = HumanSize(fi.Size())
		e.Kind, e.Play = kindOf(fi.Name())
	}
	if t := fi.ModTime(); !t.IsZero() && t.Unix() > 0 {
		e.Mod = t.UTC().Format(time.RFC3339)
		e.ModShow = t.UTC().Format("2006-01-02 15:04") + " UTC"
		e.MTime = t.Unix()
	}
	return e
}

// kindOf is a file's kind, for its icon, and how the page plays it:
// what browsers play in a <video> or <audio> element (mkv where the
// browser can; the player says so when it cannot).
func kindOf(name string) (kind, play string) {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".mp4", ".m4v", ".webm", ".mkv":
		return "video", "video"
	case ".mp3", ".m4a", ".ogg", ".opus", ".wav":
		return "audio", "audio"
	}
	for _, k := range []struct{ kind, exts string }{
		{"video", ".avi .wmv .flv .ts .m2ts .rmvb .iso .m3u8 .mov"},
		{"audio", ".flac .aac .ape .wma"},
		{"image", ".jpg .jpeg .png .gif .webp .heic .bmp .svg"},
		{"text", ".txt .md .srt .ass .vtt .nfo .log .json .yaml .yml .xml .csv .strm .pdf .doc .docx"},
		{"archive", ".zip .rar .7z .gz .tar .xz .bz2 .zst .torrent"},
	} {
		if ext != "" && slices.Contains(strings.Fields(k.exts), ext) {
			return k.kind, ""
		}
	}
	return "file", ""
}

// sortEntries puts folders first, then orders by key; names break ties.
func sortEntries(es []entry, key string, desc bool) {
	slices.SortStableFunc(es, func(a, b entry) int {
		if a.IsDir != b.IsDir {
			if a.IsDir {
				return -1
			}
			return 1
		}
		var c int
		switch key {
		case "size":
			c = cmp.Compare(a.Size, b.Size)
		case "date":
			c = cmp.Compare(a.MTime, b.MTime)
		}
		if c == 0 {
			c = cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		}
		if desc {
			c = -c
		}
		return c
	})
}

// HumanSize is n bytes as a person reads it: 1.5 MiB.
func HumanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n) / 1024
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}
