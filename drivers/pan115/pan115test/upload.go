package pan115test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pandav/internal/fakecloud"
)

// Upload facts the emulator enforces (docs/protocols/pan115.md §4 Upload).
const (
	// SignCheckMin is the size from which a rapid upload must prove it
	// holds the content (status 7, sign_check).
	SignCheckMin = 1 << 20
	// PreIDSize is how much of the head preid hashes.
	PreIDSize = 128 << 10
	// Bucket is the OSS bucket that init hands out.
	Bucket = "fhnfile"
	// callbackURL is where OSS would call 115 back; the emulator's OSS
	// plays both parts and never calls it.
	callbackURL = "https://uplb.115.com/3.0/osscallback.php"
)

var sha1Hex = regexp.MustCompile(`^[0-9A-F]{40}$`)

// uploads is the emulator's upload state: STS credentials, sign
// challenges, sessions waiting for OSS, multipart uploads and received
// content.
type uploads struct {
	mu         sync.Mutex
	dir        string // temp dir for parts and big blobs, made on first use
	stsTTL     time.Duration
	stsUses    int
	sts        map[string]*stsCred
	signs      map[string]*signChallenge
	sessions   map[string]*session // bucket/object -> session
	multis     map[string]*multipart
	files      []*os.File
	tokenCalls int
	received   atomic.Int64
}

type stsCred struct {
	secret  string
	token   string
	expires time.Time
	uses    int // OSS requests left; <0: no limit
	expired bool
}

type signChallenge struct {
	sha1       string
	start, end int64
}

// session is an init answered with status 1: what OSS must bring back.
type session struct {
	cid, name   string
	size        int64
	sha1, preid string
	callback    string
	callbackVar string
	done        bool
}

func (u *uploads) init() {
	u.stsTTL = time.Hour
	u.sts = map[string]*stsCred{}
	u.signs = map[string]*signChallenge{}
	u.sessions = map[string]*session{}
	u.multis = map[string]*multipart{}
}

func (u *uploads) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, f := range u.files {
		f.Close()
	}
	u.files = nil
	if u.dir != "" {
		os.RemoveAll(u.dir)
	}
}

// tempFile makes a file in the emulator's temp dir.
func (u *uploads) tempFile() (*os.File, error) {
	u.mu.Lock()
	if u.dir == "" {
		d, err := os.MkdirTemp("", "pan115test-oss-")
		if err != nil {
			u.mu.Unlock()
			return nil, err
		}
		u.dir = d
	}
	dir := u.dir
	u.mu.Unlock()
	return os.CreateTemp(dir, "part-")
}

// SetSTSTTL sets the lifetime of STS credentials issued from now on
// (default 1h, as 115's).
func (s *Server) SetSTSTTL(d time.Duration) {
	s.up.mu.Lock()
	defer s.up.mu.Unlock()
	s.up.stsTTL = d
}

// SetSTSUses makes every STS credential issued from now on expire after n
// OSS requests (0: no limit), so that a test can make one run out in the
// middle of an upload without waiting for a clock.
func (s *Server) SetSTSUses(n int) {
	s.up.mu.Lock()
	defer s.up.mu.Unlock()
	s.up.stsUses = n
}

// ExpireSTS expires every STS credential issued so far.
func (s *Server) ExpireSTS() {
	s.up.mu.Lock()
	defer s.up.mu.Unlock()
	for _, c := range s.up.sts {
		c.expired = true
	}
}

// UploadedBytes is how many content bytes OSS has received: PutObject
// bodies and parts, retries included.
func (s *Server) UploadedBytes() int64 { return s.up.received.Load() }

func (s *Server) uploadRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/open/upload/init", s.endpoint(EndpointUploadInit, s.handleUploadInit))
	mux.HandleFunc("/open/upload/get_token", s.endpoint(EndpointUploadToken, s.handleGetToken))
}

func upperSHA1(b []byte) string {
	sum := sha1.Sum(b)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// rangeSHA1 hashes [start, end] (inclusive) of blob.
func rangeSHA1(b fakecloud.Blob, start, end int64) string {
	h := sha1.New()
	io.Copy(h, io.NewSectionReader(b, start, end-start+1))
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// findContent returns a live file with this size and SHA1, the source of
// a rapid upload. Sizes are compared first so that big blobs are hashed
// only when they might match.
func (s *Server) findContent(sum string, size int64) (fakecloud.Node, bool) {
	var walk func(id string) (fakecloud.Node, bool)
	walk = func(id string) (fakecloud.Node, bool) {
		kids, _ := s.tree.Children(id)
		for _, k := range kids {
			if k.IsDir {
				if n, found := walk(k.ID); found {
					return n, true
				}
				continue
			}
			if k.Size() == size && k.Blob.SHA1() == sum {
				return k, true
			}
		}
		return fakecloud.Node{}, false
	}
	return walk(s.tree.RootID())
}

// initAnswer is the data of /open/upload/init, shaped as 115 sends it.
func initAnswer(status, code int, target string) map[string]any {
	return map[string]any{
		"status": status, "code": code, "target": target,
		"pick_code": "", "file_id": "", "bucket": "", "object": "",
		"sign_key": "", "sign_check": "", "callback": []any{},
	}
}

// handleUploadInit is POST /open/upload/init. Content 115 already holds
// is "uploaded" at once (status 2), after a proof of possession for files
// of 1 MB or more (status 7, then 6 on a wrong proof); anything else gets
// an OSS object to upload to (status 1).
func (s *Server) handleUploadInit(w http.ResponseWriter, r *http.Request) {
	if !isPost(w, r) {
		return
	}
	f := r.PostFormValue
	name := f("file_name")
	if code, msg := checkName(name); code != 0 {
		fail(w, code, msg)
		return
	}
	size, err := strconv.ParseInt(f("file_size"), 10, 64)
	if err != nil || size < 0 {
		fail(w, 40100000, "file_size 参数错误")
		return
	}
	if !s.fits(w, size) {
		return
	}
	target := f("target")
	cid, isU1 := strings.CutPrefix(target, "U_1_")
	if !isU1 {
		fail(w, 40100000, "target 参数错误")
		return
	}
	if _, found := s.visibleDir(cid); !found {
		fail(w, 20009, "目标目录不存在")
		return
	}
	sum, preid := f("fileid"), f("preid")
	if !sha1Hex.MatchString(sum) || (preid != "" && !sha1Hex.MatchString(preid)) {
		fail(w, 40100000, "fileid 参数错误")
		return
	}
	src, known := s.findContent(sum, size)
	if !known {
		s.answerOSS(w, cid, name, target, size, sum, preid)
		return
	}
	if preid != "" && preid != rangeSHA1(src.Blob, 0, min(size, PreIDSize)-1) {
		fail(w, 40100000, "preid 校验失败")
		return
	}
	if size >= SignCheckMin {
		s.up.mu.Lock()
		ch, issued := s.up.signs[f("sign_key")]
		delete(s.up.signs, f("sign_key"))
		s.up.mu.Unlock()
		switch {
		case !issued || ch.sha1 != sum:
			s.challenge(w, src, target, 7, 701)
			return
		case f("sign_val") != rangeSHA1(src.Blob, ch.start, ch.end):
			s.challenge(w, src, target, 6, 700)
			return
		}
	}
	// Duplicates are allowed: the new file sits beside any namesake.
	n, err := s.changes.Put(cid, name, src.Blob, time.Time{})
	if err != nil {
		fail(w, 20009, "目标目录不存在")
		return
	}
	a := initAnswer(2, 0, target)
	a["file_id"], a["pick_code"] = n.ID, s.pickCode(n.ID)
	ok(w, a)
}

// challenge asks for the SHA1 of a random inclusive byte range of src.
func (s *Server) challenge(w http.ResponseWriter, src fakecloud.Node, target string, status, code int) {
	size := src.Size()
	start := mrand.Int64N(size)
	end := min(size-1, start+mrand.Int64N(1024))
	key := randHex(20)
	s.up.mu.Lock()
	s.up.signs[key] = &signChallenge{sha1: src.Blob.SHA1(), start: start, end: end}
	s.up.mu.Unlock()
	a := initAnswer(status, code, target)
	a["sign_key"], a["sign_check"] = key, fmt.Sprintf("%d-%d", start, end)
	ok(w, a)
}

// answerOSS opens an upload session and tells the client where to put the
// content, with the callback OSS must carry back.
func (s *Server) answerOSS(w http.ResponseWriter, cid, name, target string, size int64, sum, preid string) {
	object := randHex(20)
	pc := "u" + randHex(8)
	cb, _ := json.Marshal(map[string]string{
		"callbackUrl":      callbackURL,
		"callbackBody":     "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&pick_code=${x:pick_code}&sha1=${x:sha1}&target=${x:target}&file_name=${x:file_name}&user_id=${x:user_id}",
		"callbackBodyType": "application/x-www-form-urlencoded",
	})
	cbVar, _ := json.Marshal(map[string]string{
		"x:pick_code": pc, "x:sha1": sum, "x:target": target,
		"x:file_name": name, "x:user_id": UserID,
	})
	s.up.mu.Lock()
	s.up.sessions[Bucket+"/"+object] = &session{
		cid: cid, name: name, size: size, sha1: sum, preid: preid,
		callback: string(cb), callbackVar: string(cbVar),
	}
	s.up.mu.Unlock()
	a := initAnswer(1, 0, target)
	a["pick_code"], a["bucket"], a["object"] = pc, Bucket, object
	a["callback"] = map[string]string{"callback": string(cb), "callback_var": string(cbVar)}
	ok(w, a)
}

// handleGetToken is GET /open/upload/get_token: STS credentials for OSS.
// As on the real service, data is sometimes an object and sometimes a
// one-element array.
func (s *Server) handleGetToken(w http.ResponseWriter, r *http.Request) {
	id, secret, token := "STS."+randHex(12), randHex(20), randHex(48)
	s.up.mu.Lock()
	exp := time.Now().Add(s.up.stsTTL)
	uses := s.up.stsUses
	if uses == 0 {
		uses = -1
	}
	s.up.sts[id] = &stsCred{secret: secret, token: token, expires: exp, uses: uses}
	s.up.tokenCalls++
	asArray := s.up.tokenCalls%2 == 0
	s.up.mu.Unlock()
	cred := map[string]any{
		"endpoint":        s.oss.URL,
		"AccessKeyId":     id,
		"AccessKeySecret": secret,
		"SecurityToken":   token,
		"Expiration":      exp.UTC().Format(time.RFC3339),
	}
	if asArray {
		ok(w, []any{cred})
		return
	}
	ok(w, cred)
}
