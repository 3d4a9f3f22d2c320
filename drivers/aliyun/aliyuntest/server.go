// Package aliyuntest emulates the Aliyundrive (alipan) Open API on a
// loopback HTTP server, as net/http/httptest does for plain handlers: the
// OAuth token endpoint with single-use rotating refresh tokens, a
// third-party renew service, the QR logins of the Open API and of the
// passport (login.go), the file endpoints (reads and writes, with
// async tasks, rapid upload and its proof), an OSS-style CDN with signed,
// expiring URLs, and OSS part uploads to presigned, expiring URLs. It
// also serves the web API with its device signature (web.go, device.go)
// and share links from a second user's drive (share.go). Faults, rate
// limits and call counters let tests and benchmarks reproduce what users
// of the real service run into.
package aliyuntest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"pandav/internal/fakecloud"
)

// Options tunes the emulator. The zero value is the real service's
// documented behaviour.
type Options struct {
	AccessTTL time.Duration // access token lifetime; default 7200s
	// LinkTTL caps a download URL's lifetime; expire_sec above it is
	// clamped, and x-oss-expires carries the real expiry. Default 900s.
	LinkTTL time.Duration
	// MaxPageLimit is the largest openFile/list limit; above it the answer
	// is 400 InvalidParameter.Limit. Default 200.
	MaxPageLimit int
	// Per-user requests per second for openFile/list, getDownloadUrl and
	// everything else; defaults 4, 1, 15. A negative value disables that
	// class's limit.
	RateList, RateLink, RateOther float64
	// MaxConnsPerLink is how many CDN GETs of one file one user may run at
	// once before 403 ExceedMaxConcurrency; default 3, negative: no limit.
	MaxConnsPerLink int
	// RetryAfter is the x-retry-after hint on every 429; default 300ms.
	RetryAfter time.Duration
	// NoResourceDrive makes getDriveInfo report no resource drive, as
	// accounts from before the 2023 split do.
	NoResourceDrive bool
	// UploadURLTTL is how long a part upload URL lives; default 1h.
	UploadURLTTL time.Duration
	// MemoryUploadMax is the largest upload kept in memory; bigger ones
	// are staged in temp files. Default 32 MiB.
	MemoryUploadMax int64
	// LoginTTL is how long a login's QR code lives unconfirmed; default
	// 5 minutes (the service does not say).
	LoginTTL time.Duration
}

func (o *Options) setDefaults() {
	if o.AccessTTL <= 0 {
		o.AccessTTL = 7200 * time.Second
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = 900 * time.Second
	}
	if o.MaxPageLimit <= 0 {
		o.MaxPageLimit = 200
	}
	if o.RateList == 0 {
		o.RateList = 4
	}
	if o.RateLink == 0 {
		o.RateLink = 1
	}
	if o.RateOther == 0 {
		o.RateOther = 15
	}
	if o.MaxConnsPerLink == 0 {
		o.MaxConnsPerLink = 3
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 300 * time.Millisecond
	}
	if o.UploadURLTTL <= 0 {
		o.UploadURLTTL = time.Hour
	}
	if o.MemoryUploadMax <= 0 {
		o.MemoryUploadMax = 32 << 20
	}
	if o.LoginTTL <= 0 {
		o.LoginTTL = 5 * time.Minute
	}
}

const (
	resourceDriveID = "2000001"
	backupDriveID   = "1000001"
	apiPrefix       = "/adrive/v1.0/"
)

// Server is a running emulator.
type Server struct {
	// tree is the resource drive; its root ID is "root" and file IDs are
	// 40 lowercase hex characters.
	tree     *fakecloud.Tree
	faults   *fakecloud.Faults
	counters *fakecloud.Counters
	// sharer is a second user's drive, from which AddShare shares
	// folders; its root ID is "root" as well.
	sharer *fakecloud.Tree
	// login is the Open API's token family (auth.go).
	login *fakecloud.Logins
	// qr are the pending QR logins (login.go), served by hs (the Open
	// API's), proxy (a token proxy) and passport (the web login's).
	qr       *fakecloud.QRCodes
	proxy    *httptest.Server
	passport *httptest.Server

	hs           *httptest.Server
	clientID     string
	clientSecret string
	userID       string
	signKey      []byte
	backup       *fakecloud.Tree
	conns        fakecloud.ConnLimiter

	mu          sync.Mutex
	opts        Options
	linkSeq     int64
	linksBefore int64 // links with a sequence number up to this are expired
	totalSpace  int64
	maxFileSize int64
	buckets     map[string]*rate.Limiter

	// The write side: upload sessions by upload_id, async tasks by id
	// (value: polls so far), part URLs revoked up to urlsBefore, temp
	// files to remove on Close.
	uploads     map[string]*upload
	tasks       map[string]int
	urlSeq      int64
	urlsBefore  int64
	lastStamp   time.Time
	spools      []io.Closer
	uploadBytes atomic.Int64

	// The web API and share links (web.go, share.go, device.go).
	web webState

	// authCodes maps an Open API login's authCode to its sid.
	authCodes map[string]string
	vip       membership
}

func randHex(n int) string { return fakecloud.RandomHex(n) }

// NewServer starts an emulator listening on 127.0.0.1 at a free port.
func NewServer(o Options) *Server {
	o.setDefaults()
	newID := func() string { return randHex(20) }
	s := &Server{
		tree:         fakecloud.NewTree("root", newID),
		sharer:       fakecloud.NewTree("root", newID),
		faults:       &fakecloud.Faults{},
		counters:     &fakecloud.Counters{},
		clientID:     randHex(16),
		clientSecret: randHex(16),
		userID:       randHex(16),
		signKey:      []byte(randHex(16)),
		backup:       fakecloud.NewTree("root", newID),
		opts:         o,
		totalSpace:   2 << 40,
		maxFileSize:  MaxFileSize,
		buckets:      map[string]*rate.Limiter{},
		uploads:      map[string]*upload{},
		tasks:        map[string]int{},
		qr:           fakecloud.NewQRCodes(o.LoginTTL),
		authCodes:    map[string]string{},
		vip:          membership{identity: "svip", level: "20t", expires: time.Unix(4102444800, 0)},
	}
	s.login = fakecloud.NewLogins(o.AccessTTL, s.jwt)
	s.web.init(s)
	s.startLoginServers()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/access_token", s.handleAccessToken)
	mux.HandleFunc("GET /renew", s.handleRenew)
	s.loginRoutes(mux)
	mux.HandleFunc("POST /v1.0/user/getVipInfo", s.handleVIPInfo)
	mux.HandleFunc("POST "+apiPrefix+"{endpoint...}", s.handleAPI)
	mux.HandleFunc("GET /cdn/{drive}/{file}/{name}", s.handleCDN)
	mux.HandleFunc("HEAD /cdn/{drive}/{file}/{name}", s.handleCDN)
	mux.HandleFunc("PUT /oss/{drive}/{file}", s.handleOSSPut)
	s.webRoutes(mux)
	mux.HandleFunc("/", s.handleUnknown)
	hs := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("aliyuntest: " + err.Error())
	}
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	s.hs = hs
	return s
}

// URL is the base URL, used as the driver's open_api_url.
func (s *Server) URL() string { return s.hs.URL }

// Close shuts the server down and removes its temp files.
func (s *Server) Close() {
	s.qr.Close()
	s.proxy.Close()
	s.passport.Close()
	s.hs.CloseClientConnections()
	s.hs.Close()
	s.mu.Lock()
	spools := s.spools
	s.spools = nil
	s.mu.Unlock()
	for _, c := range spools {
		c.Close()
	}
}

// ClientID is the Open API app's client_id.
func (s *Server) ClientID() string { return s.clientID }

// ClientSecret is the Open API app's client_secret.
func (s *Server) ClientSecret() string { return s.clientSecret }

// RenewURL is a third-party renew service in front of the token endpoint.
func (s *Server) RenewURL() string { return s.hs.URL + "/renew" }

// SetAccessTTL sets the lifetime of access tokens issued from now on, by
// the Open API and by the web login.
func (s *Server) SetAccessTTL(d time.Duration) {
	s.login.SetAccessTTL(d)
	s.web.login.SetAccessTTL(d)
}

// SetLinkTTL sets the lifetime cap of download URLs issued from now on.
func (s *Server) SetLinkTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.LinkTTL = d
}

// SetSpace sets the total_size getSpaceInfo reports; used_size is always
// Tree.Usage().
func (s *Server) SetSpace(total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totalSpace = total
}

// MaxFileSize is the largest file the emulator takes by default: the
// service's limit for most accounts (docs/protocols/aliyun.md §5
// Failures).
const MaxFileSize = 100 << 30

// LimitFileSize makes create refuse files over n bytes, as the service
// refuses those over an account's limit; the driver goes by that answer.
func (s *Server) LimitFileSize(n int64) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxFileSize = n
	return nil
}

// fits answers, and returns false, unless a file of size bytes may be
// created: the drive has room for it and it is within the account's
// largest file (docs/protocols/aliyun.md §5 Failures).
func (s *Server) fits(w http.ResponseWriter, size int64) bool {
	s.mu.Lock()
	total, most := s.totalSpace, s.maxFileSize
	s.mu.Unlock()
	switch {
	case size > most:
		writeErr(w, http.StatusBadRequest, "InvalidParameter.SizeExceed", "file size is exceed the limit of your account")
		return false
	case s.tree.Usage()+s.backup.Usage()+size > total:
		writeErr(w, http.StatusBadRequest, "QuotaExhausted.Drive", "The drive has exceeded its quota.")
		return false
	}
	return true
}

func (s *Server) options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// rate classes, as the Open API counts them per user per app.
func classOf(endpoint string) string {
	switch endpoint {
	case "openFile/list":
		return "list"
	case "openFile/getDownloadUrl":
		return "link"
	case "oauth/access_token", "renew":
		return "auth"
	}
	return "other"
}

// allow takes a token from user's bucket for class; false means 429.
func (s *Server) allow(user, class string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := user + "\x00" + class
	lim, ok := s.buckets[key]
	if !ok {
		r := s.opts.RateOther
		switch class {
		case "list":
			r = s.opts.RateList
		case "link":
			r = s.opts.RateLink
		}
		if r < 0 {
			return true
		}
		burst := int(r + 0.999)
		if burst < 1 {
			burst = 1
		}
		lim = rate.NewLimiter(rate.Limit(r), burst)
		s.buckets[key] = lim
	}
	return lim.Allow()
}

// begin does what every endpoint does first: count the call, wait out
// the latency knob and produce an injected fault. It returns false when
// the answer has been written.
func (s *Server) begin(w http.ResponseWriter, endpoint string) bool {
	s.counters.Inc(endpoint)
	// The CDN's latency is applied by fakecloud.ServeBlob.
	if d := s.faults.Latency(); d > 0 && endpoint != "cdn" {
		time.Sleep(d)
	}
	if k := s.faults.Next(endpoint); k != fakecloud.NoFault {
		s.writeFault(w, k)
		return false
	}
	return true
}

// authorize checks the Bearer token and returns its user.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		writeErr(w, http.StatusUnauthorized, "AccessTokenInvalid", "AccessToken is invalid. ErrValidateTokenFailed")
		return "", false
	}
	if !checkAccess(w, s.login, tok) {
		return "", false
	}
	return s.userID, true
}

// checkAccess answers 401 unless tok is a live access token of l; an
// expired one is told apart, as the service does.
func checkAccess(w http.ResponseWriter, l *fakecloud.Logins, tok string) bool {
	switch err := l.Check(tok); {
	case errors.Is(err, fakecloud.ErrExpiredToken):
		writeErr(w, http.StatusUnauthorized, "AccessTokenExpired", "AccessToken is expired. ErrValidateTokenFailed")
		return false
	case err != nil:
		writeErr(w, http.StatusUnauthorized, "AccessTokenInvalid", "AccessToken is invalid. ErrValidateTokenFailed")
		return false
	}
	return true
}

func (s *Server) throttle(w http.ResponseWriter) {
	w.Header().Set("x-retry-after", itoa(s.options().RetryAfter.Milliseconds()))
	writeErr(w, http.StatusTooManyRequests, "TooManyRequests", "Too Many Requests")
}

func (s *Server) handleUnknown(w http.ResponseWriter, r *http.Request) {
	// Unknown routes get the Spring-style envelope, not the API's own.
	writeJSON(w, http.StatusNotFound, map[string]any{
		"timestamp": time.Now().UTC().Format(timeFormat),
		"status":    404,
		"error":     "Not Found",
		"path":      r.URL.Path,
	})
}
