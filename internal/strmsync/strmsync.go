// Package strmsync writes a .strm view of a pandav folder into a local
// folder, for media servers that need file-system events (Plex, Emby
// with real-time monitoring): `pandav strm sync`. It asks the running
// pandav for every listing, through a listing link signed with the key in
// state_dir, so that the account's login stays with the one process that
// holds it, and the listings meet the same validation, pacing and scan
// budget as any client's. The .strm files are the ones the strm view
// shows (internal/strmlink's rules and links).
//
// It is incremental: it adds and updates what differs, and removes a file
// it made only when two listings in a row, both complete and successful,
// no longer show it: the walk's, and a second, fresh one made to confirm.
// A listing that fails stops the run before anything is removed. See
// docs/DESIGN.md, "Media libraries".
package strmsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/internal/httpclient"
	"pandav/internal/strmlink"
)

// Options are one sync's settings.
type Options struct {
	// Server is where the running pandav answers, for listings and side
	// files ("http://127.0.0.1:8080").
	Server string
	// BaseURL is what the .strm links start with: where the players
	// reach pandav.
	BaseURL string
	// Source is the WebDAV path of the folder to sync ("/115/Movies").
	Source string
	// Dest is the local folder the view is written to.
	Dest   string
	Rules  strmlink.Rules
	Signer *strmlink.Signer
	// MaxSideSize is the largest subtitle, .nfo or picture copied; larger
	// ones are skipped.
	MaxSideSize int64
	// Client talks to Server; nil means a default one.
	Client *http.Client
}

// Summary is what a run did.
type Summary struct {
	Folders int // listed
	Links   int // .strm files the view holds
	Sides   int // side files the view holds

	Added, Updated, Removed, Unchanged int
	// Kept counts files of the destination pandav did not write, left as
	// they are although the view has a file of that name.
	Kept int
	// Skipped counts side files over MaxSideSize.
	Skipped int
}

func (s Summary) String() string {
	out := fmt.Sprintf("listed %s; the view holds %d .strm and %d side files; added %d, updated %d, removed %d, unchanged %d",
		plural(s.Folders, "folder"), s.Links, s.Sides, s.Added, s.Updated, s.Removed, s.Unchanged)
	if s.Kept > 0 {
		out += fmt.Sprintf(", kept %d of your own files in the view's place", s.Kept)
	}
	if s.Skipped > 0 {
		out += fmt.Sprintf(", skipped %d side files over the size limit", s.Skipped)
	}
	return out
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// stateName is the file in Dest that records what pandav wrote there, so
// that a run removes only its own files.
const stateName = ".pandav-strm.json"

type state struct {
	Source string               `json:"source"`
	Files  map[string]fileState `json:"files"` // by path relative to Dest, with "/"
}

type fileState struct {
	Link bool `json:"link,omitempty"`
	// For side files: the source's size and time when copied.
	Size     int64     `json:"size,omitempty"`
	Modified time.Time `json:"modified,omitzero"`
}

// want is one file the view holds.
type want struct {
	src  string // the source's WebDAV path
	link bool
	size int64
	mod  time.Time
}

type run struct {
	o      Options
	st     state
	sum    Summary
	wants  map[string]want
	listed map[string]map[string]bool // folder rel -> names its view shows
	src    map[string]string          // folder rel -> its WebDAV path
}

// Run syncs o.Source into o.Dest. Its error names the listing or file
// that failed; the summary counts what was done before.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Client == nil {
		o.Client = httpclient.New()
	}
	o.Source = path.Clean("/" + o.Source)
	dest, err := filepath.Abs(o.Dest)
	if err != nil {
		return Summary{}, err
	}
	o.Dest = dest
	o.Server = strings.TrimRight(o.Server, "/")
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if err := os.MkdirAll(o.Dest, 0o755); err != nil {
		return Summary{}, err
	}
	r := &run{o: o, wants: map[string]want{}, listed: map[string]map[string]bool{}, src: map[string]string{}}
	if err := r.loadState(); err != nil {
		return Summary{}, err
	}
	walkErr := r.walk(ctx)
	applyErr := r.apply(ctx)
	var removeErr error
	if walkErr == nil && applyErr == nil {
		removeErr = r.removeGone(ctx)
	}
	saveErr := r.saveState()
	err = errors.Join(walkErr, applyErr, removeErr, saveErr)
	if err != nil && removeErr == nil {
		err = fmt.Errorf("%w; nothing was removed", err)
	}
	return r.sum, err
}

func (r *run) loadState() error {
	r.st = state{Source: r.o.Source, Files: map[string]fileState{}}
	b, err := os.ReadFile(filepath.Join(r.o.Dest, stateName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s is unreadable (%v); remove it to start afresh, and pandav will adopt its own .strm files", filepath.Join(r.o.Dest, stateName), err)
	}
	if st.Source != r.o.Source {
		return fmt.Errorf("%s holds a sync of %s, not of %s; give another folder, or remove %s to start afresh", r.o.Dest, st.Source, r.o.Source, stateName)
	}
	if st.Files != nil {
		r.st.Files = st.Files
	}
	return nil
}

func (r *run) saveState() error {
	b, err := json.MarshalIndent(r.st, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(r.o.Dest, stateName), b)
}

// walk lists every folder of the source, breadth first, and records what
// the view holds. It stops at the first listing that fails.
func (r *run) walk(ctx context.Context) error {
	queue := []string{""}
	r.src[""] = r.o.Source
	for len(queue) > 0 {
		rel := queue[0]
		queue = queue[1:]
		items, err := r.list(ctx, r.src[rel])
		if err != nil {
			return err
		}
		r.sum.Folders++
		names := map[string]bool{}
		for _, it := range items {
			child := path.Join(rel, it.Name)
			srcPath := path.Join(r.src[rel], it.Src.Name)
			names[it.Name] = true
			switch it.Kind {
			case strmlink.Folder:
				r.src[child] = srcPath
				queue = append(queue, child)
			case strmlink.Link:
				r.sum.Links++
				r.wants[child] = want{src: srcPath, link: true}
			case strmlink.Side:
				r.sum.Sides++
				r.wants[child] = want{src: srcPath, size: it.Src.Size, mod: it.Src.ModTime}
			}
		}
		r.listed[rel] = names
	}
	return nil
}

// list asks pandav for a fresh listing of the folder at p, as the view
// shows it.
func (r *run) list(ctx context.Context, p string) ([]strmlink.Item, error) {
	u, err := r.o.Signer.ListURL(r.o.Server, p)
	if err != nil {
		return nil, err
	}
	resp, err := r.get(ctx, u+"?fresh=1", "listing "+p)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var l strmlink.Listing
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&l); err != nil {
		return nil, fmt.Errorf("listing %s: an unreadable answer: %v", p, err)
	}
	kids := make([]drivers.Entry, len(l.Entries))
	for i, e := range l.Entries {
		kids[i] = drivers.Entry{Name: e.Name, IsDir: e.IsDir, Size: e.Size, ModTime: e.ModTime, SHA1: e.SHA1}
	}
	return r.o.Rules.View(kids), nil
}

// get fetches u from pandav; what names the request in errors, which
// never hold u (it carries a signature).
func (r *run) get(ctx context.Context, u, what string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, httpclient.Redact(err))
	}
	req.Header.Set("User-Agent", "pandav-strm-sync")
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: pandav does not answer at %s (is `pandav serve` running with this config? --server names another address): %v", what, r.o.Server, httpclient.Redact(err))
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg := fmt.Sprintf("%s: pandav answered %s: %s", what, resp.Status, strings.TrimSpace(string(b)))
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			msg += fmt.Sprintf(" (retry after %ss)", ra)
		}
		return nil, errors.New(msg)
	}
	return resp, nil
}

// apply writes what the view holds and the destination lacks or holds
// otherwise, in name order.
func (r *run) apply(ctx context.Context) error {
	rels := make([]string, 0, len(r.wants))
	for rel := range r.wants {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	var errs []error
	for _, rel := range rels {
		if err := r.applyOne(ctx, rel, r.wants[rel]); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (r *run) applyOne(ctx context.Context, rel string, w want) error {
	local := filepath.Join(r.o.Dest, filepath.FromSlash(rel))
	old, ours := r.st.Files[rel]
	have, err := os.ReadFile(local)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if w.link {
		u, err := r.o.Signer.FileURL(r.o.BaseURL, w.src)
		if err != nil {
			return err
		}
		switch {
		case exists && string(have) == u:
			r.sum.Unchanged++
		case exists && !ours && !strings.Contains(string(have), strmlink.FilePrefix):
			r.sum.Kept++
			return nil
		default:
			if err := writeAtomic(local, []byte(u)); err != nil {
				return err
			}
			r.count(exists)
		}
		r.st.Files[rel] = fileState{Link: true}
		return nil
	}
	switch {
	case exists && ours && old.Size == w.size && old.Modified.Equal(w.mod) && int64(len(have)) == w.size:
		r.sum.Unchanged++
		return nil
	case exists && !ours:
		r.sum.Kept++
		return nil
	case w.size > r.o.MaxSideSize:
		r.sum.Skipped++
		return nil
	}
	if err := r.download(ctx, w, local); err != nil {
		return err
	}
	r.count(exists)
	r.st.Files[rel] = fileState{Size: w.size, Modified: w.mod}
	return nil
}

func (r *run) count(existed bool) {
	if existed {
		r.sum.Updated++
	} else {
		r.sum.Added++
	}
}

// download copies a side file through pandav, as a player would read it.
func (r *run) download(ctx context.Context, w want, local string) error {
	u, err := r.o.Signer.FileURL(r.o.Server, w.src)
	if err != nil {
		return err
	}
	resp, err := r.get(ctx, u, "copying "+w.src)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.o.MaxSideSize+1))
	if err != nil {
		return fmt.Errorf("copying %s: %v", w.src, httpclient.Redact(err))
	}
	if int64(len(b)) != w.size {
		return fmt.Errorf("copying %s: %d bytes arrived of %d", w.src, len(b), w.size)
	}
	return writeAtomic(local, b)
}

// removeGone removes the files pandav wrote that the view no longer
// holds, each once a second, fresh listing of the folder that lost it
// agrees with the walk's.
func (r *run) removeGone(ctx context.Context) error {
	var gone []string
	for rel := range r.st.Files {
		if _, ok := r.wants[rel]; !ok {
			gone = append(gone, rel)
		}
	}
	sort.Strings(gone)
	confirmed := map[string]map[string]bool{} // folder rel -> names of its second listing
	var errs []error
	for _, rel := range gone {
		dir, name := r.lostAt(rel)
		again, ok := confirmed[dir]
		if !ok {
			items, err := r.list(ctx, r.src[dir])
			if err != nil {
				errs = append(errs, fmt.Errorf("%w (the listing that would confirm a removal)", err))
				confirmed[dir] = nil
				continue
			}
			again = map[string]bool{}
			for _, it := range items {
				again[it.Name] = true
			}
			confirmed[dir] = again
		}
		if again == nil || again[name] {
			continue // not confirmed: kept for the next run to look again
		}
		local := filepath.Join(r.o.Dest, filepath.FromSlash(rel))
		if err := os.Remove(local); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		delete(r.st.Files, rel)
		r.sum.Removed++
		removeEmptyParents(r.o.Dest, filepath.Dir(local))
	}
	return errors.Join(errs...)
}

// lostAt finds the folder whose listing no longer shows the way to rel:
// the deepest folder on its path that the walk listed, and the name in it
// that is missing.
func (r *run) lostAt(rel string) (dir, name string) {
	parts := strings.Split(rel, "/")
	for _, p := range parts {
		if !r.listed[dir][p] {
			return dir, p
		}
		dir = path.Join(dir, p)
	}
	return path.Dir(rel), path.Base(rel) // not reached: rel is no longer wanted
}

// removeEmptyParents removes dir and its parents up to (not including)
// top while they are empty.
func removeEmptyParents(top, dir string) {
	for dir != top && strings.HasPrefix(dir, top) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// writeAtomic replaces name with b, so that a media server watching the
// folder never reads half a file.
func writeAtomic(name string, b []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".pandav-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	return err
}
