package integration

import (
	"context"
	"os/exec"
	"pandav/internal/demo"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// litmusBudget is every failure litmus may report against a cloud mount,
// with the reason it is accepted. Anything else fails the test.
var litmusBudget = map[string]string{}

// litmusFail matches litmus's FAIL lines (as webdav/litmus_test.go's
// LitmusFailures; a test file cannot be imported).
var litmusFail = regexp.MustCompile(`(\w[\w-]*)\.+ *FAIL`)

// litmusSummary matches each group's closing line, e.g.
// "<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%".
var litmusSummary = regexp.MustCompile("summary for `(\\w+)': of (\\d+) tests run: (\\d+) passed, (\\d+) failed")

// TestLitmusMounts runs litmus -k (all five groups: basic, copymove,
// props, locks, http) against every cloud mount through the real binary.
// The emulators' and drivers' rate limits are raised: litmus makes a few
// hundred calls and the real limits are tested elsewhere.
func TestLitmusMounts(t *testing.T) {
	t.Parallel()
	litmus := needTool(t, "litmus")
	c := fastClouds(t, nil)
	cfg, _ := c.WriteConfigWith(t, serveOptions{Fast: true})
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, litmus, "-k", p.URL(demo.MountPath(cl)+"/"))
			cmd.Dir = t.TempDir() // litmus writes debug.log here
			cmd.WaitDelay = 5 * time.Second
			out, _ := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("litmus timed out:\n%s", tail(string(out), 4000))
			}
			groups := map[string]bool{}
			for _, m := range litmusSummary.FindAllStringSubmatch(string(out), -1) {
				groups[m[1]] = true
				t.Logf("%s: %s run, %s passed, %s failed", m[1], m[2], m[3], m[4])
			}
			for _, g := range []string{"basic", "copymove", "props", "locks", "http"} {
				if !groups[g] {
					t.Errorf("litmus group %s did not run to its summary", g)
				}
			}
			var failures []string
			for _, m := range litmusFail.FindAllStringSubmatch(string(out), -1) {
				name := strings.TrimRight(m[1], ".")
				failures = append(failures, name)
				if _, ok := litmusBudget[name]; !ok {
					t.Errorf("litmus: %s failed", name)
				}
			}
			sort.Strings(failures)
			if t.Failed() {
				t.Logf("litmus output:\n%s", out)
			}
			t.Logf("litmus failures (all within the budget): %v", failures)
			// The suite cleans up after itself: nothing of it is left.
			if _, err := cl.Tree().Lookup("/litmus"); err == nil {
				t.Logf("note: litmus left its collection behind")
			}
		})
	}
}
