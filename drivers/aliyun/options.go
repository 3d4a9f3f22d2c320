package aliyun

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"pandav/drivers/internal/upstream"
)

// Options is a mount's `options:` block; the yaml keys are the contract in
// docs/DESIGN.md's configuration sketch.
type Options struct {
	API string `yaml:"api"` // "open" (default) | "web"
	// RefreshToken is the login pasted from elsewhere (a web refresh
	// token with api: web); empty, the mount takes its login from
	// `pandav login` (stored under state_dir).
	RefreshToken string `yaml:"refresh_token"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RenewURL is a token service that holds an app's secret, used when
	// there is no client_id: OpenList's style (GET renew_url?refresh_ui=)
	// when it has a path, messense's (POST renew_url/oauth/access_token)
	// when it is a bare host. A login goes through
	// renew_url/oauth/authorize/qrcode and renew_url/oauth/access_token.
	RenewURL   string `yaml:"renew_url"`
	Drive      string `yaml:"drive"` // resource (default) | backup | default
	Root       string `yaml:"root"`  // folder path inside the drive, default "/"
	OpenAPIURL string `yaml:"open_api_url"`
	WebAPIURL  string `yaml:"web_api_url"`
	AuthURL    string `yaml:"auth_url"`
	// PassportURL is the passport service of the web login by QR code.
	PassportURL string `yaml:"passport_url"`
	PageSize    int    `yaml:"page_size"`       // list limit, 1..200, default 200
	LinkExpiry  int    `yaml:"link_expire_sec"` // expire_sec asked for, default 14400
	// UploadPartSize is the bytes per uploaded part, default 16 MiB; it
	// grows for files that would need more than 10000 parts. A body
	// streamed as it arrives goes in parts of at most 8 MiB, two of which
	// it holds in memory.
	UploadPartSize int64 `yaml:"upload_part_size"`
	// RateLimits overrides the calls per second per API class; the
	// defaults sit just under the Open API's documented 4, 1 and 15.
	RateLimits RateLimits `yaml:"rate_limits"`
	// ScanBudget caps the account's listing calls a minute, shared by
	// every mount and client of the login, below rate_limits.list; 0
	// sets none beyond that rate.
	ScanBudget float64 `yaml:"scan_budget"`
	// WebRefreshToken is a second login, through the web API, that an
	// api: open account needs to play share links (saving a shared file
	// into the drive is a web-API call). With api: web the account's own
	// login serves.
	WebRefreshToken string `yaml:"web_refresh_token"`
}

// RateLimits are calls per second; 0 keeps the default.
type RateLimits struct {
	List  float64 `yaml:"list"`
	Link  float64 `yaml:"link"`
	Other float64 `yaml:"other"`
}

// rates merges the overrides into defaults.
func (r RateLimits) rates(defaults map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range map[string]float64{"list": r.List, "link": r.Link, "other": r.Other} {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

const (
	defaultOpenAPIURL = "https://openapi.alipan.com"
	defaultWebAPIURL  = "https://api.alipan.com"
	defaultAuthURL    = "https://auth.alipan.com"
	// defaultPassportURL is the one host the notes name for the passport
	// (docs/protocols/accounts-offline-shares.md §3.2).
	defaultPassportURL = "https://passport.aliyundrive.com"
	maxPageSize        = 200
	defaultPartSize    = 16 << 20
	maxPartSize        = 5 << 30 // the service's per-part limit
)

// normalize fills the defaults and rejects what cannot work, naming the
// key at fault.
func (o *Options) normalize() error {
	switch o.API {
	case "", "open":
		o.API = "open"
	case "web":
	default:
		return fmt.Errorf("aliyun: options.api: %q is not open or web", o.API)
	}
	o.RefreshToken = strings.TrimSpace(o.RefreshToken)
	o.WebRefreshToken = strings.TrimSpace(o.WebRefreshToken)
	switch {
	case o.API == "web" && o.WebRefreshToken != "":
		return errors.New("aliyun: options.web_refresh_token: with api: web, refresh_token is the web login already; remove web_refresh_token")
	case o.API == "web":
		// The web login needs no app of its own.
	case o.ClientID != "" && o.ClientSecret == "":
		return errors.New("aliyun: options.client_secret is required with options.client_id")
	case o.ClientID == "" && o.ClientSecret != "":
		return errors.New("aliyun: options.client_id is required with options.client_secret")
	case o.ClientID == "" && o.RenewURL == "":
		return errors.New("aliyun: set options.client_id and options.client_secret, or options.renew_url, to log in and refresh the login")
	}
	switch o.Drive {
	case "":
		o.Drive = "resource"
	case "resource", "backup", "default":
	default:
		return fmt.Errorf("aliyun: options.drive: %q is not resource, backup or default", o.Drive)
	}
	if o.Root == "" {
		o.Root = "/"
	}
	o.Root = path.Clean("/" + o.Root)
	for _, u := range []struct {
		key string
		val *string
		def string
	}{
		{"open_api_url", &o.OpenAPIURL, defaultOpenAPIURL},
		{"web_api_url", &o.WebAPIURL, defaultWebAPIURL},
		{"auth_url", &o.AuthURL, defaultAuthURL},
		{"passport_url", &o.PassportURL, defaultPassportURL},
		{"renew_url", &o.RenewURL, ""},
	} {
		if *u.val == "" {
			*u.val = u.def
		}
		if *u.val == "" {
			continue
		}
		p, err := url.Parse(*u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("aliyun: options.%s: not an http(s) URL", u.key)
		}
		if u.key != "renew_url" {
			*u.val = strings.TrimRight(*u.val, "/")
		}
	}
	switch {
	case o.PageSize == 0:
		o.PageSize = maxPageSize
	case o.PageSize < 1 || o.PageSize > maxPageSize:
		return fmt.Errorf("aliyun: options.page_size: %d is outside 1..%d", o.PageSize, maxPageSize)
	}
	switch {
	case o.LinkExpiry == 0:
		o.LinkExpiry = 14400
	case o.LinkExpiry < 0:
		return fmt.Errorf("aliyun: options.link_expire_sec: %d is negative", o.LinkExpiry)
	}
	if o.RateLimits.List < 0 || o.RateLimits.Link < 0 || o.RateLimits.Other < 0 {
		return errors.New("aliyun: options.rate_limits: rates must not be negative")
	}
	if o.ScanBudget < 0 {
		return errors.New("aliyun: options.scan_budget: listing calls a minute must not be negative")
	}
	switch {
	case o.UploadPartSize == 0:
		o.UploadPartSize = defaultPartSize
	case o.UploadPartSize < 0 || o.UploadPartSize > maxPartSize:
		return fmt.Errorf("aliyun: options.upload_part_size: %d is outside 1..%d", o.UploadPartSize, int64(maxPartSize))
	}
	return nil
}

// ShareOptions is an aliyun-share mount's `options:` block.
type ShareOptions struct {
	// ShareID is the id in https://www.alipan.com/s/<id>.
	ShareID string `yaml:"share_id"`
	// ShareURL is the pasted link, or the whole share message; the id and
	// the 提取码 (code) are read from it.
	ShareURL string `yaml:"share_url"`
	// SharePwd is the 提取码, "" when the share has none.
	SharePwd string `yaml:"share_pwd"`
	// Account is the path of the aliyun mount whose login plays the files
	// (it needs a web login: api: web, or web_refresh_token).
	Account   string `yaml:"account"`
	WebAPIURL string `yaml:"web_api_url"`
	PageSize  int    `yaml:"page_size"` // 1..200, default 200
	// TempCopyLinger is how long a temporary copy outlives its last
	// reader, so that a player's seeks and reopens reuse it.
	TempCopyLinger Duration `yaml:"temp_copy_linger"`
	// TempCopyMaxAge is when a copy nobody reads is removed anyway.
	TempCopyMaxAge Duration `yaml:"temp_copy_max_age"`
	// Previews lists NAME.preview.m3u8, the share's transcoded preview,
	// beside each video (preview.go): fallback (the default) while
	// copies into the account's drive are refused, always, or never.
	Previews string `yaml:"previews"`
}

// Duration is a time.Duration written as "60s" or "6h".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 60s or 6h", n.Value)
	}
	*d = Duration(v)
	return nil
}

const (
	defaultCopyLinger = 60 * time.Second
	defaultCopyMaxAge = 6 * time.Hour
)

var (
	// shareLink finds the id in a share link on either domain.
	shareLink = regexp.MustCompile(`(?i)(?:alipan|aliyundrive)\.com/s/([0-9A-Za-z]+)`)
	// shareCode finds the code in a share message: "提取码: ab12",
	// "提取码：ab12", "code: ab12".
	shareCode = regexp.MustCompile(`(?i)(?:提取码|访问码|密码|code|pwd)\s*[:：=]?\s*([0-9A-Za-z]{4})\b`)
	shareIDRe = regexp.MustCompile(`^[0-9A-Za-z]+$`)
)

// parseShareURL reads the share id and code from a link or a pasted share
// message; code is "" when the text holds none.
func parseShareURL(s string) (id, code string, err error) {
	m := shareLink.FindStringSubmatchIndex(s)
	if m == nil {
		return "", "", errors.New("no https://www.alipan.com/s/<id> link in it")
	}
	id = s[m[2]:m[3]]
	// A link's own ?pwd= wins; else a code written after the link, or
	// anywhere in the message.
	if u, perr := url.Parse(strings.Fields(s[m[0]:])[0]); perr == nil {
		code = u.Query().Get("pwd")
	}
	if code == "" {
		if c := shareCode.FindStringSubmatch(s[m[1]:]); c != nil {
			code = c[1]
		} else if c := shareCode.FindStringSubmatch(s); c != nil {
			code = c[1]
		}
	}
	return id, code, nil
}

// normalize fills the defaults and rejects what cannot work, naming the
// key at fault.
func (o *ShareOptions) normalize() error {
	o.ShareID = strings.TrimSpace(o.ShareID)
	o.SharePwd = strings.TrimSpace(o.SharePwd)
	if o.ShareURL != "" {
		id, code, err := parseShareURL(o.ShareURL)
		if err != nil {
			return fmt.Errorf("aliyun-share: options.share_url: %v", err)
		}
		if o.ShareID != "" && o.ShareID != id {
			return fmt.Errorf("aliyun-share: options.share_id %q differs from the id in options.share_url (%q); give one of them", o.ShareID, id)
		}
		o.ShareID = id
		if o.SharePwd == "" {
			o.SharePwd = code
		}
	}
	switch {
	case o.ShareID == "":
		return errors.New("aliyun-share: options.share_id (or options.share_url) is required")
	case !shareIDRe.MatchString(o.ShareID):
		return fmt.Errorf("aliyun-share: options.share_id: %q is not a share id (the part after /s/ in the link)", o.ShareID)
	}
	o.Account = strings.TrimSpace(o.Account)
	if o.Account == "" || !strings.HasPrefix(o.Account, "/") {
		return errors.New("aliyun-share: options.account is required: the path of the aliyun mount whose login plays the share, such as /aliyun")
	}
	if o.WebAPIURL == "" {
		o.WebAPIURL = defaultWebAPIURL
	}
	if p, err := url.Parse(o.WebAPIURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return errors.New("aliyun-share: options.web_api_url: not an http(s) URL")
	}
	o.WebAPIURL = strings.TrimRight(o.WebAPIURL, "/")
	switch {
	case o.PageSize == 0:
		o.PageSize = maxPageSize
	case o.PageSize < 1 || o.PageSize > maxPageSize:
		return fmt.Errorf("aliyun-share: options.page_size: %d is outside 1..%d", o.PageSize, maxPageSize)
	}
	switch {
	case o.TempCopyLinger == 0:
		o.TempCopyLinger = Duration(defaultCopyLinger)
	case o.TempCopyLinger < 0:
		return errors.New("aliyun-share: options.temp_copy_linger must not be negative")
	}
	switch o.Previews {
	case "":
		o.Previews = "fallback"
	case "fallback", "always", "never":
	default:
		return fmt.Errorf("aliyun-share: options.previews: %q is not fallback, always or never", o.Previews)
	}
	switch {
	case o.TempCopyMaxAge == 0:
		o.TempCopyMaxAge = Duration(defaultCopyMaxAge)
	case o.TempCopyMaxAge < 0:
		return errors.New("aliyun-share: options.temp_copy_max_age must not be negative")
	}
	return nil
}

// limiters are the paces of one login: rates per class, and the scan
// budget on its listings.
func (o *Options) limiters(defaults map[string]float64) *upstream.Limiters {
	l := upstream.NewLimiters(o.RateLimits.rates(defaults))
	l.ScanBudget("list", o.ScanBudget, "list")
	return l
}
