package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// cloud is what a test needs of one emulator, whichever cloud it plays, so
// that most tests run the same steps on both mounts.
type cloud struct {
	Name     string // "aliyun" or "115", also the subtest name
	Mount    string // "/aliyun" or "/115"
	Tree     *fakecloud.Tree
	Faults   *fakecloud.Faults
	Counters *fakecloud.Counters

	// Counter and fault names of the emulator's endpoints.
	ListEP, GetEP, RefreshEP string

	LatestRefreshToken func() string
	RefreshTokenReuses func() int
	SetSpace           func(total int64)
	// TokenFilePrefix is how the driver's token store names its file under
	// state_dir/tokens.
	TokenFilePrefix string
}

// clouds is a pair of emulators, both filled with the sample tree unless
// asked otherwise.
type clouds struct {
	Ali    *aliyuntest.Server
	P115   *pan115test.Server
	AliRT  string // the refresh tokens put in the config
	P115RT string
}

type cloudOptions struct {
	Aliyun aliyuntest.Options
	Pan115 pan115test.Options
	// Extra files to add to both trees, keyed by path.
	Extra map[string]fakecloud.Blob
}

// startClouds starts both emulators on loopback; they close with the test.
// Retry hints are kept short so that throttling tests stay quick.
func startClouds(t testing.TB, o cloudOptions) *clouds {
	t.Helper()
	if o.Aliyun.RetryAfter == 0 {
		o.Aliyun.RetryAfter = 20 * time.Millisecond
	}
	c := &clouds{Ali: aliyuntest.NewServer(o.Aliyun), P115: pan115test.NewServer(o.Pan115)}
	t.Cleanup(c.Ali.Close)
	t.Cleanup(c.P115.Close)
	for _, tr := range []*fakecloud.Tree{c.Ali.Tree, c.P115.Tree} {
		if err := sample.Fill(tr); err != nil {
			t.Fatal(err)
		}
		for p, b := range o.Extra {
			if _, err := tr.PutPath(p, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.AliRT = c.Ali.NewRefreshToken()
	c.P115RT = c.P115.NewRefreshToken()
	t.Cleanup(func() { recordSecrets(c) })
	return c
}

// Each returns the two clouds in a fixed order.
func (c *clouds) Each() []cloud {
	return []cloud{c.aliyun(), c.pan115()}
}

func (c *clouds) aliyun() cloud {
	s := c.Ali
	return cloud{
		Name: "aliyun", Mount: "/aliyun",
		Tree: s.Tree, Faults: s.Faults, Counters: s.Counters,
		ListEP: "openFile/list", GetEP: "openFile/get", RefreshEP: "oauth/access_token",
		LatestRefreshToken: s.LatestRefreshToken,
		RefreshTokenReuses: s.RefreshTokenReuses,
		SetSpace:           s.SetSpace,
		TokenFilePrefix:    "aliyun-",
	}
}

func (c *clouds) pan115() cloud {
	s := c.P115
	return cloud{
		Name: "115", Mount: "/115",
		Tree: s.Tree, Faults: s.Faults, Counters: s.Counters,
		ListEP: "open/ufile/files", GetEP: "open/folder/get_info", RefreshEP: "open/refreshToken",
		LatestRefreshToken: s.LatestRefreshToken,
		RefreshTokenReuses: s.RefreshTokenReuses,
		SetSpace:           s.SetSpace,
		TokenFilePrefix:    "pan115-",
	}
}

// Config is a pandav config for both emulators, in the documented keys.
func (c *clouds) Config(stateDir string) string {
	return fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %s\nlog: {level: debug, format: json}\ncache: {entries: 100000, ttl: 5m}\nmounts:\n", yamlQuote(stateDir)) +
		demo.AliyunMount("/aliyun", c.Ali, c.AliRT, "drive: resource", "root: /") +
		demo.Pan115Mount("/115", c.P115, c.P115RT, "root: /")
}

// WriteConfig writes Config into a fresh temp dir and returns its path and
// the state dir it names.
func (c *clouds) WriteConfig(t testing.TB) (configPath, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	configPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(c.Config(stateDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return configPath, stateDir
}

// yamlQuote quotes s as a YAML double-quoted scalar (JSON's escaping is a
// subset of YAML's).
func yamlQuote(s string) string {
	return fmt.Sprintf("%q", s)
}

// tokenFiles returns the contents of the token files under stateDir whose
// names start with prefix.
func tokenFiles(stateDir, prefix string) []string {
	matches, _ := filepath.Glob(filepath.Join(stateDir, "tokens", prefix+"*"))
	var out []string
	for _, m := range matches {
		if strings.HasPrefix(filepath.Base(m), ".") {
			continue
		}
		if b, err := os.ReadFile(m); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// fileSizes walks tr and returns every live file's path (from the root,
// without a leading slash) and size.
func fileSizes(t testing.TB, tr *fakecloud.Tree) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	var walk func(id, prefix string)
	walk = func(id, prefix string) {
		kids, err := tr.Children(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			p := prefix + k.Name
			if k.IsDir {
				walk(k.ID, p+"/")
			} else {
				out[p] = k.Size()
			}
		}
	}
	walk(tr.RootID(), "")
	return out
}

// aliyunOpts and pan115Opts give emulators whose tokens and links live only
// as long as asked.
func aliyunOpts(accessTTL, linkTTL time.Duration) aliyuntest.Options {
	return aliyuntest.Options{AccessTTL: accessTTL, LinkTTL: linkTTL}
}

func pan115Opts(accessTTL, linkTTL time.Duration) pan115test.Options {
	return pan115test.Options{AccessTTL: accessTTL, LinkTTL: linkTTL}
}
