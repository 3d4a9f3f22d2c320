package pan115test

// IssuedSecrets lists every credential the emulator has handed out:
// refresh and access tokens, STS secrets and security tokens, and the
// keys of CDN links, so that a test can check that none reached a log.
func (s *Server) IssuedSecrets() []string {
	out := s.login.Issued()
	s.mu.Lock()
	for tok, l := range s.links {
		out = append(out, tok, l.key)
	}
	s.mu.Unlock()
	s.up.mu.Lock()
	for _, c := range s.up.sts {
		out = append(out, c.secret, c.token)
	}
	s.up.mu.Unlock()
	return out
}
