package pan115test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"hash"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

// The emulated Aliyun OSS: path-style requests (/<bucket>/<object>) signed
// with the V1 scheme and 115's STS credentials; PutObject and multipart
// upload; and, on the final PutObject or CompleteMultipartUpload, the
// callback to 115 that turns the object into a file in the tree.

// memBlobMax is the largest upload kept in memory; bigger ones stay in a
// temp file.
const memBlobMax = 8 << 20

// multipart is one InitiateMultipartUpload.
type multipart struct {
	key      string // bucket/object
	parts    map[int]ossPart
	inFlight bool
}

// ossPart is received content in a temp file.
type ossPart struct {
	path string
	size int64
	etag string
}

// ossSubresources are the query keys that V1 signs.
var ossSubresources = map[string]bool{
	"acl": true, "uploads": true, "location": true, "cors": true, "logging": true,
	"website": true, "referer": true, "lifecycle": true, "delete": true, "append": true,
	"tagging": true, "objectMeta": true, "uploadId": true, "partNumber": true,
	"security-token": true, "position": true, "symlink": true, "restore": true,
	"response-content-type": true, "response-content-language": true,
	"response-expires": true, "response-cache-control": true,
	"response-content-disposition": true, "response-content-encoding": true,
	"callback": true, "callback-var": true, "sequential": true,
}

// OSSStringToSign is the V1 string to sign of r for bucket/object:
// VERB, Content-MD5, Content-Type, Date, the x-oss- headers and the
// resource with its signed subresources.
func OSSStringToSign(r *http.Request, bucket, object string) string {
	var hk []string
	hv := map[string]string{}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-oss-") {
			hk = append(hk, lk)
			hv[lk] = strings.TrimSpace(strings.Join(vs, ","))
		}
	}
	sort.Strings(hk)
	var b strings.Builder
	b.WriteString(r.Method + "\n" + r.Header.Get("Content-MD5") + "\n" + r.Header.Get("Content-Type") + "\n" + r.Header.Get("Date") + "\n")
	for _, k := range hk {
		b.WriteString(k + ":" + hv[k] + "\n")
	}
	b.WriteString("/" + bucket + "/" + object)
	q := r.URL.Query()
	var sub []string
	for k, vs := range q {
		if !ossSubresources[k] {
			continue
		}
		if len(vs) == 0 || vs[0] == "" {
			sub = append(sub, k)
		} else {
			sub = append(sub, k+"="+vs[0])
		}
	}
	sort.Strings(sub)
	if len(sub) > 0 {
		b.WriteString("?" + strings.Join(sub, "&"))
	}
	return b.String()
}

func ossSign(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type ossErrorXML struct {
	XMLName      xml.Name `xml:"Error"`
	Code         string   `xml:"Code"`
	Message      string   `xml:"Message"`
	RequestID    string   `xml:"RequestId"`
	HostID       string   `xml:"HostId"`
	StringToSign string   `xml:"StringToSign,omitempty"`
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, _ := xml.Marshal(v)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-oss-request-id", randHex(12))
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

func (s *Server) ossError(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusForbidden {
		s.counters.Inc(CounterOSS403)
	}
	writeXML(w, status, ossErrorXML{Code: code, Message: msg, RequestID: randHex(12), HostID: "oss-cn-shenzhen.aliyuncs.com"})
}

// ossFault renders an injected fault the way OSS does, and says whether
// it answered.
func (s *Server) ossFault(w http.ResponseWriter, kind fakecloud.FaultKind) bool {
	switch kind {
	case fakecloud.NoFault:
		return false
	case fakecloud.Throttle:
		s.ossError(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	case fakecloud.Transient:
		s.ossError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Please try again.")
	case fakecloud.ServerError:
		s.ossError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	case fakecloud.BadGateway:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("502 Bad Gateway\n"))
	case fakecloud.Garbage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("<html><body>oops</body></html>"))
	case fakecloud.Reset:
		hijackClose(w)
	default:
		return false
	}
	return true
}

// serveOSS dispatches one OSS request after its fault, signature and
// credential checks.
func (s *Server) serveOSS(w http.ResponseWriter, r *http.Request) {
	bucket, object, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	var ep string
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		ep = EndpointOSSPart
	case r.Method == http.MethodPut:
		ep = EndpointOSSPut
	case r.Method == http.MethodPost && q.Has("uploads"):
		ep = EndpointOSSInit
	case r.Method == http.MethodPost && q.Has("uploadId"):
		ep = EndpointOSSComplete
	default:
		s.ossError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	s.counters.Inc(ep)
	if d := s.faults.Latency(); d > 0 {
		time.Sleep(d)
	}
	if s.ossFault(w, s.faults.Next(ep)) {
		return
	}
	if !s.ossAuth(w, r, bucket, object) {
		return
	}
	key := bucket + "/" + object
	s.up.mu.Lock()
	sess := s.up.sessions[key]
	s.up.mu.Unlock()
	if sess == nil || object == "" {
		s.ossError(w, http.StatusForbidden, "AccessDenied", "You have no right to access this object.")
		return
	}
	switch ep {
	case EndpointOSSPut:
		p, ok := s.receive(w, r)
		if !ok {
			return
		}
		w.Header().Set("ETag", p.etag)
		s.finish(w, r, key, sess, []ossPart{p})
	case EndpointOSSInit:
		id := strings.ToUpper(randHex(16))
		s.up.mu.Lock()
		s.up.multis[id] = &multipart{key: key, parts: map[int]ossPart{}}
		s.up.mu.Unlock()
		writeXML(w, http.StatusOK, struct {
			XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
			Bucket   string   `xml:"Bucket"`
			Key      string   `xml:"Key"`
			UploadID string   `xml:"UploadId"`
		}{Bucket: bucket, Key: object, UploadID: id})
	case EndpointOSSPart:
		s.uploadPart(w, r, key)
	case EndpointOSSComplete:
		s.complete(w, r, key, sess)
	}
}

// ossAuth checks the V1 signature and the STS credential behind it.
func (s *Server) ossAuth(w http.ResponseWriter, r *http.Request, bucket, object string) bool {
	id, sig, found := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "OSS "), ":")
	if !found || !strings.HasPrefix(r.Header.Get("Authorization"), "OSS ") {
		s.ossError(w, http.StatusForbidden, "AccessDenied", "Authorization header is invalid.")
		return false
	}
	s.up.mu.Lock()
	c := s.up.sts[id]
	var cred stsCred
	if c != nil {
		cred = *c
	}
	s.up.mu.Unlock()
	switch {
	case c == nil:
		s.ossError(w, http.StatusForbidden, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
		return false
	case cred.expired || cred.uses == 0 || time.Now().After(cred.expires):
		s.ossError(w, http.StatusForbidden, "SecurityTokenExpired", "The security token you provided has expired.")
		return false
	case r.Header.Get("x-oss-security-token") != cred.token:
		s.ossError(w, http.StatusForbidden, "InvalidAccessKeyId", "The security token you provided is invalid.")
		return false
	}
	sts := OSSStringToSign(r, bucket, object)
	if !hmac.Equal([]byte(sig), []byte(ossSign(cred.secret, sts))) {
		s.counters.Inc(CounterOSS403)
		writeXML(w, http.StatusForbidden, ossErrorXML{Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided.", RequestID: randHex(12), StringToSign: sts})
		return false
	}
	s.up.mu.Lock()
	if c.uses > 0 {
		c.uses--
	}
	s.up.mu.Unlock()
	return true
}

// countingReader adds what it reads to the server's received bytes.
type countingReader struct {
	r io.Reader
	s *Server
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.up.received.Add(int64(n))
	return n, err
}

// receive stores a request body in a temp file and returns it with its
// ETag (the uppercase hex MD5, quoted, as OSS sends it).
func (s *Server) receive(w http.ResponseWriter, r *http.Request) (ossPart, bool) {
	f, err := s.up.tempFile()
	if err != nil {
		s.ossError(w, http.StatusInternalServerError, "InternalError", "cannot store the body")
		return ossPart{}, false
	}
	defer f.Close()
	m := md5.New()
	n, err := io.Copy(io.MultiWriter(f, m), countingReader{r: r.Body, s: s})
	if err != nil || (r.ContentLength >= 0 && n != r.ContentLength) {
		os.Remove(f.Name())
		s.ossError(w, http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		return ossPart{}, false
	}
	return ossPart{path: f.Name(), size: n, etag: `"` + strings.ToUpper(hex.EncodeToString(m.Sum(nil))) + `"`}, true
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, key string) {
	q := r.URL.Query()
	num, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || num < 1 || num > 10000 {
		s.ossError(w, http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.")
		return
	}
	id := q.Get("uploadId")
	s.up.mu.Lock()
	mp := s.up.multis[id]
	busy := mp != nil && mp.inFlight
	if mp != nil && !busy {
		mp.inFlight = true
	}
	s.up.mu.Unlock()
	switch {
	case mp == nil || mp.key != key:
		s.ossError(w, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist.")
		return
	case busy:
		// 115's STS policy refuses parallel parts (open115: parts must go
		// one at a time).
		s.ossError(w, http.StatusConflict, "InvalidRequest", "parts of one upload must be sent one at a time")
		return
	}
	p, ok := s.receive(w, r)
	s.up.mu.Lock()
	mp.inFlight = false
	if ok {
		if old, had := mp.parts[num]; had {
			os.Remove(old.path)
		}
		mp.parts[num] = p
	}
	s.up.mu.Unlock()
	if ok {
		w.Header().Set("ETag", p.etag)
		w.WriteHeader(http.StatusOK)
	}
}

type completeXML struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, key string, sess *session) {
	id := r.URL.Query().Get("uploadId")
	var req completeXML
	if err := xml.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
		s.ossError(w, http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed.")
		return
	}
	s.up.mu.Lock()
	mp := s.up.multis[id]
	s.up.mu.Unlock()
	if mp == nil || mp.key != key {
		s.ossError(w, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist.")
		return
	}
	var parts []ossPart
	last := 0
	for _, p := range req.Parts {
		if p.PartNumber <= last {
			s.ossError(w, http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order.")
			return
		}
		last = p.PartNumber
		s.up.mu.Lock()
		got, had := mp.parts[p.PartNumber]
		s.up.mu.Unlock()
		if !had || !strings.EqualFold(strings.Trim(got.etag, `"`), strings.Trim(p.ETag, `" `)) {
			s.ossError(w, http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.")
			return
		}
		parts = append(parts, got)
	}
	if len(parts) == 0 {
		s.ossError(w, http.StatusBadRequest, "InvalidPart", "no parts")
		return
	}
	if s.finish(w, r, key, sess, parts) {
		s.up.mu.Lock()
		delete(s.up.multis, id)
		s.up.mu.Unlock()
	}
}

// finish assembles the object from parts and runs 115's callback: the
// content must hash to the fileid given at init, and then becomes a file
// in the target folder under the name given at init. It answers the
// callback's JSON, or 203 CallbackFailed, and says whether it succeeded.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, key string, sess *session, parts []ossPart) bool {
	cb, err1 := base64.StdEncoding.DecodeString(r.Header.Get("x-oss-callback"))
	cbVar, err2 := base64.StdEncoding.DecodeString(r.Header.Get("x-oss-callback-var"))
	if r.Header.Get("x-oss-callback") == "" {
		// Without the callback OSS stores an object that 115 never hears
		// of: no file appears.
		writeXML(w, http.StatusOK, struct {
			XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
			Key     string   `xml:"Key"`
		}{Key: key})
		return true
	}
	if err1 != nil || err2 != nil || string(cb) != sess.callback || string(cbVar) != sess.callbackVar {
		s.ossError(w, http.StatusBadRequest, "InvalidArgument", "The callback configuration is not json format or does not match the upload.")
		return false
	}
	blob, err := s.assemble(parts)
	if err != nil {
		s.ossError(w, http.StatusInternalServerError, "InternalError", "cannot assemble the object")
		return false
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.up.mu.Lock()
	done := sess.done
	s.up.mu.Unlock()
	var headSum string
	if sess.preid != "" {
		headSum = rangeSHA1(blob, 0, min(blob.Size(), PreIDSize)-1)
	}
	switch {
	case done:
		s.callbackFailed(w, "upload already completed")
		return false
	case blob.Size() != sess.size || blob.SHA1() != sess.sha1:
		s.callbackFailed(w, "file sha1 or size does not match fileid")
		return false
	case sess.preid != "" && headSum != sess.preid:
		s.callbackFailed(w, "preid does not match the content")
		return false
	}
	if _, found := s.visibleDir(sess.cid); !found {
		s.callbackFailed(w, "target folder is gone")
		return false
	}
	n, err := s.changes.Put(sess.cid, sess.name, blob, time.Time{})
	if err != nil {
		s.callbackFailed(w, "target folder is gone")
		return false
	}
	s.up.mu.Lock()
	sess.done = true
	s.up.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"state": true, "code": 0, "message": "",
		"data": map[string]any{
			"pick_code": s.pickCode(n.ID),
			"file_name": n.Name,
			"file_size": n.Size(),
			"file_id":   n.ID,
			"sha1":      blob.SHA1(),
			"cid":       sess.cid,
			"thumb_url": "",
			"is_video":  0,
		},
	})
	return true
}

// callbackFailed is OSS's answer when the object was stored but 115's
// callback refused it: HTTP 203.
func (s *Server) callbackFailed(w http.ResponseWriter, why string) {
	writeXML(w, http.StatusNonAuthoritativeInfo, ossErrorXML{Code: "CallbackFailed", Message: "Error status : 400. " + why, RequestID: randHex(12)})
}

// assemble joins parts into one blob, in memory when small, else in a
// temp file that lives as long as the server; the parts' files go.
func (s *Server) assemble(parts []ossPart) (fakecloud.Blob, error) {
	var total int64
	for _, p := range parts {
		total += p.size
	}
	h := sha1.New()
	if total <= memBlobMax {
		var buf bytes.Buffer
		for _, p := range parts {
			if err := appendFile(&buf, h, p.path); err != nil {
				return nil, err
			}
		}
		return fakecloud.BytesBlob(buf.Bytes()), nil
	}
	f, err := s.up.tempFile()
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if err := appendFile(f, h, p.path); err != nil {
			f.Close()
			return nil, err
		}
	}
	s.up.mu.Lock()
	s.up.files = append(s.up.files, f)
	s.up.mu.Unlock()
	return &fileBlob{f: f, n: total, sum: strings.ToUpper(hex.EncodeToString(h.Sum(nil)))}, nil
}

// appendFile copies the part at path to w and h. The part's file is
// removed: a completed upload's parts cannot be reused.
func appendFile(w io.Writer, h hash.Hash, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	defer f.Close()
	_, err = io.Copy(io.MultiWriter(w, h), f)
	return err
}
