package aliyuntest

// IssuedSecrets lists every credential the emulator has handed out or
// holds: refresh and access tokens, the app secret and the URL signing
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
	return out
}
