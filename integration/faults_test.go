package integration

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/fakecloud"
)

// faultRun is one fault a client must not notice.
type faultRun struct {
	name string
	only string // "115": that cloud only
	// before arms the fault before the read; during, if set, runs once
	// the client is about a second into it.
	before, during func(c *clouds, cl cloud)
	// fired says from the call counts (after minus before) whether the
	// fault really happened during the read.
	fired func(cl cloud, delta func(ep string) int64) bool
}

const faultFileSize = 48 << 20

var faultRuns = []faultRun{
	{name: "link expires mid-stream", during: func(c *clouds, cl cloud) { c.expireLinks(cl) },
		fired: func(cl cloud, d func(string) int64) bool { return d(linkEP(cl)) >= 2 }},
	{name: "access token expires mid-stream", during: func(c *clouds, cl cloud) {
		c.expireAccessTokens(cl)
		c.expireLinks(cl) // so that the next chunk needs a new link, hence the token
	}, fired: func(cl cloud, d func(string) int64) bool { return d(cl.RefreshEP) >= 1 }},
	{name: "429/770004 storm on list and link", before: func(c *clouds, cl cloud) {
		cl.Faults.Inject(cl.ListEP, fakecloud.Throttle, 1, 3)
		cl.Faults.Inject(linkEP(cl), fakecloud.Throttle, 1, 3)
	}, fired: func(cl cloud, d func(string) int64) bool { return d(cl.ListEP) >= 4 && d(linkEP(cl)) >= 4 }},
	{name: "5xx on list and link", before: func(c *clouds, cl cloud) {
		cl.Faults.Inject(cl.ListEP, fakecloud.ServerError, 1, 2)
		cl.Faults.Inject(linkEP(cl), fakecloud.ServerError, 1, 2)
	}, fired: func(cl cloud, d func(string) int64) bool { return d(cl.ListEP) >= 3 && d(linkEP(cl)) >= 3 }},
	{name: "plain-text Bad Gateway on list and link", before: func(c *clouds, cl cloud) {
		cl.Faults.Inject(cl.ListEP, fakecloud.BadGateway, 1, 2)
		cl.Faults.Inject(linkEP(cl), fakecloud.BadGateway, 1, 2)
	}, fired: func(cl cloud, d func(string) int64) bool { return d(cl.ListEP) >= 3 && d(linkEP(cl)) >= 3 }},
	{name: "connection resets at random offsets", before: func(c *clouds, cl cloud) {
		cl.Faults.SetResetEvery(int64(300<<10 + rand.IntN(3<<20)))
	}, fired: func(cl cloud, d func(string) int64) bool { return d("cdn") > faultFileSize/(4<<20) }},
	{name: "refresh answered too frequent", only: "115", during: func(c *clouds, cl cloud) {
		// Another app of the account refreshes just before pandav must:
		// pandav's refresh lands within the emulator's RefreshMinInterval
		// and is refused as too frequent.
		resp, err := http.PostForm(c.P115.PassportURL()+"/open/refreshToken", url.Values{"refresh_token": {c.P115.NewRefreshToken()}})
		if err == nil {
			resp.Body.Close()
		}
		c.expireAccessTokens(cl)
		c.expireLinks(cl)
	}, fired: func(cl cloud, d func(string) int64) bool { return d(cl.RefreshEP) >= 3 }},
}

// TestFaultsInvisible reads a 48 MiB file with curl (at 8 MB/s, so that
// a fault set a second in lands mid-stream) through each mount
// while the cloud misbehaves: links and access tokens expire mid-stream,
// throttling storms (429, 115's 770004), 5xx and plain-text 502 bodies on
// list and link calls, CDN connection resets at random offsets, and (115)
// a refresh refused as too frequent. Each fault is bounded so that
// retries win: curl must see 200 and the exact bytes. Then a storm that
// never ends must give 503 with Retry-After and a log line saying why.
func TestFaultsInvisible(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl")
	extra := map[string]fakecloud.Blob{}
	for i := range faultRuns {
		extra[fmt.Sprintf("/Faults/run%d/file.bin", i)] = fakecloud.NewSeededBlob(uint64(500+i), faultFileSize, "")
	}
	c := startClouds(t, cloudOptions{
		// The emulators' rate limits are off so that every throttled
		// answer is an injected one.
		Aliyun: aliyuntest.Options{RateList: -1, RateLink: -1, RateOther: -1},
		Pan115: pan115test.Options{QPS: -1, RefreshMinInterval: time.Second},
		Extra:  extra,
	})
	cfg, _ := c.WriteConfigWith(t, serveOptions{Fast: true})
	p := startServe(t, cfg)
	runs, visible := 0, 0
	t.Run("mounts", func(t *testing.T) {
		for _, cl := range c.Each() {
			t.Run(cl.Name, func(t *testing.T) {
				t.Parallel()
				propfind(t, p.URL(cl.Mount+"/Faults/"), "1") // the run folders stay unlisted
				for i, fr := range faultRuns {
					if fr.only != "" && fr.only != cl.Name {
						continue
					}
					cl.Faults.Clear()
					if fr.before != nil {
						fr.before(c, cl)
					}
					before := cl.Counters.Snapshot()
					var timer *time.Timer
					if fr.during != nil {
						timer = time.AfterFunc(time.Second, func() { fr.during(c, cl) })
					}
					path := fmt.Sprintf("%s/Faults/run%d/file.bin", cl.Mount, i)
					code, n, sum, stderr := curlSHA1(t, curl, p.URL(path), "--limit-rate", "8M")
					if timer != nil {
						timer.Stop()
					}
					cl.Faults.Clear()
					after := cl.Counters.Snapshot()
					if !fr.fired(cl, func(ep string) int64 { return after[ep] - before[ep] }) {
						t.Errorf("%s: the fault did not happen during the read (calls: %v -> %v)", fr.name, before, after)
					}
					want := extra[fmt.Sprintf("/Faults/run%d/file.bin", i)].SHA1()
					runs++
					if code != "200" || n != faultFileSize || sum != want {
						visible++
						t.Errorf("%s: curl got HTTP %s, %d bytes, SHA1 %s; want 200, %d bytes, %s\n%s", fr.name, code, n, sum, faultFileSize, want, stderr)
					} else {
						t.Logf("%s: %s: 200, %d bytes, SHA1 matches", cl.Name, fr.name, n)
					}
				}
				if n := cl.RefreshTokenReuses(); n != 0 {
					t.Errorf("%d refreshes with a spent token", n)
				}
			})
		}
	})
	t.Logf("%d fault runs, %d client-visible errors", runs, visible)

	// Retries run out: 503, Retry-After, and a log line saying why.
	for _, cl := range c.Each() {
		cl.Faults.Clear()
		cl.Faults.Inject(cl.ListEP, fakecloud.Throttle, 1, -1)
		path := cl.Mount + "/Documents/"
		resp, body := davDo(t, "PROPFIND", p.URL(path), map[string]string{"Depth": "1"}, "")
		cl.Faults.Clear()
		checkThrottled(t, cl.Name+" PROPFIND while throttled without end", resp, body)
		line := waitLog(t, p, `"status":503`, path)
		if !strings.Contains(line, `"error"`) || !regexp503Why.MatchString(line) {
			t.Errorf("%s: the 503's log line does not say why:\n%s", cl.Name, line)
		} else {
			t.Logf("%s: 503 Retry-After %s; log: %s", cl.Name, resp.Header.Get("Retry-After"), tail(line, 300))
		}
	}
}

// curlSHA1 fetches u with curl and hashes what it wrote.
func curlSHA1(t *testing.T, curl, u string, flags ...string) (code string, n int64, sum, stderr string) {
	t.Helper()
	cmd := exec.Command(curl, append(append([]string{"-sS", "-w", "%{stderr}%{http_code}"}, flags...), u)...)
	sum, n, stderr, err := outputSHA1(t, cmd, 2*time.Minute)
	code = stderr[max(0, len(stderr)-3):]
	if err != nil {
		stderr += " (" + err.Error() + ")"
	}
	return code, n, sum, stderr
}

// regexp503Why is what a 503's log line must say: the cloud throttled.
var regexp503Why = regexp.MustCompile(`(?i)throttl|rate.limit|too many|busy`)
