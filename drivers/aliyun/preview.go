package aliyun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// Playing a share when its files cannot be copied. A share mount plays
// a file by copying it into the account's drive (sharecopy.go); when
// Aliyundrive refuses the copy (the drive is full, a quota, throttling
// beyond the retries), a video still plays through the share's
// transcoded preview (docs/protocols/accounts-offline-shares.md §4.11).
// Beside each video the mount lists NAME.preview.m3u8, a playlist that
// pandav writes (drivers.ContentProducer) of the best finished
// rendition, whose segments are pandav's own routes (drivers.RouteServer):
// each segment is fetched from the cloud when asked for, with the play
// info renewed when its URLs expire. With options.previews: fallback the
// previews are listed from a refused copy until a copy works again, and
// the mount tells the WebDAV layer when that changes
// (drivers.ChangeNotifier).

var (
	_ drivers.ContentProducer = (*Share)(nil)
	_ drivers.RouteServer     = (*Share)(nil)
	_ drivers.ChangeNotifier  = (*Share)(nil)
)

const (
	// previewSuffix names a video's preview playlist: NAME + suffix.
	previewSuffix = ".preview.m3u8"
	// refusalMemory is how long a refused copy is answered from memory
	// before the copy is tried again.
	refusalMemory = 30 * time.Second
	// previewURLExpiry is the url_expire_sec asked of the play info;
	// transcode URLs have been seen to die after about 15 minutes.
	previewURLExpiry = 14400
	// renewMargin: a rendition whose URLs expire this soon is fetched
	// anew before a segment is served from it.
	renewMargin = 30 * time.Second
	// maxPreviewsKept bounds the playlists and renditions kept per mount.
	maxPreviewsKept = 2048
)

// templateRank orders the renditions the web player knows, lowest first;
// an unknown one ranks by its height.
var templateRank = map[string]int{"LD": 1, "SD": 2, "HD": 3, "FHD": 4, "QHD": 5}

// videoExt are extensions taken for video when the listing does not say.
var videoExt = map[string]bool{
	"mp4": true, "mkv": true, "avi": true, "mov": true, "flv": true, "wmv": true, "ts": true, "m2ts": true,
	"rmvb": true, "rm": true, "webm": true, "m4v": true, "mpg": true, "mpeg": true,
}

// previewFile is the Extra of a preview playlist's Entry: the video it
// previews.
type previewFile struct{ video drivers.Entry }

// hlsSegment is one segment of a cloud rendition.
type hlsSegment struct {
	duration string // as #EXTINF writes it
	url      string // absolute
}

// rendition is a cloud rendition's segments and when their URLs expire.
type rendition struct {
	segments []hlsSegment
	expires  time.Time // zero: unknown
}

// previews is a share mount's preview state.
type previews struct {
	mode   string        // fallback | always | never
	memory time.Duration // how long a refusal is answered from memory

	mu        sync.Mutex
	refused   error // the copy refusal in force; nil while copies work
	refusedAt time.Time
	changed   func(folderID string)
	playlists map[string][]byte     // by file id
	renders   map[string]*rendition // by file id + "/" + template
}

// NotifyChanges implements drivers.ChangeNotifier.
func (s *Share) NotifyChanges(changed func(folderID string)) {
	s.pv.mu.Lock()
	defer s.pv.mu.Unlock()
	s.pv.changed = changed
}

// listed says whether previews are listed now.
func (p *previews) listed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode == "always" || (p.mode == "fallback" && p.refused != nil)
}

// recentRefusal is the copy refusal to answer from memory, if any.
func (p *previews) recentRefusal() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refused != nil && time.Since(p.refusedAt) < p.memory {
		return p.refused
	}
	return nil
}

// noteRefused records a refused copy; the first of a run is logged, and
// in fallback mode changes the listings.
func (s *Share) noteRefused(err error) {
	p := &s.pv
	p.mu.Lock()
	first := p.refused == nil
	p.refused, p.refusedAt = err, time.Now()
	changed := p.changed
	p.mu.Unlock()
	if !first {
		return
	}
	switch p.mode {
	case "never":
		s.log.Warn().Str("share", s.o.ShareID).Msg(copyRefusedText(err) + "; the share's files cannot be played until it can (options.previews: never lists no previews)")
	default:
		s.log.Warn().Str("share", s.o.ShareID).Msg(copyRefusedText(err) + "; the share's videos play through their transcoded previews, NAME" + previewSuffix + " beside each")
	}
	if p.mode == "fallback" && changed != nil {
		changed("") // every folder of the share gains or loses its previews
	}
}

// noteCopied records a copy that worked, which ends a refusal.
func (s *Share) noteCopied() {
	p := &s.pv
	p.mu.Lock()
	was := p.refused != nil
	p.refused = nil
	changed := p.changed
	p.mu.Unlock()
	if !was {
		return
	}
	s.log.Info().Str("share", s.o.ShareID).Msg("copies into the account's drive work again; the share plays in full quality")
	if p.mode == "fallback" && changed != nil {
		changed("") // every folder of the share gains or loses its previews
	}
}

// isCopyRefusal says whether err is Aliyundrive refusing the copy
// itself, rather than the share or the file failing: a quota
// (QuotaExhausted.*), or throttling that outlasted the retries.
func isCopyRefusal(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) && strings.HasPrefix(ae.Code, "QuotaExhausted") {
		return true
	}
	return errors.Is(err, drivers.ErrRateLimited)
}

// copyRefusedText says why a copy was refused, without the file.
func copyRefusedText(err error) string {
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Code == "QuotaExhausted.Drive":
		return "the account's drive is full (QuotaExhausted.Drive), so Aliyundrive refuses to copy the share's files into it to play them"
	case errors.As(err, &ae):
		return fmt.Sprintf("Aliyundrive refuses to copy the share's files into the account's drive to play them (%s)", ae.Code)
	}
	return "Aliyundrive kept throttling the copies of the share's files into the account's drive, which playing them needs"
}

// unavailable is the answer to a GET of f while copies are refused: 503,
// saying why and what to play instead.
func (s *Share) unavailable(f drivers.Entry, refusal error) error {
	msg := fmt.Sprintf("%s cannot be played here now: %s.", f.Name, copyRefusedText(refusal))
	switch {
	case s.pv.mode != "never" && isVideo(f, ""):
		msg += fmt.Sprintf(" Play %s beside it instead: the share's transcoded preview.", f.Name+previewSuffix)
	case s.pv.mode == "never" && isVideo(f, ""):
		msg += " Free space in the account's drive, or set the share mount's options.previews to fallback to play its transcoded previews."
	default:
		msg += " Free space in the account's drive."
	}
	ue := &drivers.UnavailableError{Msg: msg}
	if after, ok := drivers.RetryAfter(refusal); ok {
		ue.RetryAfter = after
	}
	return ue
}

// isVideo says whether f is a video: the listing's category, or its
// extension.
func isVideo(f drivers.Entry, category string) bool {
	return !f.IsDir && (category == "video" || videoExt[strings.ToLower(strings.TrimPrefix(path.Ext(f.Name), "."))])
}

// addPreviews appends to a listing the playlists of its videos, when
// previews are listed. A video without a finished rendition has none; a
// failure to ask is logged and leaves that preview out, unless the share
// itself failed.
func (s *Share) addPreviews(ctx context.Context, out []drivers.Entry, videos map[string]bool) ([]drivers.Entry, error) {
	if len(videos) == 0 || !s.pv.listed() {
		return out, nil
	}
	names := make(map[string]bool, len(out))
	for _, e := range out {
		names[e.Name] = true
	}
	n := len(out)
	for _, v := range out[:n] {
		if !videos[v.ID] || names[v.Name+previewSuffix] {
			continue
		}
		b, err := s.playlist(ctx, v)
		switch {
		case isShareDead(err), ctx.Err() != nil:
			return nil, err
		case err != nil:
			s.log.Warn().Err(err).Str("name", v.Name).Msg("the video's transcoded preview is not listed")
			continue
		}
		out = append(out, drivers.Entry{ID: "preview:" + v.ID, ParentID: v.ParentID, Name: v.Name + previewSuffix,
			Size: int64(len(b)), ModTime: v.ModTime, Extra: previewFile{video: v}})
	}
	return out, nil
}

// ProducedContent implements drivers.ContentProducer: a preview
// playlist's text.
func (s *Share) ProducedContent(ctx context.Context, f drivers.Entry) ([]byte, bool, error) {
	pf, ok := f.Extra.(previewFile)
	if !ok {
		return nil, false, nil
	}
	b, err := s.playlist(ctx, pf.video)
	return b, true, err
}

// playlist is pandav's playlist of v's best finished rendition, made
// once: it names pandav's routes, so the cloud's URLs expiring does not
// change it.
func (s *Share) playlist(ctx context.Context, v drivers.Entry) ([]byte, error) {
	s.pv.mu.Lock()
	b, ok := s.pv.playlists[v.ID]
	s.pv.mu.Unlock()
	if ok {
		return b, nil
	}
	tasks, err := s.playInfo(ctx, v.ID, driveIDOf(v, s))
	if err != nil {
		return nil, err
	}
	best := bestTemplate(tasks)
	if best == "" {
		return nil, fmt.Errorf("aliyun share %s: %w: %s has no finished transcoded rendition yet", s.o.ShareID, drivers.ErrNotFound, v.Name)
	}
	r, err := s.fetchRendition(ctx, tasks[best])
	if err != nil {
		return nil, err
	}
	var w bytes.Buffer
	target := 1.0
	for _, seg := range r.segments {
		if d, err := strconv.ParseFloat(seg.duration, 64); err == nil {
			target = math.Max(target, d)
		}
	}
	fmt.Fprintf(&w, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", int(math.Ceil(target)))
	for i, seg := range r.segments {
		fmt.Fprintf(&w, "#EXTINF:%s,\n%s\n", seg.duration, drivers.RouteURL(s.mountPath, segmentRoute(driveIDOf(v, s), v.ID, best, i)))
	}
	w.WriteString("#EXT-X-ENDLIST\n")
	s.pv.mu.Lock()
	defer s.pv.mu.Unlock()
	if s.pv.playlists == nil || len(s.pv.playlists) >= maxPreviewsKept {
		s.pv.playlists, s.pv.renders = map[string][]byte{}, map[string]*rendition{}
	}
	if kept, ok := s.pv.playlists[v.ID]; ok {
		return kept, nil
	}
	s.pv.playlists[v.ID] = w.Bytes()
	s.pv.renders[v.ID+"/"+best] = r
	return w.Bytes(), nil
}

// driveIDOf is the sharer's drive that v is in.
func driveIDOf(v drivers.Entry, s *Share) string {
	if id, _ := v.Extra.(string); id != "" {
		return id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.driveID
}

func segmentRoute(driveID, fileID, template string, i int) string {
	return "preview/" + driveID + "/" + fileID + "/" + template + "/" + strconv.Itoa(i) + ".ts"
}

// bestTemplate is the highest-ranked finished rendition, "" for none.
func bestTemplate(tasks map[string]transcodingTask) string {
	best, bestRank := "", -1
	for id, t := range tasks {
		rank := templateRank[id] * 10000
		if rank == 0 {
			rank = t.TemplateHeight
		}
		if rank > bestRank || (rank == bestRank && id < best) {
			best, bestRank = id, rank
		}
	}
	return best
}

// playInfo asks for the video's renditions, and returns the finished
// ones with a URL, by template.
func (s *Share) playInfo(ctx context.Context, fileID, driveID string) (map[string]transcodingTask, error) {
	acct, err := s.account()
	if err != nil {
		return nil, err
	}
	in := previewPlayInfoRequest{ShareID: s.o.ShareID, DriveID: driveID, FileID: fileID, Category: "live_transcoding",
		GetPreviewURL: true, Mode: "high_res", URLExpireSec: previewURLExpiry}
	var out previewPlayInfoResponse
	err = s.accountCall(ctx, acct, s.t.policy, "other", "/v2/file/get_share_link_video_preview_play_info", in, &out, nil)
	if err != nil {
		return nil, s.noteDead(s.shareFailure(err))
	}
	tasks := map[string]transcodingTask{}
	for _, t := range out.PlayInfo.Tasks {
		if t.URL == "" {
			t.URL = t.PreviewURL
		}
		if t.Status == "finished" && t.URL != "" {
			tasks[t.TemplateID] = t
		}
	}
	return tasks, nil
}

// fetchRendition reads a rendition's playlist, following the service's
// redirect, and resolves its segments' URLs against where it ended. A
// master playlist is followed to its first variant.
func (s *Share) fetchRendition(ctx context.Context, t transcodingTask) (*rendition, error) {
	const op = "aliyun preview playlist"
	u := t.URL
	for hop := 0; hop < 2; hop++ {
		body, final, err := s.fetchText(ctx, op, u)
		if err != nil {
			return nil, err
		}
		r, variant := parseHLS(body, final)
		if variant != "" {
			u = variant
			continue
		}
		if len(r.segments) == 0 {
			return nil, fmt.Errorf("%s: %w: it names no segment", op, drivers.ErrUpstream)
		}
		r.expires = linkExpiry(downloadURLResponse{URL: r.segments[0].url})
		if r.expires.IsZero() {
			r.expires = linkExpiry(downloadURLResponse{URL: final.String()})
		}
		return r, nil
	}
	return nil, fmt.Errorf("%s: %w: a playlist of playlists of playlists", op, drivers.ErrUpstream)
}

// fetchText GETs a playlist, retrying what the cloud's trouble may
// cure, and returns it with the URL it came from after redirects.
func (s *Share) fetchText(ctx context.Context, op, u string) ([]byte, *url.URL, error) {
	var body []byte
	var final *url.URL
	err := upstream.Do(ctx, s.t.policy, op, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, apiTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
		if err != nil {
			return fmt.Errorf("%s: bad URL", op)
		}
		req.Header.Set("Referer", webReferer)
		resp, err := s.send.Client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return upstream.Transient(fmt.Errorf("%s: the CDN could not be reached", op))
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if err != nil {
			return upstream.Transient(fmt.Errorf("%s: reading it failed", op))
		}
		if resp.StatusCode != http.StatusOK {
			return classifyPart(op, upstream.Answer{Status: resp.StatusCode, Header: resp.Header, Body: b})
		}
		body, final = b, resp.Request.URL
		return nil
	})
	return body, final, err
}

// parseHLS reads a media playlist's segments, resolved against base; for
// a master playlist it returns its first variant's URL instead.
func parseHLS(b []byte, base *url.URL) (*rendition, string) {
	r := &rendition{}
	dur, variant := "", false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			dur, _, _ = strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF"):
			variant = true
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			ref, err := url.Parse(line)
			if err != nil {
				continue
			}
			abs := base.ResolveReference(ref).String()
			if variant {
				return nil, abs
			}
			if dur == "" {
				dur = "10"
			}
			r.segments = append(r.segments, hlsSegment{duration: dur, url: abs})
			dur = ""
		}
	}
	return r, ""
}

// renditionFor returns the segments of fileID's rendition template,
// fetched anew when renew or when their URLs are about to expire.
func (s *Share) renditionFor(ctx context.Context, driveID, fileID, template string, renew bool) (*rendition, error) {
	key := fileID + "/" + template
	s.pv.mu.Lock()
	r := s.pv.renders[key]
	s.pv.mu.Unlock()
	if r != nil && !renew && (r.expires.IsZero() || time.Until(r.expires) > renewMargin) {
		return r, nil
	}
	tasks, err := s.playInfo(ctx, fileID, driveID)
	if err != nil {
		return nil, err
	}
	t, ok := tasks[template]
	if !ok {
		return nil, fmt.Errorf("aliyun share %s: %w: the %s rendition is no longer offered; list the folder again for a new playlist", s.o.ShareID, drivers.ErrNotFound, template)
	}
	if r, err = s.fetchRendition(ctx, t); err != nil {
		return nil, err
	}
	s.pv.mu.Lock()
	if s.pv.renders == nil || len(s.pv.renders) >= maxPreviewsKept {
		s.pv.renders = map[string]*rendition{}
	}
	s.pv.renders[key] = r
	s.pv.mu.Unlock()
	s.log.Debug().Str("file_id", fileID).Str("template", template).Msg("transcoded preview URLs renewed")
	return r, nil
}

// ServeRoute implements drivers.RouteServer: a preview segment, fetched
// from the cloud, with the rendition renewed once when its URL has
// expired.
func (s *Share) ServeRoute(ctx context.Context, w http.ResponseWriter, r *http.Request, rest string) error {
	parts := strings.Split(rest, "/")
	if s.pv.mode == "never" || len(parts) != 5 || parts[0] != "preview" || !strings.HasSuffix(parts[4], ".ts") {
		return fmt.Errorf("%s: %w", rest, drivers.ErrNotFound)
	}
	driveID, fileID, template := parts[1], parts[2], parts[3]
	i, err := strconv.Atoi(strings.TrimSuffix(parts[4], ".ts"))
	if err != nil || i < 0 {
		return fmt.Errorf("%s: %w", rest, drivers.ErrNotFound)
	}
	for renew := false; ; renew = true {
		rend, err := s.renditionFor(ctx, driveID, fileID, template, renew)
		if err != nil {
			return err
		}
		if i >= len(rend.segments) {
			return fmt.Errorf("%s: %w: the rendition has %d segments", rest, drivers.ErrNotFound, len(rend.segments))
		}
		resp, err := s.fetchSegment(ctx, r, rend.segments[i].url)
		if err != nil {
			return err
		}
		if (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound) && !renew {
			resp.Body.Close()
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return classifyPart("aliyun preview segment", upstream.Answer{Status: resp.StatusCode, Header: resp.Header, Body: b})
		}
		for _, k := range []string{"Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag"} {
			if v := resp.Header.Get(k); v != "" {
				w.Header().Set(k, v)
			}
		}
		w.Header().Set("Content-Type", "video/mp2t")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(resp.StatusCode)
		if r.Method != http.MethodHead {
			io.Copy(w, resp.Body)
		}
		return nil
	}
}

// fetchSegment GETs a segment, passing the client's range on.
func (s *Share) fetchSegment(ctx context.Context, client *http.Request, u string) (*http.Response, error) {
	const op = "aliyun preview segment"
	var resp *http.Response
	err := upstream.Do(ctx, s.t.policy, op, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, client.Method, u, nil)
		if err != nil {
			return fmt.Errorf("%s: bad URL", op)
		}
		req.Header.Set("Referer", webReferer)
		if rg := client.Header.Get("Range"); rg != "" {
			req.Header.Set("Range", rg)
		}
		resp, err = s.send.Client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return upstream.Transient(fmt.Errorf("%s: the CDN could not be reached", op))
		}
		if resp.StatusCode >= 500 {
			resp.Body.Close()
			return upstream.Transient(fmt.Errorf("%s: HTTP %d", op, resp.StatusCode))
		}
		return nil
	})
	return resp, err
}
