// Package memdrivetest emulates memdrive, the made-up cloud of the
// reference driver (docs/protocols/memdrive.md), on loopback: the API
// with its token endpoint, and a CDN whose links expire. It keeps its
// files in a fakecloud.Tree and meets fakecloud.Cloud, so the harnesses
// that loop over every emulator run it like the others.
//
// It is also the template for a new cloud's emulator: the real service's
// quirks, as its docs/protocols page records them, are what an emulator
// is for, and a driver is only as good as the emulator it was tested on.
package memdrivetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"pandav/internal/fakecloud"
)

// Options are the emulator's knobs; the zero value is the cloud as
// docs/protocols/memdrive.md describes it.
type Options struct {
	// PageCap is the most entries a listing page holds, whatever limit
	// was asked (docs/protocols/memdrive.md §2); default and maximum MaxPageSize.
	PageCap int
	// Rate is the requests per second each access token may make before
	// it is answered 429 (docs/protocols/memdrive.md §5); default 20, negative: never.
	Rate float64
	// AccessTTL is the lifetime of access tokens; default an hour.
	AccessTTL time.Duration
	// LinkTTL is the lifetime of download links; default 15 minutes.
	LinkTTL time.Duration
	// RetryAfter is the Retry-After of a 429 (docs/protocols/memdrive.md §5), sent in
	// whole seconds, rounded up; default a second. A test sets a wait no
	// other part of the chain would invent, to see that the cloud's own
	// reaches the client.
	RetryAfter time.Duration
}

// MaxPageSize is the largest listing limit the cloud takes.
const MaxPageSize = 200

// Endpoint names, under which calls are counted and faults injected.
const (
	EndpointToken    = "oauth/token"
	EndpointGet      = "files/get"
	EndpointChildren = "files/children"
	EndpointLink     = "files/link"
	EndpointMkdir    = "folders/create"
	EndpointPatch    = "files/patch"
	EndpointCopy     = "files/copy"
	EndpointDelete   = "files/delete"
	EndpointUpload   = "upload"
	EndpointQuota    = "quota"
	EndpointCDN      = "cdn"
)

// rootID is the root folder's ID, the literal the cloud documents.
const rootID = "root"

// Server is a running emulator.
type Server struct {
	o        Options
	tree     *fakecloud.Tree
	faults   *fakecloud.Faults
	counters *fakecloud.Counters
	logins   *fakecloud.Logins
	api, cdn *httptest.Server

	// wmu makes each write atomic, so that a name check and the change it
	// guards cannot interleave with another write.
	wmu sync.Mutex

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by access token
	links    map[string]*link         // by the link's token
	total    int64
	most     int64 // the largest file taken
	uploaded atomic.Int64
}

var (
	_ fakecloud.Cloud           = (*Server)(nil)
	_ fakecloud.FileSizeLimited = (*Server)(nil)
)

// Name is the cloud's short name: its subtest name and the mount path
// the harnesses give it ("/memdrive").
const Name = "memdrive"

// Start runs an emulator with the options the generic harnesses give
// every cloud (internal/demo's list).
func Start(o fakecloud.Options) fakecloud.Cloud {
	opts := Options{AccessTTL: o.AccessTTL, LinkTTL: o.LinkTTL, RetryAfter: o.RetryAfter}
	if o.Unthrottled {
		opts.Rate = -1
	}
	return NewServer(opts)
}

// NewServer runs an emulator on 127.0.0.1 with random ports, for tests
// that reach its own knobs.
func NewServer(o Options) *Server {
	if o.PageCap <= 0 || o.PageCap > MaxPageSize {
		o.PageCap = MaxPageSize
	}
	if o.Rate == 0 {
		o.Rate = 20
	}
	if o.AccessTTL <= 0 {
		o.AccessTTL = time.Hour
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = 15 * time.Minute
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	// IDs of one width, counting up, so that sorting them sorts by age:
	// the listing order and the cursor (files.go) rest on it.
	var next atomic.Uint64
	next.Store(1 << 60)
	s := &Server{
		o:        o,
		tree:     fakecloud.NewTree(rootID, func() string { return fmt.Sprintf("%016x", next.Add(1)) }),
		faults:   &fakecloud.Faults{},
		counters: &fakecloud.Counters{},
		logins:   fakecloud.NewLogins(o.AccessTTL, nil),
		limiters: map[string]*rate.Limiter{},
		links:    map[string]*link{},
		total:    1 << 40,
		most:     MaxFileSize,
	}
	s.api = httptest.NewServer(s.routes())
	s.cdn = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/oauth/token", s.handleToken)
	for _, r := range []struct {
		pattern, endpoint string
		h                 http.HandlerFunc
	}{
		{"GET /v1/files/{id}", EndpointGet, s.handleGet},
		{"GET /v1/files/{id}/children", EndpointChildren, s.handleChildren},
		{"POST /v1/files/{id}/link", EndpointLink, s.handleLink},
		{"POST /v1/folders", EndpointMkdir, s.handleMkdir},
		{"PATCH /v1/files/{id}", EndpointPatch, s.handlePatch},
		{"POST /v1/files/{id}/copy", EndpointCopy, s.handleCopy},
		{"DELETE /v1/files/{id}", EndpointDelete, s.handleDelete},
		{"PUT /v1/upload", EndpointUpload, s.handleUpload},
		{"GET /v1/quota", EndpointQuota, s.handleQuota},
	} {
		mux.HandleFunc(r.pattern, s.endpoint(r.endpoint, r.h))
	}
	return mux
}

// APIURL is the driver's api_url.
func (s *Server) APIURL() string { return s.api.URL }

// CDNURL is where the download links point.
func (s *Server) CDNURL() string { return s.cdn.URL }

func (s *Server) Name() string                   { return Name }
func (s *Server) Driver() string                 { return "memdrive" }
func (s *Server) Tree() *fakecloud.Tree          { return s.tree }
func (s *Server) Faults() *fakecloud.Faults      { return s.faults }
func (s *Server) Counters() *fakecloud.Counters  { return s.counters }
func (s *Server) Login() *fakecloud.Logins       { return s.logins }
func (s *Server) UploadedBytes() int64           { return s.uploaded.Load() }
func (s *Server) Endpoints() fakecloud.Endpoints { return endpoints }

var endpoints = fakecloud.Endpoints{
	List:    EndpointChildren,
	Get:     EndpointGet,
	Link:    EndpointLink,
	Refresh: EndpointToken,
	Upload:  EndpointUpload,
	CDN:     EndpointCDN,
}

// PageSize is the cap: MountOptions leaves page_size at the driver's
// default, the cloud's maximum, which no cap exceeds.
func (s *Server) PageSize() int { return s.o.PageCap }

// MountOptions is a mount of this emulator. Its pace is the emulator's
// rate, which a driver pacing evenly never exceeds; with the rate check
// off, pacing would only slow tests down.
func (s *Server) MountOptions(refreshToken string) map[string]any {
	qps := s.o.Rate
	if qps < 0 {
		qps = 1000
	}
	return map[string]any{"refresh_token": refreshToken, "api_url": s.api.URL, "qps": qps}
}

// TokenFilePrefix is the driver name drivers/memdrive gives its
// upstream.TokenStore, which starts the file's name.
func (s *Server) TokenFilePrefix() string { return "memdrive" }

// ExpireLinks makes every link issued so far refused, as if its
// `expires` had passed.
func (s *Server) ExpireLinks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		l.expired = true
	}
}

// MaxFileSize is the largest file the cloud takes
// (docs/protocols/memdrive.md §4).
const MaxFileSize = 50 << 30

// LimitFileSize makes the cloud refuse files over n bytes; the driver
// goes by the cloud's answer.
func (s *Server) LimitFileSize(n int64) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.most = n
	return nil
}

// SetSpace sets the account's total space; used space is the tree's.
func (s *Server) SetSpace(total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total = total
}

// IssuedSecrets is every token the logins handed out and the token and
// signature of every link.
func (s *Server) IssuedSecrets() []string {
	out := s.logins.Issued()
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, l := range s.links {
		out = append(out, tok, l.sig)
	}
	return out
}

// Close stops both listeners.
func (s *Server) Close() {
	s.api.Close()
	s.cdn.Close()
}

// UnpacedMountOptions raise the driver's pace and scan budget far above
// the cloud's rate, for bulk tests against an emulator started
// Unthrottled (fakecloud.Unpaced).
func (s *Server) UnpacedMountOptions() map[string]any {
	return map[string]any{"qps": 1000, "scan_budget": 60000}
}

var _ fakecloud.Unpaced = (*Server)(nil)
