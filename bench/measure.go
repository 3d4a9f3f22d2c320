package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"

	"pandav/internal/fakecloud"
)

// Bytes are checked with CRC-32C: the hardware does it at many GB/s, so
// checking every byte does not slow what is being measured.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newClient is a plain keep-alive client, alike for pandav and direct.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// fetched is one GET, timed.
type fetched struct {
	status int
	ttfb   time.Duration // until the first body byte was read
	total  time.Duration
	n      int64
	crc    uint32
}

// get fetches url (a byte range when length > 0) and checksums the body.
func get(ctx context.Context, hc *http.Client, url string, hdr http.Header, off, length int64) (fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetched{}, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", benchUA)
	}
	if length > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return fetched{}, redact(err)
	}
	defer resp.Body.Close()
	f := fetched{status: resp.StatusCode}
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	first := true
	for {
		n, err := resp.Body.Read(*buf)
		if n > 0 {
			if first {
				f.ttfb = time.Since(start)
				first = false
			}
			f.crc = crc32.Update(f.crc, castagnoli, (*buf)[:n])
			f.n += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return f, redact(err)
		}
	}
	f.total = time.Since(start)
	if first {
		f.ttfb = f.total
	}
	return f, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// redact drops the URL from a client error: CDN URLs carry signatures.
func redact(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok {
		if inner := u.Unwrap(); inner != nil {
			return fmt.Errorf("GET: %w", inner)
		}
	}
	return err
}

// expectCRC is the CRC-32C of blob[off:off+n], computed in parallel
// before the timing starts.
func expectCRC(blob *fakecloud.SeededBlob, off, n int64) uint32 {
	const piece = 8 << 20
	parts := int((n + piece - 1) / piece)
	crcs := make([]uint32, parts)
	lens := make([]int64, parts)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := off + int64(i)*piece
			l := min(piece, off+n-start)
			b := make([]byte, l)
			blob.ReadAt(b, start)
			crcs[i], lens[i] = crc32.Checksum(b, castagnoli), l
		}()
	}
	wg.Wait()
	return combineCRCs(crcs, lens)
}

// combineCRCs joins per-part CRC-32Cs into the CRC of the concatenation,
// using the GF(2) matrix method of zlib's crc32_combine.
func combineCRCs(crcs []uint32, lens []int64) uint32 {
	out := crcs[0]
	for i := 1; i < len(crcs); i++ {
		out = crc32Combine(out, crcs[i], lens[i])
	}
	return out
}

const castagnoliPoly = 0x82f63b78 // reversed

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}

func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [32]uint32
	odd[0] = castagnoliPoly
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd)
	gf2Square(&odd, &even)
	for {
		gf2Square(&even, &odd)
		if len2&1 != 0 {
			crc1 = gf2Times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2Times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

// check says what is wrong with a fetch, or nil.
func (f fetched) check(wantStatus int, wantN int64, wantCRC uint32) error {
	switch {
	case f.status != wantStatus:
		return fmt.Errorf("HTTP %d, want %d", f.status, wantStatus)
	case f.n != wantN:
		return fmt.Errorf("got %d bytes, want %d", f.n, wantN)
	case f.crc != wantCRC:
		return fmt.Errorf("bytes differ from the seeded file (crc32c %08x, want %08x)", f.crc, wantCRC)
	}
	return nil
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(k, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mibps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}
