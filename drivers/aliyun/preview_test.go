package aliyun

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// previewRig is a share with a video and a text file, played by an
// account whose drive can be filled.
type previewRig struct {
	*shareRig
	video, notes drivers.Entry
	changes      atomic.Int32
}

func newPreviewRig(t *testing.T, previews string) *previewRig {
	tn := fast
	tn.copyRetry = time.Millisecond
	r := &previewRig{shareRig: newShareRig(t, rigOptions{tn: tn, share: func(o *ShareOptions) { o.Previews = previews }})}
	r.srv.SetDeviceChecks(true)
	r.video = r.put(t, "a.mp4", fakecloud.BytesBlob([]byte("a film, not transcoded here")))
	r.notes = r.put(t, "notes.txt", fakecloud.BytesBlob([]byte("notes")))
	r.share.NotifyChanges(func(string) { r.changes.Add(1) })
	return r
}

// fill makes the account's drive full, or, with full false, roomy.
func (r *previewRig) fill(full bool) {
	if full {
		r.srv.SetSpace(r.srv.Tree().Usage())
	} else {
		r.srv.SetSpace(1 << 40)
	}
}

func (r *previewRig) names(t *testing.T) map[string]drivers.Entry {
	t.Helper()
	root, err := r.share.Root(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	kids, err := r.share.List(ctxT(t), root)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]drivers.Entry{}
	for _, k := range kids {
		out[k.Name] = k
	}
	return out
}

// segment asks the mount's route for rest, as the WebDAV layer does.
func (r *previewRig) segment(t *testing.T, rest string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, drivers.RouteURL("/share/demo", rest), nil)
	return w, r.share.ServeRoute(ctxT(t), w, req, rest)
}

// TestPreviewFallback fills the account's drive: the video's GET says to
// play its preview, which is listed, plays from pandav's own routes and
// survives its URLs expiring; once the drive has room the copy plays
// again and the previews go.
func TestPreviewFallback(t *testing.T) {
	r := newPreviewRig(t, "")
	ctx := ctxT(t)
	if _, ok := r.names(t)["a.mp4"+previewSuffix]; ok {
		t.Fatal("a preview is listed while copies work")
	}
	r.fill(true)
	_, err := r.share.Link(ctx, r.video, drivers.LinkRequest{})
	var ue *drivers.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "a.mp4.preview.m3u8") || !strings.Contains(ue.Msg, "drive is full") {
		t.Fatalf("GET of the video while the drive is full: %v", err)
	}
	if _, err := r.share.Link(ctx, r.notes, drivers.LinkRequest{}); !errors.As(err, &ue) || strings.Contains(ue.Msg, "preview") || !strings.Contains(ue.Msg, "Free space") {
		t.Errorf("GET of a text file: %v", err)
	}
	if n := strings.Count(r.logs.String(), "play through their transcoded previews"); n != 1 {
		t.Errorf("the refusal is logged %d times, want once:\n%s", n, r.logs.String())
	}
	if n := r.changes.Load(); n != 1 {
		t.Errorf("the listings changed %d times, want once", n)
	}

	names := r.names(t)
	pe, ok := names["a.mp4"+previewSuffix]
	if !ok || len(names) != 3 {
		t.Fatalf("the listing while copies are refused: %v", names)
	}
	text, ok, err := r.share.ProducedContent(ctx, pe)
	if err != nil || !ok || int64(len(text)) != pe.Size {
		t.Fatalf("the playlist: %d bytes (listed %d), %v, %v", len(text), pe.Size, ok, err)
	}
	if _, ok, _ := r.share.ProducedContent(ctx, r.video); ok {
		t.Error("the video itself is produced")
	}
	var segs []string
	for _, line := range strings.Split(string(text), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			segs = append(segs, line)
		}
	}
	prefix := drivers.RouteURL("/share/demo", "preview/")
	if !strings.HasPrefix(string(text), "#EXTM3U\n") || !strings.HasSuffix(string(text), "#EXT-X-ENDLIST\n") || len(segs) != 6 ||
		!strings.HasPrefix(segs[0], prefix) || !strings.Contains(segs[0], "/SD/0.ts") {
		t.Fatalf("the playlist:\n%s", text)
	}
	playInfo := func() int64 { return r.srv.Counters().Get("v2/file/get_share_link_video_preview_play_info") }
	infos := playInfo()
	for i, seg := range segs[:2] {
		w, err := r.segment(t, strings.TrimPrefix(seg, prefix[:len(prefix)-len("preview/")]))
		if err != nil || w.Code != 200 || w.Body.Len() == 0 || w.Body.Len()%188 != 0 || w.Body.Bytes()[0] != 0x47 || w.Header().Get("Content-Type") != "video/mp2t" {
			t.Fatalf("segment %d: %v, %d, %d bytes", i, err, w.Code, w.Body.Len())
		}
	}
	if playInfo() != infos {
		t.Errorf("segments asked for play info again")
	}
	r.srv.ExpirePreviews()
	if w, err := r.segment(t, strings.TrimPrefix(segs[2], prefix[:len(prefix)-len("preview/")])); err != nil || w.Code != 200 {
		t.Fatalf("a segment after its URL expired: %v, %d", err, w.Code)
	}
	if playInfo() != infos+1 {
		t.Errorf("the expired URLs were renewed with %d play info calls, want 1", playInfo()-infos)
	}
	for _, bad := range []string{"preview/x", "preview/d/f/SD/99.ts", "other/d/f/SD/0.ts", "preview/d/f/SD/-1.ts"} {
		if _, err := r.segment(t, bad); !errors.Is(err, drivers.ErrNotFound) {
			t.Errorf("%s: %v", bad, err)
		}
	}

	// Room again: the copy plays, and the previews go.
	r.fill(false)
	time.Sleep(5 * time.Millisecond)
	if _, err := r.share.Link(ctx, r.video, drivers.LinkRequest{}); err != nil {
		t.Fatalf("GET once the drive has room: %v", err)
	}
	if n := r.changes.Load(); n != 2 {
		t.Errorf("the listings changed %d times, want twice", n)
	}
	if _, ok := r.names(t)["a.mp4"+previewSuffix]; ok {
		t.Error("the preview is still listed once copies work")
	}
}

func TestPreviewModes(t *testing.T) {
	t.Run("never", func(t *testing.T) {
		r := newPreviewRig(t, "never")
		r.fill(true)
		_, err := r.share.Link(ctxT(t), r.video, drivers.LinkRequest{})
		var ue *drivers.UnavailableError
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "options.previews") || strings.Contains(ue.Msg, previewSuffix) {
			t.Errorf("GET: %v", err)
		}
		if _, ok := r.names(t)["a.mp4"+previewSuffix]; ok || r.changes.Load() != 0 {
			t.Error("a preview is listed with previews: never")
		}
		if _, err := r.segment(t, "preview/d/f/SD/0.ts"); !errors.Is(err, drivers.ErrNotFound) {
			t.Errorf("a route with previews: never: %v", err)
		}
	})
	t.Run("always", func(t *testing.T) {
		r := newPreviewRig(t, "always")
		names := r.names(t)
		if _, ok := names["a.mp4"+previewSuffix]; !ok {
			t.Errorf("previews: always lists %v", names)
		}
		if _, ok := names["notes.txt"+previewSuffix]; ok {
			t.Error("a text file has a preview")
		}
		if r.srv.Counters().Get("file/copy") != 0 {
			t.Error("listing made copies")
		}
	})
	t.Run("bad", func(t *testing.T) {
		o := ShareOptions{ShareID: "x", Account: "/aliyun", Previews: "sometimes"}
		if err := o.normalize(); err == nil || !strings.Contains(err.Error(), "options.previews") {
			t.Errorf("previews: sometimes: %v", err)
		}
	})
}

func TestHLSParsing(t *testing.T) {
	base, _ := http.NewRequest(http.MethodGet, "https://cdn.example/a/b/index.m3u8?sig=1", nil)
	r, variant := parseHLS([]byte("#EXTM3U\n#EXTINF:4.5,\nseg-0.ts?x=1\n#EXTINF:3,title\n/abs/seg-1.ts\nhttps://other.example/seg-2.ts\n#EXT-X-ENDLIST\n"), base.URL)
	if variant != "" || len(r.segments) != 3 {
		t.Fatalf("%+v %q", r, variant)
	}
	want := []hlsSegment{{"4.5", "https://cdn.example/a/b/seg-0.ts?x=1"}, {"3", "https://cdn.example/abs/seg-1.ts"}, {"10", "https://other.example/seg-2.ts"}}
	for i, w := range want {
		if r.segments[i] != w {
			t.Errorf("segment %d: %+v, want %+v", i, r.segments[i], w)
		}
	}
	if _, variant := parseHLS([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow/index.m3u8\n"), base.URL); variant != "https://cdn.example/a/b/low/index.m3u8" {
		t.Errorf("master playlist: %q", variant)
	}
	tasks := map[string]transcodingTask{"LD": {}, "SD": {}, "X": {TemplateHeight: 5000}}
	if b := bestTemplate(tasks); b != "SD" {
		t.Errorf("best of %v: %s", tasks, b)
	}
	if b := bestTemplate(map[string]transcodingTask{"X": {TemplateHeight: 480}, "Y": {TemplateHeight: 720}}); b != "Y" {
		t.Errorf("best of unknown templates: %s", b)
	}
}
