package aliyuntest

// IssuedSecrets lists every credential the emulator has handed out or
// holds: refresh and access tokens (Open API and web), share tokens, the
// app secret and the URL signing key, so that a test can check that none
// reached a log.
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
	return out
}
