package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// Paths of the bench's own files, relative to a drive's root, beside the
// sample tree.
const (
	benchDir   = "/bench"
	seqPath    = benchDir + "/sequential.bin"
	streamsDir = benchDir + "/streams"
	bigDir     = benchDir + "/big folder"
	coldDir    = benchDir + "/cold folder"
	probeDir   = benchDir + "/probe folder"
	uploadDir  = benchDir + "/uploads"
	benchUA    = "pandav-bench/1"
)

func streamPath(i int) string { return fmt.Sprintf("%s/stream-%02d.bin", streamsDir, i) }

// seeded is one generated file and where it sits in each cloud.
type seeded struct {
	path string
	blob *fakecloud.SeededBlob
	ids  map[string]string // cloud name -> file id
}

// clouds are the emulators of demo's list, seeded, and the bench's own
// in-process drivers, which fetch the CDN links that the direct figures
// use. Every cloud serves the throughput and range scenarios (a, b); the
// first of the list, main, also serves the others (c-f).
type clouds struct {
	all []*cloud

	seq     *seeded
	streams []*seeded

	stateDir string
}

// cloud is one emulator, where pandav mounts it, and the bench's own
// driver for it.
type cloud struct {
	fakecloud.Cloud
	mount  string
	direct drivers.Drive
}

func (c *clouds) main() *cloud { return c.all[0] }

func startClouds(ctx context.Context, sz sizes, latency time.Duration, connRate int64, dir string) (*clouds, error) {
	c := &clouds{stateDir: filepath.Join(dir, "direct-state")}
	for _, e := range demo.Clouds {
		// The zero Options are each cloud's real per-account limits:
		// aliyun list 4/s, link 1/s, other 15/s, 3 CDN connections per
		// file; 115 5 calls/s per token, 2 connections per link.
		cl := e.Start(fakecloud.Options{})
		c.all = append(c.all, &cloud{Cloud: cl, mount: demo.MountPath(cl)})
		cl.Faults().SetLatency(latency)
		cl.Faults().SetConnRate(connRate)
		cl.SetSpace(e.Space)
	}
	if err := c.seed(sz); err != nil {
		c.close()
		return nil, err
	}
	if err := os.MkdirAll(c.stateDir, 0o700); err != nil {
		c.close()
		return nil, err
	}
	for _, cl := range c.all {
		env := drivers.Env{MountPath: "/bench-direct-" + cl.Name(), StateDir: c.stateDir, Log: zerolog.Nop()}
		d, err := demo.OpenDrive(ctx, demo.CloudMount(cl, cl.Login().Issue().Refresh), env)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("direct %s driver: %w", cl.Name(), err)
		}
		cl.direct = d
	}
	return c, nil
}

func (c *clouds) close() {
	for _, cl := range c.all {
		cl.Close()
	}
}

func (c *clouds) seed(sz sizes) error {
	// A made-up SHA1 spares the emulators hashing gigabytes when they list
	// these files; the bench checks CRCs of what it reads instead.
	gen := func(p string, seed uint64, n int64) *seeded {
		return &seeded{path: p, blob: fakecloud.NewSeededBlob(seed, n, fakeSHA1(seed)), ids: map[string]string{}}
	}
	c.seq = gen(seqPath, 0xbe0c4, sz.seqSize)
	for i := range sz.streams {
		c.streams = append(c.streams, gen(streamPath(i), 0x5eed00+uint64(i), sz.streamSize))
	}
	small := fakecloud.BytesBlob([]byte("pandav bench entry\n"))
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, cl := range c.all {
		t := cl.Tree()
		if err := sample.Fill(t); err != nil {
			return err
		}
		for _, f := range append([]*seeded{c.seq}, c.streams...) {
			n, err := t.PutPath(f.path, f.blob)
			if err != nil {
				return err
			}
			f.ids[cl.Name()] = n.ID
		}
		if _, err := t.MkdirAll(uploadDir); err != nil {
			return err
		}
		if cl != c.main() {
			continue
		}
		for _, d := range []struct {
			path string
			n    int
			name func(int) string
		}{
			{bigDir, sz.entries, bigName},
			{coldDir, sz.coldEntries, func(i int) string { return fmt.Sprintf("cold %05d.txt", i) }},
			{probeDir, sz.probeFiles, probeName},
		} {
			folder, err := t.MkdirAll(d.path)
			if err != nil {
				return err
			}
			for i := range d.n {
				if _, err := t.Put(folder.ID, d.name(i), small, base.Add(time.Duration(i)*time.Second)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func probeName(i int) string { return fmt.Sprintf("clip %03d.mkv", i) }

func bigName(i int) string { return fmt.Sprintf("entry %05d.txt", i) }

func fakeSHA1(seed uint64) string {
	return fmt.Sprintf("%040X", seed)
}

// directLink asks the cloud for f's CDN link through the bench's own
// driver, as pandav's driver does, so the direct figures fetch the very
// same bytes from the very same CDN.
func (c *cloud) directLink(ctx context.Context, f *seeded) (drivers.Link, error) {
	e := drivers.Entry{ID: f.ids[c.Name()], Name: filepath.Base(f.path), Size: f.blob.N}
	l, err := c.direct.Link(ctx, e, drivers.LinkRequest{UserAgent: benchUA})
	if err != nil {
		return l, fmt.Errorf("direct link %s %s: %w", c.Name(), f.path, err)
	}
	return l, nil
}

// writeConfig writes a pandav config pointing at the emulators, with a
// fresh login and state folder, so each pandav starts cold.
func (c *clouds) writeConfig(dir, name string, stream streamFlags) (string, error) {
	state := filepath.Join(dir, name+"-state")
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %q\nlog: {level: warn, format: json}\nmounts:\n", state)
	for _, cl := range c.all {
		yaml += demo.CloudMount(cl, cl.Login().Issue().Refresh).YAML()
	}
	if s := stream.yaml(); s != "" {
		yaml += s
	}
	p := filepath.Join(dir, name+".yaml")
	return p, os.WriteFile(p, []byte(yaml), 0o600)
}

// streamFlags are optional overrides of the config's stream block, so the
// lead can try settings without editing the bench.
type streamFlags struct {
	chunkSize, memoryBudget string
	readAhead               int // -1: leave the default
}

func (s streamFlags) yaml() string {
	out := ""
	if s.chunkSize != "" {
		out += "  chunk_size: " + s.chunkSize + "\n"
	}
	if s.readAhead >= 0 {
		out += "  read_ahead: " + strconv.Itoa(s.readAhead) + "\n"
	}
	if s.memoryBudget != "" {
		out += "  memory_budget: " + s.memoryBudget + "\n"
	}
	if out == "" {
		return ""
	}
	return "stream:\n" + out
}

func (s streamFlags) String() string {
	if y := s.yaml(); y != "" {
		return y
	}
	return "the server's defaults"
}

// apiCalls sums a counter snapshot, leaving out CDN fetches: the CDN
// endpoint's counter and those named under it ("cdn/403").
func (c *cloud) apiCalls(m map[string]int64) int64 {
	cdn := c.Endpoints().CDN
	var n int64
	for k, v := range m {
		if k == cdn || strings.HasPrefix(k, cdn+"/") {
			continue
		}
		n += v
	}
	return n
}

// callsText sums a counter delta up by kind, for the notes.
func (c *cloud) callsText(d map[string]int64) string {
	ep := c.Endpoints()
	other := c.apiCalls(d) - d[ep.List] - d[ep.Link]
	return fmt.Sprintf("%d link, %d list, %d other", d[ep.Link], d[ep.List], other)
}

// delta is after minus before, per counter.
func delta(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
