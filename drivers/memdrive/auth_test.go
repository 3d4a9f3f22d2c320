package memdrive

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
	"pandav/internal/state"
)

// storedToken reads the one token of c's login in stateDir's store.
func storedToken(t *testing.T, c fakecloud.Cloud, stateDir string) upstream.Token {
	t.Helper()
	var found []upstream.Token
	toks, err := state.ReadTokens(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for k, tok := range toks {
		if strings.HasPrefix(k, c.TokenFilePrefix()) {
			found = append(found, tok)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d stored tokens, want one", len(found))
	}
	return found[0]
}

// savedFirst checks, as each signed call leaves, that the access token it
// carries is the one on disk, beside the newest refresh token the cloud
// issued: a crash at any moment leaves the login recoverable.
type savedFirst struct {
	t        *testing.T
	c        *memdrivetest.Server
	stateDir string
	calls    atomic.Int32
}

func (s *savedFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	if access, signed := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); signed {
		s.calls.Add(1)
		if tok := storedToken(s.t, s.c, s.stateDir); tok.Access != access || tok.Refresh != s.c.Login().Latest() {
			s.t.Errorf("%s %s went out with a token the disk does not hold yet", req.Method, req.URL.Path)
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestRotatedTokenSavedBeforeUse(t *testing.T) {
	ctx := ctxT(t)
	c := memdrivetest.NewServer(memdrivetest.Options{Rate: -1})
	defer c.Close()
	env := testEnv(t)
	check := &savedFirst{t: t, c: c, stateDir: env.StateDir}
	env.HTTPClient = &http.Client{Transport: check}
	configured := c.Login().Issue().Refresh
	root := drivers.Entry{ID: c.Tree().RootID(), IsDir: true}

	d := open(t, c, env, configured)
	if _, err := d.List(ctx, root); err != nil {
		t.Fatal(err)
	}
	c.Login().ExpireAccess() // the next call is refused, and refreshes
	if _, err := d.List(ctx, root); err != nil {
		t.Fatal(err)
	}
	d.Close(ctx)
	// A restart with the same config: the stored token wins over the
	// configured one, which the cloud has spent, and its still valid
	// access token needs no trade at all.
	again := open(t, c, env, configured)
	if _, err := again.List(ctx, root); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	if c.Login().Rotations() != 2 || c.Login().Reuses() != 0 || check.calls.Load() != 4 {
		t.Fatalf("%d trades, %d reuses of a spent token, %d signed calls; want 2, 0 and 4",
			c.Login().Rotations(), c.Login().Reuses(), check.calls.Load())
	}
}

// TestSecretsStayOut fails calls every way the cloud can, and checks that
// no token, link signature or address reaches the error or the log.
func TestSecretsStayOut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(c *memdrivetest.Server)
		call  func(d *Drive, file drivers.Entry) error
		want  error
	}{
		{"connection reset", func(c *memdrivetest.Server) { c.Faults().Inject(memdrivetest.EndpointChildren, fakecloud.Reset, 1, -1) },
			func(d *Drive, f drivers.Entry) error {
				_, err := d.List(ctxT(t), drivers.Entry{ID: f.ParentID, IsDir: true})
				return err
			},
			drivers.ErrUpstream},
		{"server errors", func(c *memdrivetest.Server) {
			c.Faults().Inject(memdrivetest.EndpointLink, fakecloud.ServerError, 1, -1)
		},
			func(d *Drive, f drivers.Entry) error { _, err := d.Link(ctxT(t), f, drivers.LinkRequest{}); return err },
			drivers.ErrUpstream},
		{"proxy page", func(c *memdrivetest.Server) { c.Faults().Inject(memdrivetest.EndpointGet, fakecloud.Garbage, 1, -1) },
			func(d *Drive, f drivers.Entry) error { _, err := d.Get(ctxT(t), f.ID); return err },
			drivers.ErrUpstream},
		{"login revoked", func(c *memdrivetest.Server) { c.Login().RevokeAll() },
			func(d *Drive, f drivers.Entry) error { _, err := d.Get(ctxT(t), f.ID); return err },
			drivers.ErrAuth},
		{"upload refused", func(c *memdrivetest.Server) { c.SetSpace(0) },
			func(d *Drive, f drivers.Entry) error {
				_, err := d.Upload(ctxT(t), drivers.Entry{ID: f.ParentID, IsDir: true}, "big.bin", drivers.NewBytesSource([]byte("data"), f.ModTime))
				return err
			},
			drivers.ErrNoSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			c := memdrivetest.NewServer(memdrivetest.Options{Rate: -1})
			defer c.Close()
			env := testEnv(t)
			env.Log = zerolog.New(&logs)
			d := open(t, c, env, c.Login().Issue().Refresh)
			c.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
			f, err := drivertest.Resolve(ctxT(t), d, "a.txt")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Link(ctxT(t), f, drivers.LinkRequest{}); err != nil { // a link's secrets, issued
				t.Fatal(err)
			}
			tc.spoil(c)
			err = tc.call(d, f)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, secret := range append(c.IssuedSecrets(), "sig=", "127.0.0.1") {
				if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
					t.Fatalf("%q is in the error %q or the log %q", secret, err, logs.String())
				}
			}
		})
	}
}
