package integration

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// escapePath escapes a slash-separated path for a URL, segment by segment.
func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// multistatus is the part of a PROPFIND answer the tests look at. Field
// tags name local names only, so any namespace prefix matches.
type multistatus struct {
	Responses []davResponse `xml:"response"`
}

type davResponse struct {
	Href     string        `xml:"href"`
	Propstat []davPropstat `xml:"propstat"`
}

type davPropstat struct {
	Prop   davProp `xml:"prop"`
	Status string  `xml:"status"`
}

type davProp struct {
	ContentLength string       `xml:"getcontentlength"`
	ResourceType  resourceType `xml:"resourcetype"`
	QuotaAvail    string       `xml:"quota-available-bytes"`
	QuotaUsed     string       `xml:"quota-used-bytes"`
}

type resourceType struct {
	Collection *struct{} `xml:"collection"`
}

// Path is the response's href, unescaped.
func (r davResponse) Path() string {
	h := r.Href
	if u, err := url.Parse(h); err == nil && u.Path != "" {
		return u.Path
	}
	if p, err := url.PathUnescape(h); err == nil {
		return p
	}
	return h
}

// OK is the prop of the response's 200 propstat.
func (r davResponse) OK() (davProp, bool) {
	for _, ps := range r.Propstat {
		if strings.Contains(ps.Status, " 200 ") {
			return ps.Prop, true
		}
	}
	return davProp{}, false
}

func parseMultistatus(t testing.TB, body []byte) multistatus {
	t.Helper()
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		t.Fatalf("PROPFIND answer is not a multistatus: %v\n%s", err, tail(string(body), 2000))
	}
	return ms
}

var httpClient = &http.Client{Timeout: 90 * time.Second}

// davDo sends a WebDAV request and returns the answer with its body read.
func davDo(t testing.TB, method, u string, header map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return resp, b
}

// propfind does a PROPFIND (allprop) with the given depth and requires 207.
func propfind(t testing.TB, u, depth string) multistatus {
	t.Helper()
	resp, body := davDo(t, "PROPFIND", u, map[string]string{"Depth": depth}, "")
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND %s Depth %s: %s\n%s", u, depth, resp.Status, tail(string(body), 2000))
	}
	return parseMultistatus(t, body)
}

// childNames maps the names of a Depth 1 answer's children (not dir
// itself) to whether each is a collection.
func childNames(t testing.TB, ms multistatus, dir string) map[string]bool {
	t.Helper()
	dir = strings.TrimSuffix(dir, "/") + "/"
	out := map[string]bool{}
	self := 0
	for _, r := range ms.Responses {
		p := r.Path()
		if strings.TrimSuffix(p, "/")+"/" == dir {
			self++
			continue
		}
		if !strings.HasPrefix(p, dir) {
			t.Errorf("href %q is not under %q", r.Href, dir)
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, dir), "/")
		prop, _ := r.OK()
		out[name] = prop.ResourceType.Collection != nil
	}
	if self != 1 {
		t.Errorf("PROPFIND of %s: %d responses for the folder itself, want 1", dir, self)
	}
	return out
}
