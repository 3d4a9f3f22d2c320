package aliyun

import (
	"context"
	"testing"
	"time"

	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/drivertest"
)

// testPartSize is small so that multipart uploads stay small.
const testPartSize = 64 << 10

// writeTuning paces nothing and polls async tasks quickly: the write
// suite resolves paths by listing, and the rates are exercised by
// TestConformanceRead.
var writeTuning = tuning{rates: map[string]float64{}, policy: defaultTuning.policy, newTokenSource: defaultTuning.newTokenSource, taskPoll: 5 * time.Millisecond}

var unpaced = aliyuntest.Options{RateList: -1, RateLink: -1, RateOther: -1}

func TestConformanceWrite(t *testing.T) {
	drivertest.RunWrite(t, func(t *testing.T) *drivertest.Fixture {
		srv := newEmulator(t, unpaced)
		o := openOptions(srv)
		o.PageSize = testPageSize
		o.UploadPartSize = testPartSize
		d, err := newDrive(testEnv(t), o, writeTuning)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Root(context.Background()); err != nil {
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
			MultipartSize:      testPartSize + 1,
			UploadedBytes:      srv.UploadedBytes,
		}
	})
}
