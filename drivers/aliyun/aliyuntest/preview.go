package aliyuntest

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// The transcoded preview of a shared video
// (docs/protocols/accounts-offline-shares.md §4.11): play info naming
// renditions, each an HLS playlist behind a redirect, whose MPEG-TS
// segments live on the CDN at signed URLs that expire. Every video gets
// the same renditions: segments cut from the sample video.
//
// The segments were cut once, with
//
//	ffmpeg -i internal/sample/testdata/sample.mp4 -c copy -bsf:v h264_mp4toannexb \
//	  -f hls -hls_time 2 -hls_list_size 0 -hls_segment_filename 'seg-%d.ts' index.m3u8
//
// in testdata/preview, so that neither the emulator nor `pandav demo`
// needs ffmpeg.

//go:embed testdata/preview
var previewFiles embed.FS

// previewSegment is one segment of the rendition: its #EXTINF duration,
// as written, and its bytes.
type previewSegment struct {
	duration string
	data     []byte
}

// previewSegments are the rendition's segments, in order.
var previewSegments = loadPreview()

func loadPreview() []previewSegment {
	list, err := previewFiles.ReadFile("testdata/preview/index.m3u8")
	if err != nil {
		panic("aliyuntest: " + err.Error())
	}
	var out []previewSegment
	dur := ""
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			dur = strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ",")
		case line != "" && !strings.HasPrefix(line, "#"):
			b, err := previewFiles.ReadFile("testdata/preview/" + line)
			if err != nil {
				panic("aliyuntest: " + err.Error())
			}
			out = append(out, previewSegment{duration: dur, data: b})
		}
	}
	return out
}

// previewTemplates are the renditions play info offers: two finished and
// one still transcoding, which has no URL yet.
var previewTemplates = []transcodingTask{
	{TemplateID: "LD", TemplateName: "pdsLD", TemplateWidth: 320, TemplateHeight: 240, Status: "finished", Stage: "stage_none"},
	{TemplateID: "SD", TemplateName: "pdsSD", TemplateWidth: 320, TemplateHeight: 240, Status: "finished", Stage: "stage_none", KeepOriginal: true},
	{TemplateID: "HD", TemplateName: "pdsHD", TemplateWidth: 1280, TemplateHeight: 720, Status: "running", Stage: "stage_running"},
}

// previewState is the web side's preview state, guarded by Server.mu.
type previewState struct {
	seq    int64 // preview URLs issued so far
	before int64 // URLs with a sequence number up to this are expired
	// expireAfter, when > 0, is how many more segment fetches are served
	// before every preview URL issued by then expires.
	expireAfter int
	// redirects map the ids of play info's redirect URLs to their
	// targets.
	redirects map[string]string
}

func (s *Server) previewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v2/file/get_share_link_video_preview_play_info", s.handlePreviewPlayInfo)
	mux.HandleFunc("GET /v2/redirect", s.handleRedirect)
	mux.HandleFunc("GET /preview/{share}/{file}/{template}/{name}", s.handlePreviewFile)
}

// ExpirePreviews makes every preview URL issued so far answer 403
// AccessDenied "Request has expired.".
func (s *Server) ExpirePreviews() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web.preview.before = s.web.preview.seq
}

// ExpirePreviewsAfter serves n more preview segments, then expires every
// preview URL issued by then, as URLs run out in the middle of a film.
func (s *Server) ExpirePreviewsAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web.preview.expireAfter = n
}

func (s *Server) previewSignature(shareID, fileID, template string, expires, seq int64) string {
	m := hmac.New(sha1.New, s.signKey)
	m.Write([]byte("preview\n" + shareID + "\n" + fileID + "\n" + template + "\n" + itoa(expires) + "\n" + itoa(seq)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// handlePreviewPlayInfo wants the login and the share token, as the
// service does, and a video of the share.
func (s *Server) handlePreviewPlayInfo(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, endpointOf(r)) || !s.webAuthorize(w, r) {
		return
	}
	if !s.allow(s.userID, "other") {
		s.throttle(w)
		return
	}
	body, ok := readBody(w, r)
	var req previewPlayInfoRequest
	if !ok || !decode(w, body, &req) {
		return
	}
	sh, ok := s.shareByToken(r, req.ShareID, func(status int, code, msg string) { writeErr(w, status, code, msg) })
	if !ok {
		return
	}
	f, ok := s.inShare(sh, req.FileID)
	if !ok || f.IsDir {
		writeErr(w, http.StatusNotFound, "NotFound.File", "The resource file cannot be found. file_id "+req.FileID)
		return
	}
	if categories[strings.ToLower(strings.TrimPrefix(path.Ext(f.Name), "."))] != "video" {
		writeErr(w, http.StatusBadRequest, "InvalidResource.FileCategory", "The resource file is not a video.")
		return
	}
	expUnix, seq := s.newLink(&s.web.preview.seq, req.URLExpireSec)
	s.mu.Lock()
	if s.web.preview.redirects == nil {
		s.web.preview.redirects = map[string]string{}
	}
	var out previewPlayInfoResponse
	out.ShareID, out.FileID = sh.id, f.ID
	out.PlayInfo.Category = "live_transcoding"
	out.PlayInfo.Meta.Duration = float64(len(previewSegments)) * 2
	out.PlayInfo.Meta.Width, out.PlayInfo.Meta.Height = 320, 240
	out.PlayInfo.Meta.Live.TSSegment, out.PlayInfo.Meta.Live.TSTotalCount, out.PlayInfo.Meta.Live.TSPreCount = 2, len(previewSegments), 3
	for _, tpl := range previewTemplates {
		if tpl.Status == "finished" {
			q := url.Values{}
			q.Set("x-oss-expires", itoa(expUnix))
			q.Set("seq", itoa(seq))
			q.Set("x-oss-signature", s.previewSignature(sh.id, f.ID, tpl.TemplateID, expUnix, seq))
			target := s.hs.URL + "/preview/" + sh.id + "/" + f.ID + "/" + tpl.TemplateID + "/index.m3u8?" + q.Encode()
			rid := randHex(16)
			s.web.preview.redirects[rid] = target
			tpl.URL = s.hs.URL + "/v2/redirect?id=" + rid
			tpl.PreviewURL = tpl.URL
		}
		out.PlayInfo.Tasks = append(out.PlayInfo.Tasks, tpl)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleRedirect is pdsapi's /v2/redirect: a 302 to what the id stands
// for.
func (s *Server) handleRedirect(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, endpointOf(r)) {
		return
	}
	s.mu.Lock()
	target, ok := s.web.preview.redirects[r.URL.Query().Get("id")]
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, "NotFound.Redirect", "The resource redirect cannot be found.")
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// handlePreviewFile serves a rendition's playlist, whose segments are
// named relative to it with the same signed query, and its segments.
func (s *Server) handlePreviewFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	counter := "preview/segment"
	if name == "index.m3u8" {
		counter = "preview/playlist"
	}
	if !s.begin(w, counter) {
		return
	}
	q := r.URL.Query()
	expires, err1 := strconv.ParseInt(q.Get("x-oss-expires"), 10, 64)
	seq, err2 := strconv.ParseInt(q.Get("seq"), 10, 64)
	want := s.previewSignature(r.PathValue("share"), r.PathValue("file"), r.PathValue("template"), expires, seq)
	if err1 != nil || err2 != nil || !hmac.Equal([]byte(q.Get("x-oss-signature")), []byte(want)) {
		writeOSSErr(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", "")
		return
	}
	s.mu.Lock()
	revoked := seq <= s.web.preview.before
	s.mu.Unlock()
	exp := time.Unix(expires, 0)
	if revoked || !time.Now().Before(exp) {
		writeOSSErr(w, http.StatusForbidden, "AccessDenied", "Request has expired.", expiredXML(exp))
		return
	}
	if name == "index.m3u8" {
		var b strings.Builder
		fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n")
		for i, seg := range previewSegments {
			fmt.Fprintf(&b, "#EXTINF:%s,\nseg-%d.ts?%s\n", seg.duration, i, r.URL.RawQuery)
		}
		b.WriteString("#EXT-X-ENDLIST\n")
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Write([]byte(b.String()))
		return
	}
	var i int
	if _, err := fmt.Sscanf(name, "seg-%d.ts", &i); err != nil || i < 0 || i >= len(previewSegments) || name != "seg-"+strconv.Itoa(i)+".ts" {
		writeOSSErr(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", "")
		return
	}
	s.mu.Lock()
	if s.web.preview.expireAfter > 0 {
		s.web.preview.expireAfter--
		if s.web.preview.expireAfter == 0 {
			s.web.preview.before = s.web.preview.seq
		}
	}
	s.mu.Unlock()
	fakecloud.ServeBlob(w, r, fakecloud.BytesBlob(previewSegments[i].data), s.faults)
}
