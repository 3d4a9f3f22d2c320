package aliyuntest

import "pandav/internal/fakecloud"

// Name is the cloud's short name: the subtest name and, behind a slash,
// the mount path the demo and the harnesses give it.
const Name = "aliyun"

var (
	_ fakecloud.Cloud     = (*Server)(nil)
	_ fakecloud.Unpaced   = (*Server)(nil)
	_ fakecloud.PartSized = (*Server)(nil)
	_ fakecloud.QRLogins  = (*Server)(nil)

	_ fakecloud.FileSizeLimited = (*Server)(nil)
	_ fakecloud.FailingLogins   = (*Server)(nil)
	_ fakecloud.LoginVariants   = (*Server)(nil)
)

// Start starts an emulator for a harness that treats every cloud alike.
func Start(o fakecloud.Options) fakecloud.Cloud {
	opts := Options{AccessTTL: o.AccessTTL, LinkTTL: o.LinkTTL, RetryAfter: o.RetryAfter}
	if o.Unthrottled {
		opts.RateList, opts.RateLink, opts.RateOther = -1, -1, -1
	}
	return NewServer(opts)
}

// Name is "aliyun".
func (s *Server) Name() string { return Name }

// Driver is the Open API driver's registered name.
func (s *Server) Driver() string { return "aliyun" }

// Tree is the resource drive; its root ID is "root" and file IDs are 40
// lowercase hex characters.
func (s *Server) Tree() *fakecloud.Tree { return s.tree }

// Sharer is a second user's drive, from which AddShare shares folders;
// its root ID is "root" as well.
func (s *Server) Sharer() *fakecloud.Tree { return s.sharer }

// Faults are the knobs of every endpoint, the web API's and the CDN's
// included.
func (s *Server) Faults() *fakecloud.Faults { return s.faults }

// Counters count calls by endpoint: the Open API's by their path below
// /adrive/v1.0/, the web API's by their whole path (web.go), CDN fetches
// as "cdn" and part uploads as "oss/put".
func (s *Server) Counters() *fakecloud.Counters { return s.counters }

// Endpoints are the Open API's.
func (s *Server) Endpoints() fakecloud.Endpoints {
	return fakecloud.Endpoints{
		List: "openFile/list", Get: "openFile/get", Link: "openFile/getDownloadUrl",
		Refresh: "oauth/access_token", Upload: "openFile/create", Part: "oss/put",
		Complete: "openFile/complete", CDN: "cdn",
	}
}

// PageSize is the largest list limit the emulator takes, which the driver
// asks for by default (docs/protocols/aliyun.md §2, list).
func (s *Server) PageSize() int { return s.options().MaxPageLimit }

// MountOptions point the Open API driver at the emulator, with the app's
// client_id and secret, and its web login at the emulator's web API and
// passport.
func (s *Server) MountOptions(refreshToken string) map[string]any {
	return map[string]any{
		"refresh_token": refreshToken,
		"client_id":     s.clientID,
		"client_secret": s.clientSecret,
		"open_api_url":  s.URL(),
		"web_api_url":   s.URL(),
		"auth_url":      s.AuthURL(),
		"passport_url":  s.PassportURL(),
	}
}

// FailingLoginOptions are a client secret the Open API refuses
// (InvalidClient), and, without an app of the mount's own, a token
// service at renew_url that is down.
func (s *Server) FailingLoginOptions() map[string]map[string]any {
	return map[string]map[string]any{
		"a wrong client secret":        {"client_secret": "not-the-app-secret"},
		"a token service that is down": {"client_id": "", "client_secret": "", "renew_url": "http://127.0.0.1:1"},
	}
}

// LoginVariantOptions log in, and refresh, through the token proxy
// (ProxyURL) instead of the mount's own app.
func (s *Server) LoginVariantOptions() map[string]map[string]any {
	return map[string]map[string]any{
		"through a token service": {"client_id": "", "client_secret": "", "renew_url": s.ProxyURL()},
	}
}

// TokenFilePrefix names the Open API login's file in the driver's token
// store.
func (s *Server) TokenFilePrefix() string { return "aliyun-" }

// UnpacedMountOptions raise the driver's per-class rates far above the
// Open API's 4, 1 and 15 per second.
func (s *Server) UnpacedMountOptions() map[string]any {
	return map[string]any{"rate_limits": map[string]any{"list": 100, "link": 100, "other": 200}}
}

// PartSizeMountOptions set the driver's upload part size.
func (s *Server) PartSizeMountOptions(n int64) map[string]any {
	return map[string]any{"upload_part_size": n}
}

// MaxNameBytes is the service's limit on a name's length.
func (s *Server) MaxNameBytes() int { return maxNameBytes }

// ForbiddenNameChars are the characters, besides "/", that no name may
// hold: none.
func (s *Server) ForbiddenNameChars() string { return "" }

// ShareAccountOptions are what an account mount made with MountOptions
// adds to play share links: a new web login, since saving a shared file
// into the drive is a web-API call.
func (s *Server) ShareAccountOptions() map[string]any {
	return map[string]any{
		"web_refresh_token": s.web.login.Issue().Refresh,
		"web_api_url":       s.URL(),
		"auth_url":          s.AuthURL(),
	}
}

// ShareMount is the driver and options of a mount of the share shareID,
// with its code, played through the account mounted at account.
func (s *Server) ShareMount(shareID, code, account string) (driver string, options map[string]any) {
	return "aliyun-share", map[string]any{
		"share_id":    shareID,
		"share_pwd":   code,
		"account":     account,
		"web_api_url": s.URL(),
	}
}

// DedupesUploadsByHash implements fakecloud.RapidUploads.
func (s *Server) DedupesUploadsByHash() {}
