package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/sample"
)

// TestFFprobeVideo probes the sample video over HTTP on each mount, reads
// packets from the middle of it, and decodes a frame after seeks to random
// points, as a video player does.
func TestFFprobeVideo(t *testing.T) {
	t.Parallel()
	ffprobe := needTool(t, "ffprobe")
	ffmpeg := needTool(t, "ffmpeg")
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfig(t)
	p := startServe(t, cfg)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seek seed %d", seed)
	for _, cl := range c.Each() {
		t.Run(cl.Name(), func(t *testing.T) {
			t.Parallel()
			u := p.URL(demo.MountPath(cl) + sample.VideoPath)

			r := runTool(t, time.Minute, nil, ffprobe, "-v", "error", "-show_entries",
				"format=duration:stream=codec_type,codec_name", "-of", "default=nw=1", u)
			if r.Err != nil || len(r.Stderr) > 0 {
				t.Fatalf("ffprobe: %v\n%s", r.Err, r.Stderr)
			}
			for _, want := range []string{"codec_type=video", "codec_type=audio", "duration="} {
				if !strings.Contains(string(r.Stdout), want) {
					t.Errorf("ffprobe output lacks %q:\n%s", want, r.Stdout)
				}
			}

			r = runTool(t, time.Minute, nil, ffprobe, "-v", "error", "-read_intervals", "5%+2",
				"-show_packets", "-select_streams", "v:0", u)
			if r.Err != nil || len(r.Stderr) > 0 {
				t.Fatalf("ffprobe -read_intervals: %v\n%s", r.Err, r.Stderr)
			}
			if n := strings.Count(string(r.Stdout), "[PACKET]"); n == 0 {
				t.Errorf("ffprobe printed no packets from 5s on:\n%s", tail(string(r.Stdout), 1000))
			}

			rng := rand.New(rand.NewPCG(seed, uint64(len(cl.Name()))))
			for range 5 {
				at := fmt.Sprintf("%.3f", rng.Float64()*11)
				r := runTool(t, time.Minute, nil, ffmpeg, "-nostdin", "-v", "error", "-ss", at, "-i", u,
					"-frames:v", "1", "-f", "null", "-")
				if r.Err != nil || len(strings.TrimSpace(string(r.Stderr))) > 0 {
					t.Errorf("ffmpeg -ss %s: %v\n%s", at, r.Err, r.Stderr)
				}
			}
		})
	}
}
