package aliyuntest

// IssuedSecrets lists every credential the emulator has handed out or
// holds: refresh and access tokens (Open API and web), share tokens, the
// app secret, the URL signing key, the preview redirects and the logins'
// QR codes, so that a test can check that none reached a log.
func (s *Server) IssuedSecrets() []string {
	out := append(s.login.Issued(), s.web.login.Issued()...)
	s.mu.Lock()
	defer s.mu.Unlock()
	out = append(out, s.clientSecret, string(s.signKey))
	// Share codes are left out: four characters match by chance in any
	// log.
	for st := range s.web.shareTokens {
		out = append(out, st)
	}
	// A login's QR code, its id and its authCode let anyone follow, and
	// finish, the login.
	for code := range s.authCodes {
		out = append(out, code)
	}
	// A preview's redirect id opens its playlist.
	for id := range s.web.preview.redirects {
		out = append(out, id)
	}
	for _, p := range s.qr.PendingLogins() {
		out = append(out, p.QR, p.ID)
	}
	return out
}
