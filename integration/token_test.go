package integration

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// TestKillAfterRefresh: pandav is killed (SIGKILL, no shutdown) right after
// it rotated a refresh token. Restarted on the same state dir and config,
// it must go on with the rotated token, never the spent one from the
// config.
func TestKillAfterRefresh(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{
		Options: fakecloud.Options{AccessTTL: time.Second},
	})
	cfg, stateDir := c.WriteConfig(t)
	for _, cl := range c.Each() {
		// Sequential: all share one pandav process at a time.
		t.Run(cl.Name(), func(t *testing.T) {
			p := startServe(t, cfg)
			before := cl.Counters().Get(cl.Endpoints().Refresh)
			propfind(t, p.URL(demo.MountPath(cl)+"/"), "1")
			if cl.Counters().Get(cl.Endpoints().Refresh) == before {
				t.Fatalf("listing %s made no %s call", demo.MountPath(cl), cl.Endpoints().Refresh)
			}
			// The request is over, so no refresh is in flight: the rotated
			// token must already be on disk.
			latest := cl.Login().Latest()
			if !anyContains(tokenFiles(stateDir, cl.TokenFilePrefix()), latest) {
				t.Fatalf("after a refresh, no token file under %s/tokens holds the newest refresh token", stateDir)
			}
			p.Kill()

			time.Sleep(1100 * time.Millisecond) // let the access token expire
			p2 := startServe(t, cfg)
			before = cl.Counters().Get(cl.Endpoints().Refresh)
			ms := propfind(t, p2.URL(demo.MountPath(cl)+"/Documents/"), "1")
			if len(ms.Responses) < 2 {
				t.Errorf("Documents/ listed %d responses after the restart", len(ms.Responses))
			}
			resp, body := davDo(t, "GET", p2.URL(demo.MountPath(cl)+sample.ReadmePath), nil, "")
			if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("This is the pandav demo drive")) {
				t.Errorf("GET %s after the restart: %s %q", sample.ReadmePath, resp.Status, tail(string(body), 200))
			}
			if cl.Counters().Get(cl.Endpoints().Refresh) == before {
				t.Errorf("no refresh after the restart; the test did not exercise the stored token")
			}
			if n := cl.Login().Reuses(); n != 0 {
				t.Errorf("the cloud saw %d refreshes with a spent refresh token", n)
			}
		})
	}
}

func anyContains(list []string, s string) bool {
	for _, x := range list {
		if s != "" && strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// TestNoSecretsInLogs runs a session that lists, reads and refreshes on
// every mount at debug level, then searches pandav's whole stderr for every
// token the emulators issued and for signed-URL parts.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{
		Options: fakecloud.Options{AccessTTL: time.Second, LinkTTL: 2 * time.Second},
	})
	cfg, stateDir := c.WriteConfig(t)
	p := startServe(t, cfg)

	// Collect every token we can see while the session runs: the newest
	// refresh tokens, and whatever the token files hold (access tokens too).
	// The first tokens, and what else each emulator holds or has issued
	// so far (app secrets among them).
	secrets := map[string]bool{}
	for _, cl := range c.Each() {
		secrets[c.rt[cl.Name()]] = true
		for _, s := range cl.IssuedSecrets() {
			secrets[s] = true
		}
	}
	var mu sync.Mutex
	sampleTokens := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, cl := range c.Each() {
			secrets[cl.Login().Latest()] = true
			for _, f := range tokenFiles(stateDir, cl.TokenFilePrefix()) {
				for _, m := range jsonTokenRe.FindAllStringSubmatch(f, -1) {
					secrets[m[1]] = true
				}
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			sampleTokens()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	for round := range 2 {
		for _, cl := range c.Each() {
			propfind(t, p.URL(demo.MountPath(cl)+"/"), "1")
			propfind(t, p.URL(demo.MountPath(cl)+"/Movies/"), "1")
			resp, _ := davDo(t, "GET", p.URL(demo.MountPath(cl)+sample.VideoPath), map[string]string{"Range": "bytes=1000-50000"}, "")
			if resp.StatusCode != http.StatusPartialContent {
				t.Errorf("GET range of the video on %s: %s", demo.MountPath(cl), resp.Status)
			}
			resp, _ = davDo(t, "GET", p.URL(demo.MountPath(cl)+sample.BigPath), map[string]string{"Range": "bytes=3000000000-3000099999"}, "")
			if resp.StatusCode != http.StatusPartialContent {
				t.Errorf("GET range of the big file on %s: %s", demo.MountPath(cl), resp.Status)
			}
			davDo(t, "PROPFIND", p.URL(demo.MountPath(cl)+"/"), map[string]string{"Depth": "0"}, quotaBody)
			davDo(t, "GET", p.URL(demo.MountPath(cl)+"/no such file.txt"), nil, "")
		}
		if round == 0 {
			time.Sleep(2100 * time.Millisecond) // tokens and links expire
		}
	}
	for _, cl := range c.Each() {
		if cl.Counters().Get(cl.Endpoints().Refresh) < 2 {
			t.Errorf("%s: only %d refreshes; the session did not rotate tokens", cl.Name(), cl.Counters().Get(cl.Endpoints().Refresh))
		}
	}
	close(stop)
	wg.Wait()
	sampleTokens()
	p.Stop()

	logs := p.Stderr()
	if !strings.Contains(logs, "PROPFIND") {
		t.Fatalf("pandav logged no request lines; nothing to check:\n%s", tail(logs, 2000))
	}
	delete(secrets, "")
	t.Logf("checking %d secrets against %d bytes of logs", len(secrets), len(logs))
	for s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a token (%.6s...) appears in pandav's stderr", s)
		}
	}
	for _, re := range leakPatterns {
		if m := re.FindString(logs); m != "" {
			t.Errorf("pandav's stderr contains %q (pattern %s)", m, re)
		}
	}
}

var (
	jsonTokenRe  = regexp.MustCompile(`"(?:access_token|refresh_token)"\s*:\s*"([^"]+)"`)
	leakPatterns = []*regexp.Regexp{
		regexp.MustCompile(`(?i)x-oss-signature=`),
		regexp.MustCompile(`(?i)x-oss-access-key-id=`),
		regexp.MustCompile(`(?i)x-oss-expires=`),
		regexp.MustCompile(`[?&]k=[^&"\s]+`),
		regexp.MustCompile(`[?&]t=\d{9,}`),
		regexp.MustCompile(`(?i)Bearer\s+[A-Za-z0-9._~+/-]{8,}`),
		regexp.MustCompile(`(?i)refresh_token=[^&"\s]+`),
		regexp.MustCompile(`(?i)client_secret=[^&"\s]+`),
	}
)
