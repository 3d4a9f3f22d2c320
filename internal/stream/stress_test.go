package stream

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// TestReadersInEveryRhythm reads one file through several readers at once,
// each with its own rhythm of read sizes, pauses and seeks, so that the
// fetch and the reader meet in every order: a piece sent while the
// connection is lent, a lease taken back mid-read, a budget spent. Every
// byte must be the file's, in order, and no read may end early.
func TestReadersInEveryRhythm(t *testing.T) {
	// A fast CDN serves each reader from its head chunk; a throttled one
	// (16 MiB/s a connection) gets read-ahead side by side for a reader
	// it holds back.
	for _, cdnRate := range []int64{96 << 20, 16 << 20} {
		t.Run(fmt.Sprintf("%dMiBps", cdnRate>>20), func(t *testing.T) {
			readersInEveryRhythm(t, cdnRate)
		})
	}
}

func readersInEveryRhythm(t *testing.T, cdnRate int64) {
	size := int64(24 << 20)
	if cdnRate < slowConn {
		size = 8 << 20
	}
	blob := fakecloud.NewSeededBlob(21, size, "")
	c := newCDN(t, blob)
	c.faults.SetConnRate(cdnRate)
	want := content(blob, 0, blob.Size())
	p := newPool(Options{ChunkSize: 256 << 10, MaxChunkSize: 8 << 20, MemoryBudget: 12 << 20, StallTimeout: 2 * time.Second})
	src := &source{cdn: c, maxConns: 2}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			r := p.Open(t.Context(), src, blob.Size(), fmt.Sprint("reader ", i))
			defer r.Close()
			off := int64(0)
			if i%2 == 1 {
				off = rng.Int64N(blob.Size() / 2)
			}
			r.Seek(off, io.SeekStart)
			buf := make([]byte, 1<<20)
			for off < blob.Size() {
				n := 1 + rng.IntN(len(buf))
				if rng.IntN(3) == 0 {
					n = 1 + rng.IntN(32<<10)
				}
				k, err := r.Read(buf[:n])
				if !bytes.Equal(buf[:k], want[off:off+int64(k)]) {
					t.Errorf("reader %d: the %d bytes at %d differ", i, k, off)
					return
				}
				off += int64(k)
				if err != nil && !(err == io.EOF && off == blob.Size()) {
					t.Errorf("reader %d at %d of %d: %v", i, off, blob.Size(), err)
					return
				}
				switch rng.IntN(40) {
				case 0:
					time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
				case 1:
					time.Sleep(time.Duration(rng.IntN(3)) * pauseGrace / 2)
				case 2: // a short seek forward, inside the window
					off = min(off+rng.Int64N(2<<20), blob.Size()-1)
					r.Seek(off, io.SeekStart)
				}
			}
		}()
	}
	wg.Wait()
	r := p.Open(t.Context(), src, blob.Size(), "last")
	r.Close()
	waitBudgetReturned(t, p)
}
