package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// pandavBin is the binary built once for the whole package.
var pandavBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pandav-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pandavBin = filepath.Join(dir, "pandav")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", pandavBin, "pandav")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: building pandav: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	closeBrowser()
	problems, summary := checkRecordedLogs()
	fmt.Fprintln(os.Stderr, "integration: "+summary)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "integration: LEAK: "+p)
	}
	if code == 0 && len(problems) > 0 {
		code = 1
	}
	return code
}

// goTool finds the go command that is running these tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
