package pan115

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
	"pandav/internal/httpclient"
)

// Aliyun OSS, the way 115 hands it out: STS credentials from get_token,
// V1 header signatures, PutObject or sequential multipart parts, and 115's
// callback riding on the last request. No SDK: this is all the protocol
// the driver needs.

// stsMargin is how long before its stated expiry a credential is
// replaced; a part that starts just before expiry can still fail, and is
// then retried with a fresh one.
const stsMargin = 5 * time.Minute

// maxParts is OSS's limit on the parts of one upload.
const maxParts = 10000

// ossCred is one get_token answer.
type ossCred struct {
	endpoint string
	keyID    string
	secret   string
	token    string
	expires  time.Time // zero: not stated
	margin   time.Duration
	gen      uint64 // the login (TokenSource.Generation) it was issued to
}

// stsCred returns the cached STS credential, or fetches one.
func (d *Drive) stsCred(ctx context.Context) (*ossCred, error) {
	d.stsMu.Lock()
	defer d.stsMu.Unlock()
	gen := d.ts.Generation()
	if c := d.sts; c != nil && c.gen == gen && (c.expires.IsZero() || time.Until(c.expires) > c.margin) {
		return c, nil
	}
	const op = "pan115 upload token"
	var r tokenResp
	if err := d.call(ctx, op, request{method: http.MethodGet, path: "/open/upload/get_token"}, &r); err != nil {
		return nil, err
	}
	t := r.Data.V
	if t.Endpoint == "" || t.AccessKeyID == "" || t.AccessKeySecret == "" {
		return nil, upstream.Transient(fmt.Errorf("%s: answer without credentials", op))
	}
	c := &ossCred{endpoint: t.Endpoint, keyID: t.AccessKeyID, secret: t.AccessKeySecret, token: t.SecurityToken, gen: gen}
	if exp, err := time.Parse(time.RFC3339, string(t.Expiration)); err == nil {
		c.expires = exp
		// A short-lived credential is still used for most of its life.
		c.margin = min(stsMargin, time.Until(exp)/4)
	}
	d.sts = c
	return c, nil
}

// dropSTS forgets c after OSS refused it, so that the next request
// fetches a fresh credential.
func (d *Drive) dropSTS(c *ossCred) {
	d.stsMu.Lock()
	defer d.stsMu.Unlock()
	if d.sts == c {
		d.sts = nil
	}
}

// ossStringToSign is the V1 string to sign: VERB, Content-MD5,
// Content-Type, Date, then the x-oss- headers (lowercased, sorted, one
// "key:value\n" each) and the canonical resource.
func ossStringToSign(method string, h http.Header, resource string) string {
	var keys []string
	vals := map[string]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-oss-") {
			keys = append(keys, lk)
			vals[lk] = strings.TrimSpace(strings.Join(vs, ","))
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n")
	for _, k := range keys {
		b.WriteString(k + ":" + vals[k] + "\n")
	}
	b.WriteString(resource)
	return b.String()
}

// ossSignature is base64(HMAC-SHA1(secret, stringToSign)).
func ossSignature(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// subresource is one signed query parameter; an empty value is sent bare
// (?uploads).
type subresource struct{ key, value string }

// ossCanonicalResource is /bucket/object plus the subresources, sorted.
func ossCanonicalResource(bucket, object string, sub []subresource) string {
	parts := make([]string, 0, len(sub))
	for _, s := range sub {
		if s.value == "" {
			parts = append(parts, s.key)
		} else {
			parts = append(parts, s.key+"="+s.value)
		}
	}
	sort.Strings(parts)
	res := "/" + bucket + "/" + object
	if len(parts) > 0 {
		res += "?" + strings.Join(parts, "&")
	}
	return res
}

// ossURL addresses object on endpoint: virtual-host style
// (bucket.endpoint/object) for a DNS name, as Aliyun requires, and path
// style (endpoint/bucket/object) for an IP address or localhost, where a
// bucket subdomain cannot exist (the emulator).
func ossURL(endpoint, bucket, object string, sub []subresource) (*url.URL, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("get_token gave an unusable endpoint")
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil || host == "localhost" {
		u.Path = "/" + bucket + "/" + object
	} else {
		u.Host = bucket + "." + u.Host
		u.Path = "/" + object
	}
	q := make([]string, 0, len(sub))
	for _, s := range sub {
		if s.value == "" {
			q = append(q, url.QueryEscape(s.key))
		} else {
			q = append(q, url.QueryEscape(s.key)+"="+url.QueryEscape(s.value))
		}
	}
	u.RawQuery = strings.Join(q, "&")
	return u, nil
}

// ossReq is one OSS request. body makes a fresh reader for each attempt.
type ossReq struct {
	method         string
	bucket, object string
	sub            []subresource
	header         http.Header
	body           func() io.Reader
	size           int64
	// check may turn a 2xx answer into an error, Transient to retry it.
	check func(status int, h http.Header, raw []byte) error
}

type ossAnswer struct {
	status int
	header http.Header
	raw    []byte
}

type ossErrorBody struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func ossErrorCode(raw []byte) string {
	var e ossErrorBody
	if xml.Unmarshal(raw, &e) != nil || e.Code == "" {
		return "no error code"
	}
	return e.Code
}

// ossDo sends r, signed afresh at every attempt, and retries what
// classifyOSS calls retryable; a refused STS credential is replaced
// first.
func (d *Drive) ossDo(ctx context.Context, op string, r ossReq) (ossAnswer, error) {
	var ans ossAnswer
	err := upstream.Do(ctx, d.policy, op, func(ctx context.Context) error {
		cred, err := d.stsCred(ctx)
		if err != nil {
			return err
		}
		u, err := ossURL(cred.endpoint, r.bucket, r.object, r.sub)
		if err != nil {
			return fmt.Errorf("%s: %w: %v", op, drivers.ErrUpstream, err)
		}
		var body io.Reader
		if r.body != nil {
			body = r.body()
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
		if err != nil {
			return fmt.Errorf("%s: %v", op, httpclient.Redact(err))
		}
		if r.body != nil {
			req.ContentLength = r.size
			if r.size == 0 {
				req.Body = http.NoBody
			}
		}
		for k, vs := range r.header {
			req.Header[k] = vs
		}
		req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		req.Header.Set("User-Agent", d.o.UserAgent)
		if cred.token != "" {
			req.Header.Set("X-Oss-Security-Token", cred.token)
		}
		sts := ossStringToSign(r.method, req.Header, ossCanonicalResource(r.bucket, r.object, r.sub))
		req.Header.Set("Authorization", "OSS "+cred.keyID+":"+ossSignature(cred.secret, sts))
		// A part may be large; allow it time at a slow 128 KiB/s.
		send := d.send
		send.Timeout = attemptTimeout + time.Duration(r.size/(128<<10))*time.Second
		send.MaxAnswer = 4 << 20
		a, err := send.Send(req, op)
		if err != nil {
			return err
		}
		if err := classifyOSS(op, a, func() { d.dropSTS(cred) }); err != nil {
			return err
		}
		if r.check != nil {
			if err := r.check(a.Status, a.Header, a.Body); err != nil {
				return err
			}
		}
		ans = ossAnswer{status: a.Status, header: a.Header, raw: a.Body}
		return nil
	})
	return ans, err
}

// partSize is the configured part size, grown so that size fits in
// maxParts parts.
func (d *Drive) partSize(size int64) int64 {
	ps := d.o.UploadPartSize
	if min := (size + maxParts - 1) / maxParts; ps < min {
		ps = min
	}
	return ps
}

// ossUpload sends size bytes of src to the object init named and returns
// 115's callback answer. Parts go one at a time (115's STS refuses
// parallel ones) and are read from src section by section: nothing holds
// the whole file.
func (d *Drive) ossUpload(ctx context.Context, op string, in *initData, src io.ReaderAt, size int64) (callbackResp, error) {
	var cb callbackResp
	callback := in.Callback.V
	bucket, object := string(in.Bucket), string(in.Object)
	if callback.Callback == "" || bucket == "" || object == "" {
		return cb, fmt.Errorf("%s: %w: init named no OSS object or callback", op, drivers.ErrUpstream)
	}
	cbHeader := http.Header{
		"X-Oss-Callback":     {base64.StdEncoding.EncodeToString([]byte(callback.Callback))},
		"X-Oss-Callback-Var": {base64.StdEncoding.EncodeToString([]byte(callback.CallbackVar))},
	}
	checkCallback := func(status int, _ http.Header, raw []byte) error {
		return parseCallback(op, status, raw, &cb)
	}
	section := func(off, n int64) func() io.Reader {
		return func() io.Reader { return io.NewSectionReader(src, off, n) }
	}
	ps := d.partSize(size)
	if size <= ps {
		h := cbHeader.Clone()
		h.Set("Content-Type", "application/octet-stream")
		_, err := d.ossDo(ctx, op+": put object", ossReq{
			method: http.MethodPut, bucket: bucket, object: object, header: h,
			body: section(0, size), size: size, check: checkCallback,
		})
		return cb, err
	}

	ans, err := d.ossDo(ctx, op+": initiate multipart", ossReq{
		method: http.MethodPost, bucket: bucket, object: object,
		sub:    []subresource{{key: "uploads"}},
		header: http.Header{"Content-Type": {"application/octet-stream"}},
	})
	if err != nil {
		return cb, err
	}
	var started struct {
		UploadID string `xml:"UploadId"`
	}
	if xml.Unmarshal(ans.raw, &started) != nil || started.UploadID == "" {
		return cb, fmt.Errorf("%s: %w: OSS gave no upload id", op, drivers.ErrUpstream)
	}
	var done completeUpload
	needETag := func(_ int, h http.Header, _ []byte) error {
		if h.Get("ETag") == "" {
			return upstream.Transient(fmt.Errorf("%s: OSS answered a part without an ETag", op))
		}
		return nil
	}
	for n, off := 1, int64(0); off < size; n, off = n+1, off+ps {
		l := min(ps, size-off)
		ans, err := d.ossDo(ctx, fmt.Sprintf("%s: part %d", op, n), ossReq{
			method: http.MethodPut, bucket: bucket, object: object,
			sub:    []subresource{{"partNumber", fmt.Sprint(n)}, {"uploadId", started.UploadID}},
			header: http.Header{"Content-Type": {"application/octet-stream"}},
			body:   section(off, l), size: l, check: needETag,
		})
		if err != nil {
			return cb, err
		}
		done.Parts = append(done.Parts, completePart{Number: n, ETag: ans.header.Get("ETag")})
	}
	body, err := xml.Marshal(done)
	if err != nil {
		return cb, err
	}
	h := cbHeader.Clone()
	h.Set("Content-Type", "application/xml")
	_, err = d.ossDo(ctx, op+": complete multipart", ossReq{
		method: http.MethodPost, bucket: bucket, object: object,
		sub:    []subresource{{"uploadId", started.UploadID}},
		header: h, body: func() io.Reader { return bytes.NewReader(body) }, size: int64(len(body)),
		check: checkCallback,
	})
	return cb, err
}

type completeUpload struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

type completePart struct {
	Number int    `xml:"PartNumber"`
	ETag   string `xml:"ETag"`
}

// parseCallback reads the answer 115's callback gave through OSS. OSS
// says 203 when it stored the object but the callback refused it: the
// content did not match what init was told. Any other answer is 115's
// own envelope.
func parseCallback(op string, status int, raw []byte, out *callbackResp) error {
	if status == http.StatusNonAuthoritativeInfo {
		return fmt.Errorf("%s: %w: 115 refused the uploaded content (OSS %s)", op, drivers.ErrUpstream, ossErrorCode(raw))
	}
	return classify(op, upstream.Answer{Status: status, Body: raw}, out)
}
