package stream

import (
	"io"
	"testing"

	"pandav/internal/fakecloud"
	"pandav/internal/metrics"
)

// TestStreamMetrics: a Reader counts as an active stream from Open to
// Close (a second Close counts nothing), and the chunk memory it holds
// shows in the stream memory until it is given back.
func TestStreamMetrics(t *testing.T) {
	blob := fakecloud.NewSeededBlob(5, 3<<20, "")
	p := newPool(Options{ChunkSize: 1 << 20})
	active := func() float64 { return metrics.Sum("pandav_streams_active", nil) }
	memory := func() float64 { return metrics.Sum("pandav_stream_memory_bytes", nil) }
	before, memBefore := active(), memory()
	r := p.Open(t.Context(), &source{cdn: newCDN(t, blob)}, blob.Size(), "metrics.bin")
	if got := active() - before; got != 1 {
		t.Errorf("streams active after Open: +%v, want +1", got)
	}
	if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if got, held := memory()-memBefore, float64(p.BudgetInUse()); got != held || held < 1<<20 {
		t.Errorf("stream memory while reading: +%v, the pool holds %v; want the same, a chunk or more", got, held)
	}
	r.Close()
	r.Close()
	waitBudgetReturned(t, p)
	if got := active() - before; got != 0 {
		t.Errorf("streams active after Close: %+v, want as before", got)
	}
	if got := memory() - memBefore; got != 0 {
		t.Errorf("stream memory after Close: %+v, want as before", got)
	}
}
