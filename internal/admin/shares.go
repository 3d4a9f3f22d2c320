package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"pandav/drivers"
)

// Share links of the mounts' own files (docs/admin-api.md, "Share
// links"): made from paths, which are resolved here, above the drivers,
// and listed, read, changed and cancelled by id, through the drives'
// sharing capabilities (drivers/sharing.go).

// ShareAPI is what the admin API offers for share links, in Go. Service
// and Client implement it.
type ShareAPI interface {
	// CreateShare makes one link of the files and folders at c.Paths,
	// all on one mount.
	CreateShare(ctx context.Context, c ShareCreate) (Share, error)
	// Shares lists the links of the mounts named (every mount that can
	// list them when none is); a link two mounts of one account both
	// list comes once.
	Shares(ctx context.Context, mounts ...string) ([]Share, error)
	// Share reads the link id, asking mount ("" asks every mount until
	// one has it).
	Share(ctx context.Context, id, mount string) (Share, error)
	// UpdateShare changes the link id.
	UpdateShare(ctx context.Context, id string, c ShareChange) (Share, error)
	// CancelShares cancels the links ids, each on mount ("" finds each
	// one's mount), and says how each went.
	CancelShares(ctx context.Context, ids []string, mount string) ([]ShareCancel, error)
}

var (
	_ ShareAPI = (*Service)(nil)
	_ ShareAPI = (*Client)(nil)
)

// ShareCreate is a link to make: the body of POST shares.
type ShareCreate struct {
	Paths []string `json:"paths"`
	// Password is the code a visitor types; "" for none, unless
	// RandomPassword asks for one drawn by the cloud's rules.
	Password       string `json:"password,omitempty"`
	RandomPassword bool   `json:"random_password,omitempty"`
	// Expire is a duration (7d, 12h, 90m), a date (2026-12-31, valid to
	// its end), an RFC 3339 time, or never ("" too).
	Expire      string `json:"expire,omitempty"`
	Description string `json:"description,omitempty"`
}

// ShareChange changes a link: the body of PATCH shares/{id}. A field
// left out stays as it is.
type ShareChange struct {
	// Mount is the mount whose account holds the link; "" finds it.
	Mount          string  `json:"mount,omitempty"`
	Password       *string `json:"password,omitempty"`
	RandomPassword bool    `json:"random_password,omitempty"`
	Expire         *string `json:"expire,omitempty"`
	Description    *string `json:"description,omitempty"`
}

// Share is one share link, as the API reports it.
type Share struct {
	ID    string `json:"id"`
	Mount string `json:"mount"`
	Name  string `json:"name"`
	URL   string `json:"url"`
	// Text is the message to paste: the link and its code.
	Text        string     `json:"text"`
	Password    string     `json:"password,omitempty"`
	Expires     *time.Time `json:"expires,omitempty"` // nil: never
	Description string     `json:"description,omitempty"`
	Created     *time.Time `json:"created,omitempty"`
	// State is enabled, expired, cancelled or forbidden.
	State string `json:"state"`
	// Views, Saves and Downloads are the cloud's counts, when it keeps
	// them.
	Views     *int64 `json:"views,omitempty"`
	Saves     *int64 `json:"saves,omitempty"`
	Downloads *int64 `json:"downloads,omitempty"`
	// Paths are what a link made through this API shares.
	Paths []string `json:"paths,omitempty"`
}

// ShareCancel is how the cancel of one link went.
type ShareCancel struct {
	ID        string `json:"id"`
	Cancelled bool   `json:"cancelled"`
	Error     string `json:"error,omitempty"`
}

// ParseExpire reads ShareCreate.Expire; the zero time is never.
func ParseExpire(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || strings.EqualFold(s, "never"):
		return time.Time{}, nil
	case expireDays.MatchString(s):
		m := expireDays.FindStringSubmatch(s)
		n, err := strconv.Atoi(m[1])
		if err == nil && n <= 36500 {
			days := n
			if m[2] == "w" {
				days = 7 * n
			}
			return now.AddDate(0, 0, days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t.AddDate(0, 0, 1).Add(-time.Second), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("the expiry %q is not a duration (7d, 2w, 12h), a date (2026-12-31), a time (2026-12-31T18:00:00+08:00) or never", s)
}

var expireDays = regexp.MustCompile(`^(\d+)\s*([dw])$`)

// sharing is a mount's sharing capabilities; nil where it lacks one.
type sharing struct {
	m      Mount
	check  drivers.ShareChecker
	create drivers.ShareCreator
	list   drivers.ShareLister
	get    drivers.ShareGetter
	update drivers.ShareUpdater
	cancel drivers.ShareCanceller
}

func sharingOf(m Mount) sharing {
	s := sharing{m: m}
	s.check, _ = m.Drive.(drivers.ShareChecker)
	s.create, _ = m.Drive.(drivers.ShareCreator)
	s.list, _ = m.Drive.(drivers.ShareLister)
	s.get, _ = m.Drive.(drivers.ShareGetter)
	s.update, _ = m.Drive.(drivers.ShareUpdater)
	s.cancel, _ = m.Drive.(drivers.ShareCanceller)
	return s
}

// mountOfPath finds the mount p is on, and p inside it.
func (s *Service) mountOfPath(p string) (Mount, string, bool) {
	best, rel := Mount{}, ""
	for _, m := range s.mounts {
		switch {
		case p == m.Path && len(m.Path) > len(best.Path):
			best, rel = m, "/"
		case strings.HasPrefix(p, m.Path+"/") && len(m.Path) > len(best.Path):
			best, rel = m, p[len(m.Path):]
		}
	}
	return best, rel, best.Path != ""
}

// shareError turns a drive's error into the API's, in one sentence.
func shareError(what string, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, drivers.ErrInvalidShare):
		return errorf(http.StatusBadRequest, "%s: %s", what, sentence(err, drivers.ErrInvalidShare))
	case errors.Is(err, drivers.ErrShareRefused):
		return errorf(http.StatusBadRequest, "%s: the cloud refuses to share it (%v)", what, err)
	case errors.Is(err, drivers.ErrNotFound):
		return errorf(http.StatusNotFound, "%s: %v", what, err)
	case errors.Is(err, drivers.ErrUnsupported):
		return errorf(http.StatusBadRequest, "%s: %v", what, err)
	case errors.Is(err, drivers.ErrRateLimited):
		return errorf(http.StatusServiceUnavailable, "%s: %v", what, err)
	}
	return errorf(http.StatusBadGateway, "%s: %v", what, err)
}

// sentence is err's text without the sentinel's own words in front.
func sentence(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

// CreateShare implements ShareAPI.
func (s *Service) CreateShare(ctx context.Context, c ShareCreate) (Share, error) {
	if len(c.Paths) == 0 {
		return Share{}, errorf(http.StatusBadRequest, "name the files or folders to share, such as /aliyun/Movies")
	}
	expires, err := ParseExpire(c.Expire, time.Now())
	if err != nil {
		return Share{}, errorf(http.StatusBadRequest, "%v", err)
	}
	if c.Password != "" && c.RandomPassword {
		return Share{}, errorf(http.StatusBadRequest, "give a password or ask for a random one, not both")
	}
	var on Mount
	var rels, paths []string
	for _, p := range c.Paths {
		p = path.Clean("/" + p)
		m, rel, ok := s.mountOfPath(p)
		switch {
		case !ok:
			return Share{}, errorf(http.StatusBadRequest, "%s is not on any mount", p)
		case on.Path != "" && m.Path != on.Path:
			return Share{}, errorf(http.StatusBadRequest, "one share link holds files of one mount: %s is on %s, %s on %s", paths[0], on.Path, p, m.Path)
		}
		on = m
		rels, paths = append(rels, rel), append(paths, p)
	}
	sh := sharingOf(on)
	if sh.create == nil {
		return Share{}, errorf(http.StatusBadRequest, "%s is on %s, a %s mount, which cannot make share links", paths[0], on.Path, on.Driver)
	}
	files := make([]drivers.Entry, len(paths))
	for i := range paths {
		if files[i], err = drivers.Walk(ctx, on.Drive, rels[i]); errors.Is(err, drivers.ErrNotFound) {
			return Share{}, errorf(http.StatusNotFound, "there is no %s", paths[i])
		} else if err != nil {
			return Share{}, shareError("finding "+paths[i], err)
		}
	}
	if sh.check != nil {
		bad, err := sh.check.CheckShareable(ctx, files)
		if err != nil {
			return Share{}, shareError("asking whether the cloud shares them", err)
		}
		if len(bad) > 0 {
			i := slices.IndexFunc(files, func(f drivers.Entry) bool { return f.ID == bad[0].Entry.ID })
			return Share{}, errorf(http.StatusBadRequest, "the cloud refuses to share %s: %s", paths[max(i, 0)], bad[0].Reason)
		}
	}
	l, err := sh.create.CreateShare(ctx, drivers.ShareRequest{Files: files, Password: c.Password, RandomPassword: c.RandomPassword,
		Expires: expires, Description: c.Description})
	if err != nil {
		return Share{}, shareError("sharing "+strings.Join(paths, ", "), err)
	}
	s.log.Info().Str("mount", on.Path).Str("share", l.ID).Strs("paths", paths).Msg("share link made")
	out := shareOf(on.Path, l)
	out.Paths = paths
	return out, nil
}

// shareOf is l as the API reports it.
func shareOf(mount string, l drivers.ShareLink) Share {
	out := Share{ID: l.ID, Mount: mount, Name: l.Name, URL: l.URL, Text: l.Text, Password: l.Password,
		Description: l.Description, State: string(l.State)}
	if !l.Expires.IsZero() {
		t := l.Expires
		out.Expires = &t
	}
	if !l.Created.IsZero() {
		t := l.Created
		out.Created = &t
	}
	for _, c := range []struct {
		n   int64
		dst **int64
	}{{l.Views, &out.Views}, {l.Saves, &out.Saves}, {l.Downloads, &out.Downloads}} {
		if c.n >= 0 {
			n := c.n
			*c.dst = &n
		}
	}
	return out
}

// sharingMounts are the mounts named, or every mount with the
// capability has; a named mount without it is an error.
func (s *Service) sharingMounts(names []string, has func(sharing) bool, what string) ([]sharing, error) {
	var out []sharing
	if len(names) == 0 {
		for _, m := range s.mounts {
			if sh := sharingOf(m); has(sh) {
				out = append(out, sh)
			}
		}
		if len(out) == 0 {
			return nil, errorf(http.StatusBadRequest, "no mount can %s", what)
		}
		return out, nil
	}
	for _, name := range names {
		m, e := s.mount(path.Clean("/" + name))
		if e != nil {
			return nil, e
		}
		sh := sharingOf(m)
		if !has(sh) {
			return nil, errorf(http.StatusBadRequest, "%s is a %s mount, which cannot %s", m.Path, m.Driver, what)
		}
		out = append(out, sh)
	}
	return out, nil
}

// Shares implements ShareAPI. Listing every mount skips those that
// cannot list for want of a login the cloud needs for it.
func (s *Service) Shares(ctx context.Context, mounts ...string) ([]Share, error) {
	shs, err := s.sharingMounts(mounts, func(sh sharing) bool { return sh.list != nil }, "list share links")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []Share{}
	var skipped error
	listed := 0
	for _, sh := range shs {
		ls, err := sh.list.ListShares(ctx)
		if errors.Is(err, drivers.ErrUnsupported) && len(mounts) == 0 {
			skipped = err
			continue
		}
		if err != nil {
			return nil, shareError("listing the share links of "+sh.m.Path, err)
		}
		listed++
		for _, l := range ls {
			if !seen[l.ID] {
				seen[l.ID] = true
				out = append(out, shareOf(sh.m.Path, l))
			}
		}
	}
	if listed == 0 {
		return nil, shareError("listing share links", skipped)
	}
	return out, nil
}

// owner finds the mount that holds the link id: mount when named, else
// the first that knows it.
func (s *Service) owner(ctx context.Context, id, mount string) (sharing, drivers.ShareLink, error) {
	var names []string
	if mount != "" {
		names = []string{mount}
	}
	shs, err := s.sharingMounts(names, func(sh sharing) bool { return sh.get != nil }, "read share links")
	if err != nil {
		return sharing{}, drivers.ShareLink{}, err
	}
	var last error
	for _, sh := range shs {
		l, err := sh.get.GetShare(ctx, id)
		if err == nil {
			return sh, l, nil
		}
		if !errors.Is(err, drivers.ErrNotFound) && !(errors.Is(err, drivers.ErrUnsupported) && mount == "") {
			return sharing{}, drivers.ShareLink{}, shareError("reading share link "+id, err)
		}
		last = err
	}
	if mount != "" && !errors.Is(last, drivers.ErrNotFound) {
		return sharing{}, drivers.ShareLink{}, shareError("reading share link "+id, last)
	}
	return sharing{}, drivers.ShareLink{}, errorf(http.StatusNotFound, "no mount has a share link %s", id)
}

// Share implements ShareAPI.
func (s *Service) Share(ctx context.Context, id, mount string) (Share, error) {
	sh, l, err := s.owner(ctx, id, mount)
	if err != nil {
		return Share{}, err
	}
	return shareOf(sh.m.Path, l), nil
}

// UpdateShare implements ShareAPI.
func (s *Service) UpdateShare(ctx context.Context, id string, c ShareChange) (Share, error) {
	u := drivers.ShareUpdate{Password: c.Password, RandomPassword: c.RandomPassword, Description: c.Description}
	switch {
	case c.Password != nil && c.RandomPassword:
		return Share{}, errorf(http.StatusBadRequest, "give a password or ask for a random one, not both")
	case c.Password == nil && !c.RandomPassword && c.Expire == nil && c.Description == nil:
		return Share{}, errorf(http.StatusBadRequest, "say what to change: a password, an expiry or a description")
	}
	if c.Expire != nil {
		t, err := ParseExpire(*c.Expire, time.Now())
		if err != nil {
			return Share{}, errorf(http.StatusBadRequest, "%v", err)
		}
		u.Expires = &t
	}
	sh, _, err := s.owner(ctx, id, c.Mount)
	if err != nil {
		return Share{}, err
	}
	if sh.update == nil {
		return Share{}, errorf(http.StatusBadRequest, "%s is a %s mount, which cannot change share links", sh.m.Path, sh.m.Driver)
	}
	l, err := sh.update.UpdateShare(ctx, id, u)
	if err != nil {
		return Share{}, shareError("changing share link "+id, err)
	}
	s.log.Info().Str("mount", sh.m.Path).Str("share", id).Msg("share link changed")
	return shareOf(sh.m.Path, l), nil
}

// CancelShares implements ShareAPI: the links of one mount go in one
// call.
func (s *Service) CancelShares(ctx context.Context, ids []string, mount string) ([]ShareCancel, error) {
	if len(ids) == 0 {
		return nil, errorf(http.StatusBadRequest, "name the share links to cancel by their ids")
	}
	failed := make([]error, len(ids))
	byMount := map[string][]int{}
	mounts := map[string]sharing{}
	for i, id := range ids {
		sh, _, err := s.owner(ctx, id, mount)
		switch {
		case err != nil:
			failed[i] = err
		case sh.cancel == nil:
			failed[i] = errorf(http.StatusBadRequest, "%s is a %s mount, which cannot cancel share links", sh.m.Path, sh.m.Driver)
		default:
			byMount[sh.m.Path] = append(byMount[sh.m.Path], i)
			mounts[sh.m.Path] = sh
		}
	}
	for p, idx := range byMount {
		batch := make([]string, len(idx))
		for j, i := range idx {
			batch[j] = ids[i]
		}
		errs, err := mounts[p].cancel.CancelShares(ctx, batch)
		for j, i := range idx {
			e := err
			if e == nil && j < len(errs) {
				e = errs[j]
			}
			if e != nil {
				failed[i] = shareError("cancelling share link "+ids[i], e)
				continue
			}
			s.log.Info().Str("mount", p).Str("share", ids[i]).Msg("share link cancelled")
		}
	}
	if len(ids) == 1 && failed[0] != nil {
		return nil, failed[0]
	}
	out := make([]ShareCancel, len(ids))
	for i, id := range ids {
		out[i] = ShareCancel{ID: id, Cancelled: failed[i] == nil}
		if failed[i] != nil {
			out[i].Error = failed[i].Error()
		}
	}
	return out, nil
}
