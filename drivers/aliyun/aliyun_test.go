package aliyun

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/aliyun/aliyuntest"
)

// testPageSize is a small page, so that the variants of the conformance
// suite here (web API, shares) list folders of several pages quickly.
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
		RefreshToken: srv.Login().Issue().Refresh,
		ClientID:     srv.ClientID(),
		ClientSecret: srv.ClientSecret(),
		OpenAPIURL:   srv.URL(),
	}
}
