package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/aliyun"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/pan115"
	"pandav/drivers/pan115/pan115test"
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
	aliyunPage = 200 // the Open API's largest list page, which the driver asks for
)

func streamPath(i int) string { return fmt.Sprintf("%s/stream-%02d.bin", streamsDir, i) }

// seeded is one generated file and where it sits in each cloud.
type seeded struct {
	path string
	blob *fakecloud.SeededBlob
	ids  map[string]string // cloud name -> file id
}

// clouds are the two emulators, seeded, and the bench's own in-process
// drivers, which fetch the CDN links that the direct figures use.
type clouds struct {
	ali  *aliyuntest.Server
	p115 *pan115test.Server

	seq     *seeded
	streams []*seeded

	aliDrive  drivers.Drive
	p115Drive drivers.Drive
	stateDir  string
}

func startClouds(ctx context.Context, sz sizes, latency time.Duration, connRate int64, dir string) (*clouds, error) {
	c := &clouds{
		// The zero Options are each cloud's real per-account limits:
		// aliyun list 4/s, link 1/s, other 15/s, 3 CDN connections per
		// file; 115 5 calls/s per token, 2 connections per link.
		ali:  aliyuntest.NewServer(aliyuntest.Options{}),
		p115: pan115test.NewServer(pan115test.Options{}),
	}
	c.ali.Faults.SetLatency(latency)
	c.p115.Faults.SetLatency(latency)
	c.ali.Faults.SetConnRate(connRate)
	c.p115.Faults.SetConnRate(connRate)
	c.ali.SetSpace(2 << 40)
	c.p115.SetSpace(4 << 40)
	if err := c.seed(sz); err != nil {
		c.close()
		return nil, err
	}
	c.stateDir = filepath.Join(dir, "direct-state")
	if err := os.MkdirAll(c.stateDir, 0o700); err != nil {
		c.close()
		return nil, err
	}
	env := drivers.Env{MountPath: "/bench-direct", StateDir: c.stateDir, Log: zerolog.Nop()}
	var err error
	c.aliDrive, err = aliyun.New(ctx, env, aliyun.Options{
		RefreshToken: c.ali.NewRefreshToken(), ClientID: c.ali.ClientID(), ClientSecret: c.ali.ClientSecret(),
		OpenAPIURL: c.ali.URL(),
	})
	if err != nil {
		c.close()
		return nil, fmt.Errorf("direct aliyun driver: %w", err)
	}
	env.MountPath = "/bench-direct-115"
	c.p115Drive, err = pan115.New(ctx, env, pan115.Options{
		RefreshToken: c.p115.NewRefreshToken(), APIURL: c.p115.APIURL(), PassportURL: c.p115.PassportURL(),
	})
	if err != nil {
		c.close()
		return nil, fmt.Errorf("direct 115 driver: %w", err)
	}
	return c, nil
}

func (c *clouds) close() {
	c.ali.Close()
	c.p115.Close()
}

type tree struct {
	name string
	t    *fakecloud.Tree
}

func (c *clouds) trees() []tree {
	return []tree{{"aliyun", c.ali.Tree}, {"115", c.p115.Tree}}
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
	for _, tr := range c.trees() {
		t := tr.t
		if err := sample.Fill(t); err != nil {
			return err
		}
		for _, f := range append([]*seeded{c.seq}, c.streams...) {
			n, err := t.PutPath(f.path, f.blob)
			if err != nil {
				return err
			}
			f.ids[tr.name] = n.ID
		}
		if tr.name != "aliyun" {
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
		if _, err := t.MkdirAll(uploadDir); err != nil {
			return err
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
func (c *clouds) directLink(ctx context.Context, cloud string, f *seeded) (drivers.Link, error) {
	e := drivers.Entry{ID: f.ids[cloud], Name: filepath.Base(f.path), Size: f.blob.N}
	d := c.aliDrive
	if cloud == "115" {
		d = c.p115Drive
	}
	l, err := d.Link(ctx, e, drivers.LinkRequest{UserAgent: benchUA})
	if err != nil {
		return l, fmt.Errorf("direct link %s %s: %w", cloud, f.path, err)
	}
	return l, nil
}

// writeConfig writes a pandav config pointing at the emulators, with a
// fresh login and state folder, so each pandav starts cold.
func (c *clouds) writeConfig(dir, name string, stream streamFlags) (string, error) {
	state := filepath.Join(dir, name+"-state")
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nstate_dir: %q\nlog: {level: warn, format: json}\nmounts:\n", state) +
		demo.AliyunMount("/aliyun", c.ali, c.ali.NewRefreshToken()) +
		demo.Pan115Mount("/115", c.p115, c.p115.NewRefreshToken())
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

// apiCalls sums a counter snapshot, leaving out CDN fetches.
func apiCalls(m map[string]int64) int64 {
	var n int64
	for k, v := range m {
		if k == "cdn" || k == pan115test.CounterCDN403 {
			continue
		}
		n += v
	}
	return n
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

func (c *clouds) counters(cloud string) *fakecloud.Counters {
	if cloud == "115" {
		return c.p115.Counters
	}
	return c.ali.Counters
}
