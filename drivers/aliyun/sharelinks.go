package aliyun

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// The account's own share links (docs/protocols/accounts-offline-shares.md
// §4): made, listed, read, changed and cancelled through the web API,
// signed as every web call is, with the mount's web login (api: web's
// own, or web_refresh_token's). An Open API mount without a web login
// can still make a link, through the Open API's createShare (§4.9), which
// is all that API offers.

var (
	_ drivers.ShareChecker   = (*Drive)(nil)
	_ drivers.ShareCreator   = (*Drive)(nil)
	_ drivers.ShareLister    = (*Drive)(nil)
	_ drivers.ShareGetter    = (*Drive)(nil)
	_ drivers.ShareUpdater   = (*Drive)(nil)
	_ drivers.ShareCanceller = (*Drive)(nil)
)

const (
	// maxShareFiles is the most files one link may hold: the Open API's
	// documented 1–100 (the web API's limit is unknown).
	maxShareFiles = 100
	// shareListPage is share_link/list's largest limit.
	shareListPage = 100
	// shareCodeAlphabet is what a drawn code is made of: the app's codes
	// are lowercase letters and digits.
	shareCodeAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	// shareTimeFormat is the service's: RFC 3339, UTC, milliseconds.
	shareTimeFormat = "2006-01-02T15:04:05.000Z"
)

// shareCodeRe is a code the service takes: four letters or digits (the
// UI's and tickstep's rule; §4.1 notes another client allowing more).
var shareCodeRe = regexp.MustCompile(`^[0-9A-Za-z]{4}$`)

// hasWebLogin says whether the mount can make web calls: api: web, or an
// Open API mount with a web login.
func (d *Drive) hasWebLogin() bool {
	return d.o.API == "web" || d.web.auth.tokens.LoginStatus().LoggedIn
}

// needsWeb is what an Open API mount without a web login answers to a
// share call the Open API lacks.
func (d *Drive) needsWeb(what string) error {
	return fmt.Errorf("aliyun: %w: %s needs the web API, and %s has no web login; %s", drivers.ErrUnsupported, what, d.mount, d.reloginWeb())
}

// randomShareCode draws a code of four letters and digits.
func randomShareCode() string {
	b := make([]byte, 4)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(shareCodeAlphabet))))
		b[i] = shareCodeAlphabet[n.Int64()]
	}
	return string(b)
}

// codeToSend is the code to send: drawn, or the one given, checked.
func codeToSend(given string, random bool) (string, error) {
	switch {
	case random:
		return randomShareCode(), nil
	case given == "" || shareCodeRe.MatchString(given):
		return given, nil
	}
	// The code itself is a secret: the error tells its length only.
	return "", fmt.Errorf("%w: Aliyundrive's share codes are 4 letters or digits, and this one has %d characters", drivers.ErrInvalidShare, len([]rune(given)))
}

// shareExpiry is the expiration to send: "" for never.
func shareExpiry(t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	if !t.After(time.Now()) {
		return "", fmt.Errorf("%w: the expiry %s is in the past", drivers.ErrInvalidShare, t.Local().Format("2006-01-02 15:04"))
	}
	return t.UTC().Format(shareTimeFormat), nil
}

// CheckShareable implements drivers.ShareChecker with check_available.
// The Open API has no such call: without a web login nothing is checked
// and create says what it refuses.
func (d *Drive) CheckShareable(ctx context.Context, files []drivers.Entry) ([]drivers.Unshareable, error) {
	if !d.hasWebLogin() || len(files) == 0 {
		return nil, nil
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return nil, err
	}
	in := checkAvailableRequest{}
	for _, f := range files {
		in.DriveFileList = append(in.DriveFileList, driveFile{DriveID: driveID, FileID: f.ID})
	}
	var out checkAvailableResponse
	if err := d.web.call(ctx, "other", "/adrive/v2/share_link/check_available", nil, in, &out); err != nil {
		return nil, err
	}
	var bad []drivers.Unshareable
	for _, it := range out.InvalidItems {
		for _, f := range files {
			if f.ID == it.FileID {
				bad = append(bad, drivers.Unshareable{Entry: f, Reason: "Aliyundrive does not share files of this kind"})
			}
		}
	}
	return bad, nil
}

// CreateShare implements drivers.ShareCreator.
func (d *Drive) CreateShare(ctx context.Context, req drivers.ShareRequest) (drivers.ShareLink, error) {
	switch n := len(req.Files); {
	case n == 0:
		return drivers.ShareLink{}, fmt.Errorf("%w: no file to share", drivers.ErrInvalidShare)
	case n > maxShareFiles:
		return drivers.ShareLink{}, fmt.Errorf("%w: one link shares at most %d files and folders, not %d", drivers.ErrInvalidShare, maxShareFiles, n)
	}
	ids := make([]string, len(req.Files))
	for i, f := range req.Files {
		if f.ID == "root" {
			return drivers.ShareLink{}, fmt.Errorf("%w: Aliyundrive does not share a drive's root folder; share the folders in it", drivers.ErrInvalidShare)
		}
		ids[i] = f.ID
	}
	code, err := codeToSend(req.Password, req.RandomPassword)
	if err != nil {
		return drivers.ShareLink{}, err
	}
	expiration, err := shareExpiry(req.Expires)
	if err != nil {
		return drivers.ShareLink{}, err
	}
	driveID, err := d.drive(ctx)
	if err != nil {
		return drivers.ShareLink{}, err
	}
	if !d.hasWebLogin() {
		if req.Description != "" {
			return drivers.ShareLink{}, d.needsWeb("a share link's description")
		}
		return d.openCreateShare(ctx, driveID, ids, code, expiration, req.Files[0].Name)
	}
	in := ownShareCreateRequest{DriveID: driveID, FileIDList: ids, SharePwd: code, Expiration: expiration, Description: req.Description}
	var out ownShare
	if err := d.web.call(ctx, "other", "/adrive/v2/share_link/create", nil, in, &out); err != nil {
		return drivers.ShareLink{}, err
	}
	if out.ShareID == "" {
		return drivers.ShareLink{}, fmt.Errorf("aliyun share_link/create: %w: no share_id in the answer", drivers.ErrUpstream)
	}
	if out.FullShareMsg == "" {
		var msg shareMsgResponse
		if err := d.web.call(ctx, "other", "/adrive/v2/share_link/get_share_msg", nil, shareIDRequest{ShareID: out.ShareID}, &msg); err == nil {
			out.FullShareMsg, out.ShareURL = msg.FullShareMsg, firstNonEmpty(out.ShareURL, msg.ShareURL)
		}
	}
	return toShareLink(out), nil
}

// openCreateShare makes the link with the Open API, whose answer has no
// message: the text is written as the app writes it (§4.7).
func (d *Drive) openCreateShare(ctx context.Context, driveID string, ids []string, code, expiration, name string) (drivers.ShareLink, error) {
	var out openCreateShareResponse
	in := openCreateShareRequest{DriveID: driveID, FileIDList: ids, Expiration: expiration, SharePwd: code}
	if err := d.call(ctx, "other", "openFile/createShare", in, &out); err != nil {
		return drivers.ShareLink{}, err
	}
	if out.ShareID == "" || out.ShareURL == "" {
		return drivers.ShareLink{}, fmt.Errorf("aliyun openFile/createShare: %w: no share_id or share_url in the answer", drivers.ErrUpstream)
	}
	l := toShareLink(ownShare{ShareID: out.ShareID, ShareName: name, SharePwd: out.SharePwd, ShareURL: out.ShareURL,
		Expiration: out.Expiration, FileIDList: ids, Status: out.Status, CreatedAt: out.CreatedAt})
	l.Text = "「" + name + "」" + out.ShareURL
	if out.SharePwd != "" {
		l.Text += " 提取码: " + out.SharePwd
	}
	return l, nil
}

// ListShares implements drivers.ShareLister: every page, cancelled links
// left out.
func (d *Drive) ListShares(ctx context.Context) ([]drivers.ShareLink, error) {
	if !d.hasWebLogin() {
		return nil, d.needsWeb("listing share links")
	}
	req := ownShareListRequest{Category: "file,album", OrderBy: "created_at", OrderDirection: "DESC", Limit: shareListPage}
	var all []drivers.ShareLink
	seen := map[string]bool{}
	for page := 0; ; page++ {
		var out ownShareListResponse
		if err := d.web.call(ctx, "list", "/adrive/v3/share_link/list", nil, req, &out); err != nil {
			return nil, err
		}
		for _, it := range out.Items {
			if !seen[it.ShareID] {
				seen[it.ShareID] = true
				all = append(all, toShareLink(it))
			}
		}
		if out.NextMarker == "" {
			return all, nil
		}
		if out.NextMarker == req.Marker || page > 10000 {
			return nil, fmt.Errorf("aliyun share_link/list: %w: the service repeats its page marker", drivers.ErrUpstream)
		}
		req.Marker = out.NextMarker
	}
}

// GetShare implements drivers.ShareGetter.
func (d *Drive) GetShare(ctx context.Context, id string) (drivers.ShareLink, error) {
	if !d.hasWebLogin() {
		return drivers.ShareLink{}, d.needsWeb("reading a share link")
	}
	var out ownShare
	if err := d.web.call(ctx, "other", "/adrive/v2/share_link/get", nil, shareIDRequest{ShareID: id}, &out); err != nil {
		return drivers.ShareLink{}, err
	}
	return toShareLink(out), nil
}

// UpdateShare implements drivers.ShareUpdater.
func (d *Drive) UpdateShare(ctx context.Context, id string, u drivers.ShareUpdate) (drivers.ShareLink, error) {
	if !d.hasWebLogin() {
		return drivers.ShareLink{}, d.needsWeb("changing a share link")
	}
	in := ownShareUpdateRequest{ShareID: id, Description: u.Description}
	if u.Password != nil || u.RandomPassword {
		given := ""
		if u.Password != nil {
			given = *u.Password
		}
		code, err := codeToSend(given, u.RandomPassword)
		if err != nil {
			return drivers.ShareLink{}, err
		}
		in.SharePwd = &code
	}
	if u.Expires != nil {
		expiration, err := shareExpiry(*u.Expires)
		if err != nil {
			return drivers.ShareLink{}, err
		}
		in.Expiration = &expiration
	}
	var out ownShare
	if err := d.web.call(ctx, "other", "/adrive/v2/share_link/update", nil, in, &out); err != nil {
		return drivers.ShareLink{}, err
	}
	return toShareLink(out), nil
}

// CancelShares implements drivers.ShareCanceller: one link with cancel,
// several in batches, whose sub-answers say 204 for each one done.
func (d *Drive) CancelShares(ctx context.Context, ids []string) ([]error, error) {
	if !d.hasWebLogin() {
		return nil, d.needsWeb("cancelling share links")
	}
	errs := make([]error, len(ids))
	if len(ids) == 1 {
		errs[0] = d.web.call(ctx, "other", "/adrive/v2/share_link/cancel", nil, shareIDRequest{ShareID: ids[0]}, nil)
		return errs, nil
	}
	const op = "batch share_link/cancel"
	for start := 0; start < len(ids); start += maxShareFiles {
		part := ids[start:min(start+maxShareFiles, len(ids))]
		in := batchRequest{Resource: "file"}
		for _, id := range part {
			in.Requests = append(in.Requests, batchSubRequest{ID: id, Method: "POST", URL: "/share_link/cancel",
				Headers: map[string]string{"Content-Type": "application/json"}, Body: shareIDRequest{ShareID: id}})
		}
		var out batchResponse
		if err := d.web.call(ctx, "other", "/adrive/v4/batch", nil, in, &out); err != nil {
			return nil, err
		}
		got := map[string]batchSubResponse{}
		for _, r := range out.Responses {
			got[r.ID] = r
		}
		for i, id := range part {
			r, ok := got[id]
			if !ok {
				errs[start+i] = fmt.Errorf("aliyun %s: %w: no answer for %s", op, drivers.ErrUpstream, id)
				continue
			}
			errs[start+i] = classify(op, upstream.Answer{Status: r.Status, Header: http.Header{}, Body: r.Body}, nil)
		}
	}
	return errs, nil
}

// toShareLink reads the service's ShareLink.
func toShareLink(s ownShare) drivers.ShareLink {
	l := drivers.ShareLink{
		ID: s.ShareID, Name: firstNonEmpty(s.ShareName, s.DisplayName), URL: s.ShareURL, Text: s.FullShareMsg,
		Password: s.SharePwd, Description: s.Description, FileIDs: s.FileIDList,
		Views: count(s.PreviewCount), Saves: count(s.SaveCount), Downloads: count(s.DownloadCount),
	}
	if len(l.FileIDs) == 0 && s.FileID != "" {
		l.FileIDs = []string{s.FileID}
	}
	if t, err := time.Parse(time.RFC3339Nano, s.Expiration); err == nil {
		l.Expires = t
	}
	if t, err := time.Parse(time.RFC3339Nano, s.CreatedAt); err == nil {
		l.Created = t
	}
	switch status := strings.ToLower(s.Status); {
	case status == "cancelled" || status == "canceled" || status == "disabled":
		l.State = drivers.ShareCancelled
	case status == "forbidden":
		l.State = drivers.ShareForbidden
	case s.Expired || (!l.Expires.IsZero() && !l.Expires.After(time.Now())):
		l.State = drivers.ShareExpired
	default:
		l.State = drivers.ShareEnabled
	}
	return l
}

func count(n *number) int64 {
	if n == nil {
		return -1
	}
	return int64(*n)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// errShareRefusedCode says whether code is the service refusing to share
// (§4.1): a file it does not share, or an account barred from sharing.
func errShareRefusedCode(code string) bool {
	return code == "FileShareNotAllowed" || strings.HasPrefix(code, "UserPunished")
}

// isInvalidShareCode says whether code is the service refusing a share
// request's values.
func isInvalidShareCode(code string) bool {
	switch code {
	case "InvalidParameter.SharePwd", "InvalidParameter.Expiration", "InvalidParameter.FileIdList":
		return true
	}
	return false
}
