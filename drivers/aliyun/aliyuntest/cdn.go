package aliyuntest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"pandav/internal/fakecloud"
)

const accessKeyID = "LTAIpandavEmulator"

// signature covers additional, the x-oss-additional-headers a web-API
// link demands, so that it cannot be dropped from the URL.
func (s *Server) signature(drive, file, user, additional string, expires, seq int64) string {
	m := hmac.New(sha1.New, s.signKey)
	m.Write([]byte(drive + "\n" + file + "\n" + user + "\n" + additional + "\n" + itoa(expires) + "\n" + itoa(seq)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signURL makes an OSS-style presigned URL on the CDN, with the query
// parameters the real one carries.
func (s *Server) signURL(drive string, n fakecloud.Node, user string, expires, seq int64) string {
	return s.signURLWith(drive, n, user, "", expires, seq)
}

// signURLWith is signURL for a link that demands the request headers
// named in additional ("referer" for the web API's links).
func (s *Server) signURLWith(drive string, n fakecloud.Node, user, additional string, expires, seq int64) string {
	q := url.Values{}
	q.Set("di", "bj29")
	q.Set("dr", drive)
	q.Set("f", n.ID)
	q.Set("u", user)
	q.Set("seq", itoa(seq))
	q.Set("x-oss-access-key-id", accessKeyID)
	q.Set("x-oss-expires", itoa(expires))
	q.Set("x-oss-signature-version", "OSS2")
	if additional != "" {
		q.Set("x-oss-additional-headers", additional)
	}
	q.Set("x-oss-signature", s.signature(drive, n.ID, user, additional, expires, seq))
	q.Set("response-content-disposition", "attachment; filename*=UTF-8''"+url.PathEscape(n.Name))
	return s.hs.URL + "/cdn/" + drive + "/" + n.ID + "/" + url.PathEscape(n.Name) + "?" + q.Encode()
}

// newLink numbers a new URL in *seq, a counter Server.mu guards, and
// says when it expires: expireSec from now (900 s when not asked), never
// past LinkTTL, in whole seconds rounded up as x-oss-expires is, so that
// a short TTL still lives.
func (s *Server) newLink(seq *int64, expireSec int64) (expUnix, n int64) {
	ttl := 900 * time.Second
	if expireSec > 0 {
		ttl = time.Duration(expireSec) * time.Second
	}
	s.mu.Lock()
	ttl = min(ttl, s.opts.LinkTTL)
	*seq++
	n = *seq
	s.mu.Unlock()
	exp := time.Now().Add(ttl)
	return (exp.UnixNano() + int64(time.Second) - 1) / int64(time.Second), n
}

// ExpireLinks makes every download URL issued so far answer 403
// AccessDenied "Request has expired.".
func (s *Server) ExpireLinks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linksBefore = s.linkSeq
}

func (s *Server) handleCDN(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, "cdn") {
		return
	}
	drive, file := r.PathValue("drive"), r.PathValue("file")
	q := r.URL.Query()
	user := q.Get("u")
	expires, err1 := strconv.ParseInt(q.Get("x-oss-expires"), 10, 64)
	seq, err2 := strconv.ParseInt(q.Get("seq"), 10, 64)
	sig := q.Get("x-oss-signature")
	additional := q.Get("x-oss-additional-headers")
	if err1 != nil || err2 != nil || q.Get("x-oss-access-key-id") != accessKeyID || q.Get("dr") != drive || q.Get("f") != file ||
		!hmac.Equal([]byte(sig), []byte(s.signature(drive, file, user, additional, expires, seq))) {
		writeOSSErr(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", "")
		return
	}
	if additional == "referer" && r.Header.Get("Referer") == "" {
		writeOSSErr(w, http.StatusForbidden, "InvalidArgument", "At least one of AdditionalHeaders is not in request headers.", "")
		return
	}
	s.mu.Lock()
	revoked := seq <= s.linksBefore
	s.mu.Unlock()
	exp := time.Unix(expires, 0)
	if revoked || !time.Now().Before(exp) {
		writeOSSErr(w, http.StatusForbidden, "AccessDenied", "Request has expired.", expiredXML(exp))
		return
	}
	var t *fakecloud.Tree
	switch drive {
	case resourceDriveID:
		t = s.tree
	case backupDriveID:
		t = s.backup
	case sharerDriveID:
		t = s.sharer
	}
	var n fakecloud.Node
	ok := t != nil
	if ok {
		n, ok = live(t, file)
	}
	if !ok || n.IsDir {
		writeOSSErr(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", "")
		return
	}
	if r.Method == http.MethodGet {
		release, ok := s.conns.Acquire(user+"/"+drive+"/"+file, s.options().MaxConnsPerLink)
		if !ok {
			// The Open API's download callback refuses the extra
			// connection; its reason shows in the message.
			writeOSSErr(w, http.StatusForbidden, "RequestDeniedByCallback",
				`Callback failed. {"code":"ExceedMaxConcurrency","message":"exceed max concurrency"}`, "")
			return
		}
		defer release()
	}
	fakecloud.ServeBlob(w, r, n.Blob, s.faults)
}
