// Package pan115test emulates the 115 open API on loopback for tests,
// benchmarks and the demo: proapi (listing, get_info, downurl, user info),
// passportapi (single-use rotating refresh tokens, and the device-code
// login with its long-polled qrcodeapi status), the CDN that serves
// User-Agent-bound links, the write endpoints (folder/add, update, move,
// copy, delete, rb/del), uploads (init with rapid upload and possession
// proofs, get_token) and the Aliyun OSS they go to (V1 signatures, STS,
// PutObject, multipart, 115's callback). It reproduces the quirks a driver must survive:
// HTTP-200 error envelopes, a silent page cap, an unknown cid served as the
// root, 19-digit IDs as JSON numbers, mixed number/string fields.
package pan115test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"pandav/internal/fakecloud"
)

// Options are the emulator's knobs. The zero value means the defaults.
type Options struct {
	AccessTTL time.Duration // default 7200s
	// LinkTTL is the `t=` expiry of CDN links; default 2h (a driver must
	// still not trust a link beyond 1h).
	LinkTTL time.Duration
	// PageCap is the silent cap on `limit`; default 1150.
	PageCap int
	// StringNumbers sends top-level limit/offset and item fs as strings.
	StringNumbers bool
	// QPS is the per-token request rate above which proapi answers code
	// 770004 (HTTP 200); default 5; negative disables the check.
	QPS float64
	// RefreshMinInterval: a second refresh within this window gets
	// 40140117; default 0 (off).
	RefreshMinInterval time.Duration
	// LinkConns is the `c=` concurrency in CDN links; default 2; negative
	// means c=0 (unlimited).
	LinkConns int
	// Lag is how long new, renamed and moved entries take to show in
	// listings and path lookups, which on 115 are eventually consistent
	// (docs/protocols/pan115.md §2 get_info, §4 Upload, §7 item 7); lookups by ID are exact,
	// deletes immediate. Zero means DefaultLag; negative turns lag off.
	// Content a test seeds through Tree does not lag; what the API
	// changes does.
	Lag time.Duration
	// LoginTTL is how long a device-code login's QR code lives unconfirmed;
	// default 5 minutes (115 does not say).
	LoginTTL time.Duration
	// LongPoll is how long qrcodeapi holds a status poll without news;
	// default 20 s (docs/protocols/accounts-offline-shares.md §1.3: unknown,
	// under the 30 s a client waits).
	LongPoll time.Duration
}

// DefaultLag is the Lag of the zero Options.
const DefaultLag = time.Second

// Endpoint names under which calls are counted and faults injected.
const (
	EndpointFiles   = "open/ufile/files"
	EndpointGetInfo = "open/folder/get_info"
	EndpointDownURL = "open/ufile/downurl"
	EndpointUser    = "open/user/info"
	EndpointRefresh = "open/refreshToken"
	EndpointCDN     = "cdn"
	// Writes (write.go) and uploads (upload.go, oss.go).
	EndpointFolderAdd   = "open/folder/add"
	EndpointUpdate      = "open/ufile/update"
	EndpointMove        = "open/ufile/move"
	EndpointCopy        = "open/ufile/copy"
	EndpointDelete      = "open/ufile/delete"
	EndpointRBDel       = "open/rb/del"
	EndpointUploadInit  = "open/upload/init"
	EndpointUploadToken = "open/upload/get_token"
	EndpointOSSPut      = "oss/put"      // PutObject
	EndpointOSSInit     = "oss/initiate" // InitiateMultipartUpload
	EndpointOSSPart     = "oss/part"     // UploadPart
	EndpointOSSComplete = "oss/complete" // CompleteMultipartUpload
	// CounterOSS403 counts OSS refusals: bad signature, expired STS.
	CounterOSS403 = "oss/403"
	// CounterCDN403 counts every 403 the CDN answered (wrong UA, Referer,
	// expiry, bad signature, too many connections).
	CounterCDN403 = "cdn/403"
)

// FirstID is the first ID the tree hands out: 115 IDs are 19 digits, well
// above 2^53, so a client that decodes them as float64 breaks at once.
const FirstID = 3073323042143855813

// UserID is the emulated account's user id (the `u=` of CDN links).
const UserID = "306158231"

// Server is a running emulator.
type Server struct {
	tree     *fakecloud.Tree
	faults   *fakecloud.Faults
	counters *fakecloud.Counters
	// login is the open platform's token family (auth.go).
	login *fakecloud.Logins
	// appID is the open-platform app, and qr its pending device-code
	// logins (login.go).
	appID string
	qr    *fakecloud.QRCodes

	// changes is tree as the API changes it: those changes lag.
	changes *fakecloud.Tree

	o         Options
	api       *httptest.Server
	passport  *httptest.Server
	qrcodeapi *httptest.Server
	cdn       *httptest.Server
	oss       *httptest.Server
	conns     fakecloud.ConnLimiter
	// wmu makes each write endpoint atomic, so that a name check and the
	// change it guards cannot interleave with another write.
	wmu sync.Mutex
	up  uploads
	// off is the cloud-download service (offline.go).
	off offline

	mu          sync.Mutex
	linkTTL     time.Duration
	lastRefresh time.Time
	limiters    map[string]*rate.Limiter
	links       map[string]*link
	pickCodes   map[string]string // pick code -> file id
	spaceTotal  int64
	maxFileSize int64
	authReplies int
	throttles   int
	userInfos   int
	statusPolls int
	endedTold   map[string]bool // device codes whose end a poll has told
	verifiers   []string        // the code verifiers logins were traded with
}

// NewServer starts an emulator on 127.0.0.1 with random ports.
func NewServer(o Options) *Server {
	if o.AccessTTL <= 0 {
		o.AccessTTL = 7200 * time.Second
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = 2 * time.Hour
	}
	if o.PageCap <= 0 {
		o.PageCap = 1150
	}
	if o.QPS == 0 {
		o.QPS = 5
	}
	if o.LoginTTL <= 0 {
		o.LoginTTL = 5 * time.Minute
	}
	if o.LongPoll <= 0 {
		o.LongPoll = 20 * time.Second
	}
	if o.LinkConns == 0 {
		o.LinkConns = 2
	} else if o.LinkConns < 0 {
		o.LinkConns = 0
	}
	var next atomic.Uint64
	next.Store(FirstID - 1)
	s := &Server{
		tree:     fakecloud.NewTree("0", func() string { return strconv.FormatUint(next.Add(1), 10) }),
		faults:   &fakecloud.Faults{},
		counters: &fakecloud.Counters{},
		// 115's tokens are 48 hex characters.
		login:       fakecloud.NewLogins(o.AccessTTL, func(string, time.Duration) string { return randHex(24) }),
		o:           o,
		linkTTL:     o.LinkTTL,
		limiters:    map[string]*rate.Limiter{},
		links:       map[string]*link{},
		pickCodes:   map[string]string{},
		spaceTotal:  2 << 40,
		maxFileSize: MaxFileSize,
		appID:       strconv.FormatInt(100000000+time.Now().UnixNano()%900000000, 10),
		qr:          fakecloud.NewQRCodes(o.LoginTTL),
		endedTold:   map[string]bool{},
	}
	if o.Lag == 0 {
		o.Lag = DefaultLag
	}
	s.tree.SetLag(o.Lag)
	s.changes = s.tree.Changes()
	s.off.init()
	s.api = httptest.NewServer(s.apiHandler())
	s.passport = httptest.NewServer(s.passportHandler())
	s.qrcodeapi = httptest.NewServer(s.qrcodeHandler())
	s.cdn = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	s.up.init()
	s.oss = httptest.NewServer(http.HandlerFunc(s.serveOSS))
	return s
}

// APIURL is the proapi base URL (the driver's api_url).
func (s *Server) APIURL() string { return s.api.URL }

// PassportURL is the passportapi base URL (the driver's passport_url).
func (s *Server) PassportURL() string { return s.passport.URL }

// OSSURL is the OSS endpoint that get_token hands out. Requests are path
// style: /<bucket>/<object>.
func (s *Server) OSSURL() string { return s.oss.URL }

// CDNURL is the base of the download links the emulator hands out.
func (s *Server) CDNURL() string { return s.cdn.URL }

// Close stops every listener.
func (s *Server) Close() {
	s.qr.Close()
	s.api.Close()
	s.passport.Close()
	s.qrcodeapi.Close()
	s.cdn.Close()
	s.oss.Close()
	s.up.close()
}

// ExpireLinks makes every CDN link issued so far expired.
func (s *Server) ExpireLinks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		l.expired = true
	}
}

// SetLinkTTL sets the `t=` lifetime of links issued from now on.
func (s *Server) SetLinkTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linkTTL = d
}

// SetLag sets how long changes from now on, and those still lagging,
// take to show in listings and path lookups; zero or negative turns lag
// off and shows every change at once.
func (s *Server) SetLag(d time.Duration) { s.tree.SetLag(d) }

// SetSpace sets the account's total space; used space is Tree.Usage().
func (s *Server) SetSpace(total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spaceTotal = total
}

func randHex(nbytes int) string { return fakecloud.RandomHex(nbytes) }
