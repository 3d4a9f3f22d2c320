package pan115test

// IssuedSecrets lists every credential the emulator has handed out:
// refresh and access tokens, STS secrets and security tokens, the keys
// of CDN links, and the QR codes of logins with their signs and the code
// verifiers they were traded with, so that a test can check that none
// reached a log.
func (s *Server) IssuedSecrets() []string {
	out := s.login.Issued()
	s.mu.Lock()
	for tok, l := range s.links {
		out = append(out, tok, l.key)
	}
	out = append(out, s.verifiers...)
	s.mu.Unlock()
	s.up.mu.Lock()
	for _, c := range s.up.sts {
		out = append(out, c.secret, c.token)
	}
	s.up.mu.Unlock()
	// A device code's QR text and sign let anyone who holds them follow,
	// and with the verifier finish, the login.
	for _, p := range s.qr.PendingLogins() {
		out = append(out, p.QR, p.Extra.(*deviceCode).sign)
	}
	return out
}
