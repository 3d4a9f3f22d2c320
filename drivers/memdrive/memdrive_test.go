package memdrive

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"pandav/config"
	"pandav/drivers"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/drivers/memdrive/memdrivetest"
)

// TestConformance is the whole harness a driver needs to run the suite.
func TestConformance(t *testing.T) {
	h := func(t *testing.T) *drivertest.Fixture {
		c, d := mount(t, memdrivetest.Options{PageCap: 25, Rate: -1})
		return &drivertest.Fixture{Drive: d, Cloud: c}
	}
	t.Run("read", func(t *testing.T) { drivertest.RunRead(t, h) })
	t.Run("write", func(t *testing.T) { drivertest.RunWrite(t, h) })
}

// testPolicy keeps the waits between tries to milliseconds, whatever
// Retry-After says; how many tries is the mount's (options.attempts).
var testPolicy = upstream.Policy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, GiveUpAfter: time.Second}

// mount starts an emulator and a drive logged in to it with a new login.
func mount(t *testing.T, o memdrivetest.Options) (*memdrivetest.Server, *Drive) {
	t.Helper()
	c := memdrivetest.NewServer(o)
	t.Cleanup(c.Close)
	return c, open(t, c, testEnv(t), c.Login().Issue().Refresh)
}

func testEnv(t *testing.T) drivers.Env {
	return drivers.Env{MountPath: "/memdrive", StateDir: t.TempDir(), Log: zerolog.Nop()}
}

// open mounts c with refreshToken; the drive paces nothing, because the
// tests that want throttling ask the emulator for it.
func open(t *testing.T, c *memdrivetest.Server, env drivers.Env, refreshToken string) *Drive {
	t.Helper()
	return openWith(t, env, Options{RefreshToken: refreshToken, APIURL: c.APIURL(), QPS: 1000})
}

// openWith mounts with o, waiting as testPolicy says between its tries.
func openWith(t *testing.T, env drivers.Env, o Options) *Drive {
	t.Helper()
	d, err := New(context.Background(), env, o)
	if err != nil {
		t.Fatal(err)
	}
	p := testPolicy
	p.Attempts = d.caller.Policy.Attempts
	d.caller.Policy = p
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		key  string // named by the error; "" for none
	}{
		{"defaults", Options{RefreshToken: " rt "}, ""},
		{"no refresh token", Options{}, "refresh_token"},
		{"api_url not http", Options{RefreshToken: "rt", APIURL: "ftp://example.com"}, "api_url"},
		{"page_size above the cloud's", Options{RefreshToken: "rt", PageSize: 201}, "page_size"},
		{"negative qps", Options{RefreshToken: "rt", QPS: -1}, "qps"},
		{"negative attempts", Options{RefreshToken: "rt", Attempts: -1}, "attempts"},
		{"attempts beyond patience", Options{RefreshToken: "rt", Attempts: maxAttempts + 1}, "attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), testEnv(t), tc.o)
			if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.Contains(err.Error(), "options."+tc.key)) {
				t.Fatalf("got %v, want an error naming %q", err, tc.key)
			}
		})
	}
	o := Options{RefreshToken: "rt"}
	if err := o.normalize(); err != nil || o.PageSize != maxPageSize || o.QPS != defaultQPS || o.APIURL != defaultAPIURL || o.Attempts != upstream.DefaultPolicy.Attempts {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	if _, err := New(context.Background(), drivers.Env{}, o); err == nil {
		t.Fatal("a drive without state_dir, where its rotated tokens must go")
	}
}

// TestMountOptions mounts the emulator as a config does: by the
// registered name, with the emulator's MountOptions decoded strictly.
func TestMountOptions(t *testing.T) {
	c := memdrivetest.NewServer(memdrivetest.Options{})
	defer c.Close()
	mountWith := func(opts map[string]any) (drivers.Drive, error) {
		var n yaml.Node
		if err := n.Encode(opts); err != nil {
			t.Fatal(err)
		}
		factory, err := drivers.Lookup(c.Driver())
		if err != nil {
			t.Fatal(err)
		}
		return factory(context.Background(), testEnv(t), func(v any) error { return config.Decode(&n, v, "options") })
	}
	d, err := mountWith(c.MountOptions(c.Login().Issue().Refresh))
	if err != nil {
		t.Fatal(err)
	}
	defer d.(drivers.Closer).Close(context.Background())
	if _, err := d.List(ctxT(t), drivers.Entry{ID: c.Tree().RootID(), IsDir: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := mountWith(map[string]any{"refresh_token": "rt", "page_sise": 10}); err == nil || !strings.Contains(err.Error(), "page_sise") {
		t.Fatalf("an unknown key: %v", err)
	}
}
