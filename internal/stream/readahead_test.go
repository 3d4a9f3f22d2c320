package stream

import (
	"fmt"
	"io"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// Read-ahead adds connections only for a client that one connection holds
// back: on a CDN that throttles each connection, chunks stay within their
// buffers and go side by side; on a fast one, the head chunk alone serves.
func TestReadAheadOnlyWhenOneConnectionHoldsBack(t *testing.T) {
	for _, throttled := range []bool{true, false} {
		t.Run(fmt.Sprint("throttled=", throttled), func(t *testing.T) {
			blob := fakecloud.NewSeededBlob(3, 24<<20, "")
			c := newCDN(t, blob)
			if throttled {
				c.faults.SetLatency(30 * time.Millisecond)
				c.faults.SetConnRate(16 << 20)
			}
			r := newPool(Options{}).Open(t.Context(), &source{cdn: c, maxConns: 3}, blob.Size(), "far.bin")
			defer r.Close()
			most := 0
			buf := make([]byte, 256<<10)
			for {
				_, err := r.Read(buf)
				most = max(most, len(r.window))
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if r.held != throttled || (most > 1) != throttled {
				t.Fatalf("held %v, up to %d chunks at once; want read-ahead %v", r.held, most, throttled)
			}
			if !throttled {
				return
			}
			for _, rg := range c.requestedRanges() {
				var a, b int64
				if _, err := fmt.Sscanf(rg, "bytes=%d-%d", &a, &b); err == nil && b-a+1 > heldChunk {
					t.Errorf("range %s is longer than a chunk's buffer on a throttled CDN", rg)
				}
			}
		})
	}
}
