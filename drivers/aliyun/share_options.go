package aliyun

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

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
	switch {
	case o.TempCopyMaxAge == 0:
		o.TempCopyMaxAge = Duration(defaultCopyMaxAge)
	case o.TempCopyMaxAge < 0:
		return errors.New("aliyun-share: options.temp_copy_max_age must not be negative")
	}
	return nil
}
