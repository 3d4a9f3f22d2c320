package fakecloud

import (
	"errors"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestLoginsRotation(t *testing.T) {
	cases := []struct {
		name string
		// run acts on a fresh family whose first login is g, and returns
		// the error of the call under test.
		run        func(l *Logins, g Grant) error
		want       error
		reuses     int
		rotations  int
		latestIsG0 bool // Latest is still the first login's refresh token
	}{
		{name: "trade", run: func(l *Logins, g Grant) error {
			_, err := l.Rotate(g.Refresh)
			return err
		}, rotations: 1},
		{name: "successor trades", run: func(l *Logins, g Grant) error {
			next, err := l.Rotate(g.Refresh)
			if err != nil {
				return err
			}
			_, err = l.Rotate(next.Refresh)
			return err
		}, rotations: 2},
		{name: "spent token", run: func(l *Logins, g Grant) error {
			l.Rotate(g.Refresh)
			_, err := l.Rotate(g.Refresh)
			return err
		}, want: ErrSpentToken, reuses: 1, rotations: 1},
		{name: "unknown token", run: func(l *Logins, g Grant) error {
			_, err := l.Rotate("never issued")
			return err
		}, want: ErrUnknownToken, latestIsG0: true},
		{name: "access token is no refresh token", run: func(l *Logins, g Grant) error {
			_, err := l.Rotate(g.Access)
			return err
		}, want: ErrUnknownToken, latestIsG0: true},
		{name: "revoked login", run: func(l *Logins, g Grant) error {
			l.RevokeAll()
			_, err := l.Rotate(g.Refresh)
			return err
		}, want: ErrRevokedToken, latestIsG0: true},
		{name: "new login after a revoke", run: func(l *Logins, g Grant) error {
			l.RevokeAll()
			_, err := l.Rotate(l.Issue().Refresh)
			return err
		}, rotations: 1},
		{name: "fresh access token", run: func(l *Logins, g Grant) error {
			return l.Check(g.Access)
		}, latestIsG0: true},
		{name: "expired access token", run: func(l *Logins, g Grant) error {
			l.ExpireAccess()
			return l.Check(g.Access)
		}, want: ErrExpiredToken, latestIsG0: true},
		{name: "access token of a revoked login", run: func(l *Logins, g Grant) error {
			l.RevokeAll()
			return l.Check(g.Access)
		}, want: ErrExpiredToken, latestIsG0: true},
		{name: "unknown access token", run: func(l *Logins, g Grant) error {
			return l.Check(g.Refresh)
		}, want: ErrUnknownToken, latestIsG0: true},
		{name: "successor's access token after an expiry", run: func(l *Logins, g Grant) error {
			l.ExpireAccess()
			next, err := l.Rotate(g.Refresh)
			if err != nil {
				return err
			}
			return l.Check(next.Access)
		}, rotations: 1},
		{name: "access token outlives its TTL", run: func(l *Logins, g Grant) error {
			l.SetAccessTTL(time.Millisecond)
			next, _ := l.Rotate(g.Refresh)
			time.Sleep(5 * time.Millisecond)
			return l.Check(next.Access)
		}, want: ErrExpiredToken, rotations: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLogins(time.Hour, nil)
			g := l.Issue()
			if err := tc.run(l, g); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if got := l.Reuses(); got != tc.reuses {
				t.Errorf("Reuses %d, want %d", got, tc.reuses)
			}
			if got := l.Rotations(); got != tc.rotations {
				t.Errorf("Rotations %d, want %d", got, tc.rotations)
			}
			if got := l.Latest() == g.Refresh; got != tc.latestIsG0 {
				t.Errorf("Latest is the first login's token: %v, want %v", got, tc.latestIsG0)
			}
		})
	}
}

func TestLoginsMintAndIssued(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	l := NewLogins(90*time.Second, nil)
	g := l.Issue()
	if !hex32.MatchString(g.Refresh) || !hex32.MatchString(g.Access) || g.Refresh == g.Access {
		t.Fatalf("the default tokens are not two 32-hex strings: %q %q", g.Refresh, g.Access)
	}
	if g.TTL != 90*time.Second {
		t.Errorf("TTL %v, want the family's 90s", g.TTL)
	}
	next, _ := l.Rotate(g.Refresh)
	issued := l.Issued()
	for _, tok := range []string{g.Refresh, g.Access, next.Refresh, next.Access} {
		if !slices.Contains(issued, tok) {
			t.Errorf("Issued lacks %.6s...", tok)
		}
	}

	var kinds []string
	shaped := NewLogins(time.Minute, func(kind string, ttl time.Duration) string {
		kinds = append(kinds, kind+"/"+ttl.String())
		return kind + "-" + RandomHex(4)
	})
	shaped.Issue()
	if want := []string{"refresh/2160h0m0s", "access/1m0s"}; !slices.Equal(kinds, want) {
		t.Errorf("mint asked for %v, want %v", kinds, want)
	}
}

// TestLoginsOneTradeWins: of many trades of one token at once, exactly
// one wins and every other counts as a reuse, as on the real clouds.
func TestLoginsOneTradeWins(t *testing.T) {
	l := NewLogins(time.Hour, nil)
	rt := l.Issue().Refresh
	const racers = 16
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = l.Rotate(rt)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrSpentToken):
			t.Errorf("a losing trade got %v, want ErrSpentToken", err)
		}
	}
	if won != 1 || l.Reuses() != racers-1 || l.Rotations() != 1 {
		t.Fatalf("%d trades won, %d reuses, %d rotations; want 1, %d, 1", won, l.Reuses(), l.Rotations(), racers-1)
	}
}
