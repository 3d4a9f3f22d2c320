package pan115

// Options is the mount's `options:` block.
type Options struct {
	RefreshToken string `yaml:"refresh_token"` // required
	AccessToken  string `yaml:"access_token"`  // optional starting access token
	Root         string `yaml:"root"`          // folder path, default "/"
	APIURL       string `yaml:"api_url"`       // default https://proapi.115.com
	PassportURL  string `yaml:"passport_url"`  // default https://passportapi.115.com
	// PageSize is the listing limit asked for; the server caps it silently
	// (1150) and the driver pages by what it got.
	PageSize int `yaml:"page_size"`
	// QPS paces every call of the account; 115 throttles above about 5.
	QPS float64 `yaml:"qps"`
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
}
