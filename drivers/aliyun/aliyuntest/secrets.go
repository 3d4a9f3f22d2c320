package aliyuntest

// IssuedSecrets lists every credential the emulator has handed out or
// holds: refresh and access tokens (Open API and web), share tokens, the app secret and the URL signing
// key, so that a test can check that none reached a log.
func (s *Server) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{s.clientSecret, string(s.signKey)}
	for rt := range s.refresh {
		out = append(out, rt)
	}
	for at := range s.access {
		out = append(out, at)
	}
	// The web login's tokens and the share tokens. Share codes are left
	// out: four characters match by chance in any log.
	for rt := range s.web.refresh {
		out = append(out, rt)
	}
	for at := range s.web.access {
		out = append(out, at)
	}
	for st := range s.web.shareTokens {
		out = append(out, st)
	}
	return out
}
