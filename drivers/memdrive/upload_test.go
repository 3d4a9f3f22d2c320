package memdrive

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"pandav/drivers"
	"pandav/drivers/memdrive/memdrivetest"
	"pandav/internal/fakecloud"
)

// TestUploadRetriesOnlyUnsentBodies: a call the cloud refuses before the
// body goes (Expect: 100-continue) is made again with the whole stream; a
// call that fails once the body has begun is not, because what is left of
// a read-once stream would be stored as the whole file.
func TestUploadRetriesOnlyUnsentBodies(t *testing.T) {
	data := bytes.Repeat([]byte("pandav "), 10000)
	for _, tc := range []struct {
		name   string
		client *http.Client // nil: the default, which waits for 100 Continue
		fault  fakecloud.FaultKind
		calls  int64
		ok     bool
	}{
		{"throttled before the body", nil, fakecloud.Throttle, 2, true},
		{"stale token before the body", nil, "", 2, true},
		{"reset once the body began", &http.Client{Transport: &http.Transport{}}, fakecloud.Reset, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := memdrivetest.NewServer(memdrivetest.Options{Rate: -1})
			defer c.Close()
			env := testEnv(t)
			env.HTTPClient = tc.client
			d := open(t, c, env, c.Login().Issue().Refresh)
			root, _ := d.Root(ctxT(t))
			if _, err := d.List(ctxT(t), root); err != nil { // logs in
				t.Fatal(err)
			}
			if tc.fault == "" {
				c.Login().ExpireAccess()
			} else {
				c.Faults().Inject(c.Endpoints().Upload, tc.fault, 1, 1)
			}
			src := &drivers.StreamSource{R: bytes.NewReader(data), N: int64(len(data))}
			e, err := d.Upload(ctxT(t), root, "stream.txt", src)
			if n := c.Counters().Get(c.Endpoints().Upload); n != tc.calls {
				t.Fatalf("%d upload calls, want %d (%v)", n, tc.calls, err)
			}
			if !tc.ok {
				if !errors.Is(err, drivers.ErrUpstream) {
					t.Fatalf("got %v, want a final ErrUpstream", err)
				}
				if _, found := c.Tree().Lookup("/stream.txt"); found == nil {
					t.Fatal("a partial body was stored")
				}
				return
			}
			stored, lerr := c.Tree().Lookup("/stream.txt")
			if err != nil || lerr != nil || stored.ID != e.ID || stored.Size() != int64(len(data)) || e.SHA1 != drivers.SHA1Of(data) {
				t.Fatalf("upload: %+v, %v; stored %+v, %v", e, err, stored, lerr)
			}
		})
	}
}
