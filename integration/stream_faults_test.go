package integration

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// TestStreamFaults is issue 5's fault run: with the emulators failing on
// purpose, every stream still arrives byte-exact and the sample video
// still decodes after seeks.
//   - a connection reset every 50 MiB of a 1 GiB stream;
//   - a 5 s link lifetime under a slow reader;
//   - a 429 burst on the link call;
//   - ffmpeg seeking to 5 random points of the video while the CDN cuts
//     every response after 32 KiB;
//   - a CDN that goes silent, connection open, every 64 MiB of a 256 MiB
//     stream, with stream.stall_timeout at 2 s.
func TestStreamFaults(t *testing.T) {
	t.Parallel()
	rclone := needTool(t, "rclone")
	ffmpeg := needTool(t, "ffmpeg")
	const bigPath, slowPath, stallPath = "/Faults/reset-1GiB.bin", "/Faults/slow-40MiB.bin", "/Faults/stall-256MiB.bin"
	big := fakecloud.NewSeededBlob(0xfa17, 1<<30, "")
	slow := fakecloud.NewSeededBlob(0x510e, 40<<20, "")
	stalling := fakecloud.NewSeededBlob(0x57a1, 256<<20, "")
	c := startClouds(t, cloudOptions{
		Options: fakecloud.Options{AccessTTL: time.Hour, LinkTTL: 5 * time.Second},
		Extra:   map[string]fakecloud.Blob{bigPath: big, slowPath: slow, stallPath: stalling},
	})
	const stallTimeout = 2 * time.Second
	cfg, _ := c.WriteConfigWith(t, serveOptions{TopExtra: fmt.Sprintf("stream: {stall_timeout: %s}", stallTimeout)})
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Run("reset every 50 MiB of 1 GiB", func(t *testing.T) {
				cl.Faults().SetResetEvery(50 << 20)
				defer cl.Faults().SetResetEvery(0)
				cdn := cl.Counters().Get(cl.Endpoints().CDN)
				sum, n := httpSHA1(t, p.URL(demo.MountPath(cl)+bigPath))
				if n != big.Size() || sum != big.SHA1() {
					t.Fatalf("got %d bytes, SHA1 %s; want %d, %s", n, sum, big.Size(), big.SHA1())
				}
				t.Logf("%d CDN requests for 1 GiB cut every 50 MiB", cl.Counters().Get(cl.Endpoints().CDN)-cdn)
			})
			t.Run("CDN silent every 64 MiB of 256 MiB", func(t *testing.T) {
				cl.Faults().SetStallEvery(64 << 20)
				defer cl.Faults().SetStallEvery(0)
				start := time.Now()
				sum, n := httpSHA1(t, p.URL(demo.MountPath(cl)+stallPath))
				took := time.Since(start)
				if n != stalling.Size() || sum != stalling.SHA1() {
					t.Fatalf("got %d bytes, SHA1 %s; want %d, %s", n, sum, stalling.Size(), stalling.SHA1())
				}
				t.Logf("256 MiB with 4 silent CDN responses: %s", took.Round(100*time.Millisecond))
				// Each silence costs one stall_timeout; waiting on the CDN
				// (it holds a silent response two minutes) would hang here.
				if took > 4*stallTimeout+30*time.Second {
					t.Errorf("the stream took %s: silent CDN connections were not cut after %s", took, stallTimeout)
				}
			})
			t.Run("5 s links, slow reader", func(t *testing.T) {
				links := cl.Counters().Get(cl.Endpoints().Link)
				// Socket buffers let a reader run seconds ahead of its
				// rate limit, so links are also expired every 2 s to be
				// sure the read outlives several.
				stop := make(chan struct{})
				go func() {
					tick := time.NewTicker(2 * time.Second)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							cl.ExpireLinks()
						}
					}
				}()
				sum, n, stderr, err := rcloneCatSHA1(t, rclone, rcloneRemote(p, demo.MountPath(cl))+strings.TrimPrefix(slowPath, "/"),
					"--bwlimit", "3M", "--low-level-retries", "1")
				close(stop)
				if err != nil {
					t.Fatalf("rclone cat: %v\n%s", err, tail(stderr, 2000))
				}
				if n != slow.Size() || sum != slow.SHA1() {
					t.Fatalf("got %d bytes, SHA1 %s; want %d, %s", n, sum, slow.Size(), slow.SHA1())
				}
				if got := cl.Counters().Get(cl.Endpoints().Link) - links; got < 2 {
					t.Errorf("%d link calls in a read spanning several 5 s lifetimes", got)
				}
			})
			t.Run("429 burst on the link call", func(t *testing.T) {
				cl.Faults().Inject(cl.Endpoints().Link, fakecloud.Throttle, 1, 3)
				defer cl.Faults().Clear()
				// a file not read before, so its link is not cached
				path := sample.Join(sample.ManyDir, sample.ManyName(7))
				resp, err := http.Get(p.URL(demo.MountPath(cl) + path))
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != string(sample.ManyContent(7)) {
					t.Fatalf("status %d, %q", resp.StatusCode, got)
				}
			})
			t.Run("ffmpeg seeks while the CDN cuts every 32 KiB", func(t *testing.T) {
				cl.Faults().SetResetEvery(32 << 10)
				defer cl.Faults().SetResetEvery(0)
				u := p.URL(demo.MountPath(cl) + sample.VideoPath)
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
				for range 5 {
					at := fmt.Sprintf("%.3f", rng.Float64()*11)
					r := runTool(t, time.Minute, nil, ffmpeg, "-nostdin", "-v", "error", "-ss", at, "-i", u,
						"-frames:v", "1", "-f", "null", "-")
					if r.Err != nil || len(strings.TrimSpace(string(r.Stderr))) > 0 {
						t.Errorf("ffmpeg -ss %s: %v\n%s", at, r.Err, r.Stderr)
					}
				}
			})
		})
	}
}

// httpSHA1 GETs u and hashes the body as it streams.
func httpSHA1(t testing.TB, u string) (string, int64) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	h := sha1.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v after %d bytes", u, err, n)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), n
}
