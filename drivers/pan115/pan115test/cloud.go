package pan115test

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"pandav/internal/fakecloud"
)

// Name is the cloud's short name: the subtest name and, behind a slash,
// the mount path the demo and the harnesses give it.
const Name = "115"

var (
	_ fakecloud.Cloud     = (*Server)(nil)
	_ fakecloud.Unpaced   = (*Server)(nil)
	_ fakecloud.PartSized = (*Server)(nil)
	_ fakecloud.QRLogins  = (*Server)(nil)

	_ fakecloud.FileSizeLimited = (*Server)(nil)
	_ fakecloud.FailingLogins   = (*Server)(nil)
)

// MaxFileSize is the largest file 115 takes (docs/protocols/pan115.md §4
// Upload).
const MaxFileSize = 115 << 30

// LimitFileSize makes init refuse files over n bytes, and tells the
// driver the limit, which it checks before init: 115's own answer to an
// over-size init is not recorded (docs/protocols/pan115.md §6).
func (s *Server) LimitFileSize(n int64) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxFileSize = n
	return map[string]any{"max_file_size": n}
}

// fits answers, and returns false, unless a file of size bytes may be
// uploaded: within the largest file, and room left in the account.
func (s *Server) fits(w http.ResponseWriter, size int64) bool {
	s.mu.Lock()
	total, most := s.spaceTotal, s.maxFileSize
	s.mu.Unlock()
	switch {
	case size > most:
		// The emulator's stand-in: a parameter refusal.
		fail(w, 40100000, "file_size 超出上传限制")
		return false
	case s.tree.Usage()+size > total:
		fail(w, 91005, "空间不足，上传失败。")
		return false
	}
	return true
}

// Start starts an emulator for a harness that treats every cloud alike.
// 115 states no wait when it throttles, so RetryAfter has nothing to set.
func Start(o fakecloud.Options) fakecloud.Cloud {
	opts := Options{AccessTTL: o.AccessTTL, LinkTTL: o.LinkTTL}
	if o.Unthrottled {
		opts.QPS = -1
	}
	return NewServer(opts)
}

// Name is "115".
func (s *Server) Name() string { return Name }

// Driver is the driver's registered name.
func (s *Server) Driver() string { return "pan115" }

// Tree is the account's storage; its root ID is "0" and IDs are 19
// digits. Content seeded through it does not lag; what the API changes
// does (Options.Lag).
func (s *Server) Tree() *fakecloud.Tree { return s.tree }

// Faults are the knobs of every endpoint, the CDN's and OSS's included.
func (s *Server) Faults() *fakecloud.Faults { return s.faults }

// Counters count calls by the Endpoint names above.
func (s *Server) Counters() *fakecloud.Counters { return s.counters }

// Endpoints are proapi's and passportapi's; an upload's parts are OSS
// multipart ones.
func (s *Server) Endpoints() fakecloud.Endpoints {
	return fakecloud.Endpoints{
		List: EndpointFiles, Get: EndpointGetInfo, Link: EndpointDownURL,
		Refresh: EndpointRefresh, Upload: EndpointUploadInit, Part: EndpointOSSPart,
		Complete: EndpointOSSComplete, CDN: EndpointCDN,
	}
}

// PageSize is the silent cap on a listing's limit, where the driver's
// default page size sits (docs/protocols/pan115.md §2).
func (s *Server) PageSize() int { return s.o.PageCap }

// MountOptions point the driver at the emulator's proapi, passportapi and
// qrcodeapi, with the app a login names.
func (s *Server) MountOptions(refreshToken string) map[string]any {
	return map[string]any{
		"refresh_token": refreshToken,
		"api_url":       s.APIURL(),
		"passport_url":  s.PassportURL(),
		"qrcode_url":    s.QRCodeURL(),
		"app_id":        s.AppID(),
	}
}

// FailingLoginOptions name an app the open platform does not know: 115
// answers 40140106, APP ID 无效 (docs/protocols/accounts-offline-shares.md
// §1.7).
func (s *Server) FailingLoginOptions() map[string]map[string]any {
	return map[string]map[string]any{"a wrong app id": {"app_id": "99"}}
}

// TokenFilePrefix names the login's file in the driver's token store.
func (s *Server) TokenFilePrefix() string { return "pan115-" }

// UnpacedMountOptions raise the driver's calls per second far above the
// 5 per token at which 115 answers 770004, and its scan budget with them.
func (s *Server) UnpacedMountOptions() map[string]any {
	return map[string]any{"qps": 200, "scan_budget": 12000}
}

// PartSizeMountOptions set the driver's upload part size.
func (s *Server) PartSizeMountOptions(n int64) map[string]any {
	return map[string]any{"upload_part_size": n}
}

// MaxNameBytes is 115's limit on a name's length.
func (s *Server) MaxNameBytes() int { return maxNameBytes }

// ForbiddenNameChars are the characters, besides "/", that 115 refuses in
// a name.
func (s *Server) ForbiddenNameChars() string { return forbiddenNameChars }

// SetRefreshMinInterval makes a refresh within d of the previous one
// answer 40140117, too frequent; 0 turns the check off.
func (s *Server) SetRefreshMinInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.RefreshMinInterval = d
}

// RefreshElsewhere logs in anew and refreshes that login at the passport
// endpoint, as another app of the same account does: for the next
// RefreshMinInterval, a driver's own refresh is refused as too frequent.
func (s *Server) RefreshElsewhere() error {
	resp, err := http.PostForm(s.PassportURL()+"/open/refreshToken", url.Values{"refresh_token": {s.login.Issue().Refresh}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("refresh answered %s", resp.Status)
	}
	return nil
}

// DedupesUploadsByHash implements fakecloud.RapidUploads.
func (s *Server) DedupesUploadsByHash() {}
