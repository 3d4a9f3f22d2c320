package pan115

import "pandav/config"

// Options is the mount's `options:` block.
type Options struct {
	// RefreshToken is the login pasted from elsewhere; empty, the mount
	// takes its login from `pandav login` (stored under state_dir).
	RefreshToken string `yaml:"refresh_token"`
	AccessToken  string `yaml:"access_token"` // optional starting access token
	Root         string `yaml:"root"`         // folder path, default "/"
	APIURL       string `yaml:"api_url"`      // default https://proapi.115.com
	PassportURL  string `yaml:"passport_url"` // default https://passportapi.115.com
	// QRCodeURL is where a login's status is polled; default
	// https://qrcodeapi.115.com.
	QRCodeURL string `yaml:"qrcode_url"`
	// AppID is the AppID of the 115 open-platform app a login authorizes
	// (the device-code login's client_id); required to log in.
	AppID string `yaml:"app_id"`
	// PageSize is the listing limit asked for; the server caps it silently
	// (1150) and the driver pages by what it got.
	PageSize int `yaml:"page_size"`
	// QPS paces every call of the account; 115 throttles above about 5.
	QPS float64 `yaml:"qps"`
	// ScanBudget is how many listing calls a minute the account makes at
	// most, shared by every mount and client of the login, so that a
	// library scan stays clear of 115's risk control; 0 means the default.
	ScanBudget float64 `yaml:"scan_budget"`
	// UserAgent is used for downurl when the WebDAV client sent none, and
	// for every other call.
	UserAgent string `yaml:"user_agent"`
	// UploadPartSize is the OSS part size in bytes; a file no larger goes
	// in one PutObject. It grows for files that would need more than
	// 10,000 parts.
	UploadPartSize int64 `yaml:"upload_part_size"`
	// MaxFileSize is the largest file the account may upload; a larger
	// one is refused before any call (115 GiB, docs/protocols/pan115.md
	// §4; some account levels take less).
	MaxFileSize int64 `yaml:"max_file_size"`
	// CloudDownloadWatch are the mount's cloud-download watch folders,
	// paths from the mount's root: a .torrent, .magnet, .ed2k or .links
	// file put into one, or below, becomes tasks saving where it was put.
	// None by default.
	CloudDownloadWatch []string `yaml:"cloud_download_watch"`
	// CloudDownloadPoll is how often the driver reads the task list while
	// a task it knows of runs, to show what it downloaded as soon as it
	// ends; it waits longer while nothing changes. Default 10s.
	CloudDownloadPoll config.Duration `yaml:"cloud_download_poll"`
}
