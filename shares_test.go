package main

import (
	"strings"
	"testing"
)

// TestShareCommandLine: mistakes on the command line exit 2 with one
// sentence, before any mount opens.
func TestShareCommandLine(t *testing.T) {
	cfg := writeConfig(t, "", testMount{path: "/acct", acct: newAccount(t, "a"), refresh: "r1"})
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"share"}, "Usage"},
		{[]string{"share", "publish"}, `unknown command "publish"`},
		{[]string{"share", "create", "/acct/x"}, "-c config.yaml is required"},
		{[]string{"share", "create", "-c", cfg}, "name what to share"},
		{[]string{"share", "create", "-c", cfg, "--pwd", "ab12", "--no-pwd", "/acct/x"}, "give one of --pwd, --random-pwd and --no-pwd"},
		{[]string{"share", "update", "-c", cfg, "--random-pwd"}, "name one share link"},
		{[]string{"share", "cancel", "-c", cfg}, "name the share links"},
		{[]string{"share", "list", "-c", cfg, "/nomount"}, "has no mount /nomount"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.says) {
			t.Errorf("%v: exit %d, %q; want 2 saying %q", tc.args, code, stderr, tc.says)
		}
	}
	// The admintest mount cannot share: the command says so, in process.
	code, _, stderr := runCLI("share", "create", "-c", cfg, "/acct/x")
	if code != 2 || !strings.Contains(stderr, "cannot make share links") {
		t.Errorf("sharing on a mount that cannot: exit %d, %q", code, stderr)
	}
	code, _, stderr = runCLI("share", "list", "-c", cfg)
	if code != 2 || !strings.Contains(stderr, "no mount can list share links") {
		t.Errorf("listing where no mount can: exit %d, %q", code, stderr)
	}
}
