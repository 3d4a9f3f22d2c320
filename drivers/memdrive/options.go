package memdrive

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"pandav/drivers/internal/upstream"
)

// Options is a mount's `options:` block. The config loader refuses a key
// not listed here (drivers.Options); normalize refuses a value that
// cannot work, naming its key, so a mistake stops pandav at start.
type Options struct {
	// RefreshToken is the login; required. After the first refresh the
	// rotated successor lives in state_dir, because the cloud spends each
	// refresh token once (docs/protocols/memdrive.md §1).
	RefreshToken string `yaml:"refresh_token"`
	// APIURL is the cloud's base URL, overridable for tests and proxies.
	APIURL string `yaml:"api_url"`
	// PageSize is the listing limit asked for; the cloud may cap it lower.
	PageSize int `yaml:"page_size"`
	// QPS paces the mount's calls.
	QPS float64 `yaml:"qps"`
	// ScanBudget caps the account's listing calls a minute, for every
	// mount and client of the login, below QPS; 0 sets none.
	ScanBudget float64 `yaml:"scan_budget"`
	// Attempts is how many times a call is made, the first included,
	// before its failure reaches the client: a throttled call then
	// answers 503 with the cloud's Retry-After. The default is
	// upstream.DefaultPolicy's, about 30 s of patience; 1 answers at
	// once, for clients that would rather retry themselves.
	Attempts int `yaml:"attempts"`
}

const (
	defaultAPIURL = "https://api.memdrive.example"
	// maxPageSize is the largest limit the cloud takes (docs/protocols/memdrive.md §2),
	// and the default: the fewer pages, the fewer calls.
	maxPageSize = 200
	// defaultQPS is half the cloud's 20 a second per token (docs/protocols/memdrive.md
	// §5), so that throttling stays the exception.
	defaultQPS = 10
	// maxAttempts bounds the patience: past it the waits between tries,
	// which grow to upstream.DefaultPolicy's MaxDelay, add up to more
	// than a client waits for an answer.
	maxAttempts = 10
)

// normalize fills in the defaults and checks every value.
func (o *Options) normalize() error {
	o.RefreshToken = strings.TrimSpace(o.RefreshToken)
	if o.RefreshToken == "" {
		return errors.New("memdrive: options.refresh_token is required (log in to memdrive and paste its refresh token)")
	}
	if o.APIURL == "" {
		o.APIURL = defaultAPIURL
	}
	if u, err := url.Parse(o.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("memdrive: options.api_url %q is not an http(s) URL", o.APIURL)
	}
	switch {
	case o.PageSize == 0:
		o.PageSize = maxPageSize
	case o.PageSize < 0 || o.PageSize > maxPageSize:
		return fmt.Errorf("memdrive: options.page_size %d is not between 1 and %d", o.PageSize, maxPageSize)
	}
	switch {
	case o.QPS == 0:
		o.QPS = defaultQPS
	case o.QPS < 0:
		return fmt.Errorf("memdrive: options.qps %v must be positive", o.QPS)
	}
	if o.ScanBudget < 0 {
		return fmt.Errorf("memdrive: options.scan_budget %v must be positive (listing calls a minute)", o.ScanBudget)
	}
	switch {
	case o.Attempts == 0:
		o.Attempts = upstream.DefaultPolicy.Attempts
	case o.Attempts < 0 || o.Attempts > maxAttempts:
		return fmt.Errorf("memdrive: options.attempts %d is not between 1 and %d", o.Attempts, maxAttempts)
	}
	return nil
}
