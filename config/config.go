// Package config loads pandav's YAML configuration. The loader is strict:
// an unknown key, a wrong type or a missing required value is an error
// that names the key and its line, and never echoes a value, because
// values here are passwords and tokens.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole file. Keys are documented in config.example.yaml.
type Config struct {
	Listen         string   `yaml:"listen"`
	StateDir       string   `yaml:"state_dir"`
	State          State    `yaml:"state"`
	Log            Log      `yaml:"log"`
	Users          []User   `yaml:"users"`
	AllowAnonymous bool     `yaml:"allow_anonymous"`
	Cache          Cache    `yaml:"cache"`
	Stream         Stream   `yaml:"stream"`
	Locks          Locks    `yaml:"locks"`
	ReadBack       ReadBack `yaml:"read_back"`
	TLS            TLS      `yaml:"tls"`
	Metrics        Metrics  `yaml:"metrics"`
	// ShutdownGrace is how long SIGTERM waits for requests (uploads) in
	// flight before abandoning them.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// UploadSystemFiles sends .DS_Store, ._*, Thumbs.db and desktop.ini to
	// the clouds; by default they stay in pandav's memory.
	UploadSystemFiles bool `yaml:"upload_system_files"`
	// PlaceholderGrace is how long an empty file that no lock holds waits
	// for its content before it is stored in the cloud as an empty file.
	PlaceholderGrace Duration `yaml:"placeholder_grace"`
	Mounts           []Mount  `yaml:"mounts"`
}

// State says where pandav keeps logins, tokens, locks and dead
// properties: by default an embedded database in state_dir; with Redis,
// in a store that replicas share (docs/DESIGN.md §State).
type State struct {
	// Redis is a redis:// URL ("redis://host:6379/0"); "" for the
	// embedded store.
	Redis string `yaml:"redis"`
}

// Locks tunes WebDAV locking.
type Locks struct {
	MaxTimeout Duration `yaml:"max_timeout"`  // a longer or Infinite LOCK gets this
	MaxPerUser int      `yaml:"max_per_user"` // locks one user (or anonymous address) may hold
}

// ReadBack keeps what pandav uploaded on disk in state_dir for a while,
// so that reading it back right away costs the cloud no download link.
type ReadBack struct {
	MaxFile  ByteSize `yaml:"max_file"`  // larger uploads are not kept; 0 keeps none
	MaxTotal ByteSize `yaml:"max_total"` // all kept files together
	TTL      Duration `yaml:"ttl"`       // how long one is kept
}

// Metrics is /metrics, the Prometheus metrics.
type Metrics struct {
	// Public serves them to anyone; otherwise only to users with admin
	// (with no users, to clients on this machine only).
	Public bool `yaml:"public"`
}

// TLS serves HTTPS (and HTTP/2) from these PEM files.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Stream tunes how file bytes are fetched from the clouds' CDNs.
type Stream struct {
	ChunkSize    ByteSize `yaml:"chunk_size"`    // the first ranged upstream requests; later ones double up to 32 MiB, then one runs to the end
	ReadAhead    int      `yaml:"read_ahead"`    // chunks fetched ahead of the reader
	MemoryBudget ByteSize `yaml:"memory_budget"` // chunk memory of all streams together
	StallTimeout Duration `yaml:"stall_timeout"` // a CDN body silent this long is reconnected
}

// ByteSize is a size written as 4MiB, 512KiB, 1GiB or plain bytes.
type ByteSize int64

// UnmarshalYAML parses a size with an optional binary unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: want a size such as 4MiB, 512KiB or 1GiB", n.Line)
	}
	*b = ByteSize(v * mult)
	return nil
}

// Log sets the log level and format.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // console | json
}

// User is one WebDAV login.
type User struct {
	Name     string   `yaml:"name"`
	Password string   `yaml:"password"` // a bcrypt hash, or plain text (warned)
	ReadOnly bool     `yaml:"read_only"`
	Mounts   []string `yaml:"mounts"` // mount paths this user may see; empty = all
	// Admin may use the admin API (/.pandav/api/v1/, docs/admin-api.md):
	// the mounts' logins, `pandav login` and `pandav check` against a
	// running server.
	Admin bool `yaml:"admin"`
}

// Cache sizes and lifetimes.
type Cache struct {
	Entries     int      `yaml:"entries"`      // metadata items kept
	TTL         Duration `yaml:"ttl"`          // how long a listing is trusted
	NegativeTTL Duration `yaml:"negative_ttl"` // how long a miss is remembered
	LinkMargin  Duration `yaml:"link_margin"`  // drop a cached link this long before it expires
}

// Mount puts one drive at a path.
type Mount struct {
	Path     string    `yaml:"path"`
	Driver   string    `yaml:"driver"`
	ReadOnly bool      `yaml:"read_only"`
	NoTrash  bool      `yaml:"no_trash"` // delete for good instead of to the trash
	Redirect bool      `yaml:"redirect"` // answer GET with 302 to the cloud's link where the client can follow it
	Options  yaml.Node `yaml:"options"`
	// Line is where the mount starts in the file, for messages.
	Line int `yaml:"-"`
}

// Duration is a time.Duration written as "5m" or "90s".
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: want a duration such as 90s or 5m", n.Line)
	}
	*d = Duration(v)
	return nil
}

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Error is a configuration mistake. pandav exits with code 2 on one.
type Error struct{ Msg string }

func (e *Error) Error() string { return "config: " + e.Msg }

func errorf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// Defaults are used for keys the file leaves out.
func Defaults() Config {
	return Config{
		Listen:   "127.0.0.1:8080",
		StateDir: "./state",
		Log:      Log{Level: "info", Format: "console"},
		Cache: Cache{
			Entries:     100000,
			TTL:         Duration(5 * time.Minute),
			NegativeTTL: Duration(10 * time.Second),
			LinkMargin:  Duration(60 * time.Second),
		},
		Stream:           Stream{ChunkSize: 1 << 20, ReadAhead: 3, MemoryBudget: 192 << 20, StallTimeout: Duration(10 * time.Second)},
		Locks:            Locks{MaxTimeout: Duration(time.Hour), MaxPerUser: 1000},
		PlaceholderGrace: Duration(time.Minute),
		ReadBack:         ReadBack{MaxFile: 16 << 20, MaxTotal: 512 << 20, TTL: Duration(5 * time.Minute)},
		ShutdownGrace:    Duration(10 * time.Second),
	}
}

// Load reads and validates the file at p.
func Load(p string) (*Config, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, errorf("%v", err)
	}
	return Parse(b)
}

// Parse validates YAML text.
func Parse(b []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, errorf("%s", redact(err.Error()))
	}
	cfg := Defaults()
	if len(doc.Content) == 0 {
		return nil, errorf("the file is empty")
	}
	root := doc.Content[0]
	if err := expandEnv(root, ""); err != nil {
		return nil, err
	}
	if err := Decode(root, &cfg, ""); err != nil {
		return nil, err
	}
	for i := range cfg.Mounts {
		cfg.Mounts[i].Line = mountLine(root, i)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func mountLine(root *yaml.Node, i int) int {
	for k := 0; k+1 < len(root.Content); k += 2 {
		if root.Content[k].Value == "mounts" && i < len(root.Content[k+1].Content) {
			return root.Content[k+1].Content[i].Line
		}
	}
	return 0
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in every scalar. Only the braced form is
// expanded, because bcrypt hashes are full of bare dollars.
func expandEnv(n *yaml.Node, where string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			v, ok := os.LookupEnv(name)
			if !ok {
				missing = name
			}
			return v
		})
		if missing != "" {
			return errorf("line %d: %s: environment variable %s is not set", n.Line, orTop(where), missing)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expandEnv(n.Content[i+1], join(where, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := expandEnv(c, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func orTop(where string) string {
	if where == "" {
		return "(top level)"
	}
	return where
}

func (c *Config) validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return errorf("listen: want host:port, such as 127.0.0.1:8080")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return errorf("log.level: want debug, info, warn or error")
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		return errorf("log.format: want console or json")
	}
	if c.StateDir == "" {
		return errorf("state_dir: must not be empty")
	}
	if c.Cache.Entries < 1 {
		return errorf("cache.entries: must be at least 1")
	}
	if c.Stream.ChunkSize < 64<<10 {
		return errorf("stream.chunk_size: must be at least 64KiB")
	}
	if c.Stream.ReadAhead < 0 || c.Stream.ReadAhead > 16 {
		return errorf("stream.read_ahead: want 0 to 16")
	}
	if c.Stream.StallTimeout <= 0 {
		return errorf("stream.stall_timeout: must be more than 0")
	}
	if c.Stream.MemoryBudget < c.Stream.ChunkSize {
		return errorf("stream.memory_budget: must hold at least one chunk")
	}
	if c.Locks.MaxTimeout.D() < time.Second {
		return errorf("locks.max_timeout: must be at least 1s")
	}
	if c.Locks.MaxPerUser < 1 {
		return errorf("locks.max_per_user: must be at least 1")
	}
	if c.ReadBack.MaxFile < 0 || c.ReadBack.MaxTotal < c.ReadBack.MaxFile {
		return errorf("read_back: max_total must hold at least one file of max_file, and neither may be negative")
	}
	if c.PlaceholderGrace.D() < 0 || c.PlaceholderGrace.D() > time.Hour {
		return errorf("placeholder_grace: want 0s to 1h")
	}
	if c.ReadBack.TTL < 0 {
		return errorf("read_back.ttl: must not be negative")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errorf("tls: cert and key go together")
	}
	seen := map[string]bool{}
	for i := range c.Mounts {
		m := &c.Mounts[i]
		where := fmt.Sprintf("mounts[%d] (line %d)", i, m.Line)
		if m.Path == "" {
			return errorf("%s: path is required", where)
		}
		clean := path.Clean("/" + m.Path)
		if clean == "/" || clean != m.Path && clean+"/" != m.Path {
			return errorf("%s: path must be an absolute path below /, such as /aliyun", where)
		}
		m.Path = clean
		if reserved(clean) {
			return errorf("%s: path %s is pandav's own (its health checks, metrics and pages); mount the drive elsewhere, such as /drive", where, clean)
		}
		if seen[clean] {
			return errorf("%s: path %s is mounted twice", where, clean)
		}
		seen[clean] = true
		if m.Driver == "" {
			return errorf("%s: driver is required", where)
		}
	}
	for a := range seen {
		for b := range seen {
			if a != b && strings.HasPrefix(b, a+"/") {
				return errorf("mounts: %s is inside mount %s", b, a)
			}
		}
	}
	names := map[string]bool{}
	for i, u := range c.Users {
		if u.Name == "" || u.Password == "" {
			return errorf("users[%d]: name and password are required", i)
		}
		if names[u.Name] {
			return errorf("users[%d]: user %q is configured twice", i, u.Name)
		}
		names[u.Name] = true
	}
	return nil
}

// URL is where a server running with c answers, seen from the same
// machine (or container): its listen address, with a server that listens
// on every address reached on loopback (Go's listener on "::" takes IPv4
// too, and a container may have no IPv6).
func (c *Config) URL() (string, error) {
	return LocalURL(c.Listen, c.TLS.Cert != "")
}

// LocalURL is the base URL, seen from this machine, of a server listening
// on listen, with TLS or not. A server listening on every address is
// reached on loopback: Go's listener on "::" takes IPv4 too, and a
// container may have no IPv6.
func LocalURL(listen string, tls bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen: want host:port, such as 0.0.0.0:8080")
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// reservedPaths are served by pandav itself, before WebDAV (see
// internal/app/health.go), so no mount may sit there.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics", "/.pandav"}

func reserved(p string) bool {
	for _, r := range reservedPaths {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// IsError says whether err is a configuration mistake.
func IsError(err error) bool {
	var ce *Error
	return errors.As(err, &ce)
}
