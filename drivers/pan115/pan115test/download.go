package pan115test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// link is one issued CDN URL and what binds it.
type link struct {
	fileID  string
	ua      string
	t       int64 // the `t=` expiry, unix seconds
	key     string
	conns   int
	expired bool
}

// handleDownURL is POST form pick_code (comma-separated codes allowed). The
// answer is keyed by file ID, and each URL is bound to the User-Agent of
// this very request.
func (s *Server) handleDownURL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, 40100000, "参数缺失")
		return
	}
	codes := r.PostFormValue("pick_code")
	if codes == "" {
		fail(w, 40100000, "参数缺失")
		return
	}
	data := map[string]any{}
	for _, pc := range strings.Split(codes, ",") {
		s.mu.Lock()
		id, known := s.pickCodes[strings.TrimSpace(pc)]
		s.mu.Unlock()
		if !known {
			continue
		}
		n, found := s.visible(id)
		if !found {
			continue
		}
		if n.IsDir {
			data[n.ID] = map[string]any{"file_name": n.Name, "file_size": 0, "pick_code": pc, "sha1": "", "url": false}
			continue
		}
		data[n.ID] = map[string]any{
			"file_name": n.Name,
			"file_size": n.Size(),
			"pick_code": pc,
			"sha1":      n.Blob.SHA1(),
			"url":       map[string]any{"url": s.issueLink(n, r.UserAgent())},
		}
	}
	if len(data) == 0 {
		fail(w, 50003, "提取码不存在")
		return
	}
	ok(w, data)
}

func (s *Server) issueLink(n fakecloud.Node, ua string) string {
	token, key := randHex(20), randHex(16)
	s.mu.Lock()
	t := time.Now().Add(s.linkTTL).Unix()
	s.links[token] = &link{fileID: n.ID, ua: ua, t: t, key: key, conns: s.o.LinkConns}
	s.mu.Unlock()
	q := fmt.Sprintf("t=%d&u=%s&c=%d&f=1&k=%s&us=%d", t, UserID, s.o.LinkConns, key, n.Size())
	return s.cdn.URL + "/" + token + "/" + url.PathEscape(n.Name) + "?" + q
}

func (s *Server) cdnDeny(w http.ResponseWriter, msg string) {
	s.counters.Inc(CounterCDN403)
	writeJSON(w, http.StatusForbidden, map[string]any{"status": 403, "message": msg, "request_id": randHex(16)})
}

// serveCDN serves /<40hex>/<name>?t=..&k=.. with Range support. Like
// 115's CDN it refuses a User-Agent other than the downurl call's, any
// Referer, an expired `t`, and more than `c` simultaneous opens.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.counters.Inc(EndpointCDN)
	switch kind := s.faults.Next(EndpointCDN); kind {
	case fakecloud.NoFault:
	case fakecloud.Throttle:
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	case fakecloud.Transient:
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	default:
		s.renderFault(w, r, kind, false)
		return
	}
	token, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	s.mu.Lock()
	l := s.links[token]
	var lc link
	if l != nil {
		lc = *l
	}
	s.mu.Unlock()
	if l == nil || q.Get("k") != lc.key || q.Get("t") != strconv.FormatInt(lc.t, 10) {
		s.cdnDeny(w, "invalid sign")
		return
	}
	if lc.expired || time.Now().Unix() > lc.t {
		s.cdnDeny(w, "link expired")
		return
	}
	if r.Header.Get("Referer") != "" || r.UserAgent() != lc.ua {
		s.cdnDeny(w, "no cookie value")
		return
	}
	n, found := s.visible(lc.fileID)
	if !found || n.IsDir {
		writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "message": "not found", "request_id": randHex(16)})
		return
	}
	release, acquired := s.conns.Acquire(token, lc.conns)
	if !acquired {
		s.cdnDeny(w, "too many connections")
		return
	}
	defer release()
	fakecloud.ServeBlob(w, r, n.Blob, s.faults)
}

// The account's membership, as /open/user/info states it.
const (
	VIPLevel  = "长期VIP"
	vipExpire = 4102444800
)

// VIPExpires is when the account's membership ends.
func VIPExpires() time.Time { return time.Unix(vipExpire, 0) }

// UserName is the account's name.
const UserName = "pandav"

// handleUserInfo is GET /open/user/info: the account and its space, used
// space being the tree's live files.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	used := s.tree.Usage()
	s.mu.Lock()
	total := s.spaceTotal
	remain := total - used
	if remain < 0 {
		remain = 0
	}
	// The doc types expire as int; like other numbers of this API it
	// also comes as a string, here on every other answer.
	s.userInfos++
	var expire any = vipExpire
	if s.userInfos%2 == 0 {
		expire = strconv.FormatInt(vipExpire, 10)
	}
	s.mu.Unlock()
	space := func(n int64) map[string]any { return map[string]any{"size": n, "size_format": formatSize(n)} }
	ok(w, map[string]any{
		"user_id":     UserID,
		"user_name":   UserName,
		"user_face_s": "https://avatars.115.com/s.png",
		"user_face_m": "https://avatars.115.com/m.png",
		"user_face_l": "https://avatars.115.com/l.png",
		"rt_space_info": map[string]any{
			"all_total":  space(total),
			"all_remain": space(remain),
			"all_use":    space(used),
		},
		"vip_info": map[string]any{"level_name": VIPLevel, "expire": expire},
	})
}
