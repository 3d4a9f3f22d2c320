package aliyun

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/drivertest"
)

const testPageSize = 50

// testEnv is a driver environment with its own state dir and a logger
// that writes through t.
func testEnv(t *testing.T) drivers.Env {
	return drivers.Env{MountPath: "/aliyun", StateDir: t.TempDir(), Log: zerolog.New(zerolog.NewTestWriter(t))}
}

// newEmulator starts an emulator whose 429s ask for short waits, so that
// retries do not slow the tests down.
func newEmulator(t *testing.T, o aliyuntest.Options) *aliyuntest.Server {
	if o.RetryAfter == 0 {
		o.RetryAfter = 20 * time.Millisecond
	}
	srv := aliyuntest.NewServer(o)
	t.Cleanup(srv.Close)
	return srv
}

func openOptions(srv *aliyuntest.Server) Options {
	return Options{
		RefreshToken: srv.NewRefreshToken(),
		ClientID:     srv.ClientID(),
		ClientSecret: srv.ClientSecret(),
		OpenAPIURL:   srv.URL(),
	}
}

func TestConformanceRead(t *testing.T) {
	t.Parallel()
	drivertest.RunRead(t, func(t *testing.T) *drivertest.Fixture {
		srv := newEmulator(t, aliyuntest.Options{})
		o := openOptions(srv)
		o.PageSize = testPageSize
		d, err := New(context.Background(), testEnv(t), o)
		if err != nil {
			t.Fatal(err)
		}
		return &drivertest.Fixture{
			Drive:              d,
			Tree:               srv.Tree,
			RootID:             srv.Tree.RootID(),
			Faults:             srv.Faults,
			Counters:           srv.Counters,
			ListEndpoint:       "openFile/list",
			LinkEndpoint:       "openFile/getDownloadUrl",
			PageSize:           testPageSize,
			ExpireAccessTokens: srv.ExpireAccessTokens,
			ExpireLinks:        srv.ExpireLinks,
		}
	})
}
