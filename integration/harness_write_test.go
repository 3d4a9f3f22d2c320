package integration

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"pandav/internal/demo"
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
	MountExtra string // mount-level keys added to every mount, e.g. "no_trash: true"
	TopExtra   string // top-level keys, one "key: value" per line
	// PartSize, if set, is the upload part size of every driver that
	// takes one.
	PartSize int64
	// MountOptions are added to the options of the mount of each cloud,
	// by its name.
	MountOptions map[string]map[string]any
	// Watch, if set, are the cloud-download watch folders of every mount
	// whose cloud has cloud download.
	Watch []string
}

// ConfigWith is a pandav config for every emulator, in the documented
// keys, with o's additions.
func (c *clouds) ConfigWith(stateDir string, o serveOptions) string {
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
	for _, cl := range c.all {
		m := demo.CloudMount(cl, c.rt[cl.Name()])
		if o.MountExtra != "" {
			m.Keys = append(m.Keys, o.MountExtra)
		}
		if u, ok := cl.(fakecloud.Unpaced); ok && o.Fast {
			maps.Copy(m.Options, u.UnpacedMountOptions())
		}
		if ps, ok := cl.(fakecloud.PartSized); ok && o.PartSize > 0 {
			maps.Copy(m.Options, ps.PartSizeMountOptions(o.PartSize))
		}
		maps.Copy(m.Options, o.MountOptions[cl.Name()])
		if cd, ok := cl.(fakecloud.CloudDownloads); ok && len(o.Watch) > 0 {
			maps.Copy(m.Options, cd.WatchMountOptions(o.Watch...))
		}
		b.WriteString(m.YAML())
	}
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
	return startClouds(t, cloudOptions{Options: fakecloud.Options{Unthrottled: true}, Extra: extra})
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
	var list []string
	for _, cl := range c.all {
		list = append(append(list, cl.IssuedSecrets()...), c.rt[cl.Name()])
	}
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
