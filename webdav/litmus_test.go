package webdav

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// litmusBudget is the failures the litmus suite may report against the
// WebDAV layer, by test name, with the reason each is accepted.
var litmusBudget = map[string]string{}

// TestLitmus runs the litmus WebDAV suite (all five groups) against the
// WebDAV layer over memdrive, the reference driver, and its emulator. The
// integration tests run it again against every real driver and its
// emulator.
func TestLitmus(t *testing.T) {
	bin, err := exec.LookPath("litmus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("litmus is not installed (apt-get install litmus)")
		}
		t.Skip("litmus is not installed")
	}
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-k", e.srv.URL+"/fake/")
	cmd.Dir = t.TempDir()
	out, _ := cmd.CombinedOutput()
	if os.Getenv("PANDAV_LITMUS_LOG") != "" {
		os.WriteFile(os.Getenv("PANDAV_LITMUS_LOG"), out, 0o644)
	}
	failures := LitmusFailures(string(out))
	for _, f := range failures {
		if _, ok := litmusBudget[f]; !ok {
			t.Errorf("litmus: %s failed", f)
		}
	}
	if t.Failed() {
		t.Logf("litmus output:\n%s", out)
	}
	t.Logf("litmus failures within budget: %v", failures)
}

var litmusFail = regexp.MustCompile(`(\w[\w-]*)\.+ *FAIL`)

// LitmusFailures lists the tests litmus reports as FAIL.
func LitmusFailures(out string) []string {
	var names []string
	for _, m := range litmusFail.FindAllStringSubmatch(out, -1) {
		names = append(names, strings.TrimRight(m[1], "."))
	}
	return names
}
