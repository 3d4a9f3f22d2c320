package aliyun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// The aliyun-share driver mounts someone else's share link read-only
// (docs/protocols/aliyun.md §4). Listing needs only the share token. Playback needs
// an account's login: the share's own download URL is tried first, and
// when it answers as it has since 2024 (410, or 429 ParamFlowException),
// the file is saved into a hidden folder of the account's drive and
// played from there (sharecopy.go).

func init() { drivers.Register("aliyun-share", drivers.FactoryOf(NewShare)) }

const (
	shareCanary = "client=web,app=share,version=v2.3.1"
	// shareTokenMargin: a share token this close to its stated expiry is
	// replaced before use.
	shareTokenMargin = time.Minute
	// deadShareFor is how long a share found cancelled, expired or
	// refused is answered from memory rather than asked again.
	deadShareFor = 30 * time.Second
	// directDeadFor is how long the share's own download URL is not
	// tried again once it answered as dead.
	directDeadFor = 10 * time.Minute
	// shareLinkExpiry is the most get_share_link_download_url allows.
	shareLinkExpiry = 600
)

// Share is one mounted share link.
type Share struct {
	o     ShareOptions
	t     tuning
	log   zerolog.Logger
	send  upstream.Sender
	mount func(string) (drivers.Drive, bool)

	limits    *upstream.Limiters
	dupLogged sync.Map

	tokenMu sync.Mutex // one get_share_token at a time
	// directMu makes one probe of the share's own download URL at a
	// time while it is not known to work, so that a burst of links costs
	// one dead answer.
	directMu sync.Mutex
	mu       sync.Mutex
	token    string
	tokenAt  time.Time // when token stops being used
	root     *drivers.Entry
	// expiration is when the share ends, as its info says; "" for never.
	expiration string
	driveID    string // the sharer's drive, from the first listing
	dead       error  // the share-level failure last seen
	deadAt     time.Time
	logged     string // the share-level failure last logged
	// directDeadUntil: the share's own download URL is skipped until then.
	directDeadUntil time.Time
	directWorks     bool

	// mountPath is where the share is mounted, which its routes name.
	mountPath string
	pv        previews
}

var (
	_ drivers.Drive          = (*Share)(nil)
	_ drivers.StreamNotifier = (*Share)(nil)
	_ drivers.ShareStater    = (*Share)(nil)
)

// NewShare checks o and prepares the mount. It makes no call itself, but
// checks the share in the background, so that a wrong code or a dead
// share is in the log at start; the account is looked up at first use,
// since mounts open in config order.
func NewShare(ctx context.Context, env drivers.Env, o ShareOptions) (*Share, error) {
	s, err := newShare(env, o, defaultTuning)
	if err != nil {
		return nil, err
	}
	go s.checkAtStart()
	return s, nil
}

func newShare(env drivers.Env, o ShareOptions, t tuning) (*Share, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if o.Account == env.MountPath {
		return nil, errors.New("aliyun-share: options.account names this share mount itself; name the aliyun mount whose login plays it")
	}
	s := &Share{
		o:     o,
		t:     t,
		log:   env.Log.With().Str("driver", "aliyun-share").Str("mount", env.MountPath).Logger(),
		send:  newSender(env.HTTPClient),
		mount: env.Mount,

		mountPath: env.MountPath,
		pv:        previews{mode: o.Previews, memory: cmp.Or(t.copyRetry, refusalMemory)},
	}
	// Share calls are anonymous and counted by address, so every share
	// mount of the service shares one pace: the account rates, which the
	// service has tolerated.
	lim, err := drivers.SharedValue(env.Shared, "aliyun-share:"+o.WebAPIURL, func() (*upstream.Limiters, error) {
		return upstream.NewLimiters(t.rates), nil
	})
	if err != nil {
		return nil, fmt.Errorf("aliyun-share: %w", err)
	}
	s.limits = lim
	return s, nil
}

func (s *Share) checkAtStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := s.Root(ctx)
	switch {
	case err == nil:
		s.log.Info().Str("share", s.o.ShareID).Str("folder", r.Name).Msg("share link ready")
	case !isShareDead(err):
		s.log.Warn().Err(err).Msg("the share link could not be checked at start; it is tried again at first use")
	}
}

// shareError is a share that cannot be used as configured. It unwraps to
// ErrNotFound (gone) or fs.ErrPermission (refused), which the WebDAV
// layer answers with 404 and 403.
type shareError struct {
	msg  string
	kind error
}

func (e *shareError) Error() string { return e.msg }
func (e *shareError) Unwrap() error { return e.kind }

func isShareDead(err error) bool {
	var se *shareError
	return errors.As(err, &se)
}

// shareFailure turns the service's share-level codes into shareErrors
// with a message a user can act on; other errors pass unchanged.
func (s *Share) shareFailure(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	id := s.o.ShareID
	// The cloud's own words follow pandav's.
	said := ae.Code
	if ae.Message != "" {
		said += ": " + ae.Message
	}
	switch ae.Code {
	case "InvalidResource.SharePwd":
		what := "is wrong"
		if s.o.SharePwd == "" {
			what = "is needed: set options.share_pwd"
		}
		return &shareError{fmt.Sprintf("aliyun share %s: the share's code (提取码, options.share_pwd) %s (%s)", id, what, said), fs.ErrPermission}
	case "ShareLink.Cancelled":
		return &shareError{fmt.Sprintf("aliyun share %s: the share was cancelled by its creator (%s)", id, said), drivers.ErrNotFound}
	case "ShareLink.Expired":
		return &shareError{fmt.Sprintf("aliyun share %s: the share has expired (%s)", id, said), drivers.ErrNotFound}
	case "ShareLink.Forbidden":
		return &shareError{fmt.Sprintf("aliyun share %s: Aliyundrive forbids this share, as reported or against its rules (%s)", id, said), fs.ErrPermission}
	case "NotFound.ShareLink":
		return &shareError{fmt.Sprintf("aliyun share %s: no such share; check options.share_id (%s)", id, said), drivers.ErrNotFound}
	}
	return err
}

// noteDead remembers and logs a share-level failure, once per message.
func (s *Share) noteDead(err error) error {
	if !isShareDead(err) {
		return err
	}
	s.mu.Lock()
	s.dead, s.deadAt = err, time.Now()
	s.token = ""
	s.mu.Unlock()
	s.logOnce(err)
	return err
}

// logOnce logs err unless it was the last failure logged.
func (s *Share) logOnce(err error) {
	s.mu.Lock()
	first := s.logged != err.Error()
	s.logged = err.Error()
	s.mu.Unlock()
	if first {
		s.log.Error().Str("share", s.o.ShareID).Msg(err.Error())
	}
}

func (s *Share) recentlyDead() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil && time.Since(s.deadAt) < deadShareFor {
		return s.dead
	}
	return nil
}

// shareToken returns the x-share-token, fetching one when there is none
// or it is near its stated expiry. stale, if not "", is a token the
// service refused: it is replaced unless another caller has already.
func (s *Share) shareToken(ctx context.Context, stale string) (string, error) {
	if err := s.recentlyDead(); err != nil {
		return "", err
	}
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	s.mu.Lock()
	tok, until := s.token, s.tokenAt
	s.mu.Unlock()
	if tok != "" && tok != stale && time.Now().Before(until) {
		return tok, nil
	}
	const op = "share_link/get_share_token"
	var out shareTokenResponse
	err := s.anonymous(ctx, "other", "/v2/share_link/get_share_token",
		shareTokenRequest{ShareID: s.o.ShareID, SharePwd: s.o.SharePwd}, &out)
	if err != nil {
		return "", s.noteDead(s.shareFailure(err))
	}
	if out.ShareToken == "" {
		return "", fmt.Errorf("aliyun %s: %w: the answer holds no share token", op, drivers.ErrUpstream)
	}
	until = time.Now().Add(2 * time.Hour)
	if out.ExpiresIn > 0 {
		until = time.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	} else if t, err := time.Parse(time.RFC3339Nano, out.ExpireTime); err == nil {
		until = t
	}
	s.mu.Lock()
	s.token, s.tokenAt = out.ShareToken, until.Add(-shareTokenMargin)
	s.dead = nil
	s.mu.Unlock()
	return out.ShareToken, nil
}

func (s *Share) headers(shareToken string) http.Header {
	h := http.Header{"X-Canary": {shareCanary}, "Referer": {webReferer}, "Origin": {"https://www.alipan.com"}}
	if shareToken != "" {
		h.Set("X-Share-Token", shareToken)
	}
	return h
}

// shareCred is the share token as the credential of the calls signed
// with it.
type shareCred struct{ s *Share }

func (c shareCred) Access(ctx context.Context) (string, error) { return c.s.shareToken(ctx, "") }

func (c shareCred) Refresh(ctx context.Context, stale string) (string, error) {
	return c.s.shareToken(ctx, stale)
}

// shareStale makes a refused share token the stale token of a call
// signed with it. classify leaves ShareLinkTokenInvalid alone, since a
// call signed by an account may carry a share token too; the AccessToken
// codes it calls stale already, and the service answers those for a
// share token as well (docs/protocols/aliyun.md §4).
func shareStale(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.kind == errShareToken {
		ae.kind = upstream.ErrStaleToken
	}
	return err
}

// call makes an anonymous share call with the share token, fetching a
// new token once when the service says the token is invalid, which it
// does well before the token's stated expiry.
func (s *Share) call(ctx context.Context, class, path string, in, out any) error {
	op := strings.TrimPrefix(path, "/")
	c := upstream.Caller{Policy: s.t.policy, Limits: s.limits, Cred: shareCred{s}}
	err := c.Call(ctx, "aliyun "+op, class, func(ctx context.Context, tok string) error {
		return shareStale(exchange(ctx, &s.send, http.MethodPost, s.o.WebAPIURL+path, op, s.headers(tok), in, out))
	})
	return s.noteDead(s.shareFailure(err))
}

// anonymous makes a share call that needs no share token, with retries.
// Its errors are the caller's to judge.
func (s *Share) anonymous(ctx context.Context, class, path string, in, out any) error {
	op, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "?")
	c := upstream.Caller{Policy: s.t.policy, Limits: s.limits}
	return c.Call(ctx, "aliyun "+op, class, func(ctx context.Context, _ string) error {
		return exchange(ctx, &s.send, http.MethodPost, s.o.WebAPIURL+path, op, s.headers(""), in, out)
	})
}

// isTokenInvalid says the share token was refused; the service has also
// answered AccessTokenInvalid for it.
func isTokenInvalid(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.Code == "ShareLinkTokenInvalid" || ae.Code == "AccessTokenInvalid")
}

// Root is the shared folder when the share is one folder (the usual
// case), else the share's own top level.
func (s *Share) Root(ctx context.Context) (drivers.Entry, error) {
	s.mu.Lock()
	r := s.root
	s.mu.Unlock()
	if r != nil {
		return *r, nil
	}
	if err := s.recentlyDead(); err != nil {
		return drivers.Entry{}, err
	}
	var info shareInfoResponse
	err := s.anonymous(ctx, "other", "/adrive/v3/share_link/get_share_by_anonymous?share_id="+s.o.ShareID,
		shareIDRequest{ShareID: s.o.ShareID}, &info)
	if err != nil {
		return drivers.Entry{}, s.noteDead(s.shareFailure(err))
	}
	// The code is checked now, so that a wrong one is an error on the
	// mount's own folder rather than on its first file.
	if _, err := s.shareToken(ctx, ""); err != nil {
		return drivers.Entry{}, err
	}
	e := drivers.Entry{ID: "root", IsDir: true, Name: info.ShareName}
	if len(info.FileInfos) == 1 && info.FileInfos[0].Type == "folder" {
		fi := info.FileInfos[0]
		e = drivers.Entry{ID: fi.FileID, ParentID: "root", Name: fi.FileName, IsDir: true}
	}
	s.mu.Lock()
	s.root, s.expiration = &e, info.Expiration
	s.mu.Unlock()
	return e, nil
}

// ShareState implements drivers.ShareStater with one cheap call: a new
// share token, which the service refuses when the share was cancelled,
// has expired or is forbidden, or the code is wrong (a failure seen in
// the last deadShareFor is answered without a call). The share plays
// only through an account with a web login, so that is checked too.
func (s *Share) ShareState(ctx context.Context) (string, error) {
	s.mu.Lock()
	held := s.token
	s.mu.Unlock()
	if _, err := s.shareToken(ctx, held); err != nil {
		return "", err
	}
	acct, err := s.account()
	if err != nil {
		return "", err
	}
	if st := acct.web.auth.tokens.LoginStatus(); st.Refused != "" {
		return "", fmt.Errorf("aliyun share %s: the web login of the account %s, which plays the share, was refused: %s", s.o.ShareID, s.o.Account, st.Refused)
	}
	s.mu.Lock()
	exp := s.expiration
	s.mu.Unlock()
	if t, err := time.Parse(time.RFC3339Nano, exp); err == nil && !t.IsZero() {
		return "ok, valid until " + t.Local().Format("2006-01-02 15:04"), nil
	}
	return "ok, plays through " + s.o.Account, nil
}

// List returns every child of dir in the share.
func (s *Share) List(ctx context.Context, dir drivers.Entry) ([]drivers.Entry, error) {
	req := shareListRequest{ShareID: s.o.ShareID, ParentFileID: dir.ID, Limit: s.o.PageSize, OrderBy: "name", OrderDirection: "ASC"}
	items, err := listPages(dir, "share file/list", func(marker string) (page listResponse, err error) {
		req.Marker = marker
		err = s.call(ctx, "list", "/adrive/v3/file/list", req, &page)
		return page, err
	})
	if err != nil {
		return nil, err
	}
	orderItems(items)
	out := make([]drivers.Entry, len(items))
	videos := map[string]bool{}
	for i, it := range items {
		e := toEntry(it)
		e.Extra = it.DriveID
		if e.ParentID == "" {
			e.ParentID = dir.ID
		}
		out[i] = e
		if isVideo(e, it.Category) {
			videos[e.ID] = true
		}
		if it.DriveID != "" {
			s.mu.Lock()
			s.driveID = it.DriveID
			s.mu.Unlock()
		}
	}
	logDuplicates(s.log, &s.dupLogged, dir, out)
	return s.addPreviews(ctx, out, videos)
}

// account finds the aliyun mount that plays the share.
func (s *Share) account() (*Drive, error) {
	if s.mount == nil {
		return nil, fmt.Errorf("aliyun share %s: %w: no account mount is reachable", s.o.ShareID, drivers.ErrUnsupported)
	}
	m, ok := s.mount(s.o.Account)
	if !ok {
		return nil, &shareError{fmt.Sprintf("aliyun share %s: options.account %s is not a mount", s.o.ShareID, s.o.Account), fs.ErrPermission}
	}
	d, ok := m.(*Drive)
	if !ok {
		return nil, &shareError{fmt.Sprintf("aliyun share %s: options.account %s is not an aliyun mount", s.o.ShareID, s.o.Account), fs.ErrPermission}
	}
	if !d.web.auth.tokens.LoginStatus().LoggedIn {
		return nil, &shareError{fmt.Sprintf("aliyun share %s: the account %s has no web login, which playing a share needs: log it in with `pandav login -c <config> %s` and its web login, add web_refresh_token to its options, or run it with api: web", s.o.ShareID, s.o.Account, s.o.Account), fs.ErrPermission}
	}
	return d, nil
}

func (s *Share) copyKey(f drivers.Entry) string { return s.o.ShareID + "/" + f.ID }

// StreamOpened counts a reader of f, which keeps its copy alive.
func (s *Share) StreamOpened(f drivers.Entry) {
	if acct, err := s.account(); err == nil {
		acct.copies().open(s.copyKey(f))
	}
}

// StreamClosed ends a reader of f; the copy goes temp_copy_linger after
// the last.
func (s *Share) StreamClosed(f drivers.Entry) {
	if acct, err := s.account(); err == nil {
		acct.copies().close(s.copyKey(f))
	}
}

// Link plays f: through the share's own download URL while that works,
// else through a temporary copy in the account's drive.
func (s *Share) Link(ctx context.Context, f drivers.Entry, req drivers.LinkRequest) (drivers.Link, error) {
	if f.IsDir {
		return drivers.Link{}, fmt.Errorf("link %q: %w", f.Name, drivers.ErrIsDir)
	}
	if _, ok := f.Extra.(previewFile); ok {
		return drivers.Link{}, fmt.Errorf("link %q: %w: pandav writes this playlist itself; GET it", f.Name, drivers.ErrUnsupported)
	}
	acct, err := s.account()
	if err != nil {
		// A setup mistake, not the share's: listings still work.
		s.logOnce(err)
		return drivers.Link{}, err
	}
	if err := s.recentlyDead(); err != nil {
		return drivers.Link{}, err
	}
	if try, probing := s.directPlan(); try {
		l, err := s.directLink(ctx, acct, f)
		s.mu.Lock()
		switch {
		case err == nil:
			s.directWorks = true
		case isDirectDead(err):
			s.directWorks, s.directDeadUntil = false, time.Now().Add(directDeadFor)
		}
		s.mu.Unlock()
		if probing {
			s.directMu.Unlock()
		}
		switch {
		case err == nil:
			return l, nil
		case isShareDead(err), errors.Is(err, drivers.ErrNotFound), errors.Is(err, drivers.ErrAuth), ctx.Err() != nil:
			return drivers.Link{}, err
		case isDirectDead(err):
			s.log.Debug().Err(err).Msg("the share's own download URL is dead; playing through temporary copies")
		default:
			s.log.Debug().Err(err).Msg("the share's own download URL failed; playing through a temporary copy")
		}
	}
	return s.copyLink(ctx, acct, f, req)
}

// directPlan says whether to try the share's own download URL. While it
// is not known to work, one caller at a time probes it (probing: the
// caller then holds directMu and releases it).
func (s *Share) directPlan() (try, probing bool) {
	state := func() (works, dead bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.directWorks, time.Now().Before(s.directDeadUntil)
	}
	if works, dead := state(); works || dead {
		return works, false
	}
	s.directMu.Lock()
	if works, dead := state(); works || dead {
		s.directMu.Unlock()
		return works, false
	}
	return true, true
}

// accountCall makes a call that is signed by the account's web login,
// whose stale token Call refreshes, and carries the share token, which is
// replaced here, once. judge, if set, may turn an attempt's error into
// another before the policy sees it.
func (s *Share) accountCall(ctx context.Context, acct *Drive, policy upstream.Policy, class, path string, in, out any, judge func(error) error) error {
	op := strings.TrimPrefix(path, "/")
	stale := ""
	c := upstream.Caller{Policy: policy, Limits: s.limits, Cred: acct.web.auth}
	return c.Call(ctx, "aliyun "+op, class, func(ctx context.Context, at string) error {
		for {
			tok, err := s.shareToken(ctx, stale)
			if err != nil {
				return err
			}
			h := s.headers(tok)
			h.Set("Authorization", "Bearer "+at)
			err = exchange(ctx, &s.send, http.MethodPost, s.o.WebAPIURL+path, op, h, in, out)
			if isTokenInvalid(err) && stale == "" {
				stale = tok
				if err := s.limits.Wait(ctx, class); err != nil {
					return err
				}
				continue
			}
			if judge != nil {
				err = judge(err)
			}
			return err
		}
	})
}

// errDirectDead marks get_share_link_download_url answering as it does
// since 2024: 410 Gone, or 429 / ParamFlowException.
var errDirectDead = errors.New("the share's own download URL is dead")

func isDirectDead(err error) bool { return errors.Is(err, errDirectDead) }

// singleTry is the policy of calls whose failures are not retried.
var singleTry = upstream.Policy{Attempts: 1}

// directLink asks the share's own download URL, once: a dead answer must
// not be retried, so no backoff runs here.
func (s *Share) directLink(ctx context.Context, acct *Drive, f drivers.Entry) (drivers.Link, error) {
	const op = "v2/file/get_share_link_download_url"
	in := shareLinkRequest{DriveID: driveIDOf(f, s), FileID: f.ID, ShareID: s.o.ShareID, ExpireSec: shareLinkExpiry}
	var out shareLinkResponse
	err := s.accountCall(ctx, acct, singleTry, "link", "/v2/file/get_share_link_download_url", in, &out, func(err error) error {
		var r *upstream.Retryable
		var ae *apiError
		if (errors.As(err, &r) && r.Throttled) || (errors.As(err, &ae) && ae.Status == http.StatusGone) {
			return fmt.Errorf("%w: %v", errDirectDead, err)
		}
		return err
	})
	if err != nil {
		return drivers.Link{}, s.noteDead(s.shareFailure(err))
	}
	u := out.DownloadURL
	if u == "" {
		u = out.URL
	}
	if u == "" {
		return drivers.Link{}, fmt.Errorf("aliyun %s: %w: no URL in the answer", op, drivers.ErrUpstream)
	}
	return drivers.Link{URL: u, Header: http.Header{"Referer": {webReferer}},
		Expires: linkExpiry(downloadURLResponse{URL: u, Expiration: out.Expiration})}, nil
}
