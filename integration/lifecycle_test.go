package integration

import (
	"pandav/internal/demo"
	"strings"
	"testing"
)

// TestSIGTERM: serve logs that it listens, answers, and exits cleanly on
// SIGTERM.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	propfind(t, p.URL(demo.MountPath(c.Each()[0])+"/"), "1")
	if !p.Stop() {
		t.Fatal("pandav did not exit within 10s of SIGTERM")
	}
	if p.waitErr != nil {
		t.Errorf("pandav exited with %v after SIGTERM, want status 0", p.waitErr)
	}
	if logs := p.Stderr(); !strings.Contains(logs, "listening") {
		t.Errorf("pandav never logged that it was listening:\n%s", tail(logs, 2000))
	}
}
