package integration

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
)

// faultRun is one fault a client must not notice.
type faultRun struct {
	name string
	// needs, if set, says whether cl can play this fault at all.
	needs func(cl fakecloud.Cloud) bool
	// before arms the fault before the read; during, if set, runs once
	// the client is about a second into it.
	before, during func(c *clouds, cl fakecloud.Cloud)
	// fired says from the call counts (after minus before) whether the
	// fault really happened during the read.
	fired func(cl fakecloud.Cloud, delta func(ep string) int64) bool
}

const faultFileSize = 48 << 20

// refreshSpacer is a cloud that refuses a refresh too soon after the one
// before, whichever app of the account made it (115's 40140117,
// docs/protocols/pan115.md §1).
type refreshSpacer interface {
	// SetRefreshMinInterval sets the shortest gap between two refreshes.
	SetRefreshMinInterval(time.Duration)
	// RefreshElsewhere refreshes another login of the account now.
	RefreshElsewhere() error
}

func spacesRefreshes(cl fakecloud.Cloud) bool {
	_, ok := cl.(refreshSpacer)
	return ok
}

var faultRuns = []faultRun{
	{name: "link expires mid-stream", during: func(c *clouds, cl fakecloud.Cloud) { cl.ExpireLinks() },
		fired: func(cl fakecloud.Cloud, d func(string) int64) bool { return d(cl.Endpoints().Link) >= 2 }},
	{name: "access token expires mid-stream", during: func(c *clouds, cl fakecloud.Cloud) {
		cl.Login().ExpireAccess()
		cl.ExpireLinks() // so that the next chunk needs a new link, hence the token
	}, fired: func(cl fakecloud.Cloud, d func(string) int64) bool { return d(cl.Endpoints().Refresh) >= 1 }},
	{name: "429/770004 storm on list and link", before: func(c *clouds, cl fakecloud.Cloud) {
		cl.Faults().Inject(cl.Endpoints().List, fakecloud.Throttle, 1, 3)
		cl.Faults().Inject(cl.Endpoints().Link, fakecloud.Throttle, 1, 3)
	}, fired: func(cl fakecloud.Cloud, d func(string) int64) bool {
		return d(cl.Endpoints().List) >= 4 && d(cl.Endpoints().Link) >= 4
	}},
	{name: "5xx on list and link", before: func(c *clouds, cl fakecloud.Cloud) {
		cl.Faults().Inject(cl.Endpoints().List, fakecloud.ServerError, 1, 2)
		cl.Faults().Inject(cl.Endpoints().Link, fakecloud.ServerError, 1, 2)
	}, fired: func(cl fakecloud.Cloud, d func(string) int64) bool {
		return d(cl.Endpoints().List) >= 3 && d(cl.Endpoints().Link) >= 3
	}},
	{name: "plain-text Bad Gateway on list and link", before: func(c *clouds, cl fakecloud.Cloud) {
		cl.Faults().Inject(cl.Endpoints().List, fakecloud.BadGateway, 1, 2)
		cl.Faults().Inject(cl.Endpoints().Link, fakecloud.BadGateway, 1, 2)
	}, fired: func(cl fakecloud.Cloud, d func(string) int64) bool {
		return d(cl.Endpoints().List) >= 3 && d(cl.Endpoints().Link) >= 3
	}},
	{name: "connection resets at random offsets", before: func(c *clouds, cl fakecloud.Cloud) {
		cl.Faults().SetResetEvery(int64(300<<10 + rand.IntN(3<<20)))
	}, fired: func(cl fakecloud.Cloud, d func(string) int64) bool {
		return d(cl.Endpoints().CDN) > faultFileSize/(4<<20)
	}},
	{name: "refresh answered too frequent", needs: spacesRefreshes, during: func(c *clouds, cl fakecloud.Cloud) {
		// Another app of the account refreshes just before pandav must:
		// pandav's refresh lands within the emulator's minimum interval
		// and is refused as too frequent.
		cl.(refreshSpacer).RefreshElsewhere()
		cl.Login().ExpireAccess()
		cl.ExpireLinks()
	}, fired: func(cl fakecloud.Cloud, d func(string) int64) bool { return d(cl.Endpoints().Refresh) >= 3 }},
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
		Options: fakecloud.Options{Unthrottled: true},
		Extra:   extra,
	})
	for _, cl := range c.Each() {
		if rs, ok := cl.(refreshSpacer); ok {
			rs.SetRefreshMinInterval(time.Second)
		}
	}
	cfg, _ := c.WriteConfigWith(t, serveOptions{Fast: true})
	p := startServe(t, cfg)
	runs, visible := 0, 0
	t.Run("mounts", func(t *testing.T) {
		for _, cl := range c.Each() {
			t.Run(cl.Name(), func(t *testing.T) {
				t.Parallel()
				propfind(t, p.URL(demo.MountPath(cl)+"/Faults/"), "1") // the run folders stay unlisted
				for i, fr := range faultRuns {
					if fr.needs != nil && !fr.needs(cl) {
						continue
					}
					cl.Faults().Clear()
					if fr.before != nil {
						fr.before(c, cl)
					}
					before := cl.Counters().Snapshot()
					var timer *time.Timer
					if fr.during != nil {
						timer = time.AfterFunc(time.Second, func() { fr.during(c, cl) })
					}
					path := fmt.Sprintf("%s/Faults/run%d/file.bin", demo.MountPath(cl), i)
					code, n, sum, stderr := curlSHA1(t, curl, p.URL(path), "--limit-rate", "8M")
					if timer != nil {
						timer.Stop()
					}
					cl.Faults().Clear()
					after := cl.Counters().Snapshot()
					if !fr.fired(cl, func(ep string) int64 { return after[ep] - before[ep] }) {
						t.Errorf("%s: the fault did not happen during the read (calls: %v -> %v)", fr.name, before, after)
					}
					want := extra[fmt.Sprintf("/Faults/run%d/file.bin", i)].SHA1()
					runs++
					if code != "200" || n != faultFileSize || sum != want {
						visible++
						t.Errorf("%s: curl got HTTP %s, %d bytes, SHA1 %s; want 200, %d bytes, %s\n%s", fr.name, code, n, sum, faultFileSize, want, stderr)
					} else {
						t.Logf("%s: %s: 200, %d bytes, SHA1 matches", cl.Name(), fr.name, n)
					}
				}
				if n := cl.Login().Reuses(); n != 0 {
					t.Errorf("%d refreshes with a spent token", n)
				}
			})
		}
	})
	t.Logf("%d fault runs, %d client-visible errors", runs, visible)

	// Retries run out: 503, Retry-After, and a log line saying why.
	for _, cl := range c.Each() {
		cl.Faults().Clear()
		cl.Faults().Inject(cl.Endpoints().List, fakecloud.Throttle, 1, -1)
		path := demo.MountPath(cl) + "/Documents/"
		resp, body := davDo(t, "PROPFIND", p.URL(path), map[string]string{"Depth": "1"}, "")
		cl.Faults().Clear()
		checkThrottled(t, cl.Name()+" PROPFIND while throttled without end", resp, body)
		line := waitLog(t, p, `"status":503`, path)
		if !strings.Contains(line, `"error"`) || !regexp503Why.MatchString(line) {
			t.Errorf("%s: the 503's log line does not say why:\n%s", cl.Name(), line)
		} else {
			t.Logf("%s: 503 Retry-After %s; log: %s", cl.Name(), resp.Header.Get("Retry-After"), tail(line, 300))
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
