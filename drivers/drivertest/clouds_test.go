package drivertest_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/drivertest"
	"pandav/internal/demo"
	"pandav/internal/fakecloud"
)

// partSize is the upload part size the write suite sets where a driver
// takes one: small, so that a multipart upload stays small, and above
// every cloud's smallest part.
const partSize = 256 << 10

// maxFileSize is the largest file the write suite lets a cloud take where
// it can lower it: above every upload of the suite but the one meant to
// meet it.
const maxFileSize = 4 << 20

// TestClouds runs the suite on every cloud of the demo's list, each
// driver opened through the registry with its emulator's MountOptions,
// as pandav opens a mount. The read part meets the clouds' real rate
// limits; the write part turns them off on both ends, since it makes many
// calls and the limits are the read part's business.
func TestClouds(t *testing.T) {
	for _, e := range demo.Clouds {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			t.Run("read", func(t *testing.T) {
				t.Parallel()
				drivertest.RunRead(t, harness(e, false))
			})
			t.Run("write", func(t *testing.T) {
				t.Parallel()
				drivertest.RunWrite(t, harness(e, true))
			})
			t.Run("clouddownload", func(t *testing.T) {
				t.Parallel()
				drivertest.RunCloudDownload(t, harness(e, true))
			})
			t.Run("login", func(t *testing.T) {
				t.Parallel()
				drivertest.RunLogin(t, loginHarness(e))
			})
		})
	}
}

// loginHarness mounts a cloud with no login, for the clouds whose
// emulator plays the phone of a QR login and whose driver takes one.
func loginHarness(e demo.Emulator) drivertest.Harness {
	return func(t *testing.T) *drivertest.Fixture {
		c := e.Start(fakecloud.Options{RetryAfter: 20 * time.Millisecond})
		t.Cleanup(c.Close)
		if _, ok := c.(fakecloud.QRLogins); !ok {
			t.Skipf("%s's emulator has no QR login", e.Name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d, err := demo.OpenDrive(ctx, demo.CloudMount(c, ""), drivers.Env{StateDir: t.TempDir(), Log: zerolog.New(zerolog.NewTestWriter(t))})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.(drivers.Loginer); !ok {
			t.Skipf("%s's driver takes no login", e.Name)
		}
		return &drivertest.Fixture{Drive: d, Cloud: c}
	}
}

func harness(e demo.Emulator, write bool) drivertest.Harness {
	return func(t *testing.T) *drivertest.Fixture {
		// Throttled answers ask for short waits, so that retries do not
		// slow the suite down.
		c := e.Start(fakecloud.Options{RetryAfter: 20 * time.Millisecond, Unthrottled: write})
		t.Cleanup(c.Close)
		m := demo.CloudMount(c, c.Login().Issue().Refresh)
		f := &drivertest.Fixture{Cloud: c}
		if write {
			if u, ok := c.(fakecloud.Unpaced); ok {
				maps.Copy(m.Options, u.UnpacedMountOptions())
			}
			if cd, ok := c.(fakecloud.CloudDownloads); ok {
				// Without watch folders: for the driver to follow its
				// cloud-download tasks quickly.
				maps.Copy(m.Options, cd.WatchMountOptions())
			}
			if p, ok := c.(fakecloud.PartSized); ok {
				maps.Copy(m.Options, p.PartSizeMountOptions(partSize))
				f.MultipartSize = partSize + 1
			}
			if l, ok := c.(fakecloud.FileSizeLimited); ok {
				maps.Copy(m.Options, l.LimitFileSize(maxFileSize))
				f.MaxFileSize = maxFileSize
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d, err := demo.OpenDrive(ctx, m, drivers.Env{StateDir: t.TempDir(), Log: zerolog.New(zerolog.NewTestWriter(t))})
		if err != nil {
			t.Fatal(err)
		}
		f.Drive = d
		return f
	}
}
