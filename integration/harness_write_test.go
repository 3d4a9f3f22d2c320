package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/fakecloud"
)

// serveOptions are what a write or security test adds to the base config.
type serveOptions struct {
	// Fast raises the drivers' own rate limits, for bulk tests whose
	// emulators have theirs off (fastClouds); the real limits are
	// exercised by throttle_test.go.
	Fast       bool
	Users      string // YAML flow sequence for users:, "" for none
	Locks      string // YAML flow mapping for locks:, "" for the default
	MountExtra string // mount-level keys added to both mounts, e.g. "no_trash: true"
	TopExtra   string // top-level keys, one "key: value" per line
	// Extra driver options, one "key: value" per line.
	AliyunOptions, P115Options []string
}

// ConfigWith is Config with o's additions.
func (c *clouds) ConfigWith(stateDir string, o serveOptions) string {
	ali, p115 := o.AliyunOptions, o.P115Options
	if o.Fast {
		ali = append(ali, "rate_limits: {list: 100, link: 100, other: 200}")
		p115 = append(p115, "qps: 200")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nstate_dir: %s\nlog: {level: debug, format: json}\ncache: {entries: 100000, ttl: 5m}\n", yamlQuote(stateDir))
	if o.Users != "" {
		fmt.Fprintf(&b, "users: %s\n", o.Users)
	}
	if o.Locks != "" {
		fmt.Fprintf(&b, "locks: %s\n", o.Locks)
	}
	if o.TopExtra != "" {
		fmt.Fprintf(&b, "%s\n", o.TopExtra)
	}
	b.WriteString("mounts:\n")
	mount := func(path, driver string, opts []string) {
		fmt.Fprintf(&b, "  - path: %s\n    driver: %s\n", path, driver)
		if o.MountExtra != "" {
			fmt.Fprintf(&b, "    %s\n", o.MountExtra)
		}
		b.WriteString("    options:\n")
		for _, kv := range opts {
			fmt.Fprintf(&b, "      %s\n", kv)
		}
	}
	mount("/aliyun", "aliyun", append([]string{
		"refresh_token: " + yamlQuote(c.AliRT),
		"client_id: " + yamlQuote(c.Ali.ClientID()),
		"client_secret: " + yamlQuote(c.Ali.ClientSecret()),
		"open_api_url: " + yamlQuote(c.Ali.URL()),
		"drive: resource", "root: /",
	}, ali...))
	mount("/115", "pan115", append([]string{
		"refresh_token: " + yamlQuote(c.P115RT),
		"api_url: " + yamlQuote(c.P115.APIURL()),
		"passport_url: " + yamlQuote(c.P115.PassportURL()),
		"root: /",
	}, p115...))
	return b.String()
}

// WriteConfigWith writes ConfigWith into a fresh temp dir.
func (c *clouds) WriteConfigWith(t testing.TB, o serveOptions) (configPath, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	configPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(c.ConfigWith(stateDir, o)), 0o600); err != nil {
		t.Fatal(err)
	}
	return configPath, stateDir
}

// fastClouds are emulators with their own rate limits off, for bulk
// tests (with serveOptions.Fast); the real limits are exercised by the
// throttle tests.
func fastClouds(t testing.TB, extra map[string]fakecloud.Blob) *clouds {
	return startClouds(t, cloudOptions{
		Aliyun: aliyuntest.Options{RateList: -1, RateLink: -1, RateOther: -1},
		Pan115: pan115test.Options{QPS: -1},
		Extra:  extra,
	})
}

// uploadedBytes is how many content bytes the cloud's object store
// received so far.
func (c *clouds) uploadedBytes(cl cloud) int64 {
	if cl.Name == "aliyun" {
		return c.Ali.UploadedBytes()
	}
	return c.P115.UploadedBytes()
}

// expireAccessTokens makes the cloud's access tokens issued so far expire.
func (c *clouds) expireAccessTokens(cl cloud) {
	if cl.Name == "aliyun" {
		c.Ali.ExpireAccessTokens()
	} else {
		c.P115.ExpireAccessTokens()
	}
}

// expireLinks makes the cloud's download links issued so far expire.
func (c *clouds) expireLinks(cl cloud) {
	if cl.Name == "aliyun" {
		c.Ali.ExpireLinks()
	} else {
		c.P115.ExpireLinks()
	}
}

// peakRSS reads VmHWM (peak resident set) of a process, in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// resetPeakRSS makes VmHWM start again from the current RSS.
func resetPeakRSS(t testing.TB, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
}

// The package-wide secret check: every pandav process's log and every
// secret every emulator issued are recorded as tests end, and TestMain
// looks for each secret in each log after all tests ran.
var leaks struct {
	mu      sync.Mutex
	logs    map[string]string // name -> text
	secrets map[string]bool
}

// recordLog keeps a finished pandav process's log for the final check.
func recordLog(name, text string) {
	leaks.mu.Lock()
	defer leaks.mu.Unlock()
	if leaks.logs == nil {
		leaks.logs = map[string]string{}
	}
	leaks.logs[fmt.Sprintf("%s #%d", name, len(leaks.logs)+1)] = text
}

// recordSecrets keeps every credential c's emulators issued.
func recordSecrets(c *clouds) {
	list := append(c.Ali.IssuedSecrets(), c.P115.IssuedSecrets()...)
	list = append(list, c.AliRT, c.P115RT)
	leaks.mu.Lock()
	defer leaks.mu.Unlock()
	if leaks.secrets == nil {
		leaks.secrets = map[string]bool{}
	}
	for _, s := range list {
		if len(s) >= 8 {
			leaks.secrets[s] = true
		}
	}
}

// extraLeakPatterns are the upload side's signed-URL and STS parts.
var extraLeakPatterns = []*regexp.Regexp{
	regexp.MustCompile(`[?&]Signature=[^&"\s]+`),
	regexp.MustCompile(`(?i)security-?token["=:]+\s*"?[A-Za-z0-9+/=]{8,}`),
	regexp.MustCompile(`(?i)access-?key-?secret["=:]+\s*"?[A-Za-z0-9+/=]{8,}`),
}

// checkRecordedLogs returns one line per leak found, and a summary.
func checkRecordedLogs() (problems []string, summary string) {
	leaks.mu.Lock()
	defer leaks.mu.Unlock()
	names := make([]string, 0, len(leaks.logs))
	total := 0
	for n, text := range leaks.logs {
		names = append(names, n)
		total += len(text)
	}
	sort.Strings(names)
	for _, n := range names {
		text := leaks.logs[n]
		for s := range leaks.secrets {
			if strings.Contains(text, s) {
				problems = append(problems, fmt.Sprintf("%s: an issued secret (%.6s...) appears in the log", n, s))
			}
		}
		for _, re := range append(append([]*regexp.Regexp{}, leakPatterns...), extraLeakPatterns...) {
			if m := re.FindString(text); m != "" {
				problems = append(problems, fmt.Sprintf("%s: the log contains %.40q (pattern %s)", n, m, re))
			}
		}
	}
	return problems, fmt.Sprintf("secret check: %d issued secrets searched for in %d pandav logs (%d bytes)", len(leaks.secrets), len(leaks.logs), total)
}
